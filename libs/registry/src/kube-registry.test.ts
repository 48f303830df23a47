import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeClient } from './kube-client.js';
import { KubeServiceRegistry } from './kube-registry.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from './testing.js';
import type { RegistryEvent, ServiceRegistry } from './types.js';

function nextEvent(r: ServiceRegistry, pred: (e: RegistryEvent) => boolean): Promise<RegistryEvent> {
  return new Promise((resolve) => {
    const stop = r.watch((e) => {
      if (pred(e)) {
        stop();
        resolve(e);
      }
    });
  });
}

const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: 'default' }, spec: { clusterIP: '10.0.0.5', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 9080 }] } };
const pod = (name: string, ip: string) => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app: 'reviews', 'security.istio.io/tlsMode': 'istio' } },
  spec: { serviceAccountName: 'reviews', nodeName: 'n1' }, status: { podIP: ip },
});
const slice = (ips: string[]) => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
  metadata: { name: 'reviews-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'reviews' } },
  addressType: 'IPv4', ports: [{ name: 'http', port: 9080 }],
  endpoints: ips.map((ip, i) => ({ addresses: [ip], conditions: { ready: true }, targetRef: { kind: 'Pod', name: `reviews-${i}`, namespace: 'default' }, nodeName: 'n1' })),
});

describe('KubeServiceRegistry against a fake API server', () => {
  let api: FakeKubeApiServer;
  let reg: KubeServiceRegistry | undefined;
  beforeEach(async () => {
    api = await startFakeKubeApiServer();
    for (const [gv, plural] of [['v1', 'services'], ['v1', 'pods'], ['v1', 'nodes'], ['discovery.k8s.io/v1', 'endpointslices']]) api.define(gv, plural);
  });
  afterEach(async () => {
    await reg?.close();
    reg = undefined;
    await api.close();
  });

  it('builds services and endpoints with pod identity and node locality, and follows changes', async () => {
    api.put({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'topology.kubernetes.io/region': 'eu', 'topology.kubernetes.io/zone': 'eu-1a' } } });
    api.put(service);
    api.put(pod('reviews-0', '10.1.0.1'));
    api.put(slice(['10.1.0.1']));
    reg = new KubeServiceRegistry({ client: new KubeClient({ server: api.url }), retryMs: 20 });
    await reg.start();
    expect(reg.services().map((s) => s.hostname)).toEqual(['reviews.default.svc.cluster.local']);
    expect(reg.endpoints('reviews.default.svc.cluster.local')).toEqual([
      expect.objectContaining({ address: '10.1.0.1', port: 9080, serviceAccount: 'reviews', tlsMode: 'istio', locality: { region: 'eu', zone: 'eu-1a' }, healthy: true }),
    ]);

    const ev = nextEvent(reg, (e) => e.what === 'endpoints');
    api.put(pod('reviews-1', '10.1.0.2'));
    api.put(slice(['10.1.0.1', '10.1.0.2']));
    expect(await ev).toMatchObject({ type: 'update', hostname: 'reviews.default.svc.cluster.local' });
    // the event may come from the pod alone; wait until both endpoints are there
    while (reg.endpoints().length < 2) await nextEvent(reg, (e) => e.what === 'endpoints');
    expect(reg.endpoints().map((e) => e.address)).toEqual(['10.1.0.1', '10.1.0.2']);

    // pods are workload instances for ServiceEntry selectors
    expect(reg.workloads().map((w) => [w.name, w.address, w.serviceAccount, w.locality, w.tlsMode])).toEqual([
      ['reviews-0', '10.1.0.1', 'reviews', 'eu/eu-1a', 'istio'],
      ['reviews-1', '10.1.0.2', 'reviews', 'eu/eu-1a', 'istio'],
    ]);

    const gone = nextEvent(reg, (e) => e.what === 'service' && e.type === 'delete');
    api.remove('v1', 'Service', 'default', 'reviews');
    await gone;
    expect(reg.services()).toEqual([]);
    expect(reg.endpoints()).toEqual([]);
  });
});
