import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { compileConfig, type ConfigInput } from './compile.js';
import { inlineRouteName } from './listeners.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

const listener = (name: string, rds: string): Record<string, unknown> => ({
  name,
  address: { socketAddress: { address: '0.0.0.0', portValue: 9080 } },
  filterChains: [{ filters: [{ typedConfig: { '@type': HCM, rds: { routeConfigName: rds } } }] }],
});
const routeConfig = (name: string, cluster: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  virtualHosts: [{ name: 'vh', domains: ['*'], routes: [{ name: 'r', match: { prefix: '/' }, route: { cluster } }] }],
  ...extra,
});
const cluster = (name: string): Record<string, unknown> => ({ name, type: 'EDS', edsClusterConfig: { serviceName: name } });
const cla = (name: string, ip = '10.0.0.1'): Record<string, unknown> => ({ clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: ip, portValue: 80 } } } }] }] });

function input(over: Partial<ConfigInput> = {}): ConfigInput {
  return { listeners: [listener('l', 'rc')], routes: [routeConfig('rc', 'c')], clusters: [cluster('c')], endpoints: [cla('c')], versions: { lds: '1' }, ...over };
}

describe('compileConfig', () => {
  test('a consistent set compiles into the lookup maps', () => {
    const r = compileConfig(input());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect([...r.value.listeners.keys()]).toEqual(['l']);
    expect([...r.value.routeTables.keys()]).toEqual(['rc']);
    expect([...r.value.clusters.keys()]).toEqual(['c']);
    expect([...r.value.endpoints.keys()]).toEqual(['c']);
    expect(r.value.versions).toEqual({ lds: '1' });
    expect(r.warnings).toEqual([]);
  });
  test('a missing RDS name is an error; an EDS cluster without endpoints is fine', () => {
    const r = compileConfig(input({ listeners: [listener('l', 'nope')], endpoints: [] }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual(['listener l: filter_chains[0].filters[0].typed_config.rds.route_config_name: route configuration nope does not exist']);
    expect(r.missingRoutes).toEqual(['nope']);
    const ok = compileConfig(input());
    expect(ok.missingRoutes).toEqual([]);
  });
  test('a route to an unknown cluster is a warning (503 NC at request time), an error with validate_clusters', () => {
    const r = compileConfig(input({ routes: [routeConfig('rc', 'ghost')] }));
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual(['route_config rc: virtual_hosts[0].routes[0].route.cluster: cluster ghost does not exist (503 NC at request time)']);
    const v = compileConfig(input({ routes: [routeConfig('rc', 'ghost', { validateClusters: { value: true } })] }));
    expect(v.ok ? [] : v.errors).toEqual(['route_config rc: virtual_hosts[0].routes[0].route.cluster: cluster ghost does not exist (validate_clusters)']);
  });
  test('inline route configurations validate clusters by default (Envoy) and are registered', () => {
    const l = { ...listener('in', 'x'), filterChains: [{ filters: [{ typedConfig: { '@type': HCM, routeConfig: routeConfig('inbound', 'ghost') } }] }] };
    const r = compileConfig(input({ listeners: [l] }));
    expect(r.ok ? [] : r.errors).toEqual(['listener in: filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster: cluster ghost does not exist (validate_clusters)']);
    const good = compileConfig(input({ listeners: [{ ...l, filterChains: [{ filters: [{ typedConfig: { '@type': HCM, routeConfig: routeConfig('inbound', 'c') } }] }] }] }));
    expect(good.ok && good.value.routeTables.get(inlineRouteName('in', 0))?.name).toBe('inbound');
  });
  test('duplicates, missing names and non-messages are errors; all errors are collected', () => {
    const r = compileConfig({
      listeners: [listener('l', 'rc'), listener('l', 'rc'), 42],
      routes: [routeConfig('rc', 'c'), { virtualHosts: [] }],
      clusters: [cluster('c'), { name: 'bad', type: 'NOPE' }],
      endpoints: [cla('c'), { endpoints: [] }, null],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      'cluster bad: type: unknown value "NOPE" (expected one of STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST)',
      'cluster_load_assignment[1]: cluster_name: is required',
      'cluster_load_assignment[2]: expected a message, got null',
      'route_config[1]: name: is required',
      'listener l: duplicate listener name',
      'listener[2]: expected a message, got number 42',
    ]);
  });
  test('previous config: unchanged endpoints keep their objects', () => {
    const first = compileConfig(input());
    if (!first.ok) throw new Error(first.errors.join('\n'));
    const second = compileConfig(input({ endpoints: [{ clusterName: 'c', endpoints: [{ lbEndpoints: [...((cla('c').endpoints as { lbEndpoints: unknown[] }[])[0].lbEndpoints), ...((cla('c', '10.0.0.2').endpoints as { lbEndpoints: unknown[] }[])[0].lbEndpoints)] }] }] }), { previous: first.value });
    if (!second.ok) throw new Error(second.errors.join('\n'));
    const a = first.value.endpoints.get('c')?.priorities[0][0].endpoints ?? [];
    const b = second.value.endpoints.get('c')?.priorities[0][0].endpoints ?? [];
    expect(b.length).toBe(2);
    expect(b[0]).toBe(a[0]);
  });
  test.each(['vs-fault-abort', 'sidecar-basic', 'gateway-https', 'dr-tls-istio-mutual', 'grpc-proxyless-server'])('never throws on garbage: mutated %s resources give errors or a config, never an exception', (golden) => {
    const here = dirname(fileURLToPath(import.meta.url));
    const res = parse(readFileSync(join(here, '..', '..', '..', 'translate', 'testdata', golden, 'expected.yaml'), 'utf8')) as Record<string, unknown[]>;
    const get = (suffix: string): unknown[] => Object.entries(res).find(([k]) => k.endsWith(suffix))?.[1] ?? [];
    const base: ConfigInput = { listeners: get('Listener'), routes: get('RouteConfiguration'), clusters: get('Cluster'), endpoints: get('ClusterLoadAssignment') };
    // Deterministic pseudo-random mutations: replace one field somewhere with a value of another type.
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const junk = [null, 5, -1, 'x', '', [], {}, [1, 'a'], { value: 'y' }, true, { seconds: 'z' }];
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, p: (string | number)[]): void => {
      if (paths.length > 5000) return;
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) {
        paths.push([...p, k]);
        walk(x, [...p, k]);
      }
    };
    walk(base, []);
    let rejected = 0;
    for (let i = 0; i < 200; i++) {
      const copy = structuredClone(base) as unknown as Record<string, unknown>;
      const path = paths[rnd(paths.length)];
      let o = copy as Record<string | number, unknown>;
      for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
      o[path[path.length - 1]] = junk[rnd(junk.length)];
      const r = compileConfig(copy as unknown as ConfigInput);
      if (!r.ok) {
        rejected++;
        for (const e of r.errors) expect(e).toMatch(/^(listener|route_config|cluster|cluster_load_assignment)s?[ [:]/);
      }
    }
    expect(rejected).toBeGreaterThan(25);
  }, 60_000);
});
