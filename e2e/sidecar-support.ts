/**
 * End-to-end helpers for sidecars: start the real `meshwork-sidecar` binary next to a running
 * pilot (ephemeral admin/health/outbound ports unless given), wait until it is ready, and send
 * HTTP requests through its outbound port the way an application with HTTP_PROXY does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { join } from 'node:path';
import { freePort } from '@meshwork/bus/testing';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { root, startPilot, until, type RunningPilot } from './support.js';

export interface RunningSidecar {
  readonly proc: ChildProcess;
  readonly outboundPort: number;
  readonly adminPort: number;
  readonly healthPort: number;
  readonly statsPort: number;
  logs(): string;
  stop(): Promise<number | null>;
}

/** freePort: a loopback port that was free a moment ago (libs/bus test support). */
export { freePort };

/**
 * startSidecar runs a sidecar for `workload` against pilot's xDS port and resolves once it logs
 * "sidecar ready". It rejects (with the sidecar's output) when the sidecar exits, is not ready
 * within `readyWithinMs`, or logs something matching `notReadyOn` first (a refusal the test
 * expects: waiting for it instead of a fixed time keeps a slow host from failing the test).
 */
export async function startSidecar(xdsPort: number, workload: string, labels: Record<string, string>, extra: string[] = [], appCmd: string[] = [], readyWithinMs?: number, notReadyOn?: RegExp): Promise<RunningSidecar> {
  const outboundPort = await freePort();
  // As the installed bin does (its shebang): a 1 MB young generation keeps the proxy's RSS down.
  const args = ['--max-semi-space-size=1', join(root, 'apps/sidecar/bin/meshwork-sidecar.js'), '--pilot', `127.0.0.1:${xdsPort}`, '--workload', workload, '--labels', Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','), '--outbound-port', String(outboundPort), '--admin-port', '0', '--health-port', '0', '--stats-port', '0', '--agent-port', '0', '--drain-duration', '1s', '--access-log=true', ...extra, ...(appCmd.length ? ['--', ...appCmd] : [])];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = readyWithinMs === undefined ? Infinity : Date.now() + readyWithinMs;
  try {
    await until(() => out.includes('"sidecar ready"') || proc.exitCode !== null || Date.now() > deadline || notReadyOn?.test(out + err) === true, `sidecar ${workload} to be ready`);
  } catch (e) {
    // Not handed to the test yet, so nothing else would stop it: a leaked sidecar outlives the run.
    proc.kill('SIGKILL');
    throw new Error(`${(e as Error).message}: ${err}${out}`);
  }
  if (proc.exitCode !== null) throw new Error(`sidecar ${workload} exited ${proc.exitCode}: ${err}${out}`);
  if (!out.includes('"sidecar ready"')) {
    proc.kill('SIGKILL');
    throw new Error(`sidecar ${workload} not ready${Date.now() > deadline ? ` within ${readyWithinMs} ms` : ''}: ${err}${out}`);
  }
  const started = JSON.parse(out.split('\n').find((l) => l.includes('"sidecar started"')) ?? '{}') as { admin: string; health: string; stats: string };
  return {
    proc,
    outboundPort,
    adminPort: Number(started.admin.split(':').pop()),
    healthPort: Number(started.health.split(':').pop()),
    statsPort: Number(started.stats.split(':').pop()),
    logs: () => out + err,
    stop: async () => {
      if (proc.exitCode !== null) return proc.exitCode;
      const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 8000);
      const code = await exited;
      clearTimeout(killer);
      return code;
    },
  };
}

export interface ProxiedResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** viaProxy sends `method url` through a sidecar's outbound port in absolute form (as with HTTP_PROXY). */
export function viaProxy(sidecar: RunningSidecar, url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent } = {}): Promise<ProxiedResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: sidecar.outboundPort, method: opts.method ?? 'GET', path: url, headers: { host: u.host, ...opts.headers }, agent: opts.agent ?? false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** versionedApp starts an HTTP application answering JSON `{version, method, path, host, user, body, traceparent, requestId}`; resolves with its port and server. */
export async function versionedApp(version: string): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.setHeader('x-app-version', version);
      res.end(JSON.stringify({ version, method: req.method, path: req.url, host: req.headers.host, user: req.headers['end-user'] ?? null, body, traceparent: req.headers.traceparent ?? null, requestId: req.headers['x-request-id'] ?? null }));
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, server };
}

