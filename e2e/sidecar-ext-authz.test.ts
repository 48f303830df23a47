/**
 * CUSTOM authorization end to end (issue 6 item 5): pilot reads Istio's mesh config from
 * `--mesh-config` (the istio ConfigMap, with an envoyExtAuthzGrpc extension provider) and
 * translates a CUSTOM AuthorizationPolicy into the reviews sidecar's inbound shadow RBAC +
 * ext_authz filters; requests go productpage sidecar → reviews sidecar → app, and the reviews
 * sidecar asks a real `envoy.service.auth.v3.Authorization` gRPC server run by this test (its
 * messages loaded with @grpc/proto-loader from the Envoy protos, independently of libs/proxy);
 * a second CUSTOM policy on the same workload names an envoyExtAuthzHttp provider (a real HTTP
 * authorizer in this test).
 *
 * The provider's service is a ServiceEntry host `localhost`: the sidecar dials the host and port
 * of the ext_authz cluster name (`outbound|<port>||localhost`) — see docs/security.md "CUSTOM".
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, reviewsMesh, startSidecar, viaProxy, type RunningSidecar } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';

interface CheckReq {
  attributes?: { source?: { principal?: string; address?: { socketAddress?: { address?: string } } }; request?: { http?: { method?: string; path?: string; host?: string; headers?: Record<string, string> } } };
}

const REVIEWS = 'http://reviews.default.svc.cluster.local:9080';
const checks: CheckReq[] = [];
let authz: grpc.Server | undefined;
let authzPort = 0;
let pilot: RunningPilot;
let reviews: RunningSidecar;
let productpage: RunningSidecar;
let app: http.Server;
let httpAuthz: http.Server;
let httpAuthzPort = 0;
const httpChecks: { url: string; headers: http.IncomingHttpHeaders }[] = [];
let dir: string;

/** startAuthorizer serves Authorization/Check like Istio's sample ext-authz: `x-ext-authz: allow` passes (with a header for the app), anything else is denied. */
async function startAuthorizer(port: number): Promise<grpc.Server> {
  const req = createRequire(import.meta.url);
  const deps = join(dirname(req.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: false,
    includeDirs: [join(deps, 'envoy-api'), join(deps, 'xds'), join(deps, 'googleapis'), join(deps, 'protoc-gen-validate')],
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { auth: { v3: { Authorization: { service: grpc.ServiceDefinition } } } } } };
  const server = new grpc.Server();
  server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
    Check: (call: grpc.ServerUnaryCall<CheckReq, object>, cb: grpc.sendUnaryData<object>) => {
      checks.push(call.request);
      const h = call.request.attributes?.request?.http?.headers ?? {};
      if (h['x-ext-authz'] === 'allow') {
        cb(null, { status: { code: 0 }, okResponse: { headers: [{ header: { key: 'x-ext-authz-check-result', value: 'allowed' } }] } });
      } else {
        cb(null, {
          status: { code: 7 },
          deniedResponse: { status: { code: 'Forbidden' }, body: `denied by ext_authz for not found header \`x-ext-authz: allow\` in the request`, headers: [{ header: { key: 'x-ext-authz-check-result', value: 'denied' } }] },
        });
      }
    },
  });
  await new Promise<number>((res, rej) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return server;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sidecar-ext-authz-'));
  authzPort = await freePort();
  authz = await startAuthorizer(authzPort);
  // The HTTP flavour (envoyExtAuthzHttp), like Istio's sample ext-authz on its HTTP port.
  httpAuthz = http.createServer((req, res) => {
    httpChecks.push({ url: req.url ?? '', headers: req.headers });
    if (req.headers['x-ext-authz'] === 'allow') {
      res.writeHead(200, { 'x-ext-authz-check-result': 'allowed' });
      res.end();
    } else {
      res.writeHead(403, { 'x-ext-authz-check-result': 'denied' });
      res.end('denied by the HTTP authorizer');
    }
  });
  await new Promise<void>((r) => httpAuthz.listen(0, '127.0.0.1', () => r()));
  httpAuthzPort = (httpAuthz.address() as { port: number }).port;
  // The reviews application echoes the headers it received.
  app = http.createServer((req, res) => res.end(JSON.stringify({ path: req.url, headers: req.headers })));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  const appPort = (app.address() as { port: number }).port;
  const inbound = await freePort();
  // The config directory holds mesh resources only; the ConfigMap lives beside it.
  mkdirSync(join(dir, 'config'));
  writeFileSync(
    join(dir, 'config', 'mesh.yaml'),
    reviewsMesh(
      [appPort],
      [inbound],
      `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext-authz, namespace: foo}
spec:
  hosts: [localhost]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: ${authzPort}, name: grpc, protocol: GRPC}, {number: ${httpAuthzPort}, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  action: CUSTOM
  provider: {name: sample-ext-authz-grpc}
  rules:
  - to: [{operation: {paths: ["/reviews/*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz-http, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  action: CUSTOM
  provider: {name: sample-ext-authz-http}
  rules:
  - to: [{operation: {paths: ["/ratings/*"]}}]
`,
    ),
  );
  // Istio's istio ConfigMap, as `kubectl get cm istio -n istio-system -o yaml` shows it.
  writeFileSync(
    join(dir, 'istio-configmap.yaml'),
    `apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    accessLogFile: /dev/stdout
    extensionProviders:
    - name: sample-ext-authz-grpc
      envoyExtAuthzGrpc:
        service: localhost
        port: ${authzPort}
        timeout: 2s
    - name: sample-ext-authz-http
      envoyExtAuthzHttp:
        service: localhost
        port: ${httpAuthzPort}
        pathPrefix: /check
        includeRequestHeadersInCheck: [x-ext-authz]
        headersToUpstreamOnAllow: [x-ext-authz-check-result]
        headersToDownstreamOnDeny: [x-ext-authz-check-result]
`,
  );
  pilot = await startPilot(['--config-dir', join(dir, 'config'), '--mesh-config', join(dir, 'istio-configmap.yaml')]);
  reviews = await startSidecar(pilot.xdsPort, 'reviews-v1-1', { app: 'reviews', version: 'v1' });
  productpage = await startSidecar(pilot.xdsPort, 'productpage-v1-1', { app: 'productpage', version: 'v1' });
  await until(async () => (await viaProxy(productpage, `${REVIEWS}/reviews/1`)).status === 403, 'the reviews sidecar to ask the authorizer');
}, 120_000);

