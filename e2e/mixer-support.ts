/**
 * End-to-end helpers for mixer: run the real `meshwork-mixer` binary against a real nats-server,
 * scrape its /metrics, read its graph, and publish records the way sidecars do (RecordPublisher
 * from libs/agent, the sidecar's own publisher).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { RecordPublisher } from '@meshwork/agent';
import type { PeerInfo, RequestRecord } from '@meshwork/telemetry';
import { root, until } from './support.js';

export interface RunningMixer {
  readonly proc: ChildProcess;
  readonly httpPort: number;
  readonly url: string;
  logs(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash: no last checkpoint, no acks). */
  kill9(): Promise<void>;
}

/** startMixer runs apps/mixer's binary on NATS `natsUrl` with `args` (ephemeral ports) and resolves once it logs "mixer ready". */
export async function startMixer(natsUrl: string, args: string[] = []): Promise<RunningMixer> {
  const bin = join(root, 'apps/mixer/bin/meshwork-mixer.js');
  const all = ['--nats-url', natsUrl, ...(args.includes('--metrics-port') ? [] : ['--metrics-port', '0']), '--ratelimit-port', '0', ...args];
  // the flag the mixer's launcher line carries (node ignores a shebang when given the file)
  const proc = spawn(process.execPath, ['--max-semi-space-size=32', bin, ...all], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => out.includes('"mixer ready"') || proc.exitCode !== null, 'mixer to be ready');
  if (proc.exitCode !== null) throw new Error(`mixer exited ${proc.exitCode}: ${out}`);
  const ready = JSON.parse(out.split('\n').find((l) => l.includes('"mixer ready"')) as string) as { http: string };
  const httpPort = Number(ready.http.split(':').pop());
  const exited = (): Promise<number | null> => (proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve(proc.exitCode) : new Promise((r) => proc.once('exit', (c) => r(c))));
  return {
    proc,
    httpPort,
    url: `http://127.0.0.1:${httpPort}`,
    logs: () => out,
    stop: async () => {
      const done = exited();
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await done;
      clearTimeout(killer);
      return code;
    },
    kill9: async () => {
      const done = exited();
      proc.kill('SIGKILL');
      await done;
    },
  };
}

/** scrape returns one mixer's /metrics text. */
export async function scrape(m: RunningMixer): Promise<string> {
  const r = await fetch(`${m.url}/metrics`);
  return r.text();
}

/** metricSum returns the sum of every sample of `name` whose labels include all of `match` (exposition text). */
export function metricSum(text: string, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

/** A workload that publishes records like a sidecar does. */
export interface FakeWorkloadPublisher {
  readonly publisher: RecordPublisher;
  readonly nc: NatsConnection;
  close(): Promise<void>;
}

/** workloadPublisher connects to NATS and returns the sidecar's RecordPublisher for a workload. */
export async function workloadPublisher(natsUrl: string, namespace: string, workload: string, opts: { maxBatch?: number; maxBuffered?: number; flushIntervalMs?: number } = {}): Promise<FakeWorkloadPublisher> {
  const nc = await connect({ servers: natsUrl, name: `e2e ${namespace}/${workload}` });
  const publisher = new RecordPublisher({ nc, namespace, workload, ...opts });
  return {
    publisher,
    nc,
    close: async () => {
      await publisher.close();
      await nc.close();
    },
  };
}

/** peer returns PeerInfo for a Bookinfo-like workload `<app>-<version>` in `ns`. */
export function peer(app: string, version: string, ns = 'default'): PeerInfo {
  return { workload: `${app}-${version}`, namespace: ns, app, version, canonicalService: app, canonicalRevision: version, principal: `spiffe://cluster.local/ns/${ns}/sa/bookinfo-${app}`, cluster: 'Kubernetes' };
}

/** request returns a destination-reported HTTP record src → dst (service = dst's app) with a status and duration, ending now. */
export function request(src: PeerInfo, dst: PeerInfo, code: number, durationMs: number, over: Partial<RequestRecord> = {}): RequestRecord {
  const svc = dst.app ?? 'unknown';
  return {
    reporter: 'destination',
    protocol: 'http',
    startTime: Date.now() - durationMs,
    source: src,
    destination: dst,
    destinationService: { host: `${svc}.${dst.namespace}.svc.cluster.local`, name: svc, namespace: dst.namespace },
    method: 'GET',
    path: '/',
    responseCode: code,
    responseFlags: '-',
    securityPolicy: 'mutual_tls',
    durationMs,
    bytesReceived: 0,
    bytesSent: 100,
    ...over,
  };
}

/** delayedApp starts an HTTP application answering JSON `{version, path}` after `delayMs` (a known lower bound of every request's duration); resolves with its port and server. */
export async function delayedApp(version: string, delayMs: number): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end(JSON.stringify({ version, path: req.url })), delayMs));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, server };
}

/** tcpReplyServer starts a TCP server that reads `expect` bytes from each connection, answers `reply` bytes and closes it. */
export async function tcpReplyServer(expect: number, reply: number): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer((c) => {
    let got = 0;
    c.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= expect) c.end(Buffer.alloc(reply, 'r'));
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, server };
}

/** tcpExchange connects to 127.0.0.1:`port`, sends `send` bytes, and resolves with the number of bytes received once the server closes. */
export function tcpExchange(port: number, send: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const s = net.connect(port, '127.0.0.1', () => s.write(Buffer.alloc(send, 's')));
    s.on('data', (d: Buffer) => (got += d.length));
    s.on('end', () => {
      s.end();
      resolve(got);
    });
    s.on('error', reject);
  });
}
