import { describe, expect, it } from 'vitest';
import { validateObject, type MeshResource } from '@meshwork/api';
import { rawOf } from './resource.js';
import { convertServiceEntry, ServiceEntryRegistry, workloadEntryInstance } from './serviceentry.js';
import { MemoryConfigStore } from './testing.js';
import type { RegistryEvent } from './types.js';

function res(kind: string, name: string, spec: Record<string, unknown>, ns = 'default'): MeshResource {
  const v = validateObject(rawOf({ apiVersion: 'networking.istio.io/v1', kind, metadata: { name, namespace: ns }, spec }));
  if (!v.ok) throw new Error(JSON.stringify(v.diagnostics));
  return v.resource;
}

describe('convertServiceEntry', () => {
  it('one service per host; static endpoints with Istio port, tlsMode and locality rules', () => {
    const se = res('ServiceEntry', 'ext', {
      hosts: ['a.example.com', 'b.example.com'],
      addresses: ['10.9.0.1/32', '10.10.0.0/16'],
      ports: [{ number: 80, name: 'http', protocol: 'http' }, { number: 443, name: 'tls', protocol: 'TLS', targetPort: 8443 }],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      endpoints: [
        { address: '1.1.1.1', ports: { http: 8080 }, serviceAccount: 'vm', locality: 'eu/eu-1/r1', weight: 3, network: 'n2' },
        { address: '2.2.2.2', labels: { 'security.istio.io/tlsMode': 'disabled', 'istio-locality': 'us.us-2' } },
      ],
    });
    const { services, endpoints } = convertServiceEntry(se, []);
    expect(services.map((s) => [s.hostname, s.addresses, s.resolution, s.location, s.ports.map((p) => `${p.name}:${p.port}/${p.protocol}`)])).toEqual([
      ['a.example.com', ['10.9.0.1', '10.10.0.0/16'], 'STATIC', 'MESH_INTERNAL', ['http:80/HTTP', 'tls:443/TLS']],
      ['b.example.com', ['10.9.0.1', '10.10.0.0/16'], 'STATIC', 'MESH_INTERNAL', ['http:80/HTTP', 'tls:443/TLS']],
    ]);
    const forA = endpoints.filter((e) => e.hostname === 'a.example.com').map((e) => ({ a: e.address, port: e.port, name: e.servicePortName, tls: e.tlsMode, loc: e.locality, w: e.weight, sa: e.serviceAccount, n: e.network }));
    expect(forA).toEqual([
      { a: '1.1.1.1', port: 8080, name: 'http', tls: 'istio', loc: { region: 'eu', zone: 'eu-1', subzone: 'r1' }, w: 3, sa: 'vm', n: 'n2' },
      { a: '2.2.2.2', port: 80, name: 'http', tls: 'disabled', loc: { region: 'us', zone: 'us-2' }, w: undefined, sa: undefined, n: undefined },
      { a: '1.1.1.1', port: 8443, name: 'tls', tls: 'istio', loc: { region: 'eu', zone: 'eu-1', subzone: 'r1' }, w: 3, sa: 'vm', n: 'n2' },
      { a: '2.2.2.2', port: 8443, name: 'tls', tls: 'disabled', loc: { region: 'us', zone: 'us-2' }, w: undefined, sa: undefined, n: undefined },
    ]);
  });

  it('a DNS entry without endpoints resolves its own hosts; defaults are NONE / MESH_EXTERNAL', () => {
    const dns = convertServiceEntry(res('ServiceEntry', 'g', { hosts: ['api.example.com'], ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }], resolution: 'DNS' }), []);
    expect(dns.endpoints).toEqual([{ hostname: 'api.example.com', namespace: 'default', servicePortName: 'https', address: 'api.example.com', port: 443, labels: {}, healthy: true, tlsMode: 'disabled' }]);
    const none = convertServiceEntry(res('ServiceEntry', 'n', { hosts: ['*.example.com'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }] }), []);
    expect(none.services[0]).toMatchObject({ resolution: 'NONE', location: 'MESH_EXTERNAL', exportTo: ['*'], source: 'serviceentry' });
    expect(none.endpoints).toEqual([]);
  });

  it('workloadSelector picks matching workloads in the same namespace only', () => {
    const se = res('ServiceEntry', 'vm', { hosts: ['vm.internal'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', location: 'MESH_INTERNAL', workloadSelector: { labels: { app: 'vm' } } });
    const we = (name: string, ns: string, labels: Record<string, string>, address: string) => workloadEntryInstance(res('WorkloadEntry', name, { address, labels, serviceAccount: 'vm-sa' }, ns));
    const { endpoints } = convertServiceEntry(se, [we('vm-1', 'default', { app: 'vm', v: '1' }, '10.0.0.1'), we('vm-2', 'other', { app: 'vm' }, '10.0.0.2'), we('x', 'default', { app: 'x' }, '10.0.0.3')]);
    expect(endpoints.map((e) => [e.address, e.workloadName, e.tlsMode, e.serviceAccount])).toEqual([['10.0.0.1', 'vm-1', 'istio', 'vm-sa']]);
  });
});

describe('ServiceEntryRegistry', () => {
  it('follows ServiceEntry and WorkloadEntry changes in its config source', async () => {
    const store = new MemoryConfigStore();
    const reg = new ServiceEntryRegistry({ source: store });
    await reg.start();
    const events: RegistryEvent[] = [];
    reg.watch((e) => events.push(e));
    const settle = () => new Promise<void>((r) => queueMicrotask(r));
    await store.create({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'vm', namespace: 'default' }, spec: { hosts: ['vm.internal'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', location: 'MESH_INTERNAL', workloadSelector: { labels: { app: 'vm' } } } });
    await settle();
    expect(reg.services().map((s) => s.hostname)).toEqual(['vm.internal']);
    expect(reg.endpoints()).toEqual([]);
    await store.create({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'vm-1', namespace: 'default' }, spec: { address: '10.0.0.1', labels: { app: 'vm' }, ports: { http: 8080 } } });
    await settle();
    expect(reg.endpoints().map((e) => `${e.address}:${e.port}`)).toEqual(['10.0.0.1:8080']);
    await store.delete({ group: 'networking.istio.io', kind: 'WorkloadEntry', namespace: 'default', name: 'vm-1' });
    await settle();
    expect(reg.endpoints()).toEqual([]);
    expect(events.map((e) => `${e.type}:${e.what}`)).toEqual(['add:service', 'add:endpoints', 'delete:endpoints']);
    await reg.close();
  });
});
