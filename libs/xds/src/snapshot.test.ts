import { describe, expect, test } from 'vitest';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from './resources.js';
import { ResourceEncoder, buildSnapshot, checkSnapshotConsistency, pushOrder, snapshotObjects } from './snapshot.js';
import { sampleResources } from './testing.js';

describe('buildSnapshot', () => {
  test('a consistent set builds; the version is a content hash', () => {
    const a = buildSnapshot(sampleResources());
    const b = buildSnapshot(sampleResources());
    const c = buildSnapshot(sampleResources('echo', '127.0.0.1', 8080, 'v2'));
    expect(a.ok && b.ok && c.ok).toBe(true);
    if (!a.ok || !b.ok || !c.ok) return;
    expect(a.value.version).toBe(b.value.version);
    expect(c.value.version).not.toBe(a.value.version);
    // only the route changed
    for (const t of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE]) expect(c.value.types[t].version).toBe(a.value.types[t].version);
    expect(c.value.types[ROUTE_TYPE].version).not.toBe(a.value.types[ROUTE_TYPE].version);
  });

  test('dangling EDS and RDS names are refused', () => {
    const r = sampleResources();
    const errors = checkSnapshotConsistency({ [CLUSTER_TYPE]: r[CLUSTER_TYPE], [LISTENER_TYPE]: r[LISTENER_TYPE] });
    expect(errors).toEqual([
      'Cluster[outbound|8080||echo.default.svc.cluster.local]: EDS name "outbound|8080||echo.default.svc.cluster.local" has no ClusterLoadAssignment',
      'Listener[echo]: RDS name "echo-route" has no RouteConfiguration',
    ]);
    expect(buildSnapshot({ [CLUSTER_TYPE]: r[CLUSTER_TYPE] }).ok).toBe(false);
    expect(buildSnapshot({ [CLUSTER_TYPE]: r[CLUSTER_TYPE] }, { skipConsistencyCheck: true }).ok).toBe(true);
  });

  test('invalid resources and duplicate names are refused with field paths', () => {
    const r = sampleResources();
    const bad = buildSnapshot({ ...r, [CLUSTER_TYPE]: [...r[CLUSTER_TYPE], { ...r[CLUSTER_TYPE][0] }, { name: 'x', bogus: 1 }] });
    expect(bad.ok ? [] : bad.errors).toEqual([`${CLUSTER_TYPE}: duplicate resource name "outbound|8080||echo.default.svc.cluster.local"`, 'Cluster[x].bogus: no such field in envoy.config.cluster.v3.Cluster']);
  });

  test('a duplicate name is found in unsorted input too, and the snapshot is sorted by name', () => {
    const r = sampleResources();
    const c = r[CLUSTER_TYPE][0];
    const z = { ...c, name: 'z' };
    const dup = buildSnapshot({ ...r, [CLUSTER_TYPE]: [z, c, { ...z }] }, { skipConsistencyCheck: true });
    expect(dup.ok ? [] : dup.errors).toEqual([`${CLUSTER_TYPE}: duplicate resource name "z"`]);
    const ok = buildSnapshot({ ...r, [CLUSTER_TYPE]: [z, c] }, { skipConsistencyCheck: true });
    expect(ok.ok && [...ok.value.types[CLUSTER_TYPE].resources.keys()]).toEqual([String(c.name), 'z']);
  });

  test('a shared encoder encodes identical resources once across proxies', () => {
    const encoder = new ResourceEncoder();
    const s1 = buildSnapshot(sampleResources(), { encoder });
    const s2 = buildSnapshot(sampleResources(), { encoder });
    expect(encoder.encodes).toBe(4);
    if (s1.ok && s2.ok) expect(s2.value.types[CLUSTER_TYPE].resources.values().next().value?.value).toBe(s1.value.types[CLUSTER_TYPE].resources.values().next().value?.value);
  });

  test('built on its predecessor, a snapshot keeps unchanged types, and itself when nothing changed', () => {
    const encoder = new ResourceEncoder();
    const a = buildSnapshot(sampleResources(), { encoder });
    if (!a.ok) throw new Error(a.errors.join('\n'));
    const same = buildSnapshot(sampleResources(), { encoder, previous: a.value });
    expect(same.ok && same.value).toBe(a.value);
    const b = buildSnapshot(sampleResources('echo', '127.0.0.1', 8080, 'v2'), { encoder, previous: a.value });
    if (!b.ok) throw new Error(b.errors.join('\n'));
    for (const t of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE]) expect(b.value.types[t]).toBe(a.value.types[t]);
    expect(b.value.types[ROUTE_TYPE]).not.toBe(a.value.types[ROUTE_TYPE]);
    // Versions do not depend on the predecessor.
    const cold = buildSnapshot(sampleResources('echo', '127.0.0.1', 8080, 'v2'));
    expect(cold.ok && cold.value.version).toBe(b.value.version);
  });

  test('a new object made of the same parts is not encoded again; a changed part is', () => {
    const encoder = new ResourceEncoder();
    const r = sampleResources();
    const route = r[ROUTE_TYPE][0];
    const first = encoder.encode(ROUTE_TYPE, route);
    const rebuilt = encoder.encode(ROUTE_TYPE, { ...route, virtualHosts: [...(route.virtualHosts as unknown[])] });
    expect(encoder.encodes).toBe(1);
    expect(rebuilt.ok && first.ok && rebuilt.value).toBe(first.ok && first.value);
    const vh = (route.virtualHosts as Record<string, unknown>[])[0];
    const changed = encoder.encode(ROUTE_TYPE, { ...route, virtualHosts: [{ ...vh, domains: ['echo'] }] });
    expect(encoder.encodes).toBe(2);
    expect(changed.ok && first.ok && changed.value.version).not.toBe(first.ok && first.value.version);
  });

  test('snapshotObjects gives back what went in', () => {
    const r = sampleResources();
    const s = buildSnapshot(r);
    expect(s.ok && snapshotObjects(s.value)).toEqual({ [CLUSTER_TYPE]: r[CLUSTER_TYPE], [ENDPOINT_TYPE]: r[ENDPOINT_TYPE], [LISTENER_TYPE]: r[LISTENER_TYPE], [ROUTE_TYPE]: r[ROUTE_TYPE] });
  });

  test('push order is CDS, EDS, LDS, RDS, then SDS', () => {
    const s = buildSnapshot({ ...sampleResources(), [SECRET_TYPE]: [{ name: 'default', tlsCertificate: {} }] });
    expect(s.ok && pushOrder(s.value)).toEqual([CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE]);
  });
});
