/**
 * Kubernetes Gateway API through the real gateway: pilot on a config directory holding a
 * Gateway (class meshwork), HTTPRoutes and a ReferenceGrant; two applications; the gateway
 * binary labelled as Istio's automated deployment (gateway.networking.k8s.io/gateway-name).
 * Checks header matching, request header modifiers, URL rewrite, redirect, precedence of an
 * exact path over a prefix, 404 for paths no rule matches, and 500 for a cross-namespace backend
 * without a ReferenceGrant; a GRPCRoute routes gRPC calls by method and header.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, startGateway, type RunningGateway } from './gateway-support.js';
import { freePort } from './sidecar-support.js';
import * as grpc from '@grpc/grpc-js';
import { echoBackend, echoCall, startPilot, until, type RunningPilot } from './support.js';

/** An application answering JSON {app, path, headers}. */
async function app(name: string): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer((req, res) => res.end(JSON.stringify({ app: name, path: req.url, headers: req.headers })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, server };
}

describe('Kubernetes Gateway API through the gateway', () => {
  let dir: string;
  let pilot: RunningPilot;
  let gateway: RunningGateway;
  const servers: http.Server[] = [];
  const grpcServers: grpc.Server[] = [];
  let port = 0;
  const host = (): string => `web.example.com:${port}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-api-e2e-'));
    const v1 = await app('reviews-v1');
    const v2 = await app('reviews-v2');
    servers.push(v1.server, v2.server);
    const echoStable = await echoBackend('stable');
    const echoCanary = await echoBackend('canary');
    grpcServers.push(echoStable.server, echoCanary.server);
    port = await freePort();
    const grpcSe = (name: string, ep: number): string => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 7070, name: grpc, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, ports: {grpc: ${ep}}}]
`;
    const se = (name: string, ns: string, ep: number): string => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${ns}}
spec:
  hosts: [${name}.${ns}.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${ep}}}]
`;
    writeFileSync(
      join(dir, 'mesh.yaml'),
      se('reviews', 'default', v1.port) +
        se('reviews-v2', 'default', v2.port) +
        se('shop', 'shop', v2.port) +
        grpcSe('echo', echoStable.port) +
        grpcSe('echo-canary', echoCanary.port) +
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web-gw, namespace: default}
spec:
  gatewayClassName: meshwork
  listeners:
  - name: http
    port: ${port}
    protocol: HTTP
    hostname: "*.example.com"
    allowedRoutes: {namespaces: {from: All}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: default}
spec:
  parentRefs: [{name: web-gw}]
  hostnames: [web.example.com]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /reviews}
      headers: [{name: end-user, value: jason}]
    backendRefs: [{name: reviews-v2, port: 9080}]
  - matches:
    - path: {type: PathPrefix, value: /reviews}
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: x-gateway, value: meshwork}]
        remove: [x-internal]
    backendRefs: [{name: reviews, port: 9080}]
  - matches:
    - path: {type: Exact, value: /reviews/special}
    backendRefs: [{name: reviews-v2, port: 9080}]
  - matches:
    - path: {type: PathPrefix, value: /api}
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /reviews}}
    backendRefs: [{name: reviews, port: 9080}]
  - matches:
    - path: {type: Exact, value: /old}
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /reviews/0}, statusCode: 301}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: shop}
spec:
  parentRefs: [{name: web-gw, namespace: default}]
  hostnames: [web.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /shop}}]
    backendRefs: [{name: shop, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /borrowed}}]
    backendRefs: [{name: reviews, namespace: default, port: 9080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo, namespace: default}
spec:
  parentRefs: [{name: web-gw}]
  hostnames: [grpc.example.com]
  rules:
  - matches:
    - method: {service: meshwork.test.Echo, method: Echo}
      headers: [{name: x-canary, value: "true"}]
    backendRefs: [{name: echo-canary, port: 7070}]
  - matches:
    - method: {service: meshwork.test.Echo}
    backendRefs: [{name: echo, port: 7070}]
`,
    );
    pilot = await startPilot(['--config-dir', dir]);
    gateway = await startGateway(pilot.xdsPort, new Map(), ['--labels', 'gateway.networking.k8s.io/gateway-name=web-gw', '--namespace', 'default', '--name', 'web-gw-meshwork']);
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await pilot?.stop();
    for (const s of servers) s.close();
    for (const g of grpcServers) g.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  const json = (body: string): { app: string; path: string; headers: Record<string, string> } => JSON.parse(body) as { app: string; path: string; headers: Record<string, string> };

  it('listens on the Gateway listener port', () => {
    expect(gateway.logs()).toContain(`"0.0.0.0_${port}":["127.0.0.1:${port}"]`);
  });

  it('routes by header match, and modifies request headers', async () => {
    const jason = await get(port, host(), '/reviews/1', { 'end-user': 'jason' });
    expect(jason.status).toBe(200);
    expect(json(jason.body).app).toBe('reviews-v2');
    const other = await get(port, host(), '/reviews/1', { 'x-internal': 'secret' });
    expect(other.status).toBe(200);
    expect(json(other.body)).toMatchObject({ app: 'reviews-v1', path: '/reviews/1' });
    expect(json(other.body).headers['x-gateway']).toBe('meshwork');
    expect(json(other.body).headers['x-internal']).toBeUndefined();
  });

  it('an exact path takes precedence over a prefix of the same route', async () => {
    const r = await get(port, host(), '/reviews/special');
    expect(json(r.body).app).toBe('reviews-v2');
  });

  it('PathPrefix matches whole segments only', async () => {
    expect((await get(port, host(), '/reviewsX')).status).toBe(404);
  });

  it('rewrites the matched prefix (URLRewrite ReplacePrefixMatch)', async () => {
    const r = await get(port, host(), '/api/7');
    expect(json(r.body)).toMatchObject({ app: 'reviews-v1', path: '/reviews/7' });
  });

  it('redirects (RequestRedirect)', async () => {
    const r = await get(port, host(), '/old');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe(`http://${host()}/reviews/0`);
  });

  it('a route from another namespace attaches (allowedRoutes All); its cross-namespace backend without a ReferenceGrant answers 500', async () => {
    const shop = await get(port, host(), '/shop/cart');
    expect(shop.status).toBe(200);
    expect((await get(port, host(), '/borrowed/1')).status).toBe(500);
  });

  it('answers 404 for a host the route does not list', async () => {
    expect((await get(port, `other.example.com:${port}`, '/reviews/1')).status).toBe(404);
  });

  it('routes gRPC by GRPCRoute method and header matches (HTTP/2 through the gateway)', async () => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'grpc.example.com' });
    try {
      expect(await echoCall(client, 'hi')).toBe('stable:hi');
      expect(await echoCall(client, 'hi', { 'x-canary': 'true' })).toBe('canary:hi');
    } finally {
      client.close();
    }
  });

  it('follows an HTTPRoute change without a restart', async () => {
    const file = join(dir, 'mesh.yaml');
    const text = readFileSync(file, 'utf8');
    const before = `    - path: {type: PathPrefix, value: /api}
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /reviews}}
    backendRefs: [{name: reviews, port: 9080}]`;
    expect(text).toContain(before);
    writeFileSync(file, text.replace(before, before.replace('{name: reviews, port: 9080}', '{name: reviews-v2, port: 9080}')));
    await until(async () => json((await get(port, host(), '/api/7')).body).app === 'reviews-v2', 'the changed HTTPRoute to take effect');
    expect(json((await get(port, host(), '/api/7')).body)).toMatchObject({ app: 'reviews-v2', path: '/reviews/7' });
  });
});