afterAll(async () => {
  await productpage?.stop();
  await reviews?.stop();
  await pilot?.stop();
  authz?.forceShutdown();
  app?.close();
  httpAuthz?.closeAllConnections();
  httpAuthz?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('pilot loads the mesh config and names its providers', () => {
  expect(pilot.logs()).toContain('"mesh config loaded"');
  expect(pilot.logs()).toContain('sample-ext-authz-grpc');
});

it("a request the authorizer denies gets its 403, body and header; the app is not reached", async () => {
  const before = checks.length;
  const r = await viaProxy(productpage, `${REVIEWS}/reviews/1`);
  expect(r.status).toBe(403);
  expect(r.body).toBe('denied by ext_authz for not found header `x-ext-authz: allow` in the request');
  expect(r.headers['x-ext-authz-check-result']).toBe('denied');
  expect(checks.length).toBe(before + 1);
  const c = checks[checks.length - 1]?.attributes;
  expect(c?.request?.http?.method).toBe('GET');
  expect(c?.request?.http?.path).toBe('/reviews/1');
  expect(c?.request?.http?.headers?.[':authority']).toBeDefined();
});

it("an allowed request reaches the app with the authorizer's header", async () => {
  const r = await viaProxy(productpage, `${REVIEWS}/reviews/2`, { headers: { 'x-ext-authz': 'allow' } });
  expect(r.status).toBe(200);
  const seen = JSON.parse(r.body) as { path: string; headers: Record<string, string> };
  expect(seen.path).toBe('/reviews/2');
  expect(seen.headers['x-ext-authz-check-result']).toBe('allowed');
});

it('a path the CUSTOM rule does not match is not sent to the authorizer', async () => {
  const before = checks.length;
  const r = await viaProxy(productpage, `${REVIEWS}/health`);
  expect(r.status).toBe(200);
  expect(checks.length).toBe(before);
});

it('a second provider on the same workload: the HTTP authorizer decides its paths (status, body, allowed headers)', async () => {
  const before = checks.length;
  const denied = await viaProxy(productpage, `${REVIEWS}/ratings/1`, { headers: { 'x-secret': 's' } });
  expect(denied.status).toBe(403);
  expect(denied.body).toBe('denied by the HTTP authorizer');
  expect(denied.headers['x-ext-authz-check-result']).toBe('denied');
  const seen = httpChecks[httpChecks.length - 1];
  expect(seen?.url).toBe('/check/ratings/1');
  expect(seen?.headers['x-secret']).toBeUndefined();
  const ok = await viaProxy(productpage, `${REVIEWS}/ratings/2`, { headers: { 'x-ext-authz': 'allow' } });
  expect(ok.status).toBe(200);
  expect((JSON.parse(ok.body) as { headers: Record<string, string> }).headers['x-ext-authz-check-result']).toBe('allowed');
  // The gRPC provider was not asked about /ratings.
  expect(checks.length).toBe(before);
});

it('authorizer gone, failOpen false: matched requests get 403, others still pass', async () => {
  authz?.forceShutdown();
  authz = undefined;
  const r = await viaProxy(productpage, `${REVIEWS}/reviews/3`, { headers: { 'x-ext-authz': 'allow' } });
  expect(r.status).toBe(403);
  expect(r.body).toBe('');
  expect((await viaProxy(productpage, `${REVIEWS}/health`)).status).toBe(200);
});
