/**
 * Kubernetes Gateway API read from the Kubernetes API: pilot with --kubeconfig only (a fake API
 * server speaking the real list/watch wire format; no cluster runs here) takes the Service and
 * EndpointSlice of an application, and a Gateway and an HTTPRoute as a cluster with the Gateway
 * API CRDs serves them; the real gateway binary, labelled as Istio's automated deployment,
 * routes by them. An edit of the HTTPRoute in the API server reaches the gateway. A listener whose
 * allowedRoutes select namespaces by label takes a route from another namespace once the
 * Namespace object carries the label (pilot watches Namespaces). The GRPCRoute,
 * TCPRoute, TLSRoute, ReferenceGrant and GatewayClass CRDs are not installed in this cluster and
 * must not hold pilot's start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKubeApiServer, type FakeKubeApiServer, type FakeKubeObject } from '@meshwork/registry/testing';
import { get, startGateway, type RunningGateway } from './gateway-support.js';
import { freePort } from './sidecar-support.js';
import { startPilot, until, writeKubeconfig, type RunningPilot } from './support.js';

let dir: string;
let kube: FakeKubeApiServer;
let pilot: RunningPilot;
let gateway: RunningGateway;
let app: http.Server;
let port = 0;
/** The Gateway's second listener: routes from namespaces labelled shared-gateway-access=true. */
let sharedPort = 0;

const route = (extraHeader: string | undefined): FakeKubeObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'reviews', namespace: 'default' },
  spec: {
    parentRefs: [{ name: 'web-gw' }],
    hostnames: ['web.example.com'],
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/reviews' } }],
        ...(extraHeader ? { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: extraHeader }] } }] } : {}),
        backendRefs: [{ name: 'reviews', port: 9080 }],
      },
    ],
  },
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pilot-kube-gwapi-'));
  app = http.createServer((req, res) => res.end(JSON.stringify({ app: 'reviews', path: req.url, route: req.headers['x-route'] ?? null })));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  const appPort = (app.address() as { port: number }).port;
  port = await freePort();
  sharedPort = await freePort();

  kube = await startFakeKubeApiServer();
  for (const [gv, plural] of [['v1', 'services'], ['v1', 'pods'], ['v1', 'nodes'], ['v1', 'namespaces'], ['discovery.k8s.io/v1', 'endpointslices']]) kube.define(gv, plural);
  kube.put({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: 'default' }, spec: { clusterIP: '10.96.0.20', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: appPort }] } });
  kube.put({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'reviews-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'reviews' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: appPort }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  });
  kube.put({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'web-gw', namespace: 'default' },
    spec: {
      gatewayClassName: 'istio',
      listeners: [
        { name: 'http', port, protocol: 'HTTP', hostname: '*.example.com' },
        { name: 'shared', port: sharedPort, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { 'shared-gateway-access': 'true' } } } } },
      ],
    },
  });
  kube.put(route(undefined));
  writeKubeconfig(join(dir, 'kubeconfig'), kube.url);
  pilot = await startPilot(['--kubeconfig', join(dir, 'kubeconfig')]);
  gateway = await startGateway(pilot.xdsPort, new Map(), ['--labels', 'gateway.networking.k8s.io/gateway-name=web-gw', '--namespace', 'default', '--name', 'web-gw-istio']);
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  await pilot?.stop();
  await kube?.close();
  app?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Gateway API from the Kubernetes API', () => {
  it('routes by the Gateway and HTTPRoute the API server holds, and follows an edit of the route', async () => {
    let body = '';
    await until(async () => {
      const r = await get(port, 'web.example.com', '/reviews/1').catch(() => undefined);
      body = r?.status === 200 ? r.body : '';
      return body !== '';
    }, 'the gateway to route web.example.com/reviews');
    expect(JSON.parse(body)).toEqual({ app: 'reviews', path: '/reviews/1', route: null });
    // Only the hostname the route names is served.
    expect((await get(port, 'other.example.com', '/reviews/1')).status).toBe(404);
    // The list and the watch of HTTPRoutes went to the API server's Gateway API group.
    expect(kube.requests.some((r) => r.startsWith('/apis/gateway.networking.k8s.io/v1/httproutes?') && r.includes('watch=true'))).toBe(true);

    kube.put(route('edited'));
    await until(async () => {
      const r = await get(port, 'web.example.com', '/reviews/2').catch(() => undefined);
      return r?.status === 200 && (JSON.parse(r.body) as { route: string | null }).route === 'edited';
    }, 'the edited HTTPRoute to reach the gateway');
  }, 60_000);

  it("admits a route from another namespace to a Selector listener once that Namespace carries the selected label", async () => {
    kube.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    kube.put({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'moved', namespace: 'team-a' },
      spec: { parentRefs: [{ name: 'web-gw', namespace: 'default', sectionName: 'shared' }], hostnames: ['team-a.example.com'], rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'new.example.com', statusCode: 302 } }] }] },
    });
    // The listener is served (404: no route admitted yet), and stays so while team-a has no label.
    await until(async () => (await get(sharedPort, 'team-a.example.com', '/x').catch(() => undefined))?.status === 404, 'the shared listener');
    await new Promise((r) => setTimeout(r, 500));
    expect((await get(sharedPort, 'team-a.example.com', '/x')).status).toBe(404);
    kube.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { 'shared-gateway-access': 'true' } } });
    let location: string | undefined;
    await until(async () => {
      const r = await get(sharedPort, 'team-a.example.com', '/x').catch(() => undefined);
      location = r?.status === 302 ? String(r.headers.location) : undefined;
      return location !== undefined;
    }, "team-a's route once its Namespace is labelled");
    expect(location).toBe('http://new.example.com/x');
    expect(kube.requests.some((r) => r.startsWith('/api/v1/namespaces?') && r.includes('watch=true'))).toBe(true);
  }, 60_000);
});
