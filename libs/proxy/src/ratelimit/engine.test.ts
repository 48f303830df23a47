/**
 * The rate-limit stages inside the engine: a listener whose HCM carries the GLOBAL filter that
 * translate builds from a RateLimit (through the ADS Any packing), a real gRPC server speaking
 * Envoy's rls.proto (a small stand-in for mixer: a fixed limit per descriptor), HTTP/1.1 and
 * HTTP/2 requests. The real client, its deadline and the failure modes are exercised.
 */
import * as grpc from '@grpc/grpc-js';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateText, type ProxyNode } from '@meshwork/api';
import { buildSnapshot, inboundRateLimitFilters } from '@meshwork/translate';
import { packAny, protoIncludeDirs, unpackAny } from '@meshwork/xds';
import { compileConfig } from '../config/compile.js';
import type { EngineClock } from '../model.js';
import { ClusterManager } from '../engine/clusters.js';
import { ListenerManager } from '../engine/listeners.js';
import { configureRateLimitService } from './rls-client.js';

const clock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const LIMIT = 3;

/** A stand-in RLS: LIMIT hits per distinct descriptor, or no answer at all while `hang` is set. */
class StandInRls {
  readonly server = new grpc.Server();
  readonly counts = new Map<string, number>();
  hang = false;
  port = 0;
  calls = 0;

  async start(): Promise<void> {
    const includes = protoIncludeDirs();
    const root = new protobuf.Root();
    root.resolvePath = (_o, t) => (t in protobuf.common ? t : (includes.map((i) => join(i, t)).find((p) => existsSync(p)) ?? t));
    root.loadSync('envoy/service/ratelimit/v3/rls.proto');
    root.resolveAll();
    const Req = root.lookupType('envoy.service.ratelimit.v3.RateLimitRequest');
    const Res = root.lookupType('envoy.service.ratelimit.v3.RateLimitResponse');
    type Req = { domain: string; descriptors: { entries: { key: string; value: string }[] }[] };
    this.server.addService(
      {
        ShouldRateLimit: {
          path: '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit',
          requestStream: false,
          responseStream: false,
          requestDeserialize: (b: Buffer) => Req.toObject(Req.decode(b), { arrays: true }) as Req,
          requestSerialize: (r: Req) => Buffer.from(Req.encode(Req.fromObject(r)).finish()),
          responseSerialize: (r: object) => Buffer.from(Res.encode(Res.fromObject(r)).finish()),
          responseDeserialize: (b: Buffer) => Res.toObject(Res.decode(b)),
        },
      },
      {
        ShouldRateLimit: (call: grpc.ServerUnaryCall<Req, object>, cb: grpc.sendUnaryData<object>) => {
          this.calls++;
          if (this.hang) return;
          const statuses = call.request.descriptors.map((d) => {
            const k = JSON.stringify(d.entries);
            const n = (this.counts.get(k) ?? 0) + 1;
            this.counts.set(k, n);
            return { code: n > LIMIT ? 'OVER_LIMIT' : 'OK', currentLimit: { requestsPerUnit: LIMIT, unit: 'MINUTE' }, limitRemaining: Math.max(0, LIMIT - n), durationUntilReset: { seconds: 30 } };
          });
          cb(null, { overallCode: statuses.some((s) => s.code === 'OVER_LIMIT') ? 'OVER_LIMIT' : 'OK', statuses });
        },
      },
    );
    this.port = await new Promise<number>((res, rej) => this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  }
}

const PROXY: ProxyNode = { id: 'sidecar~127.0.0.1~pp-1.shop~shop.svc.cluster.local', type: 'sidecar', ipAddresses: ['127.0.0.1'], workloadName: 'pp-1', namespace: 'shop', labels: { app: 'pp' }, metadata: {} };
const YAML = (failureMode: string, name: string, prefix: string) => `
apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: ${name}, namespace: shop}
spec:
  mode: GLOBAL
  failureMode: ${failureMode}
  timeout: 1s
  response: {rateLimitHeaders: DRAFT_VERSION_03}
  rules:
  - name: per-user
    match: [{paths: ['${prefix}/*']}]
    descriptors: [{requestHeader: {name: x-user}}]
    limit: {requestsPerUnit: ${LIMIT}, unit: MINUTE}
`;

function translatedFilters(): Record<string, unknown>[] {
  const v = validateText(YAML('ALLOW', 'open', '/open') + '---' + YAML('DENY', 'closed', '/closed'), 't.yaml');
  if (v.diagnostics.some((d) => d.severity === 'error')) throw new Error(JSON.stringify(v.diagnostics));
  return inboundRateLimitFilters(PROXY, buildSnapshot({ configs: v.resources, services: [], endpoints: [] }), 80).map((f) => {
    const packed = packAny(f.typedConfig as Record<string, unknown>);
    if (!packed.ok) throw new Error(packed.errors.join('; '));
    const back = unpackAny(packed.value);
    if (!back.ok) throw new Error(back.errors.join('; '));
    return { name: f.name, typedConfig: back.value };
  });
}

const rls = new StandInRls();
let up: http.Server;
let lm: ListenerManager;
let clusters: ClusterManager;
let port = 0;

beforeAll(async () => {
  await rls.start();
  configureRateLimitService({ address: `127.0.0.1:${rls.port}` });
  up = http.createServer((_q, r) => r.end('upstream'));
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', () => r()));
  const upPort = (up.address() as { port: number }).port;
  const r = compileConfig({
    listeners: [
      {
        name: 'in',
        address: { socketAddress: { address: '127.0.0.1', portValue: 1 } },
        filterChains: [
          {
            filters: [
              {
                name: 'hcm',
                typedConfig: {
                  '@type': HCM,
                  statPrefix: 'in',
                  routeConfig: { name: 'r', virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] }] },
                  httpFilters: [...translatedFilters(), { name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
                },
              },
            ],
          },
        ],
      },
    ],
    routes: [],
    clusters: [{ name: 'app', type: 'STATIC', connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: 'app', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: upPort } } } }] }] } }],
    endpoints: [],
  });
  if (!r.ok) throw new Error(r.errors.join('; '));
  clusters = new ClusterManager(clock);
  clusters.apply(r.value);
  lm = new ListenerManager({ clusters, clock, bind: () => ({ host: '127.0.0.1', port: 0 }) });
  await lm.apply(r.value);
  port = lm.ports().get('in') ?? 0;
});

