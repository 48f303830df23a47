import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { DEFAULT_MESH_CONFIG, validateText, type MeshResource } from '@meshwork/api';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, type EnvoyResource } from './envoy.js';
import { generateAll } from './generators.js';
import { memoStats } from './memo.js';
import { parseNode } from './node.js';
import { buildSnapshot, type MeshSnapshot, type MeshSnapshotInput } from './snapshot.js';
import { caseServices, loadCase } from './testing.js';

const { services, endpoints } = caseServices([
  { host: 'reviews.default.svc.cluster.local', ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }], workloads: [{ address: '10.1.0.1', labels: { version: 'v1' }, serviceAccount: 'reviews' }, { address: '10.1.0.2', labels: { version: 'v2' } }] },
  { host: 'ratings.default.svc.cluster.local', ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }], workloads: [{ address: '10.2.0.1', labels: { version: 'v1' } }] },
  { host: 'details.other.svc.cluster.local', ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }, { name: 'tcp', port: 9000, protocol: 'TCP' }], workloads: [{ address: '10.3.0.1' }] },
]);
const dr = (host: string, subsets: string[], extra = ''): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}, namespace: default}
spec:
  host: ${host}
  subsets: [${subsets.map((s) => `{name: ${s}, labels: {version: ${s}}}`).join(', ')}]
