/**
 * `meshctl version`: the client's version and, when pilot answers, the control plane's (pilot's
 * /version), as `istioctl version` prints client and control plane versions. An unreachable
 * pilot is a note, not a failure: the command still exits 0 with the client version.
 */
import { readFileSync } from 'node:fs';
import type { CliIO } from '../io.js';
import { PilotClient, PilotError, resolvePilot } from '../pilot-client.js';
import { render, type OutputFormat } from '../output.js';

/** cliVersion returns meshctl's own version (its package.json). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export interface VersionArgs {
  readonly output: OutputFormat;
  /** Only the client version (no request to pilot). */
  readonly short?: boolean;
  /** Only the client version, without asking pilot (istioctl's --remote=false). */
  readonly remote?: boolean;
  readonly pilot?: string;
}

/** runVersion prints the client version and pilot's; returns 0 even when pilot is unreachable. */
export async function runVersion(args: VersionArgs, io: CliIO): Promise<number> {
  const client = { version: cliVersion(), node: process.version };
  let server: { version: string; address: string } | undefined;
  let unreachable: string | undefined;
  if (args.remote !== false) {
    const base = await resolvePilot(args.pilot, io.env ?? {});
    try {
      const v = await new PilotClient(base).request<{ version?: string }>('GET', '/version');
      server = { version: String(v?.version ?? 'unknown'), address: base };
    } catch (err) {
      if (!(err instanceof PilotError)) throw err;
      unreachable = err.message;
    }
  }
  if (unreachable) io.stderr(`note: no control plane version: ${unreachable}\n`);
  if (args.output !== 'text') {
    io.stdout(render(args.output, { clientVersion: client, ...(server ? { meshVersion: [{ component: 'pilot', info: server }] } : {}) }));
    return 0;
  }
  if (args.short) {
    io.stdout(`client version: ${client.version}\n${server ? `control plane version: ${server.version}\n` : ''}`);
    return 0;
  }
  io.stdout(`client version: ${client.version} (node ${client.node})\n`);
  if (server) io.stdout(`control plane version: ${server.version} (pilot at ${server.address})\n`);
  return 0;
}
