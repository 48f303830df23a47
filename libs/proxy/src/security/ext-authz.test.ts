/**
 * CUSTOM authorization through the real path: AuthorizationPolicy + MeshConfig extensionProviders
 * → libs/translate (the sidecar's inbound listener: shadow RBAC + ext_authz) → compileConfig → the
 * inbound chain's stages run on requests, against a real grpc-js `envoy.service.auth.v3.Authorization`
 * server (and a real HTTP authorizer for envoyExtAuthzHttp) started by the test.
 */
import * as grpc from '@grpc/grpc-js';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateAll, LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE } from '@meshwork/translate';
import { loadCase } from '@meshwork/translate/testing';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { compileConfig } from '../config/compile.js';
import { Headers, type CompiledConfig, type DownstreamInfo, type FilterChainPlan, type FilterDenial } from '../model.js';
import { Problems } from '../config/fields.js';
import { CHECK_PATH, configureExtAuthz, extAuthzCodec } from './ext-authz-client.js';
import { compileHttpExtAuthz, compileNetworkExtAuthz } from './ext-authz.js';

const POD_IP = '10.1.0.60';
const PEER = 'spiffe://cluster.local/ns/default/sa/sleep';

/** What the test authorizer saw: the decoded CheckRequests. */
interface SeenCheck {
  attributes: {
    source?: { address?: { socketAddress?: { address?: string; portValue?: number } }; principal?: string };
    destination?: { address?: { socketAddress?: { address?: string; portValue?: number } } };
    request?: { http?: { id?: string; method?: string; path?: string; host?: string; scheme?: string; headers?: Record<string, string> } };
    tlsSession?: { sni?: string };
  };
}

/**
 * A real Authorization server acting like Istio's sample ext-authz: `x-ext-authz: allow` → OK
 * with headers for the upstream, `deny` → PERMISSION_DENIED with a 401 denied_response,
 * `bare-deny` → PERMISSION_DENIED without a denied_response, `hang` → no answer; a connection
 * (no HTTP attributes) is allowed unless its source port is odd.
 */
class Authorizer {
  readonly server = new grpc.Server();
  readonly seen: SeenCheck[] = [];
  port = 0;

  async start(): Promise<void> {
    const c = await extAuthzCodec();
    this.server.addService(
      {
        Check: {
          path: CHECK_PATH,
          requestStream: false,
          responseStream: false,
          requestSerialize: (v: object) => Buffer.from(c.request.encode(c.request.fromObject(v)).finish()),
          requestDeserialize: (b: Buffer) => c.request.toObject(c.request.decode(b), { longs: Number, enums: String }),
          responseSerialize: (v: object) => Buffer.from(c.response.encode(c.response.fromObject(v)).finish()),
          responseDeserialize: (b: Buffer) => c.response.toObject(c.response.decode(b)),
        },
      },
      {
        Check: (call: grpc.ServerUnaryCall<SeenCheck, object>, cb: grpc.sendUnaryData<object>) => {
          const req = call.request;
          this.seen.push(req);
          const http = req.attributes.request?.http;
          if (!http) {
            const port = req.attributes.source?.address?.socketAddress?.portValue ?? 0;
            return cb(null, { status: { code: port % 2 === 1 ? 7 : 0 } });
          }
          const mode = http.headers?.['x-ext-authz'];
          if (mode === 'hang') return;
          if (mode === 'allow')
            return cb(null, {
              status: { code: 0 },
              okResponse: {
                headers: [
                  { header: { key: 'x-ext-authz-check-result', value: 'allowed' } },
                  { header: { key: 'x-appended', value: 'two' }, append: { value: true } },
                  { header: { key: ':path', value: '/hijack' } },
                ],
                headersToRemove: ['x-remove-me'],
              },
            });
          if (mode === 'bare-deny') return cb(null, { status: { code: 7 } });
          return cb(null, {
            status: { code: 7 },
            deniedResponse: {
              status: { code: 401 },
              body: 'denied by ext_authz for not found header `x-ext-authz: allow` in the request',
              // A framing header from the authorizer must not reach the local answer (the engine frames the body).
              headers: [{ header: { key: 'x-ext-authz-check-result', value: 'denied' } }, { header: { key: 'content-length', value: '1' } }],
            },
          });
        },
      },
    );
    this.port = await new Promise<number>((res, rej) => this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  }
}

/** A real HTTP authorizer like Istio's sample: 200 for `x-ext-authz: allow`, else 403 with a body; it records what it was sent. */
function startHttpAuthorizer(seen: { method?: string; url?: string; headers: IncomingHttpHeaders }[]): Promise<Server> {
  const s = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (req.headers['x-ext-authz'] === 'allow') {
      res.writeHead(200, { 'x-ext-authz-check-result': 'allowed', 'x-not-forwarded': 'no' });
      return res.end();
    }
    if (req.headers['x-ext-authz'] === 'hang') return;
    if (req.headers['x-ext-authz'] === 'boom') {
      res.writeHead(500);
      return res.end();
    }
    res.writeHead(403, { 'x-ext-authz-check-result': 'denied', 'x-internal': 'secret', 'content-type': 'text/plain' });
    res.end('denied by http authorizer');
  });
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
}