afterAll(async () => {
  await lm?.close();
  clusters?.close();
  up?.close();
  rls.server.forceShutdown();
  configureRateLimitService({});
});

function h1(path: string, user: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const q = http.request({ host: '127.0.0.1', port, path, headers: { 'x-user': user }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    q.on('error', reject);
    q.end();
  });
}

function h2(path: string, user: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', reject);
    const q = s.request({ ':path': path, ':authority': 'pp', 'x-user': user });
    q.on('response', (h) => {
      q.resume();
      q.on('end', () => {
        s.close();
        resolve(Number(h[':status']));
      });
    });
    q.end();
  });
}

describe('GLOBAL rate-limit stage in the engine, against a real gRPC rate-limit service', () => {
  it('HTTP/1.1: LIMIT allowed, then 429 with headers; uncovered paths make no call', async () => {
    const before = rls.calls;
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<typeof h1>> | undefined;
    for (let i = 0; i < LIMIT + 2; i++) {
      const r = await h1('/open/a', 'alice');
      statuses.push(r.status);
      if (r.status === 429) refused = r;
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(refused?.headers['x-envoy-ratelimited']).toBe('true');
    expect(refused?.headers['x-ratelimit-limit']).toBe(`${LIMIT}, ${LIMIT};w=60`);
    expect(refused?.headers['x-ratelimit-reset']).toBe('30');
    expect(rls.calls - before).toBe(LIMIT + 2);
    expect((await h1('/elsewhere', 'alice')).status).toBe(200);
    expect(rls.calls - before).toBe(LIMIT + 2);
  });

  it('HTTP/2: the same stage, its own user', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) statuses.push(await h2('/open/b', 'bob'));
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('service hangs past the 1 s deadline: ALLOW passes, DENY refuses with the status and no x-envoy-ratelimited', async () => {
    rls.hang = true;
    try {
      expect((await h1('/open/c', 'carol')).status).toBe(200);
      const closed = await h1('/closed/c', 'carol');
      expect(closed.status).toBe(429);
      expect(closed.headers['x-envoy-ratelimited']).toBeUndefined();
    } finally {
      rls.hang = false;
    }
  });

  it('service gone: ALLOW passes, DENY refuses', async () => {
    configureRateLimitService({ address: '127.0.0.1:1' });
    try {
      expect((await h1('/open/d', 'dave')).status).toBe(200);
      expect((await h1('/closed/d', 'dave')).status).toBe(429);
    } finally {
      configureRateLimitService({ address: `127.0.0.1:${rls.port}` });
    }
  });
});
