import { afterEach, describe, expect, it } from 'vitest';
import { buildSnapshot, CLUSTER_TYPE, createAdsServer, ENDPOINT_TYPE, listenAds, LISTENER_TYPE, pushSnapshot, ROUTE_TYPE, type AdsServer, type ListeningAds, type ResourceObject, type Snapshot } from '@meshwork/xds';
import { sampleResources } from '@meshwork/xds/testing';
import { edsName, rdsNames, XdsAgent, type ConfigCompiler, type ResourceSet } from './xds-agent.js';

const NODE = { id: 'sidecar~127.0.0.1~echo-1.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default' } };

function snap(resources: Record<string, ResourceObject[]>): Snapshot {
  const s = buildSnapshot(resources);
  if (!s.ok) throw new Error(s.errors.join('; '));
  return s.value;
}
function merge(...sets: Record<string, ResourceObject[]>[]): Record<string, ResourceObject[]> {
  const out: Record<string, ResourceObject[]> = {};
  for (const s of sets) for (const [t, rs] of Object.entries(s)) out[t] = [...(out[t] ?? []), ...rs];
  return out;
}

async function waitFor<T>(fn: () => T, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A compiler standing in for the engine's: refuses clusters named `*bad*`, and builds a summary of names. */
interface Summary {
  clusters: string[];
  endpoints: string[];
  routes: string[];
}
const compiler: ConfigCompiler<Summary> = {
  check: (typeUrl, rs) => (typeUrl === CLUSTER_TYPE ? [...rs.keys()].filter((n) => n.includes('bad')).map((n) => `cluster ${n}: name: not allowed here`) : []),
  build: (set) => ({ ok: true, value: { clusters: [...set.clusters.keys()].sort(), endpoints: [...set.endpoints.keys()].sort(), routes: [...set.routes.keys()].sort() } }),
};

/** complete says whether every EDS cluster has endpoints and every listener its routes. */
function complete(set: ResourceSet): boolean {
  for (const c of set.clusters.values()) {
    const n = edsName(c);
    if (n !== undefined && !set.endpoints.has(n)) return false;
  }
  for (const l of set.listeners.values()) for (const r of rdsNames(l)) if (!set.routes.has(r)) return false;
  return true;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(initial: Snapshot, port = 0): Promise<{ server: AdsServer; ads: ListeningAds; nacks: string[] }> {
  const nacks: string[] = [];
  const server = createAdsServer({ onConnect: () => initial, onNack: (_c, t, _v, e) => nacks.push(`${t}:${e}`) });
  const ads = await listenAds(server, { port });
  cleanups.push(() => ads.close());
  return { server, ads, nacks };
}

function agent(port: number, delta = false): { a: XdsAgent<Summary>; configs: { value: Summary; set: ResourceSet }[] } {
  const configs: { value: Summary; set: ResourceSet }[] = [];
  const a = new XdsAgent<Summary>({ target: `127.0.0.1:${port}`, node: NODE, delta, compiler, onConfig: (value, set) => configs.push({ value, set }), backoff: { initialMs: 20, maxMs: 100 } });
  cleanups.push(() => a.close());
  return { a, configs };
}

describe.each([false, true])('XdsAgent (delta=%s)', (delta) => {
  it('goes live only with a complete, warm set, and follows EDS/RDS names as CDS/LDS change', async () => {
    const { server, ads } = await serve(snap(sampleResources('echo')));
    const { a, configs } = agent(ads.port, delta);
    await waitFor(() => configs.length > 0, 'the first config');
    expect(configs[0].value).toEqual({ clusters: ['outbound|8080||echo.default.svc.cluster.local'], endpoints: ['outbound|8080||echo.default.svc.cluster.local'], routes: ['echo-route'] });
    expect(a.warming()).toEqual({ clusters: [], routes: [] });
    expect(a.status()[CLUSTER_TYPE].version).toBeDefined();

    // A second service: its cluster arrives first and warms until its endpoints do.
    pushSnapshot(server.connections()[0], snap(merge(sampleResources('echo'), sampleResources('other', '127.0.0.1', 9090))));
    await waitFor(() => configs.at(-1)?.value.clusters.length === 2, 'the config with both services');
    expect(configs.at(-1)?.value.routes).toEqual(['echo-route', 'other-route']);
    // Every configuration that went live was complete (no cluster without endpoints, no missing route).
    expect(configs.every((c) => complete(c.set))).toBe(true);

    // The service goes away: its EDS and RDS names are dropped from the subscription.
    pushSnapshot(server.connections()[0], snap(sampleResources('echo')));
    // CDS, EDS, LDS and RDS settle one after another; wait for the state they settle in.
    await waitFor(() => configs.at(-1)?.value.clusters.length === 1 && configs.at(-1)?.value.routes.length === 1, 'the config without the second service');
    expect(configs.at(-1)?.value.endpoints).toEqual(['outbound|8080||echo.default.svc.cluster.local']);
    expect(configs.at(-1)?.value.routes).toEqual(['echo-route']);
  });

  it('NACKs what the compiler refuses, keeps the last good config, and takes the next good one', async () => {
    const { server, ads, nacks } = await serve(snap(sampleResources('echo')));
    const { a, configs } = agent(ads.port, delta);
    await waitFor(() => configs.length > 0, 'the first config');
    const good = a.current();
    pushSnapshot(server.connections()[0], snap(merge(sampleResources('echo'), sampleResources('bad', '127.0.0.1', 9090))));
    await waitFor(() => nacks.length > 0, 'the NACK');
    expect(nacks[0]).toContain('cluster outbound|9090||bad.default.svc.cluster.local: name: not allowed here');
    expect(a.status()[CLUSTER_TYPE].lastNack).toContain('not allowed here');
    // As in Envoy, the other types are accepted on their own (a route to the refused cluster will
    // answer 503 NC); the refused cluster never goes live.
    expect(a.current()?.clusters).toEqual(good?.clusters);
    pushSnapshot(server.connections()[0], snap(merge(sampleResources('echo'), sampleResources('fine', '127.0.0.1', 9090))));
    await waitFor(() => configs.at(-1)?.value.clusters.includes('outbound|9090||fine.default.svc.cluster.local'), 'the fixed config');
    expect(a.status()[CLUSTER_TYPE].lastNack).toBeUndefined();
  });

  it('keeps serving its config while pilot is away and resyncs when it is back', async () => {
    const first = await serve(snap(sampleResources('echo')));
    const { a, configs } = agent(first.ads.port, delta);
    await waitFor(() => configs.length > 0, 'the first config');
    const port = first.ads.port;
    await first.ads.close();
    await new Promise((r) => setTimeout(r, 150));
    expect(a.current()?.clusters).toEqual(['outbound|8080||echo.default.svc.cluster.local']);
    await serve(snap(merge(sampleResources('echo'), sampleResources('other', '127.0.0.1', 9090))), port);
    await waitFor(() => configs.at(-1)?.value.clusters.length === 2, 'the config from the restarted pilot');
    expect(configs.every((c) => complete(c.set))).toBe(true);
  });
});

describe('reference helpers', () => {
  it('finds RDS names in listeners and EDS names in clusters', () => {
    const s = sampleResources('echo');
    expect([...rdsNames(s[LISTENER_TYPE][0])]).toEqual(['echo-route']);
    expect(edsName(s[CLUSTER_TYPE][0])).toBe('outbound|8080||echo.default.svc.cluster.local');
    expect(edsName({ name: 'x', type: 'STATIC' })).toBeUndefined();
    expect(edsName({ name: 'x', type: 'EDS', edsClusterConfig: { serviceName: 'svc' } })).toBe('svc');
    void ROUTE_TYPE;
    void ENDPOINT_TYPE;
  });
});
