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

  test('a shared encoder encodes identical resources once across proxies', () => {
    const encoder = new ResourceEncoder();
    const s1 = buildSnapshot(sampleResources(), { encoder });
    const s2 = buildSnapshot(sampleResources(), { encoder });
    expect(encoder.encodes).toBe(4);
    if (s1.ok && s2.ok) expect(s2.value.types[CLUSTER_TYPE].resources.values().next().value?.value).toBe(s1.value.types[CLUSTER_TYPE].resources.values().next().value?.value);
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