${extra}`;
const configs = (reviewsSubsets = ['v1', 'v2'], extra = ''): MeshResource[] => {
  const r = validateText([dr('reviews', reviewsSubsets, extra), dr('ratings', ['v1'])].join('---\n'));
  expect(r.diagnostics).toEqual([]);
  return r.resources;
};
const proxy = (app: string, ns = 'default') => parseNode({ id: `sidecar~10.0.0.9~${app}-1.${ns}~${ns}.svc.cluster.local`, metadata: { NAMESPACE: ns, LABELS: { app } } });
const productpage = proxy('productpage');

const byName = (rs: readonly EnvoyResource[], key = 'name'): Map<string, EnvoyResource> => new Map(rs.map((r) => [String(r[key]), r]));
const input = (over: Partial<MeshSnapshotInput> = {}): MeshSnapshotInput => ({ configs: configs(), services, endpoints, meshConfig: DEFAULT_MESH_CONFIG, ...over });

/** The same proxy's output from `next` built on `prev`, next to the output from a snapshot of the same inputs built cold. */
function warmAndCold(prevInput: MeshSnapshotInput, nextInput: MeshSnapshotInput, p = productpage) {
  const prev = buildSnapshot(prevInput);
  const before = generateAll(p, prev);
  const next = buildSnapshot(nextInput, { previous: prev });
  return { before, after: generateAll(p, next), cold: generateAll(p, buildSnapshot(nextInput)), next };
}

describe('translation memo', () => {
  test('unchanged inputs give the identical objects across snapshots and across proxies of a namespace', () => {
    const { before, after, cold, next } = warmAndCold(input(), input());
    expect(after).toEqual(cold);
    for (const t of [CLUSTER_TYPE, ENDPOINT_TYPE] as const) {
      const outbound = before[t].filter((r) => String(r.name ?? r.clusterName).startsWith('outbound|'));
      expect(outbound.length).toBeGreaterThan(3);
      for (const r of outbound) expect(after[t]).toContain(r);
    }
    expect(memoStats(next).carried).toBeGreaterThan(0);
    // Another workload in the namespace (other labels) shares every outbound cluster object.
    const ratings = generateAll(proxy('ratings'), next)[CLUSTER_TYPE];
    for (const c of after[CLUSTER_TYPE].filter((r) => String(r.name).startsWith('outbound|'))) expect(ratings).toContain(c);
  });

  test('a changed DestinationRule re-translates only its host: other clusters and assignments stay the same objects', () => {
    const { before, after, cold } = warmAndCold(input(), input({ configs: configs(['v1', 'v3']) }));
    expect(after).toEqual(cold);
    const b = byName(before[CLUSTER_TYPE]);
    for (const c of after[CLUSTER_TYPE]) {
      const name = String(c.name);
      if (name.endsWith('|reviews.default.svc.cluster.local')) continue;
      if (name.startsWith('outbound|')) expect(c, name).toBe(b.get(name));
    }
    expect(after[CLUSTER_TYPE].map((c) => c.name)).toContain('outbound|9080|v3|reviews.default.svc.cluster.local');
    expect(after[CLUSTER_TYPE].map((c) => c.name)).not.toContain('outbound|9080|v2|reviews.default.svc.cluster.local');
    // The whole rule is part of the key, so the changed host's other clusters are rebuilt (equal
    // content: libs/xds's encoder finds them by content, not by identity).
    expect(byName(after[CLUSTER_TYPE]).get('outbound|9080|v1|reviews.default.svc.cluster.local')).toEqual(b.get('outbound|9080|v1|reviews.default.svc.cluster.local'));
  });

  test('a traffic policy change reaches every cluster of the host and no other', () => {
    const { before, after, cold } = warmAndCold(input(), input({ configs: configs(['v1', 'v2'], '  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n') }));
    expect(after).toEqual(cold);
    const b = byName(before[CLUSTER_TYPE]);
    for (const c of after[CLUSTER_TYPE].filter((r) => String(r.name).startsWith('outbound|'))) {
      if (String(c.name).endsWith('|reviews.default.svc.cluster.local')) {
        expect(c.lbPolicy).toBe('ROUND_ROBIN');
        expect(c).not.toBe(b.get(String(c.name)));
      } else expect(c).toBe(b.get(String(c.name)));
    }
  });

  test('endpoint and service changes invalidate that host only', () => {
    const moved = endpoints.map((e) => (e.address === '10.1.0.2' ? { ...e, address: '10.1.9.9', serviceAccount: 'reviews-v2' } : e));
    const e = warmAndCold(input(), input({ endpoints: moved }));
    expect(e.after).toEqual(e.cold);
    const eb = byName(e.before[ENDPOINT_TYPE], 'clusterName');
    for (const a of e.after[ENDPOINT_TYPE]) {
      if (String(a.clusterName).endsWith('|reviews.default.svc.cluster.local')) continue;
      expect(a).toBe(eb.get(String(a.clusterName)));
    }
    expect(JSON.stringify(e.after[ENDPOINT_TYPE])).toContain('10.1.9.9');
    // The SANs of auto mTLS come from the endpoints' service accounts: the host's clusters change too.
    expect(JSON.stringify(byName(e.after[CLUSTER_TYPE]).get('outbound|9080||reviews.default.svc.cluster.local'))).toContain('sa/reviews-v2');

    const widened = services.map((s) => (s.name === 'ratings' ? { ...s, ports: [...s.ports, { name: 'grpc', port: 9090, protocol: 'GRPC' as const }] } : s));
    const s = warmAndCold(input(), input({ services: widened }));
    expect(s.after).toEqual(s.cold);
    expect(s.after[CLUSTER_TYPE].map((c) => c.name)).toContain('outbound|9090||ratings.default.svc.cluster.local');
    const sb = byName(s.before[CLUSTER_TYPE]);
    expect(byName(s.after[CLUSTER_TYPE]).get('outbound|9080||reviews.default.svc.cluster.local')).toBe(sb.get('outbound|9080||reviews.default.svc.cluster.local'));
  });

  test('a PeerAuthentication that disables mTLS reaches the clusters of its namespace', () => {
    const pa = validateText('apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec: {mtls: {mode: DISABLE}}\n');
    expect(pa.diagnostics).toEqual([]);
    const { after, cold } = warmAndCold(input(), input({ configs: [...configs(), ...pa.resources] }));
    expect(after).toEqual(cold);
    expect(byName(after[CLUSTER_TYPE]).get('outbound|9080||reviews.default.svc.cluster.local')?.transportSocketMatches).toBeUndefined();
    expect(byName(after[CLUSTER_TYPE]).get('outbound|9080||details.other.svc.cluster.local')?.transportSocketMatches).toBeDefined();
  });

  test('a MeshConfig change carries nothing over', () => {
    const { after, cold, next } = warmAndCold(input(), input({ meshConfig: { ...DEFAULT_MESH_CONFIG, connectTimeoutMs: 2500 } }));
    expect(after).toEqual(cold);
    expect(memoStats(next).carried).toBe(0);
    expect(byName(after[CLUSTER_TYPE]).get('outbound|9080||reviews.default.svc.cluster.local')?.connectTimeout).toEqual({ seconds: 2, nanos: 500_000_000 });
  });

  test('memoized resources are frozen: a generator cannot edit a shared object', () => {
    const out = generateAll(productpage, buildSnapshot(input()));
    const c = out[CLUSTER_TYPE].find((r) => String(r.name).startsWith('outbound|'));
    expect(Object.isFrozen(c)).toBe(true);
  });

  // Every golden case translated from a snapshot whose memo was filled by the previous case (other
  // services, rules, proxies): the output must equal the cold translation. A key that missed an
  // input would serve the previous case's object here.
  test('golden cases translated one after another on a shared memo equal their cold translation', () => {
    const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');
    const cases = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => loadCase(readFileSync(join(dir, d.name, 'input.yaml'), 'utf8')));
    expect(cases.length).toBeGreaterThan(40);
    let prev: MeshSnapshot | undefined;
    for (const order of [cases, [...cases].reverse()]) {
      for (const c of order) {
        const s = c.snapshot;
        const warm = buildSnapshot({ configs: s.configs, services: s.services, endpoints: s.endpoints, meshConfig: s.meshConfig }, { previous: prev });
        const names = { [LISTENER_TYPE]: c.listenerNames };
        const cold = generateAll(c.proxy, s, names);
        expect(generateAll(c.proxy, warm, names), c.raw.description).toEqual(cold);
        // Twice on the same snapshot: the second run is all memo hits.
        expect(generateAll(c.proxy, warm, names)).toEqual(cold);
        prev = warm;
      }
    }
  }, 60_000);

  // Proxies of every type and of the cases' namespaces on one snapshot, in turn: what one proxy
  // put in the memo must never reach another whose view differs.
  test('every proxy type and namespace on one shared snapshot gets its cold translation', () => {
    const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');
    const cases = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => loadCase(readFileSync(join(dir, d.name, 'input.yaml'), 'utf8')));
    for (const c of cases) {
      const s = c.snapshot;
      const shared = buildSnapshot({ configs: s.configs, services: s.services, endpoints: s.endpoints, meshConfig: s.meshConfig });
      const ns = c.proxy.namespace;
      const variants = [
        c.proxy,
        ...['sidecar', 'grpc', 'router'].flatMap((type) =>
          [ns, 'default', 'other'].map((n) =>
            parseNode({ id: `${type === 'router' ? 'router' : 'sidecar'}~10.0.0.1~x-1.${n}~${n}.svc.cluster.local`, metadata: { NAMESPACE: n, LABELS: c.proxy.labels, ...(type === 'grpc' ? { GENERATOR: 'grpc' } : {}) } }),
          ),
        ),
      ];
      const cold = variants.map((p) => generateAll(p, buildSnapshot({ configs: s.configs, services: s.services, endpoints: s.endpoints, meshConfig: s.meshConfig })));
      for (const i of [...variants.keys(), ...[...variants.keys()].reverse()]) expect(generateAll(variants[i], shared), `${c.raw.description} ${variants[i].id}`).toEqual(cold[i]);
    }
  }, 60_000);
});
