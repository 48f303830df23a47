/**
 * End-to-end helpers for tests that need a real citadel: start the `meshwork-citadel` binary on a
 * state directory (ports 0 unless given) and run `meshctl` commands, e.g. `join-token create`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { root, startPilot, until, type RunningPilot } from './support.js';

export interface CitadelPorts {
  grpcPort: number;
  adminPort: number;
  monitoringPort: number;
}

export interface RunningCitadel {
  readonly proc: ChildProcess;
  readonly ports: CitadelPorts;
  readonly rootCertPath: string;
  /** SIGTERM, then the exit code (null when it was already gone). */
  stop(): Promise<number | null>;
}

/** startCitadel runs citadel on `stateDir` (ephemeral ports unless given) and resolves with the ports of its "citadel ready" line. */
export async function startCitadel(stateDir: string, extraArgs: string[] = [], ports?: CitadelPorts): Promise<RunningCitadel> {
  const p = ports ?? { grpcPort: 0, adminPort: 0, monitoringPort: 0 };
  const proc = spawn(join(root, 'node_modules/.bin/meshwork-citadel'), ['--state-dir', stateDir, '--grpc-port', String(p.grpcPort), '--admin-port', String(p.adminPort), '--monitoring-port', String(p.monitoringPort), ...extraArgs], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const got = await new Promise<CitadelPorts>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) if (line.includes('"citadel ready"')) resolve(JSON.parse(line) as CitadelPorts);
    });
    proc.once('exit', (code) => reject(new Error(`citadel exited ${code}`)));
  });
  return {
    proc,
    ports: got,
    rootCertPath: join(stateDir, 'root-cert.pem'),
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return null;
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** meshctl runs the CLI and returns its exit code and output (never throws on a non-zero exit). */
export async function meshctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(join(root, 'node_modules/.bin/meshctl'), args, { cwd: root });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** joinToken issues a join token for ns/sa with `meshctl join-token create` (admin credential from the state directory). */
export async function joinToken(citadel: RunningCitadel, stateDir: string, ns: string, sa: string): Promise<string> {
  const r = await meshctl(['join-token', 'create', '--citadel', `localhost:${citadel.ports.adminPort}`, '--state-dir', stateDir, '--ns', ns, '--sa', sa, '--ttl', '10m']);
  if (r.code !== 0) throw new Error(`meshctl join-token create failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** caFlags returns the flags that give a sidecar or gateway its certificate from `citadel` with the join token in `tokenFile`. */
export function caFlags(citadel: RunningCitadel, tokenFile: string): string[] {
  return ['--ca-address', `localhost:${citadel.ports.grpcPort}`, '--ca-root-cert', citadel.rootCertPath, '--ca-token-file', tokenFile];
}

/**
 * startMtlsPilot runs pilot with `args` plus its serving certificate from `citadel` (the join
 * token for istio-system/pilot in `tokenFile`) on an ephemeral 15012, and resolves once that port
 * serves, with it.
 */
export async function startMtlsPilot(citadel: RunningCitadel, tokenFile: string, args: string[]): Promise<{ pilot: RunningPilot; securePort: number }> {
  const pilot = await startPilot([...args, '--secure-xds-port', '0', ...caFlags(citadel, tokenFile)]);
  await until(() => pilot.logs().includes('"secure xDS ready"'), 'pilot to serve mTLS xDS');
  const line = pilot.logs().split('\n').find((l) => l.includes('"secure xDS ready"')) ?? '{}';
  return { pilot, securePort: Number((JSON.parse(line) as { secureXds: string }).secureXds.split(':').pop()) };
}