const authz = new Authorizer();
const httpSeen: { method?: string; url?: string; headers: IncomingHttpHeaders }[] = [];
let httpAuthz: Server;
const GRPC_CLUSTER = 'outbound|9000||ext-authz.foo.svc.cluster.local';
const HTTP_CLUSTER = 'outbound|8000||ext-authz-http.foo.svc.cluster.local';
const DEAD_CLUSTER = 'outbound|9009||ext-authz-dead.foo.svc.cluster.local';
let deadPort = 0;

beforeAll(async () => {
  await authz.start();
  httpAuthz = await startHttpAuthorizer(httpSeen);
  // A port nothing listens on: an authorizer that is down.
  const tmp = createServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', () => r()));
  deadPort = (tmp.address() as AddressInfo).port;
  await new Promise((r) => tmp.close(r));
  const targets = new Map([
    [GRPC_CLUSTER, `127.0.0.1:${authz.port}`],
    [HTTP_CLUSTER, `127.0.0.1:${(httpAuthz.address() as AddressInfo).port}`],
    [DEAD_CLUSTER, `127.0.0.1:${deadPort}`],
  ]);
  configureExtAuthz({ resolve: (c) => targets.get(c) });
});

afterAll(async () => {
  configureExtAuthz({});
  authz.server.forceShutdown();
  httpAuthz.closeAllConnections();
  await new Promise((r) => httpAuthz.close(r));
});

type Provider = Record<string, unknown>;

/** The inbound config of httpbin with one CUSTOM policy (paths /headers*, TCP port included) naming `provider`. */
function configFor(providers: Provider[], providerName: string, extraPolicy?: Record<string, unknown>): CompiledConfig {
  const svc = (host: string, port: number, protocol: string, ip: string): Record<string, unknown> => ({ host, namespace: 'foo', ports: [{ name: protocol.toLowerCase(), port, protocol }], addresses: [ip], workloads: [{ address: ip, labels: {}, serviceAccount: 'ext-authz' }] });
  const kase = loadCase(
    stringify({
      meshConfig: { extensionProviders: providers },
      proxy: { id: `sidecar~${POD_IP}~httpbin-v1-abc.default~default.svc.cluster.local`, labels: { app: 'httpbin' } },
      services: [
        { host: 'httpbin.default.svc.cluster.local', ports: [{ name: 'http', port: 8000, protocol: 'HTTP' }, { name: 'tcp-echo', port: 9001, protocol: 'TCP' }], addresses: ['10.96.0.60'], workloads: [{ address: POD_IP, labels: { app: 'httpbin' }, serviceAccount: 'httpbin' }] },
        svc('ext-authz.foo.svc.cluster.local', 9000, 'GRPC', '10.96.0.61'),
        svc('ext-authz-http.foo.svc.cluster.local', 8000, 'HTTP', '10.96.0.62'),
        svc('ext-authz-dead.foo.svc.cluster.local', 9009, 'GRPC', '10.96.0.63'),
      ],
      configs: [
        {
          apiVersion: 'security.istio.io/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'ext-authz', namespace: 'default' },
          spec: { selector: { matchLabels: { app: 'httpbin' } }, action: 'CUSTOM', provider: { name: providerName }, rules: [{ to: [{ operation: { paths: ['/headers*'] } }] }, { to: [{ operation: { ports: ['9001'] } }] }] },
        },
        ...(extraPolicy ? [extraPolicy] : []),
      ],
    }),
  );
  const out = generateAll(kase.proxy, kase.snapshot);
  const r = compileConfig({ listeners: out[LISTENER_TYPE], routes: out[ROUTE_TYPE], clusters: out[CLUSTER_TYPE], endpoints: out[ENDPOINT_TYPE] });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.value;
}

