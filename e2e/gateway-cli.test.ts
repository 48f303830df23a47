/**
 * meshwork-gateway at the door: `--help` is generated from settings.ts and exits 0; bad flags and
 * missing inputs fail fast with one clear line and exit 1 before anything is bound.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './support.js';

const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) =>
    execFile(process.execPath, [join(root, 'apps/gateway/bin/meshwork-gateway.js'), ...args], { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr })),
  );

describe('meshwork-gateway command line', () => {
  it('--help lists its flags and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--pilot', '--labels', '--address', '--port-map', '--port-offset', '--secret-dir', '--kube-secrets', '--ca-address', '--drain-duration']) expect(r.stdout).toContain(flag);
  });

  it.each([
    [['--port-map', '80'], 'meshwork-gateway: --port-map: "80" is not <gateway port>=<local port> (1-65535)\n'],
    [['--labels', 'istio'], 'meshwork-gateway: --labels: "istio" is not key=value\n'],
    [['--ca-address', '127.0.0.1:1'], 'meshwork-gateway: --ca-address needs --ca-root-cert (the trust bundle that authenticates citadel and pilot)\n'],
    [['--secret-dir', '/nonexistent/meshwork-secrets'], "meshwork-gateway: secret directory /nonexistent/meshwork-secrets: ENOENT: no such file or directory, scandir '/nonexistent/meshwork-secrets'\n"],
  ])('%j fails with one line, exit 1', async (args, line) => {
    const r = await run(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(line);
  });

  it('a bad flag value exits 2 naming the flag', async () => {
    const r = await run(['--admin-port', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--admin-port');
  });
});
