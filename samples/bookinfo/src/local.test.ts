/**
 * samples/bookinfo/local.yaml (what `meshctl up` starts) stays runnable: every workload's
 * arguments parse with this binary's settings and name a real service, and every workload is one
 * of platform/kube's Deployments with the same labels and service account.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { parseSettings } from '@meshwork/settings';
import { BOOKINFO_SETTINGS } from './settings.js';
import { createService, SERVICES } from './service.js';

const dir = join(import.meta.dirname, '..');
interface LocalWorkload {
  name: string;
  service: string;
  version: string;
  serviceAccount: string;
  servicePort: number;
  args: string[];
}

const configMap = parse(readFileSync(join(dir, 'local.yaml'), 'utf8')) as { kind: string; data: { workloads: string } };
const workloads = parse(configMap.data.workloads) as LocalWorkload[];
const deployments = parseAllDocuments(readFileSync(join(dir, 'platform/kube/bookinfo.yaml'), 'utf8'))
  .map((d) => d.toJS() as { kind: string; metadata: { name: string; labels: Record<string, string> }; spec: { template: { spec: { serviceAccountName: string } } } })
  .filter((d) => d?.kind === 'Deployment');

describe('local.yaml', () => {
  it('lists the six Bookinfo workloads, each a Deployment of platform/kube with the same labels and service account', () => {
    expect(configMap.kind).toBe('ConfigMap');
    expect(workloads.map((w) => w.name).sort()).toEqual(deployments.map((d) => d.metadata.name).sort());
    for (const w of workloads) {
      const d = deployments.find((x) => x.metadata.name === w.name);
      expect(d?.metadata.labels, w.name).toMatchObject({ app: w.service, version: w.version });
      expect(d?.spec.template.spec.serviceAccountName, w.name).toBe(w.serviceAccount);
    }
  });

  it.each(workloads.map((w) => [w.name, w] as const))('%s: its args start the service it names', (_name, w) => {
    expect(w.args[0]).toBe('samples/bookinfo/bin/bookinfo.js');
    const s = parseSettings({ name: 'bookinfo', description: '' }, BOOKINFO_SETTINGS, w.args.slice(1), {});
    expect(s).toMatchObject({ service: w.service, version: w.version });
    expect(SERVICES).toContain(w.service);
    const svc = createService({ ...(s as NonNullable<typeof s>), service: w.service });
    svc.close();
    expect(svc.name).toBe(w.service);
  });
});
