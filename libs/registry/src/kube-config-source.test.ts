import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findKind } from '@meshwork/api';
import { KubeConfigSource } from './kube-config-source.js';
import { KubeClient } from './kube-client.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from './testing.js';
import type { ConfigEvent, ConfigSource } from './types.js';

const vs = (name: string, host: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace: 'default' },
  spec: { hosts: [host], http: [{ route: [{ destination: { host } }] }], ...extra },
});
const hostOf = (src: ConfigSource, name: string) =>
  (src.get({ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'default', name })?.body.spec as { hosts: string[] } | undefined)?.hosts[0];

function nextEvent(src: ConfigSource, pred: (e: ConfigEvent) => boolean = () => true): Promise<ConfigEvent> {
  return new Promise((resolve) => {
    const stop = src.watch((e) => {
      if (pred(e)) {
        stop();
        resolve(e);
      }
    });
  });
}

function vsKind() {
  const k = findKind('networking.istio.io', 'VirtualService');
  if (!k) throw new Error('VirtualService kind missing');
  return k;
}

describe('KubeConfigSource against a fake API server', () => {
  let api: FakeKubeApiServer;
  let src: KubeConfigSource | undefined;
  beforeEach(async () => {
    api = await startFakeKubeApiServer();
  });
  afterEach(async () => {
    await src?.close();
    src = undefined;
    await api.close();
  });

  it('lists, then follows ADDED/MODIFIED/DELETED; invalid CRs are counted and never emitted', async () => {
    api.put(vs('a', 'reviews'));
    api.put({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r', namespace: 'default' }, spec: { host: 'reviews' } });
    api.put(vs('bad', 'x', { bogus: 1 }));
    src = new KubeConfigSource({ client: new KubeClient({ server: api.url }), retryMs: 50 });
    await src.start();
    expect(src.list().map((r) => `${r.kind}/${r.metadata.name}`)).toEqual(['DestinationRule/r', 'VirtualService/a']);
    expect(src.rejectedTotal).toBe(1);
    expect(src.rejected()[0].origin).toBe('kubernetes:virtualservices/default/bad');
    expect(api.requests.some((r) => r.startsWith('/apis/networking.istio.io/v1/virtualservices?') && r.includes('watch=true') && r.includes('allowWatchBookmarks=true'))).toBe(true);

    let ev = nextEvent(src);
    const mod = api.put(vs('a', 'ratings'));
    let e = await ev;
    expect([e.type, e.resourceVersion]).toEqual(['update', mod.metadata.resourceVersion]);
    expect(hostOf(src, 'a')).toBe('ratings');

    // an invalid new version: counted, not emitted, last good stays
    const events: ConfigEvent[] = [];
    const stop = src.watch((x) => events.push(x));
    ev = nextEvent(src, (x) => x.key.name === 'c');
    api.put(vs('a', 'details', { bogus: 2 }));
    api.put(vs('c', 'productpage'));
    await ev;
    stop();
    expect(events.map((x) => `${x.type}:${x.key.name}`)).toEqual(['add:c']);
    expect(hostOf(src, 'a')).toBe('ratings');
    expect(src.rejectedTotal).toBe(2);

    ev = nextEvent(src);
    api.remove('networking.istio.io/v1', 'VirtualService', 'default', 'c');
    e = await ev;
    expect([e.type, e.key.name]).toEqual(['delete', 'c']);
  });

  it('watches Namespaces (core API, /api/v1/namespaces) with their labels', async () => {
    api.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { 'shared-gateway-access': 'true' } } });
    src = new KubeConfigSource({ client: new KubeClient({ server: api.url }), retryMs: 50 });
    await src.start();
    const ns = src.list().find((r) => r.kind === 'Namespace');
    expect([ns?.apiVersion, ns?.metadata.name, ns?.metadata.labels]).toEqual(['v1', 'team-a', { 'shared-gateway-access': 'true' }]);
    expect(api.requests.some((r) => r.startsWith('/api/v1/namespaces?'))).toBe(true);
    const ev = nextEvent(src, (x) => x.key.name === 'team-b');
    api.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-b' } });
    expect((await ev).type).toBe('add');
  });

  it('re-lists after 410 Gone and reconciles what changed meanwhile', async () => {
    api.put(vs('a', 'reviews'));
    api.put(vs('b', 'reviews'));
    src = new KubeConfigSource({ client: new KubeClient({ server: api.url }), kinds: [vsKind()], retryMs: 50 });
    await src.start();
    const lists = () => api.requests.filter((r) => r.startsWith('/apis/networking.istio.io/v1/virtualservices') && !r.includes('watch=')).length;
    expect(lists()).toBe(1);

    const seen: string[] = [];
    const done = new Promise<void>((resolve) => {
      src?.watch((x) => {
        seen.push(`${x.type}:${x.key.name}`);
        if (seen.length === 2) resolve();
      });
    });
    // Changes the open watch will never see (history compacted, stream broken with 410)
    api.endWatches();
    api.remove('networking.istio.io/v1', 'VirtualService', 'default', 'b');
    api.put(vs('c', 'reviews'));
    api.compact();
    await done;
    expect(seen.sort()).toEqual(['add:c', 'delete:b']);
    expect(lists()).toBe(2);
    expect(src.list().map((r) => r.metadata.name)).toEqual(['a', 'c']);
  });

  it('treats a missing CRD as empty and synced, and picks the kind up once installed', async () => {
    src = new KubeConfigSource({ client: new KubeClient({ server: api.url }), kinds: [vsKind()], retryMs: 20 });
    await src.start();
    expect(src.list()).toEqual([]);
    const ev = nextEvent(src);
    api.put(vs('late', 'reviews'));
    expect((await ev).key.name).toBe('late');
  });

  it('watches the Gateway API kinds: each at the version the cluster serves, a missing CRD empty until installed', async () => {
    const route = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'bookinfo', namespace: 'default' }, spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'productpage', port: 9080 }] }] } };
    const gw = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'default' }, spec: { gatewayClassName: 'istio', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } };
    // A cluster whose TLSRoute CRD (experimental channel) serves v1alpha2 only.
    const tls = { apiVersion: 'gateway.networking.k8s.io/v1alpha2', kind: 'TLSRoute', metadata: { name: 'passthrough', namespace: 'default' }, spec: { parentRefs: [{ name: 'gw' }], hostnames: ['a.example.com'], rules: [{ backendRefs: [{ name: 'a', port: 443 }] }] } };
    api.put(route);
    api.put(gw);
    api.put(tls);
    // GRPCRoute, TCPRoute, ReferenceGrant, GatewayClass: not installed; they must not hold start().
    src = new KubeConfigSource({ client: new KubeClient({ server: api.url }), retryMs: 20 });
    await src.start();
    expect(src.list().map((r) => `${r.apiVersion} ${r.kind}/${r.metadata.name}`).filter((x) => x.startsWith('gateway.'))).toEqual([
      'gateway.networking.k8s.io/v1 Gateway/gw',
      'gateway.networking.k8s.io/v1 HTTPRoute/bookinfo',
      'gateway.networking.k8s.io/v1alpha2 TLSRoute/passthrough',
    ]);
    // v1 was asked first, then v1alpha2; the watch runs on the version that answered.
    expect(api.requests.some((r) => r.startsWith('/apis/gateway.networking.k8s.io/v1/tlsroutes'))).toBe(true);
    expect(api.requests.some((r) => r.startsWith('/apis/gateway.networking.k8s.io/v1alpha2/tlsroutes?') && r.includes('watch=true'))).toBe(true);

    // A CRD installed later is picked up.
    const ev = nextEvent(src, (e) => e.key.kind === 'GRPCRoute');
    api.put({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: { name: 'echo', namespace: 'default' }, spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'echo', port: 7070 }] }] } });
    expect((await ev).type).toBe('add');
  });
});
