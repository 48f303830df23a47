/**
 * Shared helpers for end-to-end tests: waiting on a condition, starting the real pilot
 * process, and a real gRPC echo backend.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';

export const root = join(import.meta.dirname, '..');

/** until polls `cond` every 20 ms (up to 20 s) and throws naming `what` if it never holds. */
export async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** writeKubeconfig writes a kubeconfig whose current context is the API server at `server` (a fake one in tests) with a bearer token. */
export function writeKubeconfig(file: string, server: string): void {
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
current-context: fake
clusters: [{name: fake, cluster: {server: "${server}"}}]
contexts: [{name: fake, context: {cluster: fake, user: u}}]
users: [{name: u, user: {token: t}}]
`,
  );
}

export interface RunningPilot {
  readonly proc: ChildProcess;
  readonly xdsPort: number;
  readonly httpPort: number;
  /** Everything pilot wrote to stdout so far (its JSON log lines). */
  logs(): string;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<void>;
}

/** startPilot runs apps/pilot's binary with `args` (ports 0 unless given) and resolves once it logs "pilot ready". */
export async function startPilot(args: string[]): Promise<RunningPilot> {
  const bin = join(root, 'apps/pilot/bin/meshwork-pilot.js');
  const withPorts = [...args, ...(args.includes('--xds-port') ? [] : ['--xds-port', '0']), ...(args.includes('--monitoring-port') ? [] : ['--monitoring-port', '0'])];
  const proc = spawn(process.execPath, [bin, ...withPorts], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => out.includes('pilot ready'), 'pilot to start');
  const ready = JSON.parse(out.split('\n').find((l) => l.includes('pilot ready')) as string) as { xds: string; http: string };
  return {
    proc,
    xdsPort: Number(ready.xds.split(':').pop()),
    httpPort: Number(ready.http.split(':').pop()),
    logs: () => out,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      // A loaded machine can slow a graceful stop; never let it fail the test run.
      const killer = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export const ECHO_PATH = '/meshwork.test.Echo/Echo';
const raw = (b: Buffer): Buffer => b;

/** echoBackend starts a gRPC server answering `<name>:<request>` on an ephemeral port. */
export async function echoBackend(name: string): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(
    { echo: { path: ECHO_PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`${name}:${call.request.toString()}`)) },
  );
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { server, port };
}

/** echoCall makes one unary echo call with optional metadata; resolves with the reply text. */
export function echoCall(client: grpc.Client, msg: string, md: Record<string, string> = {}): Promise<string> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(ECHO_PATH, raw, raw, Buffer.from(msg), meta, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res ? res.toString() : '')));
  });
}

export const XDS_BOOTSTRAP_KEY = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

/** xdsClient returns a grpc-js-xds channel to `target` bootstrapped against pilot's xDS port as proxyless node `id`. */
export function xdsClient(xdsPort: number, target: string, id: string): grpc.Client {
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: `sidecar~127.0.0.9~${id}.default~default.svc.cluster.local`, locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' } },
  };
  return new grpc.Client(target, grpc.credentials.createInsecure(), { [XDS_BOOTSTRAP_KEY]: JSON.stringify(bootstrap) });
}

/**
 * flakyBackend starts a gRPC server on the echo path that counts attempts per request body
 * (`<k>:<id>`) and fails the first k attempts of each with UNAVAILABLE, then answers
 * `<name>:<body>` — so retries are counted where they land, on the server.
 */
export async function flakyBackend(name: string): Promise<{ server: grpc.Server; port: number; attempts: Map<string, number> }> {
  const attempts = new Map<string, number>();
  const server = new grpc.Server();
  server.addService(
    { echo: { path: ECHO_PATH, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const body = call.request.toString();
        const n = (attempts.get(body) ?? 0) + 1;
        attempts.set(body, n);
        if (n <= Number(body.split(':')[0])) cb({ code: grpc.status.UNAVAILABLE, details: `attempt ${n} refused` });
        else cb(null, Buffer.from(`${name}:${body}`));
      },
    },
  );
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { server, port, attempts };
}

/** One xDS type's state for one proxy as pilot's /debug/syncz reports it. */
export interface TypeSync {
  sent?: string;
  acked?: string;
  nacked?: string;
  error?: string;
}

/** proxySync returns pilot's /debug/syncz entry (by xDS short type: cds, eds, lds, rds) of the proxy whose id contains `id`, or undefined. */
export async function proxySync(pilot: RunningPilot, id: string): Promise<Record<string, TypeSync> | undefined> {
  const all = (await (await fetch(`http://127.0.0.1:${pilot.httpPort}/debug/syncz`)).json()) as { proxy: string; types: Record<string, TypeSync> }[];
  return all.find((p) => p.proxy.includes(id))?.types;
}

/** metricValue returns the value of one Prometheus sample on pilot's /metrics (`pilot_xds_pushes{type="cds"}`), 0 when absent. */
export async function metricValue(pilot: RunningPilot, sample: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${pilot.httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}
