/**
 * Istio traffic management seen by real proxyless gRPC clients (@grpc/grpc-js-xds) through
 * the real meshwork-pilot process: weighted subsets, header-match routing, a live weight
 * change, and fault abort — each asserted from the calls the client actually makes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'apps/pilot/bin/meshwork-pilot.js');
const BOOTSTRAP_KEY = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
const PATH = '/meshwork.test.Echo/Echo';
const raw = (b: Buffer): Buffer => b;

let dir: string;
let proc: ChildProcess;
let xdsPort = 0;
const servers: grpc.Server[] = [];
const ports: number[] = [];

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A gRPC server answering `<name>:<request>`. */
async function backend(name: string): Promise<number> {
  const s = new grpc.Server();
  s.addService(
    { echo: { path: PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`${name}:${call.request.toString()}`)) },
  );
  servers.push(s);
  return new Promise((res, rej) => s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
}

// Two versions of one service: each endpoint is its own backend (v1 answers "a", v2 "b").
const mesh = (http: string): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${ports[0]}, name: grpc, protocol: GRPC}]
  endpoints:
  - {address: 127.0.0.1, ports: {grpc: ${ports[0]}}, labels: {app: echo, version: v1}}
  - {address: 127.0.0.1, ports: {grpc: ${ports[1]}}, labels: {app: echo, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo.default.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.default.svc.cluster.local]
  http:
${http}
`;

const WEIGHTED = (w1: number, w2: number): string => `  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: echo.default.svc.cluster.local, subset: v2}}]
  - route:
    - {destination: {host: echo.default.svc.cluster.local, subset: v1}, weight: ${w1}}
    - {destination: {host: echo.default.svc.cluster.local, subset: v2}, weight: ${w2}}`;

beforeAll(async () => {
  grpcXds.register();
  ports.push(await backend('a'), await backend('b'));
  dir = mkdtempSync(join(tmpdir(), 'xds-routing-'));
  writeFileSync(join(dir, 'echo.yaml'), mesh(WEIGHTED(80, 20)));
  proc = spawn(process.execPath, [bin, '--config-dir', dir, '--xds-port', '0', '--monitoring-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => out.includes('pilot ready'), 'pilot to start');
  const ready = JSON.parse(out.split('\n').find((l) => l.includes('pilot ready')) as string);
  xdsPort = Number(ready.xds.split(':').pop());
}, 30_000);

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
  for (const s of servers) s.forceShutdown();
});

function call(client: grpc.Client, msg: string, md: Record<string, string> = {}): Promise<string> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(PATH, raw, raw, Buffer.from(msg), meta, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res ? res.toString() : '')));
  });
}

function newClient(id: string): grpc.Client {
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: `sidecar~127.0.0.9~${id}.default~default.svc.cluster.local`, locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' } },
  };
  return new grpc.Client(`xds:///echo.default.svc.cluster.local:${ports[0]}`, grpc.credentials.createInsecure(), { [BOOTSTRAP_KEY]: JSON.stringify(bootstrap) });
}

async function share(client: grpc.Client, n: number, md: Record<string, string> = {}): Promise<{ a: number; b: number }> {
  const seen = { a: 0, b: 0 };
  for (let i = 0; i < n; i++) seen[(await call(client, String(i), md)).split(':')[0] as 'a' | 'b']++;
  return seen;
}

it('splits 80/20 within ±5% over 1000 calls, routes end-user: jason to v2, and follows a weight change', async () => {
  const client = newClient('client-weights');
  try {
    const split = await share(client, 1000);
    expect(split.a + split.b).toBe(1000);
    expect(split.a / 1000).toBeGreaterThan(0.75);
    expect(split.a / 1000).toBeLessThan(0.85);
    expect(await share(client, 50, { 'end-user': 'jason' })).toEqual({ a: 0, b: 50 });
    writeFileSync(join(dir, 'echo.yaml'), mesh(WEIGHTED(0, 100)));
    await until(async () => (await share(client, 20)).b === 20, 'the 0/100 weights to apply');
    expect(await share(client, 100)).toEqual({ a: 0, b: 100 });
  } finally {
    client.close();
  }
}, 60_000);

it('injects a fault abort for matching requests only', async () => {
  writeFileSync(join(dir, 'echo.yaml'), mesh(`  - match: [{headers: {end-user: {exact: jason}}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: echo.default.svc.cluster.local, subset: v1}}]
  - route: [{destination: {host: echo.default.svc.cluster.local, subset: v1}}]`));
  const client = newClient('client-fault');
  try {
    await until(async () => (await call(client, 'x', { 'end-user': 'jason' }).then(() => 'ok', (e: grpc.ServiceError) => String(e.code))) === String(grpc.status.UNAVAILABLE), 'the abort to apply');
    expect(await call(client, 'fine')).toBe('a:fine');
  } finally {
    client.close();
  }
}, 60_000);
