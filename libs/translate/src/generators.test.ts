import { describe, expect, test } from 'vitest';
import { cacheKey, generateAll, generateEndpoints, generateListeners, generateRoutes, simulateFor } from './generators.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from './envoy.js';
import { simulate } from './simulate.js';
import { loadCase } from './testing.js';

const CASE = `
proxy: {id: sidecar~10.1.0.20~productpage-v1-abc.default~default.svc.cluster.local, labels: {app: productpage}}
services:
- host: reviews.default.svc.cluster.local
  ports: [{name: http, port: 9080, protocol: HTTP}]
  workloads: [{address: 10.1.0.11, labels: {version: v1}}, {address: 10.1.0.12, labels: {version: v2}}]
- host: ratings.default.svc.cluster.local
  ports: [{name: http, port: 9080, protocol: HTTP}, {name: grpc, port: 7070, protocol: GRPC}]
configs:
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: reviews}
  spec: {host: reviews, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata: {name: reviews}
  spec:
    hosts: [reviews]
    http:
    - match: [{headers: {end-user: {exact: jason}}}]
      route: [{destination: {host: reviews, subset: v2}}]
    - route: [{destination: {host: reviews, subset: v1}}]
`;

describe('generators', () => {
  const c = loadCase(CASE);
  test('are pure: the same inputs give equal outputs', () => {
    expect(generateAll(c.proxy, c.snapshot)).toEqual(generateAll(c.proxy, c.snapshot));
  });
  test('the snapshot is immutable', () => {
    expect(Object.isFrozen(c.snapshot)).toBe(true);
    expect(() => (c.snapshot.services as unknown[]).push({})).toThrow();
  });
  test('RDS and EDS output narrows to the subscribed names', () => {
    expect(generateRoutes(c.proxy, c.snapshot, ['9080']).map((r) => r.name)).toEqual(['9080']);
    expect(generateEndpoints(c.proxy, c.snapshot, ['outbound|9080|v2|reviews.default.svc.cluster.local']).map((r) => r.clusterName)).toEqual(['outbound|9080|v2|reviews.default.svc.cluster.local']);
  });
  test('every RDS name a listener uses exists, and every EDS cluster has a load assignment', () => {
    const all = generateAll(c.proxy, c.snapshot);
    const routes = new Set(all[ROUTE_TYPE].map((r) => r.name));
    const rdsNames = JSON.stringify(all[LISTENER_TYPE]).match(/"routeConfigName":"[^"]+"/g) ?? [];
    for (const n of rdsNames) expect(routes.has(n.split(':"')[1].slice(0, -1))).toBe(true);
    const cla = new Set(all[ENDPOINT_TYPE].map((e) => e.clusterName));
    for (const cl of all[CLUSTER_TYPE].filter((x) => x.type === 'EDS')) expect(cla.has(cl.name)).toBe(true);
  });
  test('jason goes to reviews-v2, everyone else to reviews-v1', () => {
    const all = generateAll(c.proxy, c.snapshot);
    expect(simulate(all, { host: 'reviews', port: 9080, headers: { 'end-user': 'jason' } }).cluster).toBe('outbound|9080|v2|reviews.default.svc.cluster.local');
    expect(simulate(all, { host: 'reviews', port: 9080 }).cluster).toBe('outbound|9080|v1|reviews.default.svc.cluster.local');
    expect(simulateFor(c.proxy, c.snapshot, { host: 'reviews.default', port: 9080, headers: { 'end-user': 'jason' } }).cluster).toBe('outbound|9080|v2|reviews.default.svc.cluster.local');
  });
  test('the simulator names what is missing', () => {
    const all = generateAll(c.proxy, c.snapshot);
    expect(simulate(all, { host: 'reviews', port: 1234 }).error?.code).toBe('MESH_ERR_SIM_NO_LISTENER');
    expect(simulate({ ...all, [ROUTE_TYPE]: [] }, { host: 'reviews', port: 9080 }).error?.code).toBe('MESH_ERR_SIM_NO_ROUTE');
    expect(simulate({ ...all, [CLUSTER_TYPE]: [] }, { host: 'reviews', port: 9080 }).error?.code).toBe('MESH_ERR_SIM_NO_CLUSTER');
  });
});

describe('cacheKey', () => {
  const c = loadCase(CASE);
  test('is stable for equal inputs and changes with each input', () => {
    const k = cacheKey(LISTENER_TYPE, c.proxy, c.snapshot);
    expect(cacheKey(LISTENER_TYPE, c.proxy, loadCase(CASE).snapshot)).toBe(k);
    expect(cacheKey(ROUTE_TYPE, c.proxy, c.snapshot)).not.toBe(k);
    expect(cacheKey(LISTENER_TYPE, { ...c.proxy, labels: { app: 'other' } }, c.snapshot)).not.toBe(k);
    expect(cacheKey(LISTENER_TYPE, c.proxy, c.snapshot, ['a'])).not.toBe(k);
    expect(cacheKey(LISTENER_TYPE, c.proxy, c.snapshot, ['a', 'b'])).toBe(cacheKey(LISTENER_TYPE, c.proxy, c.snapshot, ['b', 'a']));
    expect(cacheKey(LISTENER_TYPE, c.proxy, loadCase(CASE.replace('10.1.0.12', '10.1.0.99')).snapshot)).not.toBe(k);
  });
  test('identical workloads share a key: pod name and IP are not translation inputs', () => {
    const other = loadCase(CASE.replace('sidecar~10.1.0.20~productpage-v1-abc', 'sidecar~10.1.0.21~productpage-v1-xyz'));
    expect(cacheKey(CLUSTER_TYPE, other.proxy, c.snapshot)).toBe(cacheKey(CLUSTER_TYPE, c.proxy, c.snapshot));
    expect(generateAll(other.proxy, c.snapshot)).toEqual(generateAll(c.proxy, c.snapshot));
  });
});

describe('proxyless gRPC listeners', () => {
  test('are built for exactly the requested names', () => {
    const c = loadCase(CASE.replace('labels: {app: productpage}}', 'labels: {app: productpage}, metadata: {GENERATOR: grpc}}'));
    expect(generateListeners(c.proxy, c.snapshot, ['ratings:7070', 'nosuch:80']).map((l) => l.name)).toEqual(['ratings:7070']);
    expect(generateListeners(c.proxy, c.snapshot, ['ratings.default']).map((l) => l.name)).toEqual(['ratings.default:7070', 'ratings.default:9080']);
  });
});
