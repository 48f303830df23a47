import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateText, type MeshResource, type Service, type Endpoint } from '@meshwork/api';
import { validateEnvoyResource } from '@meshwork/xds';
import { describe, expect, test } from 'vitest';
import { generateAll } from './generators.js';
import { parseNode } from './node.js';
import { buildSnapshot, resolveHost } from './snapshot.js';

// Translation must never throw on valid mesh content and must always produce resources that
// encode: every valid fixture of libs/api and the Bookinfo sample, translated for a sidecar,
// ingress/egress/east-west gateways and a proxyless gRPC client, with a service made up for
// every concrete host the configs name.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DIRS = ['libs/api/testdata/valid/networking', 'libs/api/testdata/valid/security', 'samples/bookinfo/networking'];

function yamlFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f));
}

function hostsOf(r: MeshResource): string[] {
  const spec = (r.body as { spec?: Record<string, unknown> }).spec ?? {};
  const ns = r.metadata.namespace ?? 'default';
  const out: string[] = [];
  const add = (h: unknown): void => {
    if (typeof h === 'string' && !h.includes('*')) out.push(resolveHost(h, ns, 'cluster.local'));
  };
  for (const h of (spec.hosts as unknown[]) ?? []) add(h);
  add(spec.host);
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'destination' || k === 'mirror') add((x as { host?: unknown })?.host);
        walk(x);
      }
    }
  };
  walk(spec.http);
  walk(spec.tcp);
  walk(spec.tls);
  return out;
}

function madeUpServices(resources: readonly MeshResource[]): { services: Service[]; endpoints: Endpoint[] } {
  const hosts = [...new Set(resources.flatMap(hostsOf))].sort();
  const services: Service[] = [];
  const endpoints: Endpoint[] = [];
  hosts.forEach((hostname, i) => {
    const k8s = hostname.endsWith('.svc.cluster.local');
    const namespace = k8s ? hostname.split('.')[1] : 'default';
    const name = hostname.split('.')[0];
    const resolution = k8s ? 'STATIC' : (['STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'NONE'] as const)[i % 4];
    services.push({
      hostname, namespace, name, resolution,
      ports: [{ name: 'http', port: 80, protocol: 'HTTP' }, { name: 'http-alt', port: 9080, protocol: 'HTTP' }, { name: 'tls', port: 443, protocol: 'TLS' }, { name: 'tcp', port: 27017, protocol: 'TCP' }],
      addresses: k8s ? [`10.96.${Math.floor(i / 200)}.${i % 200}`] : [],
      location: k8s ? 'MESH_INTERNAL' : 'MESH_EXTERNAL',
      exportTo: ['*'], selector: { app: name }, labels: {}, source: 'test',
    });
    for (const [j, version] of ['v1', 'v2', 'v3'].entries()) {
      for (const portName of ['http', 'http-alt', 'tls', 'tcp']) {
        endpoints.push({
          hostname, namespace, servicePortName: portName, address: `10.${1 + j}.${Math.floor(i / 200)}.${i % 200}`, port: 8000 + j,
          labels: { app: name, version }, serviceAccount: name, locality: { region: ['us-east', 'eu-west'][j % 2], zone: 'a' }, healthy: j !== 2, tlsMode: 'istio',
        });
      }
    }
  });
  return { services, endpoints };
}

const PROXIES = [
  { id: 'sidecar~10.9.0.1~productpage-v1-x.default~default.svc.cluster.local', metadata: { LABELS: { app: 'productpage', version: 'v1' } }, locality: { region: 'us-east', zone: 'a' } },
  { id: 'router~10.9.0.2~ingress-x.istio-system~istio-system.svc.cluster.local', metadata: { LABELS: { istio: 'ingressgateway', app: 'istio-ingressgateway' } } },
  { id: 'router~10.9.0.3~egress-x.istio-system~istio-system.svc.cluster.local', metadata: { LABELS: { istio: 'egressgateway' } } },
  { id: 'router~10.9.0.4~eastwest-x.istio-system~istio-system.svc.cluster.local', metadata: { LABELS: { istio: 'eastwestgateway' } } },
  { id: 'sidecar~10.9.0.5~client-x.default~default.svc.cluster.local', metadata: { GENERATOR: 'grpc', LABELS: { app: 'client' } } },
].map(parseNode);

describe('translation of every valid fixture neither throws nor produces unencodable resources', () => {
  for (const file of DIRS.flatMap(yamlFiles)) {
    test(file, () => {
      const { resources } = validateText(readFileSync(join(ROOT, file), 'utf8'), file);
      const { services, endpoints } = madeUpServices(resources);
      const snapshot = buildSnapshot({ configs: resources, services, endpoints });
      const errors: string[] = [];
      for (const proxy of PROXIES) {
        const out = generateAll(proxy, snapshot);
        for (const [typeUrl, list] of Object.entries(out)) {
          for (const r of list) {
            const v = validateEnvoyResource(typeUrl, r);
            if (!v.ok) errors.push(`${proxy.type} ${proxy.workloadName}: ${v.errors.join('; ')}`);
          }
        }
      }
      expect(errors).toEqual([]);
    });
  }
});