function chainFor(cfg: CompiledConfig, port: number): FilterChainPlan {
  const chain = cfg.listeners.get('virtualInbound')?.filterChains.find((ch) => ch.match.destinationPort === port && ch.match.transportProtocol !== 'tls');
  if (!chain) throw new Error(`no inbound chain for port ${port}`);
  return chain;
}

const DOWN: DownstreamInfo = { remoteAddress: '10.1.0.99', remotePort: 40000, localAddress: POD_IP, localPort: 8000, tls: { peerIdentities: [PEER], sni: 'outbound_.8000_._.httpbin.default.svc.cluster.local' } };

/** Runs the HTTP chain's filters: the local answer, or the request headers that go upstream. */
async function run(cfg: CompiledConfig, path: string, headers: Record<string, string> | [string, string][]): Promise<{ denial?: FilterDenial; upstream: Headers }> {
  const h = new Headers();
  for (const [k, v] of Array.isArray(headers) ? headers : Object.entries(headers)) h.add(k, v);
  const ctx = { req: { method: 'GET', path, authority: 'httpbin.default:8000', scheme: 'http' as const, headers: h }, down: DOWN, state: new Map<string, unknown>() };
  for (const f of chainFor(cfg, 8000).httpFilters ?? []) {
    const d = await f.run(ctx);
    if (d) return { denial: d, upstream: h };
  }
  return { upstream: h };
}

const grpcProvider = (extra: Record<string, unknown> = {}): Provider => ({ name: 'ext-authz-grpc', envoyExtAuthzGrpc: { service: 'ext-authz.foo.svc.cluster.local', port: 9000, timeout: '0.3s', ...extra } });

