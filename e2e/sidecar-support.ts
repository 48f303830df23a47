/**
 * End-to-end helpers for sidecars: start the real `meshwork-sidecar` binary next to a running
 * pilot (ephemeral admin/health/outbound ports unless given), wait until it is ready, and send
 * HTTP requests through its outbound port the way an application with HTTP_PROXY does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { root, until } from './support.js';

export interface RunningSidecar {
  readonly proc: ChildProcess;
  readonly outboundPort: number;
  readonly adminPort: number;
  readonly healthPort: number;
  logs(): string;
  stop(): Promise<number | null>;
}

/** freePort returns a port that was free a moment ago (for configs that must name a port before it is bound). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** startSidecar runs a sidecar for `workload` against pilot's xDS port and resolves once it logs "sidecar ready". */
export async function startSidecar(xdsPort: number, workload: string, labels: Record<string, string>, extra: string[] = [], appCmd: string[] = []): Promise<RunningSidecar> {
  const outboundPort = await freePort();
  const args = [join(root, 'apps/sidecar/bin/meshwork-sidecar.js'), '--pilot', `127.0.0.1:${xdsPort}`, '--workload', workload, '--labels', Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','), '--outbound-port', String(outboundPort), '--admin-port', '0', '--health-port', '0', '--drain-duration', '1s', ...extra, ...(appCmd.length ? ['--', ...appCmd] : [])];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await until(() => out.includes('"sidecar ready"') || proc.exitCode !== null, `sidecar ${workload} to be ready`);
  if (proc.exitCode !== null) throw new Error(`sidecar ${workload} exited ${proc.exitCode}: ${err}${out}`);
  const started = JSON.parse(out.split('\n').find((l) => l.includes('"sidecar started"')) ?? '{}') as { admin: string; health: string };
  return {
    proc,
    outboundPort,
    adminPort: Number(started.admin.split(':').pop()),
    healthPort: Number(started.health.split(':').pop()),
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
