import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { MESH_CONFIG_BUCKET } from '@meshwork/bus';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, ConflictError, InvalidResourceError, NotFoundError } from './errors.js';
import { KvConfigStore } from './kv-config-store.js';
import { kvKeyOf, resourceKeyOf } from './kv-keys.js';
import type { ConfigEvent, ConfigSource } from './types.js';

const vs = (name: string, host: string, rv?: string) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace: 'default', ...(rv ? { resourceVersion: rv } : {}) },
  spec: { hosts: [host], http: [{ route: [{ destination: { host } }] }] },
});
const key = (name: string) => ({ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'default', name });
const hostOf = (src: ConfigSource, name: string) => (src.get(key(name))?.body.spec as { hosts: string[] } | undefined)?.hosts[0];

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

describe('kv keys', () => {
  it.each([
    [{ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'default', name: 'reviews' }, 'networking_istio_io.VirtualService.default.reviews'],
    [{ group: '', kind: 'ConfigMap', namespace: 'x', name: 'a.b.c' }, 'core.ConfigMap.x.a_b_c'],
    [{ group: 'meshwork.io', kind: 'Thing', namespace: '', name: 'n' }, 'meshwork_io.Thing._.n'],
  ])('%j ↔ %s', (k, s) => {
    expect(kvKeyOf(k)).toBe(s);
    expect(resourceKeyOf(s)).toEqual(k);
  });
});

describe('KvConfigStore', () => {
  let srv: NatsServerHandle;
  let nc1: NatsConnection;
  let nc2: NatsConnection;
  beforeAll(async () => {
    srv = await startNatsServer();
    nc1 = await connect({ servers: srv.url });
    nc2 = await connect({ servers: srv.url });
  });
  afterAll(async () => {
    await nc1?.close();
    await nc2?.close();
    await srv?.stop();
  });

  it('two stores on one bucket see each other’s writes; CAS conflicts are named', async () => {
    const a = await KvConfigStore.open({ nc: nc1, bucket: 'cfg-a' });
    const b = await KvConfigStore.open({ nc: nc2, bucket: 'cfg-a' });
    try {
      let seen = nextEvent(b);
      const created = await a.create(vs('r', 'reviews'));
      expect(created.metadata.resourceVersion).toBe('1');
      expect(a.get(key('r'))?.metadata.resourceVersion).toBe('1'); // read-your-writes
      const ev = await seen;
      expect([ev.type, ev.resourceVersion, ev.key.name]).toEqual(['add', '1', 'r']);
      expect(hostOf(b, 'r')).toBe('reviews');

      await expect(b.create(vs('r', 'x'))).rejects.toBeInstanceOf(AlreadyExistsError);

      seen = nextEvent(a);
      const replaced = await b.replace(vs('r', 'ratings', '1'));
      expect(replaced.metadata.resourceVersion).toBe('2');
      expect((await seen).type).toBe('update');
      expect(hostOf(a, 'r')).toBe('ratings');

      const err = await a.replace(vs('r', 'details', '1')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).code).toBe('MESH_ERR_CONFLICT');
      expect(hostOf(a, 'r')).toBe('ratings');
      expect((await a.fetch(key('r')))?.metadata.resourceVersion).toBe('2');

      await expect(a.replace(vs('missing', 'x'))).rejects.toBeInstanceOf(NotFoundError);
      await expect(a.delete(key('r'), { resourceVersion: '1' })).rejects.toBeInstanceOf(ConflictError);

      seen = nextEvent(b, (e) => e.type === 'delete');
      await a.delete(key('r'), { resourceVersion: '2' });
      expect((await seen).key.name).toBe('r');
      expect(b.list()).toEqual([]);
      await expect(a.delete(key('r'))).rejects.toBeInstanceOf(NotFoundError);
      // created again after a delete: create succeeds on a deleted key
      expect((await a.create(vs('r', 'reviews'))).metadata.resourceVersion).toBe('4');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('loads existing entries on open, and refuses an invalid value written around the API', async () => {
    const a = await KvConfigStore.open({ nc: nc1, bucket: 'cfg-b' });
    await a.create(vs('one', 'reviews'));
    await expect(a.create({ ...vs('two', 'x'), spec: { hosts: ['x'], bogus: 1 } })).rejects.toBeInstanceOf(InvalidResourceError);
    expect(a.list().map((r) => r.metadata.name)).toEqual(['one']);
    await a.close();

    const kv = await new Kvm(nc1).open('cfg-b');
    const bad = { ...vs('one', 'x'), spec: { hosts: ['x'], bogus: 1 } };
    await kv.put(kvKeyOf(key('one')), JSON.stringify(bad));
    await kv.put('networking_istio_io.VirtualService.default.other', 'not json');

    const b = await KvConfigStore.open({ nc: nc2, bucket: 'cfg-b' });
    try {
      // the invalid latest value is refused; there is no earlier good one in this process
      expect(b.list()).toEqual([]);
      expect(b.rejectedTotal).toBe(2);
      expect(b.rejected().map((r) => r.origin)).toEqual(['networking_istio_io.VirtualService.default.one', 'networking_istio_io.VirtualService.default.other']);
      const seen = nextEvent(b);
      await kv.put(kvKeyOf(key('one')), JSON.stringify(vs('one', 'fixed')));
      expect((await seen).type).toBe('add');
      expect(hostOf(b, 'one')).toBe('fixed');
      expect(b.rejected().map((r) => r.origin)).toEqual(['networking_istio_io.VirtualService.default.other']);
    } finally {
      await b.close();
    }
  });

  it('uses the mesh-config bucket by default', async () => {
    const a = await KvConfigStore.open({ nc: nc1 });
    await a.close();
    expect((await new Kvm(nc1).open(MESH_CONFIG_BUCKET)).bucket).toBe(MESH_CONFIG_BUCKET);
  });
});

describe('KvConfigStore across a nats-server restart', () => {
  it('keeps watching: a write after the restart reaches a store opened before it', async () => {
    const srv = await startNatsServer();
    const nc1 = await connect({ servers: srv.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
    let nc2: NatsConnection | undefined;
    const a = await KvConfigStore.open({ nc: nc1 });
    try {
      await a.create(vs('one', 'reviews'));
      await srv.kill();
      await srv.restart();
      nc2 = await connect({ servers: srv.url });
      const b = await KvConfigStore.open({ nc: nc2 });
      expect(b.list().map((r) => r.metadata.name)).toEqual(['one']);
      const seen = nextEvent(a, (e) => e.key.name === 'two');
      await b.create(vs('two', 'ratings'));
      expect((await seen).type).toBe('add');
      await b.close();
    } finally {
      await a.close();
      await nc1.close();
      await nc2?.close();
      await srv.stop();
    }
  }, 20_000);
});