describe('ext_authz (gRPC provider) through translate → compile → stages', () => {
  const cfg = configFor([grpcProvider()], 'ext-authz-grpc');

  test('allowed: the authorizer gets Envoy-shaped attributes, its headers reach the upstream request', async () => {
    const before = authz.seen.length;
    const r = await run(cfg, '/headers?x=1', [
      ['x-ext-authz', 'allow'],
      ['x-request-id', 'req-1'],
      ['x-remove-me', 'bye'],
      ['x-appended', 'one'],
      ['x-ext-authz-check-result', 'forged'],
      ['accept', 'a'],
      ['accept', 'b'],
    ]);
    expect(r.denial).toBeUndefined();
    expect(authz.seen.length).toBe(before + 1);
    const a = authz.seen[authz.seen.length - 1]?.attributes;
    expect(a?.source?.address?.socketAddress).toEqual({ address: '10.1.0.99', portValue: 40000 });
    expect(a?.source?.principal).toBe(PEER);
    expect(a?.destination?.address?.socketAddress).toEqual({ address: POD_IP, portValue: 8000 });
    expect(a?.tlsSession?.sni).toBe('outbound_.8000_._.httpbin.default.svc.cluster.local');
    const http = a?.request?.http;
    expect(http).toMatchObject({ id: 'req-1', method: 'GET', path: '/headers?x=1', host: 'httpbin.default:8000', scheme: 'http' });
    expect(http?.headers).toMatchObject({ ':authority': 'httpbin.default:8000', ':method': 'GET', ':path': '/headers?x=1', 'x-ext-authz': 'allow', accept: 'a,b' });
    // ok_response: set replaces the forged value, append keeps the old one, headers_to_remove removes, pseudo-headers stay.
    expect(r.upstream.getAll('x-ext-authz-check-result')).toEqual(['allowed']);
    expect(r.upstream.getAll('x-appended')).toEqual(['one', 'two']);
    expect(r.upstream.has('x-remove-me')).toBe(false);
    expect(r.upstream.has(':path')).toBe(false);
  });

  test("denied: the authorizer's status, body and headers", async () => {
    const r = await run(cfg, '/headers', { 'x-ext-authz': 'deny' });
    expect(r.denial).toEqual({ status: 401, body: 'denied by ext_authz for not found header `x-ext-authz: allow` in the request', details: 'ext_authz_denied', headers: [['x-ext-authz-check-result', 'denied']] });
  });

  test('denied without a denied_response: 403', async () => {
    const r = await run(cfg, '/headers', { 'x-ext-authz': 'bare-deny' });
    expect(r.denial?.status).toBe(403);
    expect(r.denial?.details).toBe('ext_authz_denied');
  });

  test('a request the CUSTOM rules do not match is not sent to the authorizer', async () => {
    const before = authz.seen.length;
    const r = await run(cfg, '/ip', { 'x-ext-authz': 'deny' });
    expect(r.denial).toBeUndefined();
    expect(authz.seen.length).toBe(before);
  });

  test('timeout, failOpen false: 403 ext_authz_error (statusOnError unset)', async () => {
    const r = await run(cfg, '/headers', { 'x-ext-authz': 'hang' });
    expect(r.denial).toEqual({ status: 403, body: '', details: 'ext_authz_error' });
  });

  test('timeout, failOpen false, statusOnError 503', async () => {
    const c = configFor([grpcProvider({ statusOnError: '503' })], 'ext-authz-grpc');
    const r = await run(c, '/headers', { 'x-ext-authz': 'hang' });
    expect(r.denial?.status).toBe(503);
  });

  test('timeout, failOpen true: the request continues', async () => {
    const c = configFor([grpcProvider({ failOpen: true })], 'ext-authz-grpc');
    const r = await run(c, '/headers', { 'x-ext-authz': 'hang' });
    expect(r.denial).toBeUndefined();
    // A denial is still a denial when failing open.
    expect((await run(c, '/headers', { 'x-ext-authz': 'deny' })).denial?.status).toBe(401);
  });

  test('authorizer down: failOpen false denies, failOpen true continues', async () => {
    const dead = (failOpen: boolean): Provider => ({ name: 'dead', envoyExtAuthzGrpc: { service: 'ext-authz-dead.foo.svc.cluster.local', port: 9009, timeout: '2s', failOpen } });
    expect((await run(configFor([dead(false)], 'dead'), '/headers', {})).denial?.details).toBe('ext_authz_error');
    expect((await run(configFor([dead(true)], 'dead'), '/headers', {})).denial).toBeUndefined();
  });

  test('CUSTOM runs before DENY/ALLOW: an allowed check still meets a DENY policy', async () => {
    const c = configFor([grpcProvider()], 'ext-authz-grpc', { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-get', namespace: 'default' }, spec: { action: 'DENY', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] } });
    const before = authz.seen.length;
    const r = await run(c, '/headers', { 'x-ext-authz': 'allow' });
    expect(authz.seen.length).toBe(before + 1);
    expect(r.denial?.body).toBe('RBAC: access denied');
  });

  test('a provider that is not defined: the matched requests are denied by RBAC, the authorizer is not called', async () => {
    const c = configFor([grpcProvider()], 'nope');
    const before = authz.seen.length;
    const r = await run(c, '/headers', { 'x-ext-authz': 'allow' });
    expect(r.denial?.details).toBe('rbac_access_denied_matched_policy[istio-ext-authz-nope-ns[default]-policy[ext-authz]-rule[0]-deny-due-to-bad-CUSTOM-action]');
    expect((await run(c, '/ip', {})).denial).toBeUndefined();
    expect(authz.seen.length).toBe(before);
  });

  test('TCP port: pilot cannot send the network ext_authz yet, so the CUSTOM rules deny the connection (fail closed) without a check', async () => {
    const chain = chainFor(cfg, 9001);
    const before = authz.seen.length;
    let reason: string | undefined;
    for (const f of chain.networkFilters ?? []) if ((reason = await f.run({ ...DOWN, localPort: 9001 }))) break;
    expect(reason).toBe('rbac_access_denied_matched_policy[istio-ext-authz-ext-authz-grpc-ns[default]-policy[ext-authz]-rule[0]-deny-due-to-bad-CUSTOM-action]');
    expect(authz.seen.length).toBe(before);
  });

  test('the network ext_authz filter (Istio shape): each connection is checked with source, destination and principal; closed on deny', async () => {
    const p = new Problems('test', []);
    const stage = compileNetworkExtAuthz(
      p,
      {
        statPrefix: 'tcp.',
        transportApiVersion: 'V3',
        grpcService: { envoyGrpc: { clusterName: GRPC_CLUSTER, authority: 'outbound_.9000_._.ext-authz.foo.svc.cluster.local' }, timeout: { seconds: 1, nanos: 0 } },
        filterEnabledMetadata: { filter: 'envoy.filters.network.rbac', path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }], value: { stringMatch: { prefix: 'istio-ext-authz-ext-authz-grpc' } } },
      },
      'filter',
    );
    expect(p.errors).toEqual([]);
    const before = authz.seen.length;
    expect(await stage?.run({ ...DOWN, remotePort: 40000, localPort: 9001 })).toBeUndefined();
    expect(await stage?.run({ ...DOWN, remotePort: 40001, localPort: 9001 })).toBe('ext_authz_denied');
    expect(authz.seen.length).toBe(before + 2);
    expect(authz.seen[before]?.attributes.source?.principal).toBe(PEER);
    expect(authz.seen[before]?.attributes.destination?.address?.socketAddress?.portValue).toBe(9001);
  });

  test('config errors are reported with their paths', () => {
    const p = new Problems('test', []);
    expect(compileHttpExtAuthz(p, { grpcService: { googleGrpc: {} }, transportApiVersion: 'V2', filterEnabledMetadata: { path: [] } }, 'f')).toBeUndefined();
    expect(p.errors.map((e) => e.split(': ')[1])).toEqual(expect.arrayContaining(['f.transport_api_version', 'f.grpc_service.google_grpc', 'f.grpc_service.envoy_grpc.cluster_name']));
  });
});

