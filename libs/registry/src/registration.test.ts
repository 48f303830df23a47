import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import type { Service } from '@meshwork/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register, RegistrationRegistry, type RegisteredWorkload } from './registration.js';
import type { RegistryEvent, ServiceRegistry } from './types.js';
import { MemoryConfigStore } from './testing.js';

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

const svc: Service = {
  hostname: 'reviews.default.svc.cluster.local', namespace: 'default', name: 'reviews', ports: [{ name: 'http', port: 9080, protocol: 'HTTP', targetPort: 9081 }, { name: 'grpc', port: 9090, protocol: 'GRPC' }],
  addresses: [], resolution: 'STATIC', location: 'MESH_INTERNAL', exportTo: ['*'], selector: { app: 'reviews' }, labels: {}, source: 'kubernetes',
};
const vm = (name: string, address: string, labels: Record<string, string> = { app: 'reviews' }): RegisteredWorkload => ({ name, namespace: 'default', address, labels, ports: { grpc: 7070 }, serviceAccount: 'reviews', locality: 'eu/eu-1' });

describe('workload auto-registration', () => {
  let srv: NatsServerHandle;
  let nc: NatsConnection;
  beforeAll(async () => {
    srv = await startNatsServer();
    nc = await connect({ servers: srv.url });
  });
  afterAll(async () => {
    await nc?.close();
    await srv?.stop();
  });

  it('registered workloads become endpoints of matching services; deregister removes them at once', async () => {
    const reg = new RegistrationRegistry({ nc, bucket: 'reg-a', ttlMs: 60_000, services: () => [svc] });
    await reg.start();
    const added = nextEvent(reg, (e) => e.what === 'endpoints');
    const h = await register(vm('vm-1', '10.0.0.1'), { nc, bucket: 'reg-a', ttlMs: 60_000 });
    await register(vm('other', '10.0.0.2', { app: 'ratings' }), { nc, bucket: 'reg-a', ttlMs: 60_000 });
    expect(await added).toMatchObject({ type: 'add', hostname: svc.hostname });
    expect(reg.endpoints().map((e) => [e.servicePortName, e.address, e.port, e.serviceAccount, e.tlsMode, e.workloadName, e.locality])).toEqual([
      ['grpc', '10.0.0.1', 7070, 'reviews', 'istio', 'vm-1', { region: 'eu', zone: 'eu-1' }],
      ['http', '10.0.0.1', 9081, 'reviews', 'istio', 'vm-1', { region: 'eu', zone: 'eu-1' }],
    ]);
    while (reg.workloads().length < 2) await new Promise((r) => reg.onWorkloads(() => r(undefined)));
    expect(reg.workloads().map((w) => w.name).sort()).toEqual(['other', 'vm-1']);

    const removed = nextEvent(reg, (e) => e.type === 'delete');
    await h.deregister();
    await removed;
    expect(reg.endpoints()).toEqual([]);
    await reg.close();
  });

  it('an entry whose heartbeat stops leaves the registry within one TTL', async () => {
    const ttlMs = 2000;
    const reg = new RegistrationRegistry({ nc, bucket: 'reg-b', ttlMs, services: () => [svc] });
    await reg.start();
    const added = nextEvent(reg, (e) => e.what === 'endpoints');
    const alive = await register(vm('alive', '10.0.0.3'), { nc, bucket: 'reg-b', ttlMs });
    const dead = await register(vm('crashed', '10.0.0.4'), { nc, bucket: 'reg-b', ttlMs });
    await added;
    while (reg.endpoints().length < 4) await nextEvent(reg, (e) => e.what === 'endpoints');
    dead.abandon();
    const gone = nextEvent(reg, (e) => e.what === 'endpoints' && !reg.endpoints().some((x) => x.address === '10.0.0.4'));
    await gone;
    // heartbeats kept the other one alive past several TTL/3 periods
    expect(reg.endpoints().map((e) => e.address)).toEqual(['10.0.0.3', '10.0.0.3']);
    // the server expires it too: the bucket's max_age is the TTL
    const kv = await new Kvm(nc).open('reg-b');
    expect((await kv.status()).ttl).toBe(ttlMs);
    await alive.deregister();
    await reg.close();
  }, 10_000); // a backstop only: the test waits on the removal event

  it('everyone uses the TTL the bucket was created with', async () => {
    const reg = new RegistrationRegistry({ nc, bucket: 'reg-d', ttlMs: 4000 });
    await reg.start();
    const warnings: object[] = [];
    const h = await register(vm('vm', '10.0.0.5'), { nc, bucket: 'reg-d', ttlMs: 60_000, log: { warn: (o) => warnings.push(o), info: () => undefined } });
    expect(warnings).toEqual([expect.objectContaining({ wantedMs: 60_000, actualMs: 4000 })]);
    await h.deregister();
    await reg.close();
  });

  it('applies the WorkloadGroup a workload names; a workload whose group is missing is left out until it exists', async () => {
    const store = new MemoryConfigStore();
    const reg = new RegistrationRegistry({ nc, bucket: 'reg-e', ttlMs: 60_000, groups: store, services: () => [svc] });
    await reg.start();
    const h = await register({ name: 'vm-g', namespace: 'default', address: '10.0.0.7', labels: { version: 'v2' }, group: 'reviews-vms' }, { nc, bucket: 'reg-e', ttlMs: 60_000 });
    while (reg.registrations().length === 0) await new Promise((r) => reg.onWorkloads(() => r(undefined)));
    expect(reg.workloads()).toEqual([]);
    expect(reg.endpoints()).toEqual([]);
    const ev = nextEvent(reg, (e) => e.what === 'endpoints');
    await store.create({
      apiVersion: 'networking.istio.io/v1', kind: 'WorkloadGroup', metadata: { name: 'reviews-vms', namespace: 'default' },
      spec: { metadata: { labels: { app: 'reviews', version: 'v1' } }, template: { serviceAccount: 'reviews-vm', ports: { http: 8080 }, network: 'vm-net' } },
    });
    await ev;
    expect(reg.endpoints().map((e) => [e.servicePortName, e.port, e.serviceAccount, e.network, e.labels])).toEqual([
      ['grpc', 9090, 'reviews-vm', 'vm-net', { app: 'reviews', version: 'v2' }],
      ['http', 8080, 'reviews-vm', 'vm-net', { app: 'reviews', version: 'v2' }],
    ]);
    await h.deregister();
    await reg.close();
  });

  it('a registry started later loads live entries', async () => {
    const h = await register(vm('vm-9', '10.0.0.9'), { nc, bucket: 'reg-c', ttlMs: 60_000 });
    const reg = new RegistrationRegistry({ nc, bucket: 'reg-c', ttlMs: 60_000, services: () => [svc] });
    await reg.start();
    expect(reg.endpoints().map((e) => e.address)).toEqual(['10.0.0.9', '10.0.0.9']);
    await h.deregister();
    await reg.close();
  });
});
