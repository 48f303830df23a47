/**
 * meshctl join-token / ca argument handling. The conversation with a real citadel is covered end to
 * end in e2e/citadel.test.ts (real binaries); here only what fails before any network call.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import type { CliIO } from '../io.js';

async function run(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), readStdin: async () => '', cwd: tmpdir(), env };
  return { code: await runCli(argv, io), out, err };
}

describe('meshctl join-token create', () => {
  it('requires --citadel, --ns and --sa', async () => {
    const r = await run(['join-token', 'create', '--ns', 'a', '--sa', 'b']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("required option '--citadel <host:port>' not specified");
    expect((await run(['join-token', 'create', '--citadel', 'localhost:8061', '--sa', 'b'])).code).toBe(2);
  });

  it('refuses a bad TTL and a bad address before calling citadel', async () => {
    const ttl = await run(['join-token', 'create', '--citadel', 'localhost:8061', '--ns', 'a', '--sa', 'b', '--ttl', 'soon']);
    expect(ttl.code).toBe(2);
    expect(ttl.err).toContain('--ttl "soon"');
    expect(ttl.out).toBe('');
    const addr = await run(['join-token', 'create', '--citadel', 'localhost', '--ns', 'a', '--sa', 'b']);
    expect(addr.code).toBe(1);
    expect(addr.err).toContain('--citadel must be HOST:PORT');
  });

  it('names the missing credential and how to point at it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshctl-ca-'));
    const r = await run(['join-token', 'create', '--citadel', '127.0.0.1:1', '--ns', 'a', '--sa', 'b'], { CITADEL_STATE_DIR: dir });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot read admin credential ${join(dir, 'admin-token')}`);
    writeFileSync(join(dir, 'admin-token'), 'x');
    writeFileSync(join(dir, 'root-cert.pem'), 'not a cert');
    const unreachable = await run(['ca', 'rotate-root', '--citadel', '127.0.0.1:1', '--state-dir', dir]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toMatch(/^meshctl ca rotate-root: cannot reach citadel at 127\.0\.0\.1:1: /);
  });
});