/**
 * reviewsMesh returns mesh YAML for a reviews service with one workload per version (v1, v2, …):
 * a ServiceEntry whose endpoints are the sidecars' inbound ports, a DestinationRule with a subset
 * per version, and a Sidecar per version whose ingress listener forwards to that version's
 * application — then `extra` YAML documents (VirtualServices…).
 */
export function reviewsMesh(appPorts: readonly number[], inboundPorts: readonly number[], extra = '', drExtra = ''): string {
  const v = (i: number): string => `v${i + 1}`;
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
${appPorts.map((_, i) => `  - {address: 127.0.0.1, ports: {http: ${inboundPorts[i]}}, labels: {app: reviews, version: ${v(i)}}}`).join('\n')}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  subsets: [${appPorts.map((_, i) => `{name: ${v(i)}, labels: {version: ${v(i)}}}`).join(', ')}]
${drExtra}
${appPorts
  .map(
    (p, i) => `---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews-${v(i)}, namespace: default}
spec:
  workloadSelector: {labels: {app: reviews, version: ${v(i)}}}
  ingress:
  - port: {number: ${inboundPorts[i]}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${p}`,
  )
  .join('\n')}
${extra}`;
}

/** A running reviews mesh: pilot on a config directory, reviews v1 and v2 behind their sidecars, and a productpage sidecar to send from. */
export interface ReviewsMesh {
  readonly pilot: RunningPilot;
  readonly productpage: RunningSidecar;
  readonly reviews: readonly RunningSidecar[];
  readonly appPorts: readonly number[];
  readonly inbound: readonly number[];
  /** write replaces the mesh config (reviewsMesh with these extra documents and DestinationRule lines). */
  write(extra?: string, drExtra?: string): void;
  stop(): Promise<void>;
}

/** startReviewsMesh starts the reviews mesh of reviewsMesh() with `extra` config, two versions, three sidecars. */
export async function startReviewsMesh(name: string, extra = ''): Promise<ReviewsMesh> {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const servers: http.Server[] = [];
  const appPorts: number[] = [];
  const inbound: number[] = [];
  for (const v of ['v1', 'v2']) {
    const a = await versionedApp(v);
    servers.push(a.server);
    appPorts.push(a.port);
    inbound.push(await freePort());
  }
  const write = (x = '', drExtra = ''): void => writeFileSync(join(dir, 'mesh.yaml'), reviewsMesh(appPorts, inbound, x, drExtra));
  write(extra);
  const pilot = await startPilot(['--config-dir', dir]);
  const reviews = [await startSidecar(pilot.xdsPort, 'reviews-v1-1', { app: 'reviews', version: 'v1' }), await startSidecar(pilot.xdsPort, 'reviews-v2-1', { app: 'reviews', version: 'v2' })];
  const productpage = await startSidecar(pilot.xdsPort, 'productpage-v1-1', { app: 'productpage', version: 'v1' });
  return {
    pilot,
    productpage,
    reviews,
    appPorts,
    inbound,
    write,
    stop: async () => {
      for (const sc of [productpage, ...reviews]) await sc.stop();
      await pilot.stop();
      for (const sv of servers) sv.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * tcpCacheMesh returns a TCP ServiceEntry `cache.default.svc.cluster.local` (no sidecar in front of
 * 127.0.0.1:`serverPort`) and a Sidecar giving the workloads labelled `app` a loopback egress
 * listener on `egressPort` for it (captureMode NONE), as a mesh.yaml fragment.
 */
export const tcpCacheMesh = (app: string, egressPort: number, serverPort: number): string => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cache, namespace: default}
spec:
  hosts: [cache.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${egressPort}, name: tcp-cache, protocol: TCP}]
  endpoints: [{address: 127.0.0.1, ports: {tcp-cache: ${serverPort}}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${app}, namespace: default}
spec:
  workloadSelector: {labels: {app: ${app}}}
  egress:
  - port: {number: ${egressPort}, protocol: TCP, name: tcp-cache}
    captureMode: NONE
    hosts: [./cache.default.svc.cluster.local]
  - hosts: ['./*']
`;