describe('ext_authz (HTTP provider)', () => {
  const cfg = configFor(
    [{ name: 'http-authz', envoyExtAuthzHttp: { service: 'ext-authz-http.foo.svc.cluster.local', port: 8000, timeout: '2s', pathPrefix: '/check', includeRequestHeadersInCheck: ['x-ext-authz'], includeAdditionalHeadersInCheck: { 'x-origin': 'mesh' }, headersToUpstreamOnAllow: ['x-ext-authz-check-result'], headersToDownstreamOnDeny: ['x-ext-authz-check-result', 'content-type'] } }],
    'http-authz',
  );

  test('allowed: method and prefixed path, only allowed headers sent; allowed response headers go upstream', async () => {
    const before = httpSeen.length;
    const r = await run(cfg, '/headers?q=1', { 'x-ext-authz': 'allow', 'x-secret': 's' });
    expect(r.denial).toBeUndefined();
    const seen = httpSeen[before];
    expect(seen?.method).toBe('GET');
    expect(seen?.url).toBe('/check/headers?q=1');
    expect(seen?.headers['x-ext-authz']).toBe('allow');
    expect(seen?.headers['x-origin']).toBe('mesh');
    expect(seen?.headers['x-secret']).toBeUndefined();
    expect(seen?.headers.host).toBe('httpbin.default:8000');
    expect(r.upstream.get('x-ext-authz-check-result')).toBe('allowed');
    expect(r.upstream.has('x-not-forwarded')).toBe(false);
  });

  test("denied: the authorizer's status and body, only the allowed headers", async () => {
    const r = await run(cfg, '/headers', { 'x-ext-authz': 'deny' });
    expect(r.denial?.status).toBe(403);
    expect(r.denial?.body).toBe('denied by http authorizer');
    expect(r.denial?.details).toBe('ext_authz_denied');
    expect(Object.fromEntries(r.denial?.headers ?? [])).toEqual({ 'x-ext-authz-check-result': 'denied', 'content-type': 'text/plain' });
  });

  test('a 5xx from the authorizer is an error (403 without failOpen)', async () => {
    const r = await run(cfg, '/headers', { 'x-ext-authz': 'boom' });
    expect(r.denial).toEqual({ status: 403, body: '', details: 'ext_authz_error' });
  });

  test('an authorizer that never answers: 403 ext_authz_error, or the request continues with failOpen', async () => {
    const provider = (failOpen: boolean): Provider => ({ name: 'http-authz', envoyExtAuthzHttp: { service: 'ext-authz-http.foo.svc.cluster.local', port: 8000, timeout: '0.3s', failOpen, includeRequestHeadersInCheck: ['x-ext-authz'] } });
    expect((await run(configFor([provider(false)], 'http-authz'), '/headers', { 'x-ext-authz': 'hang' })).denial).toEqual({ status: 403, body: '', details: 'ext_authz_error' });
    expect((await run(configFor([provider(true)], 'http-authz'), '/headers', { 'x-ext-authz': 'hang' })).denial).toBeUndefined();
  });

  test('not called for requests the CUSTOM rules do not match', async () => {
    const before = httpSeen.length;
    expect((await run(cfg, '/status/200', { 'x-ext-authz': 'deny' })).denial).toBeUndefined();
    expect(httpSeen.length).toBe(before);
  });
});
