import { describe, expect, it } from 'vitest';
import type { Endpoint, Service } from '@meshwork/api';
import { AlreadyExistsError, ConflictError, InvalidResourceError, NotFoundError } from './errors.js';
import { MemoryConfigStore, MemoryServiceRegistry } from './testing.js';
import type { ConfigEvent, RegistryEvent } from './types.js';

const vs = (name: string, host = 'reviews', extra: Record<string, unknown> = {}) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace: 'default', ...extra },
  spec: { hosts: [host], http: [{ route: [{ destination: { host } }] }] },
});
const key = (name: string) => ({ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'default', name });

describe('MemoryConfigStore', () => {
  it('creates, replaces with optimistic concurrency, deletes, and emits events', async () => {
    const s = new MemoryConfigStore();
    const events: ConfigEvent[] = [];
    s.watch((e) => events.push(e));
    const a = await s.create(vs('a'));
    expect(a.metadata.resourceVersion).toBe('1');
    await expect(s.create(vs('a'))).rejects.toBeInstanceOf(AlreadyExistsError);
    const b = await s.replace(vs('a', 'ratings', { resourceVersion: '1' }));
    expect(b.metadata.resourceVersion).toBe('2');
    const err = await s.replace(vs('a', 'details', { resourceVersion: '1' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('MESH_ERR_CONFLICT');
    expect((s.get(key('a'))?.body.spec as { hosts: string[] }).hosts).toEqual(['ratings']);
    await expect(s.delete(key('a'), { resourceVersion: '1' })).rejects.toBeInstanceOf(ConflictError);
    await s.delete(key('a'), { resourceVersion: '2' });
    await expect(s.delete(key('a'))).rejects.toBeInstanceOf(NotFoundError);
    await expect(s.replace(vs('a'))).rejects.toBeInstanceOf(NotFoundError);
    expect(events.map((e) => `${e.type}:${e.resourceVersion}`)).toEqual(['add:1', 'update:2', 'delete:3']);
  });

  it('refuses an invalid write without changing anything', async () => {
    const s = new MemoryConfigStore({ initial: [vs('a')] });
    const events: ConfigEvent[] = [];
    s.watch((e) => events.push(e));
    const bad = { ...vs('a'), spec: { hosts: [] } };
    const err = await s.replace(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidResourceError);
    expect((err as InvalidResourceError).diagnostics.length).toBeGreaterThan(0);
    expect(s.list()).toHaveLength(1);
    expect((s.list()[0].body.spec as { hosts: string[] }).hosts).toEqual(['reviews']);
    expect(events).toEqual([]);
    expect(s.rejectedTotal).toBe(0);
  });

  it('lists sorted and filtered', async () => {
    const s = new MemoryConfigStore({ initial: [vs('b'), vs('a'), { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r', namespace: 'x' }, spec: { host: 'r' } }] });
    expect(s.list().map((r) => r.metadata.name)).toEqual(['r', 'a', 'b']);
    expect(s.list({ kind: 'VirtualService' }).map((r) => r.metadata.name)).toEqual(['a', 'b']);
    expect(s.list({ namespace: 'x' }).map((r) => r.metadata.name)).toEqual(['r']);
  });
});

const svc = (name: string, port = 9080): Service => ({
  hostname: `${name}.default.svc.cluster.local`, namespace: 'default', name, ports: [{ name: 'http', port, protocol: 'HTTP' }],
  addresses: [], resolution: 'STATIC', location: 'MESH_INTERNAL', exportTo: ['*'], labels: {}, source: 'memory',
});
const ep = (name: string, address: string): Endpoint => ({
  hostname: `${name}.default.svc.cluster.local`, namespace: 'default', servicePortName: 'http', address, port: 9080, labels: {}, healthy: true, tlsMode: 'istio',
});

describe('MemoryServiceRegistry', () => {
  it('emits service and endpoint events only for what changed', () => {
    const r = new MemoryServiceRegistry('m', { services: [svc('reviews')] });
    const events: RegistryEvent[] = [];
    r.watch((e) => events.push(e));
    r.setEndpoints('reviews.default.svc.cluster.local', 'default', [ep('reviews', '10.0.0.2'), ep('reviews', '10.0.0.1')]);
    r.putService(svc('reviews'));
    r.putService(svc('reviews', 8080));
    r.removeService('reviews.default.svc.cluster.local', 'default');
    expect(events.map((e) => `${e.type}:${e.what}`)).toEqual(['add:endpoints', 'update:service', 'delete:service', 'delete:endpoints']);
    expect(r.services()).toEqual([]);
  });

  it('sorts endpoints', () => {
    const r = new MemoryServiceRegistry('m', { services: [svc('reviews')], endpoints: [ep('reviews', '10.0.0.2'), ep('reviews', '10.0.0.1')] });
    expect(r.endpoints('reviews.default.svc.cluster.local').map((e) => e.address)).toEqual(['10.0.0.1', '10.0.0.2']);
  });
});
