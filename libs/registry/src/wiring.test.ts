import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AggregateRegistry } from './aggregate.js';
import { KvConfigStore } from './kv-config-store.js';
import { register, RegistrationRegistry } from './registration.js';
import { ServiceEntryRegistry } from './serviceentry.js';
import type { RegistryEvent, ServiceRegistry } from './types.js';

function until(r: ServiceRegistry, cond: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (cond()) return resolve();
    const stop = r.watch((_e: RegistryEvent) => {
      if (!cond()) return;
      stop();
      resolve();
    });
  });
}

describe('local-mode wiring (README sketch)', () => {
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

  it('a ServiceEntry in mesh-config selects a workload that registered itself in mesh-registry', async () => {
    const store = await KvConfigStore.open({ nc });
    const registration = new RegistrationRegistry({ nc, ttlMs: 60_000 });
    const se = new ServiceEntryRegistry({ source: store, workloads: () => registration.workloads() });
    registration.onWorkloads(() => se.refresh());
    await Promise.all([registration.start(), se.start()]);
    const agg = new AggregateRegistry([se, registration]);

    await store.create({
      apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'billing', namespace: 'vms' },
      spec: { hosts: ['billing.vms.mesh'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], location: 'MESH_INTERNAL', resolution: 'STATIC', workloadSelector: { labels: { app: 'billing' } } },
    });
    const h = await register({ name: 'billing-vm-1', namespace: 'vms', address: '10.8.0.1', labels: { app: 'billing' }, ports: { http: 8080 }, serviceAccount: 'billing' }, { nc, ttlMs: 60_000 });
    await until(agg, () => agg.endpoints('billing.vms.mesh').length === 1);
    expect(agg.services().map((s) => s.hostname)).toEqual(['billing.vms.mesh']);
    expect(agg.endpoints('billing.vms.mesh')[0]).toMatchObject({ address: '10.8.0.1', port: 8080, serviceAccount: 'billing', tlsMode: 'istio', workloadName: 'billing-vm-1' });
    await h.deregister();
    await until(agg, () => agg.endpoints('billing.vms.mesh').length === 0);
    await agg.close();
    await store.close();
  });
});
