import { describe, expect, it } from 'vitest';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, type ResourceObject } from '@meshwork/xds';
import { sampleResources } from '@meshwork/xds/testing';
import { proxyCompiler } from './proxy-compiler.js';

const s = sampleResources('echo');
const none = (): Map<string, ResourceObject> => new Map();
const map = (rs: ResourceObject[], key = 'name'): Map<string, ResourceObject> => new Map(rs.map((r) => [String(r[key]), r]));

describe('proxyCompiler', () => {
  it('accepts each type of a good set on its own (a listener need not wait for its routes to be judged)', () => {
    const c = proxyCompiler();
    expect(c.check(CLUSTER_TYPE, map(s[CLUSTER_TYPE]), none)).toEqual([]);
    expect(c.check(ENDPOINT_TYPE, map(s[ENDPOINT_TYPE], 'clusterName'), none)).toEqual([]);
    expect(c.check(ROUTE_TYPE, map(s[ROUTE_TYPE]), none)).toEqual([]);
    expect(c.check(LISTENER_TYPE, map(s[LISTENER_TYPE]), none)).toEqual([]);
  });

  it('judges an inline route configuration that validates its clusters against the clusters held, not against none', () => {
    const c = proxyCompiler();
    const hcm = (s[LISTENER_TYPE][0].apiListener as { apiListener: Record<string, unknown> }).apiListener;
    const inline = { ...hcm, rds: undefined, routeConfig: s[ROUTE_TYPE][0] };
    delete (inline as Record<string, unknown>).rds;
    const listener = { name: 'inline', apiListener: { apiListener: inline } };
    expect(c.check(LISTENER_TYPE, map([listener]), (t) => (t === CLUSTER_TYPE ? map(s[CLUSTER_TYPE]) : new Map()))).toEqual([]);
    expect(c.check(LISTENER_TYPE, map([listener]), none).join()).toContain('does not exist');
  });

  it('refuses a bad resource with its name and field path', () => {
    const c = proxyCompiler();
    const bad = { ...s[ROUTE_TYPE][0], virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { weightedClusters: { clusters: [{ name: 'a', weight: { value: 0 } }] } } }] }] };
    const errors = c.check(ROUTE_TYPE, map([bad]), none);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toContain('echo-route');
  });

  it('builds the whole set into a CompiledConfig, keeping unchanged endpoints from the previous one', () => {
    const c = proxyCompiler();
    const set = { listeners: map(s[LISTENER_TYPE]), routes: map(s[ROUTE_TYPE]), clusters: map(s[CLUSTER_TYPE]), endpoints: map(s[ENDPOINT_TYPE], 'clusterName'), versions: { [CLUSTER_TYPE]: 'v1' } };
    const first = c.build(set, undefined);
    if (!first.ok) throw new Error(first.errors.join());
    expect([...first.value.clusters.keys()]).toEqual(['outbound|8080||echo.default.svc.cluster.local']);
    expect(first.value.routeTables.get('echo-route')?.virtualHost('anything')?.routes[0].name).toBe('v1');
    const again = c.build(set, first.value);
    if (!again.ok) throw new Error(again.errors.join());
    const ep = (cfg: typeof first.value) => cfg.endpoints.get('outbound|8080||echo.default.svc.cluster.local')?.priorities[0][0].endpoints[0];
    expect(ep(again.value)).toBe(ep(first.value));
  });
});
