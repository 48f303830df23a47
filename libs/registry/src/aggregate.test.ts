import { describe, expect, it } from 'vitest';
import type { Endpoint, Service } from '@meshwork/api';
import { AggregateRegistry } from './aggregate.js';
import { MemoryServiceRegistry } from './testing.js';
import type { RegistryEvent } from './types.js';

const svc = (hostname: string, source: string, addresses: string[] = []): Service => ({
  hostname, namespace: 'default', name: hostname.split('.')[0], ports: [{ name: 'http', port: 80, protocol: 'HTTP' }], addresses, resolution: 'STATIC',
  location: 'MESH_INTERNAL', exportTo: ['*'], labels: {}, source,
});
const ep = (hostname: string, address: string): Endpoint => ({ hostname, namespace: 'default', servicePortName: 'http', address, port: 80, labels: {}, healthy: true, tlsMode: 'istio' });

describe('AggregateRegistry', () => {
  it('first registry defines a service; same-kind registries merge addresses; endpoints come from all', () => {
    const k1 = new MemoryServiceRegistry('cluster1', { services: [svc('reviews.default.svc.cluster.local', 'kubernetes', ['10.0.0.1'])], endpoints: [ep('reviews.default.svc.cluster.local', '10.1.0.1')] });
    const k2 = new MemoryServiceRegistry('cluster2', { services: [svc('reviews.default.svc.cluster.local', 'kubernetes', ['10.0.0.2'])], endpoints: [ep('reviews.default.svc.cluster.local', '10.2.0.1'), ep('reviews.default.svc.cluster.local', '10.1.0.1')] });
    const se = new MemoryServiceRegistry('serviceentry', { services: [svc('reviews.default.svc.cluster.local', 'serviceentry', ['240.0.0.1']), svc('api.example.com', 'serviceentry')], endpoints: [ep('reviews.default.svc.cluster.local', '192.168.0.9')] });
    const agg = new AggregateRegistry([k1, k2, se]);
    expect(agg.services().map((s) => [s.hostname, s.source, s.addresses])).toEqual([
      ['api.example.com', 'serviceentry', []],
      ['reviews.default.svc.cluster.local', 'kubernetes', ['10.0.0.1', '10.0.0.2']],
    ]);
    expect(agg.endpoints('reviews.default.svc.cluster.local').map((e) => e.address)).toEqual(['10.1.0.1', '10.2.0.1', '192.168.0.9']);
    // the same members in another order give another precedence, deterministically
    expect(new AggregateRegistry([se, k1]).services().find((s) => s.hostname.startsWith('reviews'))?.source).toBe('serviceentry');
  });

  it('forwards member events and announces members joining and leaving', async () => {
    const a = new MemoryServiceRegistry('a', { services: [svc('x.example.com', 'serviceentry')] });
    const agg = new AggregateRegistry([a]);
    const events: RegistryEvent[] = [];
    agg.watch((e) => events.push(e));
    a.putService(svc('y.example.com', 'serviceentry'));
    const b = new MemoryServiceRegistry('b', { services: [svc('z.example.com', 'kubernetes')] });
    agg.addRegistry(b);
    expect(() => agg.addRegistry(b)).toThrow(/already a member/);
    agg.removeRegistry('a');
    expect(events.map((e) => `${e.type}:${e.hostname}`)).toEqual(['add:y.example.com', 'add:z.example.com', 'delete:x.example.com', 'delete:y.example.com']);
    expect(agg.services().map((s) => s.hostname)).toEqual(['z.example.com']);
    await agg.ready();
    await agg.close();
  });
});
