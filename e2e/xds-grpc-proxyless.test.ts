/**
 * The whole xDS path with a real proxyless gRPC client: a ServiceEntry on disk → the real
 * meshwork-pilot process (translate + libs/xds ADS) → @grpc/grpc-js-xds resolving
 * `xds:///echo.default.svc.cluster.local:<port>` → a call reaching a real local gRPC server.
 * A config change (the endpoint moves to a second server) reaches the client without a restart.
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

// The service port is the first backend's; a moved endpoint keeps the service port and
// targets another one (ServiceEntry endpoint `ports`).
const serviceEntry = (targetPort: number): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${ports[0]}, name: grpc, protocol: GRPC}]
  endpoints:
  - {address: 127.0.0.1, ports: {grpc: ${targetPort}}, labels: {app: echo}}
`;

beforeAll(async () => {
  grpcXds.register();
  ports.push(await backend('a'), await backend('b'));
  dir = mkdtempSync(join(tmpdir(), 'xds-proxyless-'));
  writeFileSync(join(dir, 'echo.yaml'), serviceEntry(ports[0]));
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

function call(client: grpc.Client, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(PATH, raw, raw, Buffer.from(msg), { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res ? res.toString() : '')));
  });
}

it('a grpc-js-xds client calls a mesh service through pilot, and follows an endpoint change', async () => {
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'sidecar~127.0.0.9~client-1.default~default.svc.cluster.local', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' } },
  };
  const client = new grpc.Client(`xds:///echo.default.svc.cluster.local:${ports[0]}`, grpc.credentials.createInsecure(), { [BOOTSTRAP_KEY]: JSON.stringify(bootstrap) });
  try {
    expect(await call(client, 'hello')).toBe('a:hello');
    writeFileSync(join(dir, 'echo.yaml'), serviceEntry(ports[1]));
    await until(async () => (await call(client, 'x').catch(() => '')) === 'b:x', 'calls to reach the moved endpoint');
    expect(await call(client, 'again')).toBe('b:again');
  } finally {
    client.close();
  }
});
