import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint, Service } from '@meshwork/api';
import { MemoryConfigStore, MemoryServiceRegistry } from '@meshwork/registry/testing';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '@meshwork/translate';
import { createAdsClient, listenAds, type AdsClient, type ListeningAds } from '@meshwork/xds';
import { DiscoveryServer } from './discovery-server.js';
import { PilotMetrics } from './metrics.js';

const reviews: Service = {
  hostname: 'reviews.default.svc.cluster.local', namespace: 'default', name: 'reviews',
  ports: [{ name: 'http', port: 9080, protocol: 'HTTP' }], addresses: ['10.96.0.10'], resolution: 'STATIC', location: 'MESH_INTERNAL',
  exportTo: ['*'], selector: { app: 'reviews' }, labels: { app: 'reviews' }, source: 'memory',
};
const ep = (ip: string, version: string): Endpoint => ({
  hostname: reviews.hostname, namespace: 'default', servicePortName: 'http', address: ip, port: 9080,
  labels: { app: 'reviews', version }, serviceAccount: 'bookinfo-reviews', healthy: true, tlsMode: 'istio',
});
const NODE = { id: 'sidecar~10.0.0.9~productpage-v1-abc.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', LABELS: { app: 'productpage' } } };

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup() {
  const store = new MemoryConfigStore({
    initial: [{ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'default' }, spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } }],
  });
  const registry = new MemoryServiceRegistry('memory', { services: [reviews], endpoints: [ep('10.1.0.1', 'v1'), ep('10.1.0.2', 'v2')] });
  const metrics = new PilotMetrics();
  const server = new DiscoveryServer({ config: store, registry, metrics, debounce: { quietMs: 10, maxMs: 100 } });
  await server.start();
  const ads: ListeningAds = await listenAds(server.ads);
  cleanup.push(() => ads.close(), () => server.stop());
  ports.set(server, ads.port);
  return { store, registry, metrics, server, port: ads.port };
}

function client(port: number, delta = false): { c: AdsClient; updates: string[] } {
  const updates: string[] = [];
  const c = createAdsClient({ target: `127.0.0.1:${port}`, node: NODE, delta, onUpdate: (u) => updates.push(`${u.typeUrl.split('.').pop()}@${u.version}`) });
  for (const t of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]) c.subscribe(t);
  cleanup.push(() => c.close());
  return { c, updates };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('DiscoveryServer', () => {
  it.each([false, true])('serves subset clusters and endpoints to a real ADS client (delta=%s) and pushes config changes', async (delta) => {
    const { store, server, metrics } = await setup();
    const { c } = client(await portOf(server), delta);
    await until(() => c.resources(CLUSTER_TYPE).has('outbound|9080|v2|reviews.default.svc.cluster.local'), 'subset clusters');
    expect([...c.resources(CLUSTER_TYPE).keys()]).toContain('outbound|9080|v1|reviews.default.svc.cluster.local');
    await until(() => c.resources(ENDPOINT_TYPE).has('outbound|9080|v1|reviews.default.svc.cluster.local'), 'endpoints');

    // A config change reaches the live client.
    await store.replace({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'default' }, spec: { host: 'reviews', subsets: [{ name: 'v3', labels: { version: 'v3' } }] } });
    await until(() => c.resources(CLUSTER_TYPE).has('outbound|9080|v3|reviews.default.svc.cluster.local'), 'the new subset after a push');
    expect(c.resources(CLUSTER_TYPE).has('outbound|9080|v2|reviews.default.svc.cluster.local')).toBe(false);

    // syncz shows the proxy as synced (acked = sent) and the metrics count the pushes.
    await until(() => server.syncz()[0]?.types.cds?.acked === server.syncz()[0]?.types.cds?.sent, 'the ACK');
    expect(server.syncz()[0].proxy).toBe(NODE.id);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/pilot_xds_pushes\{type="cds"\} [1-9]/);
    expect(text).toMatch(/pilot_proxy_convergence_time_count [1-9]/);
    expect(server.proxyConfig(NODE.id)?.cds?.length).toBeGreaterThan(0);
  });

  it('translates once for replicas of one workload (same namespace, labels and locality)', async () => {
    const { server } = await setup();
    const port = await portOf(server);
    const replicas = ['a', 'b', 'c'].map((x) => {
      const c = createAdsClient({ target: `127.0.0.1:${port}`, node: { ...NODE, id: `sidecar~10.0.0.${x.charCodeAt(0)}~productpage-v1-${x}.default~default.svc.cluster.local` } });
      c.subscribe(CLUSTER_TYPE);
      cleanup.push(() => c.close());
      return c;
    });
    await until(() => replicas.every((c) => c.resources(CLUSTER_TYPE).size > 0), 'all replicas served');
    expect(server.translations).toBe(1);
  });

  it('setMeshConfig pushes every connected proxy the resources the new mesh config gives (a global push)', async () => {
    const { server, metrics } = await setup();
    const { c } = client(await portOf(server));
    const reviewsCluster = 'outbound|9080|v1|reviews.default.svc.cluster.local';
    await until(() => c.resources(CLUSTER_TYPE).has(reviewsCluster), 'the first config');
    const connectTimeout = (): unknown => (c.resources(CLUSTER_TYPE).get(reviewsCluster) as { connectTimeout?: unknown } | undefined)?.connectTimeout;
    expect(connectTimeout()).toEqual({ seconds: 10 });

    server.setMeshConfig({ ...server.currentMeshConfig(), connectTimeoutMs: 2_500 });
    await until(() => (connectTimeout() as { seconds?: number } | undefined)?.seconds === 2, 'the push of the new connectTimeout');
    expect(connectTimeout()).toEqual({ seconds: 2, nanos: 500_000_000 });
    expect(await metrics.registry.metrics()).toMatch(/pilot_push_triggers\{type="global"\} 1/);
  });

  it('refuses a node id it cannot parse', async () => {
    const { server } = await setup();
    const errors: string[] = [];
    const c = createAdsClient({ target: `127.0.0.1:${await portOf(server)}`, node: { id: 'garbage' }, onStreamError: (e) => errors.push(e.message), backoff: { initialMs: 1000 } });
    cleanup.push(() => c.close());
    c.subscribe(CLUSTER_TYPE);
    await until(() => errors.length > 0, 'the refusal');
    expect(errors[0]).toContain('garbage');
  });
});

// The listening port is kept on the server object by setup(); this keeps the tests readable.
const ports = new WeakMap<DiscoveryServer, number>();
async function portOf(server: DiscoveryServer): Promise<number> {
  return ports.get(server) as number;
}
