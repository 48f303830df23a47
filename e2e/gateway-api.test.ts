/**
 * Kubernetes Gateway API through the real gateway: pilot on a config directory holding a
 * Gateway (class meshwork) and HTTPRoutes; three applications (one a mirror target answering
 * 500); the gateway binary labelled as Istio's automated deployment
 * (gateway.networking.k8s.io/gateway-name). Checks header, query-parameter and method matching,
 * request and response header modifiers, URL rewrite, redirect, a request mirror (the mirror gets
 * each request, its answer is ignored), weighted backendRefs (3:1 and a weight of 0), precedence of
 * an exact path over a prefix, 404 for paths no rule matches; a route in another namespace
 * attaching to the Gateway (allowedRoutes All) whose backend in the Gateway's namespace answers
 * 500 until a ReferenceGrant there admits it (picked up live); a GRPCRoute routes gRPC calls by
 * method and header.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, send, startGateway, type RunningGateway } from './gateway-support.js';
import { freePort } from './sidecar-support.js';
import * as grpc from '@grpc/grpc-js';
import { echoBackend, echoCall, startPilot, until, type RunningPilot } from './support.js';

/** A request an application received. */
interface Seen {
  readonly method: string;
  readonly path: string;
  readonly host: string;
}

/** An application answering `status` with JSON {app, path, headers} and a response header `x-app: <name>`; it keeps the requests it saw. */
async function app(name: string, status = 200): Promise<{ port: number; server: http.Server; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', host: req.headers.host ?? '' });
    res.writeHead(status, { 'x-app': name });
    res.end(JSON.stringify({ app: name, path: req.url, headers: req.headers }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, server, seen };
}

describe('Kubernetes Gateway API through the gateway', () => {
  let dir: string;
  let pilot: RunningPilot;
  let gateway: RunningGateway;
  const servers: http.Server[] = [];
  const grpcServers: grpc.Server[] = [];
  let port = 0;
  let mirror: Seen[] = [];
  const host = (): string => `web.example.com:${port}`;
  const more = (): string => `more.example.com:${port}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-api-e2e-'));
    const v1 = await app('reviews-v1');
    const v2 = await app('reviews-v2');
    const shadow = await app('mirror', 500);
    mirror = shadow.seen;
    servers.push(v1.server, v2.server, shadow.server);
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
        se('mirror', 'default', shadow.port) +
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
metadata: {name: more, namespace: default}
spec:
  parentRefs: [{name: web-gw}]
  hostnames: [more.example.com]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /q}
      queryParams: [{name: version, value: v2}]
    backendRefs: [{name: reviews-v2, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /q}}]
    backendRefs: [{name: reviews, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /m}, method: POST}]
    backendRefs: [{name: reviews-v2, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /m}}]
    backendRefs: [{name: reviews, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /resp}}]
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{name: x-served-by, value: gateway}]
        add: [{name: x-added, value: "1"}]
        remove: [x-app]
    backendRefs: [{name: reviews, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /mirrored}}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: mirror, port: 9080}}
    backendRefs: [{name: reviews, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /split}}]
    backendRefs: [{name: reviews, port: 9080, weight: 3}, {name: reviews-v2, port: 9080, weight: 1}]
  - matches: [{path: {type: PathPrefix, value: /drained}}]
    backendRefs: [{name: reviews, port: 9080, weight: 0}, {name: reviews-v2, port: 9080, weight: 1}]
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

  it('routes by query parameter match', async () => {
    expect(json((await get(port, more(), '/q/1?version=v2')).body)).toMatchObject({ app: 'reviews-v2', path: '/q/1?version=v2' });
    expect(json((await get(port, more(), '/q/1?version=v1')).body).app).toBe('reviews-v1');
    expect(json((await get(port, more(), '/q/1')).body).app).toBe('reviews-v1');
  });

  it('routes by method match', async () => {
    const post = await send(port, more(), 'POST', '/m/1');
    expect(post.status).toBe(200);
    expect(json(post.body).app).toBe('reviews-v2');
    expect(json((await send(port, more(), 'GET', '/m/1')).body).app).toBe('reviews-v1');
    expect(json((await send(port, more(), 'PUT', '/m/1')).body).app).toBe('reviews-v1');
  });

  it('modifies response headers (ResponseHeaderModifier set, add, remove)', async () => {
    const plain = await get(port, more(), '/q/1');
    expect(plain.headers['x-app']).toBe('reviews-v1');
    expect(plain.headers['x-served-by']).toBeUndefined();
    const r = await get(port, more(), '/resp/1');
    expect(r.status).toBe(200);
    expect(json(r.body).app).toBe('reviews-v1');
    expect(r.headers['x-served-by']).toBe('gateway');
    expect(r.headers['x-added']).toBe('1');
    expect(r.headers['x-app']).toBeUndefined();
  });

  it('mirrors requests (RequestMirror): the mirror backend gets each one, its 500 is ignored', async () => {
    expect(mirror).toEqual([]);
    for (let i = 0; i < 3; i++) {
      const r = await get(port, more(), `/mirrored/${i}`);
      expect(r.status).toBe(200);
      expect(json(r.body)).toMatchObject({ app: 'reviews-v1', path: `/mirrored/${i}` });
    }
    await until(() => mirror.length >= 3, 'three mirrored requests at the mirror backend');
    expect(mirror.map((m) => `${m.method} ${m.path}`).sort()).toEqual(['GET /mirrored/0', 'GET /mirrored/1', 'GET /mirrored/2']);
    // Requests on rules without the filter are not mirrored.
    await get(port, more(), '/q/1');
    await get(port, more(), '/mirrored/3');
    await until(() => mirror.length >= 4, 'the fourth mirrored request');
    expect(mirror.map((m) => m.path)).not.toContain('/q/1');
  });

  it('splits traffic by backendRef weights (3:1 over 200 requests; weight 0 takes none)', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const r = await get(port, more(), `/split/${i}`);
      expect(r.status).toBe(200);
      const a = json(r.body).app;
      counts[a] = (counts[a] ?? 0) + 1;
    }
    // Expected 150:50 (standard deviation 6): the bounds are five deviations wide, and an even split (100:100) misses them.
    expect(Object.keys(counts).sort()).toEqual(['reviews-v1', 'reviews-v2']);
    expect(counts['reviews-v1']).toBeGreaterThanOrEqual(120);
    expect(counts['reviews-v2']).toBeGreaterThanOrEqual(20);
    for (let i = 0; i < 20; i++) expect(json((await get(port, more(), `/drained/${i}`)).body).app).toBe('reviews-v2');
  });

  it('a route from another namespace attaches (allowedRoutes All); its cross-namespace backend without a ReferenceGrant answers 500', async () => {
    const shop = await get(port, host(), '/shop/cart');
    expect(shop.status).toBe(200);
    expect((await get(port, host(), '/borrowed/1')).status).toBe(500);
  });

  it('a ReferenceGrant in the backend\'s namespace admits the cross-namespace backend (picked up live)', async () => {
    const file = join(dir, 'mesh.yaml');
    writeFileSync(
      file,
      `${readFileSync(file, 'utf8')}---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: shop-routes, namespace: default}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}]
  to: [{group: "", kind: Service, name: reviews}]
`,
    );
    await until(async () => (await get(port, host(), '/borrowed/1')).status === 200, 'the granted backend to answer');
    expect(json((await get(port, host(), '/borrowed/1')).body)).toMatchObject({ app: 'reviews-v1', path: '/borrowed/1' });
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
