import { describe, expect, test } from 'vitest';
import { DEFAULT_MESH_CONFIG, validateText, type Endpoint, type MeshResource, type Service } from '@meshwork/api';
import { buildSnapshot, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, parseNode, ROUTE_TYPE } from '@meshwork/translate';
import { ViewGenerator, viewKey } from './view-generator.js';

const svc = (name: string): Service => ({
  hostname: `${name}.default.svc.cluster.local`, namespace: 'default', name, ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }], addresses: [], resolution: 'STATIC',
  location: 'MESH_INTERNAL', exportTo: ['*'], selector: { app: name }, labels: {}, source: 'memory',
});
const ep = (name: string, ip: string, version: string): Endpoint => ({
  hostname: `${name}.default.svc.cluster.local`, namespace: 'default', servicePortName: 'http', address: ip, port: 9080, labels: { app: name, version }, healthy: true, tlsMode: 'istio',
});
const dr = (name: string, subsets: string[]): MeshResource => {
  const r = validateText(`apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ${name}, namespace: default}\nspec:\n  host: ${name}\n  subsets: [${subsets.map((s) => `{name: ${s}, labels: {version: ${s}}}`).join(', ')}]\n`);
  expect(r.diagnostics).toEqual([]);
  return r.resources[0];
};
const services = [svc('reviews'), svc('ratings')];
const endpoints = [ep('reviews', '10.1.0.1', 'v1'), ep('reviews', '10.1.0.2', 'v2'), ep('ratings', '10.2.0.1', 'v1')];
const node = (pod: string, app: string) => parseNode({ id: `sidecar~10.0.0.9~${pod}.default~default.svc.cluster.local`, metadata: { NAMESPACE: 'default', LABELS: { app } } });

describe('ViewGenerator', () => {
  test('replicas of a workload share one translation; another workload gets its own', () => {
    const mesh = buildSnapshot({ configs: [], services, endpoints, meshConfig: DEFAULT_MESH_CONFIG });
    const g = new ViewGenerator();
    const a = g.generate(node('productpage-1', 'productpage'), mesh);
    const b = g.generate(node('productpage-2', 'productpage'), mesh);
    expect(b).toBe(a);
    expect(g.translations).toBe(1);
    expect(viewKey(node('x', 'productpage'))).toBe(viewKey(node('y', 'productpage')));
    g.generate(node('ratings-1', 'ratings'), mesh);
    expect(g.translations).toBe(2);
  });

  test('a new mesh snapshot with the same content keeps the snapshot object; a DestinationRule change keeps the unchanged types', () => {
    const g = new ViewGenerator();
    const p = node('productpage-1', 'productpage');
    const m1 = buildSnapshot({ configs: [dr('reviews', ['v1', 'v2'])], services, endpoints, meshConfig: DEFAULT_MESH_CONFIG });
    const s1 = g.generate(p, m1).snapshot;
    const m2 = buildSnapshot({ configs: [dr('reviews', ['v1', 'v2'])], services, endpoints, meshConfig: DEFAULT_MESH_CONFIG }, { previous: m1 });
    const s2 = g.generate(p, m2).snapshot;
    expect(s2).toBe(s1);
    const m3 = buildSnapshot({ configs: [dr('reviews', ['v1', 'v3'])], services, endpoints, meshConfig: DEFAULT_MESH_CONFIG }, { previous: m2 });
    const s3 = g.generate(p, m3).snapshot;
    expect(s3).toBeDefined();
    expect(s3?.types[CLUSTER_TYPE]).not.toBe(s1?.types[CLUSTER_TYPE]);
    expect(s3?.types[ENDPOINT_TYPE]).not.toBe(s1?.types[ENDPOINT_TYPE]);
    expect(s3?.types[LISTENER_TYPE]).toBe(s1?.types[LISTENER_TYPE]);
    expect(s3?.types[ROUTE_TYPE]).toBe(s1?.types[ROUTE_TYPE]);
    expect([...(s3?.types[CLUSTER_TYPE].resources.keys() ?? [])]).toContain('outbound|9080|v3|reviews.default.svc.cluster.local');
    // The ratings cluster is the very same encoding: nothing about it changed.
    const name = 'outbound|9080||ratings.default.svc.cluster.local';
    expect(s3?.types[CLUSTER_TYPE].resources.get(name)).toBe(s1?.types[CLUSTER_TYPE].resources.get(name));
  });
});
