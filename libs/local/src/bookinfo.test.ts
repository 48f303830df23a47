import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { bookinfoPlatformYaml, loadBookinfoWorkloads } from './bookinfo.js';

const samples = join(import.meta.dirname, '..', '..', '..', 'samples', 'bookinfo');

describe('Bookinfo in the local mesh', () => {
  it('reads the workloads from samples/bookinfo/local.yaml, callers last, with a runnable command', () => {
    const w = loadBookinfoWorkloads(samples);
    expect(w.map((x) => x.name)).toEqual(['details-v1', 'ratings-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'productpage-v1']);
    expect(w.find((x) => x.name === 'reviews-v2')).toMatchObject({ app: 'reviews', version: 'v2', serviceAccount: 'bookinfo-reviews' });
    for (const x of w) expect(existsSync(x.args[0] as string)).toBe(true);
    expect(w[0]?.args.slice(1)).toEqual(['--service', 'details', '--version', 'v1']);
  });

  it('stands in for Services and pod ports: a ServiceEntry per service, a Sidecar per workload to its app port', () => {
    const w = loadBookinfoWorkloads(samples);
    const ports = new Map(w.map((x, i) => [x.name, { inbound: 20000 + i, app: 30000 + i }]));
    const docs = parseAllDocuments(bookinfoPlatformYaml(w, ports)).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, unknown> });
    expect(docs.filter((d) => d.kind === 'ServiceEntry').map((d) => d.metadata.name)).toEqual(['details', 'ratings', 'reviews', 'productpage']);
    const sc = docs.find((d) => d.kind === 'Sidecar' && d.metadata.name === 'reviews-v3');
    expect(sc?.spec).toEqual({ workloadSelector: { labels: { app: 'reviews', version: 'v3' } }, ingress: [{ port: { number: 20004, protocol: 'HTTP', name: 'http' }, defaultEndpoint: '127.0.0.1:30004' }] });
  });
});
