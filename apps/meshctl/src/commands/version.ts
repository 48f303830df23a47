/** `meshctl version`. */
import { readFileSync } from 'node:fs';
import type { CliIO } from '../io.js';
import { render, type OutputFormat } from '../output.js';

/** cliVersion returns meshctl's own version (its package.json). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** runVersion prints the client version (the server part comes with pilot's config API). */
export function runVersion(output: OutputFormat, io: CliIO): number {
  const doc = { clientVersion: { version: cliVersion(), node: process.version } };
  io.stdout(output === 'text' ? `client version: ${doc.clientVersion.version} (node ${process.version})\n` : render(output, doc));
  return 0;
}
