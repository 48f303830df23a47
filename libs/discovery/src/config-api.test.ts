import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { MemoryConfigStore } from '@meshwork/registry/testing';
import { APPLY_PATH, configApi } from './config-api.js';

const VS = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name: 'reviews', namespace: 'default' },
  spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] },
};
const BASE = '/apis/networking.istio.io/v1/namespaces/default/virtualservices';

async function setup() {
  const store = new MemoryConfigStore();
  const app = Fastify({ forceCloseConnections: true });
  await app.register(configApi, { store });
  return { app, store };
}

describe('config API', () => {
  it('creates, gets, lists, replaces with resourceVersion, and deletes', async () => {
    const { app } = await setup();
    const created = await app.inject({ method: 'POST', url: BASE, payload: VS });
    expect(created.statusCode).toBe(201);
    const rv = created.json().metadata.resourceVersion;
    expect(rv).toBeTruthy();

    expect((await app.inject({ method: 'GET', url: `${BASE}/reviews` })).json().spec.hosts).toEqual(['reviews']);
    // Served at every version the kind has, with that apiVersion.
    expect((await app.inject({ method: 'GET', url: '/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices/reviews' })).json().apiVersion).toBe('networking.istio.io/v1beta1');
    const list = (await app.inject({ method: 'GET', url: '/apis/networking.istio.io/v1/virtualservices' })).json();
    expect(list.kind).toBe('VirtualServiceList');
    expect(list.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['reviews']);

    const updated = { ...VS, metadata: { ...VS.metadata, resourceVersion: rv }, spec: { ...VS.spec, hosts: ['reviews', 'reviews.example.com'] } };
    const put = await app.inject({ method: 'PUT', url: `${BASE}/reviews`, payload: updated });
    expect(put.statusCode).toBe(200);
    // The same (now stale) resourceVersion again: a conflict, nothing changes.
    const stale = await app.inject({ method: 'PUT', url: `${BASE}/reviews`, payload: { ...updated, spec: { ...VS.spec, hosts: ['x'] } } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toMatchObject({ kind: 'Status', reason: 'Conflict' });
    expect((await app.inject({ method: 'GET', url: `${BASE}/reviews` })).json().spec.hosts).toEqual(['reviews', 'reviews.example.com']);

    const del = await app.inject({ method: 'DELETE', url: `${BASE}/reviews` });
    expect(del.json()).toMatchObject({ status: 'Success' });
    expect((await app.inject({ method: 'GET', url: `${BASE}/reviews` })).statusCode).toBe(404);
  });

  it('refuses an invalid resource with a 422 Status naming each field, and stores nothing', async () => {
    const { app, store } = await setup();
    const bad = { ...VS, spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' }, weight: -1 }], timeout: 'soon' }] } };
    const res = await app.inject({ method: 'POST', url: BASE, payload: bad });
    expect(res.statusCode).toBe(422);
    const st = res.json();
    expect(st).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Invalid', details: { kind: 'VirtualService', name: 'reviews' } });
    expect(st.details.causes.map((c: { field: string }) => c.field).sort()).toEqual(['spec.http[0].route[0].weight', 'spec.http[0].timeout']);
    expect(st.message).toContain('VirtualService "reviews" is invalid');
    expect(store.list()).toEqual([]);
  });

  it('answers unknown kinds, duplicates and mismatched bodies with Kubernetes statuses', async () => {
    const { app } = await setup();
    expect((await app.inject({ method: 'GET', url: '/apis/networking.istio.io/v1/namespaces/default/envoyfilters' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/apis/networking.istio.io/v2/namespaces/default/virtualservices' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: BASE, payload: VS })).statusCode).toBe(201);
    expect((await app.inject({ method: 'POST', url: BASE, payload: VS })).json()).toMatchObject({ reason: 'AlreadyExists', code: 409 });
    const wrongNs = await app.inject({ method: 'POST', url: '/apis/networking.istio.io/v1/namespaces/other/virtualservices', payload: VS });
    expect(wrongNs.statusCode).toBe(400);
    expect((await app.inject({ method: 'DELETE', url: `${BASE}/nope` })).statusCode).toBe(404);
  });

  it('streams watch events as JSON lines', async () => {
    const { app, store } = await setup();
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const addr = app.server.address() as { port: number };
      const ctrl = new AbortController();
      const res = await fetch(`http://127.0.0.1:${addr.port}${BASE}?watch=true`, { signal: ctrl.signal });
      const reader = res.body!.getReader();
      await store.create(VS);
      let text = '';
      while (!text.includes('\n')) text += new TextDecoder().decode((await reader.read()).value);
      expect(JSON.parse(text.split('\n')[0])).toMatchObject({ type: 'ADDED', object: { kind: 'VirtualService', metadata: { name: 'reviews' } } });
      ctrl.abort();
    } finally {
      await app.close();
    }
  });

  describe('atomic apply (POST /meshwork/v1/apply)', () => {
    const DR = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews' }, spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] } };
    const vs = (name: string, host: string, extra: Record<string, unknown> = {}) => ({ ...VS, metadata: { name, ...extra }, spec: { hosts: [host], http: [{ route: [{ destination: { host } }] }] } });
    const list = (...items: unknown[]) => ({ apiVersion: 'v1', kind: 'List', items });

    it('creates, configures and leaves unchanged, reporting each', async () => {
      const { app, store } = await setup();
      await store.create(vs('reviews', 'reviews'), { defaultNamespace: 'default' });
      const res = await app.inject({ method: 'POST', url: `${APPLY_PATH}?namespace=default`, payload: list(DR, vs('reviews', 'reviews.shop'), vs('ratings', 'ratings')) });
      expect(res.statusCode).toBe(200);
      expect(res.json().items.map((i: { action: string; object: { kind: string } }) => `${i.object.kind} ${i.action}`)).toEqual(['DestinationRule created', 'VirtualService configured', 'VirtualService created']);
      const again = await app.inject({ method: 'POST', url: `${APPLY_PATH}?namespace=default`, payload: list(DR) });
      expect(again.json().items[0].action).toBe('unchanged');
    });

    it('stores nothing when one item is invalid, naming it', async () => {
      const { app, store } = await setup();
      const res = await app.inject({ method: 'POST', url: `${APPLY_PATH}?namespace=default`, payload: list(DR, { ...vs('bad', 'bad'), spec: { hosts: ['bad'], http: [{ timeout: 'soon', route: [{ destination: { host: 'bad' } }] }] } }) });
      expect(res.statusCode).toBe(422);
      expect(res.json().details.causes.map((c: { field: string }) => c.field)).toEqual(['items[1].spec.http[0].timeout']);
      expect(store.list()).toEqual([]);
    });

    it('rolls back the items written before a write the store refuses', async () => {
      const { app, store } = await setup();
      await store.create(vs('reviews', 'reviews'), { defaultNamespace: 'default' });
      const ratings = await store.create(vs('ratings', 'ratings'), { defaultNamespace: 'default' });
      const before = store.list().map((r) => ({ name: r.metadata.name, rv: r.metadata.resourceVersion, spec: r.raw.spec }));
      // Valid, but stale: the store refuses it at write time, after the first two items were written.
      const stale = vs('ratings', 'ratings.shop', { resourceVersion: String(Number(ratings.metadata.resourceVersion) + 100) });
      const res = await app.inject({ method: 'POST', url: `${APPLY_PATH}?namespace=default`, payload: list(DR, vs('reviews', 'reviews.shop'), stale) });
      expect(res.statusCode).toBe(409);
      expect(res.json().message).toMatch(/^items\[2\] \(VirtualService default\/ratings\): .*nothing applied \(2 earlier item\(s\) rolled back\)$/);
      const after = store.list();
      expect(after.map((r) => r.kind)).toEqual(['VirtualService', 'VirtualService']);
      expect(after.map((r) => ({ name: r.metadata.name, spec: r.raw.spec }))).toEqual(before.map(({ name, spec }) => ({ name, spec })));
    });

    it('refuses a body that is not a List, and the same resource twice', async () => {
      const { app, store } = await setup();
      expect((await app.inject({ method: 'POST', url: APPLY_PATH, payload: VS })).statusCode).toBe(400);
      const dup = await app.inject({ method: 'POST', url: APPLY_PATH, payload: list(VS, VS) });
      expect(dup.statusCode).toBe(422);
      expect(dup.json().message).toContain('is the same resource as items[0]');
      expect(store.list()).toEqual([]);
    });
  });
});
