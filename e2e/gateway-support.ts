/**
 * End-to-end helpers for the gateway: start the real `meshwork-gateway` binary against a running
 * pilot (ephemeral admin/health/stats/agent ports; each Gateway port mapped to a free local port),
 * wait until it is ready, and send HTTP requests to a Gateway port with a chosen Host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { join } from 'node:path';
import { root, until } from './support.js';

export interface RunningGateway {
  readonly proc: ChildProcess;
  readonly adminPort: number;
  readonly healthPort: number;
  readonly statsPort: number;
  logs(): string;
  /** The access log lines (Istio's JSON) written so far. */
  accessLog(): Record<string, unknown>[];
  stop(): Promise<number | null>;
}

/** startGateway runs a gateway with the given --port-map (Gateway port → local port) and resolves once it logs "gateway ready". */
export async function startGateway(xdsPort: number, portMap: ReadonlyMap<number, number>, extra: string[] = []): Promise<RunningGateway> {
  const args = [join(root, 'apps/gateway/bin/meshwork-gateway.js'), '--pilot', `127.0.0.1:${xdsPort}`, '--port-map', [...portMap].map(([a, b]) => `${a}=${b}`).join(','), '--admin-port', '0', '--health-port', '0', '--stats-port', '0', '--agent-port', '0', '--drain-duration', '1s', '--access-log=true', ...extra];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await until(() => out.includes('"gateway ready"') || proc.exitCode !== null, 'gateway to be ready');
  if (proc.exitCode !== null) throw new Error(`gateway exited ${proc.exitCode}: ${err}${out}`);
  const started = JSON.parse(out.split('\n').find((l) => l.includes('"gateway started"')) ?? '{}') as { admin: string; health: string; stats: string };
  return {
    proc,
    adminPort: Number(started.admin.split(':').pop()),
    healthPort: Number(started.health.split(':').pop()),
    statsPort: Number(started.stats.split(':').pop()),
    logs: () => out + err,
    accessLog: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{') && l.includes('"response_code"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
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

export interface GatewayResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** get sends `GET path` to 127.0.0.1:port with the Host header given (a client resolving the host to the gateway). */
export function get(port: number, host: string, path: string, headers: Record<string, string> = {}): Promise<GatewayResponse> {
  return send(port, host, 'GET', path, headers);
}

/** send is get with another method (no request body). */
export function send(port: number, host: string, method: string, path: string, headers: Record<string, string> = {}): Promise<GatewayResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { host, ...headers }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
