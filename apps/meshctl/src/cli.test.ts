import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from './cli.js';
import type { CliIO } from './io.js';

const testdata = join(import.meta.dirname, '../../../libs/api/testdata');

async function run(argv: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), readStdin: async () => stdin, cwd: testdata };
  const code = await runCli(argv, io);
  return { code, out, err };
}

describe('meshctl validate', () => {
  it('exits 0 and summarises when everything is valid', async () => {
    const r = await run(['validate', '-f', 'valid/security/peerauthentication.yaml']);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^[1-9]\d* resource\(s\) in 1 file\(s\) are valid\n$/);
  });

  it('exits 1 and prints file:line, resource, path and reason for each error', async () => {
    const r = await run(['validate', '-f', 'invalid/pa-port-level-without-selector.yaml']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('invalid/pa-port-level-without-selector.yaml:10:5: Error [MESH_ERR_VALIDATION] PeerAuthentication foo/default: spec.mtls.mode: must be one of');
    expect(r.err).toContain('invalid/pa-port-level-without-selector.yaml:11:3: Error [MESH_ERR_VALIDATION] PeerAuthentication foo/default: spec.portLevelMtls: portLevelMtls requires a workload selector');
    expect(r.err).toContain('2 error(s): 1 of 1 resource(s) invalid in 1 file(s)');
  });

  it('walks directories, reads stdin, and renders json and yaml', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshctl-'));
    writeFileSync(join(dir, 'a.yaml'), 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a}\nspec: {mtls: {mode: PERMISSIVE}}\n');
    const stdin = 'apiVersion: networking.istio.io/v1\nkind: EnvoyFilter\nmetadata: {name: f}\n';
    const r = await run(['validate', '-f', dir, '-f', '-', '-o', 'json'], stdin);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    expect(doc.summary).toEqual({ files: 2, resources: 2, valid: 1, invalid: 1, errors: 1 });
    expect(doc.diagnostics[0]).toMatchObject({ code: 'MESH_ERR_UNSUPPORTED_KIND', file: '<stdin>', line: 2, path: 'kind', resource: { kind: 'EnvoyFilter', namespace: 'default', name: 'f' } });
    const y = await run(['validate', '-f', dir, '-o', 'yaml']);
    expect(y.code).toBe(0);
    expect(parse(y.out)).toMatchObject({ valid: true, summary: { resources: 1, errors: 0 } });
  });

  it('reports a missing path as an error, not a crash', async () => {
    const r = await run(['validate', '-f', 'does-not-exist.yaml']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('MESH_ERR_SOURCE_READ');
    expect(r.err).toContain('no such file or directory');
  });

  it('treats bad usage as exit 2', async () => {
    expect((await run(['validate'])).code).toBe(2);
    expect((await run(['validate', '-f', 'x', '-o', 'xml'])).code).toBe(2);
    expect((await run(['frobnicate'])).code).toBe(2);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('validate');
  });
});
