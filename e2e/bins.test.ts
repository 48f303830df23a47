/**
 * The installed command names work from the repository root, as the README promises:
 * `npx meshctl ...` and `npx meshwork-<app>`. Runs the real built binaries.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const run = async (bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const r = await promisify(execFile)(join(root, 'node_modules/.bin', bin), args, { cwd: root });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

describe('installed binaries', () => {
  it.each([
    ['meshwork-pilot', '--listen-address'],
    ['meshwork-citadel', '--listen-address'],
    ['meshwork-sidecar', '--outbound-port'],
    ['meshwork-mixer', '--metrics-port'],
    ['meshwork-gateway', '--port-map'],
    ['meshwork-bookinfo', '--service'],
  ])('%s --help lists its flags and exits 0', async (bin, flag) => {
    const r = await run(bin, ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(flag);
  });

  it('meshwork-sidecar refuses to start without a workload name (exit 1, one line)', async () => {
    const r = await run('meshwork-sidecar', ['--admin-port', '0', '--health-port', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('meshwork-sidecar: --workload (POD_NAME) is required: the workload name, e.g. reviews-v1-1\n');
  });

  it.each(['meshwork-console'])(
    '%s is installed and says it is not implemented yet (exit 2)',
    async (bin) => {
      const r = await run(bin, []);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('not implemented');
    },
  );

  it('meshctl validates the Bookinfo sample (exit 0) and rejects an invalid file (exit 1)', async () => {
    // The sample's configuration (its TypeScript sources and package files are not mesh resources).
    const ok = await run('meshctl', ['validate', '-f', 'samples/bookinfo/platform', '-f', 'samples/bookinfo/networking', '-f', 'samples/bookinfo/gateway-api']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const bad = await run('meshctl', ['validate', '-f', 'libs/api/testdata/invalid/pa-port-level-without-selector.yaml']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('spec.portLevelMtls: portLevelMtls requires a workload selector');
  });

  it('meshctl analyze finds nothing wrong in the Bookinfo deployment (services, gateway, rules, all-v1 routes)', async () => {
    const files = ['samples/bookinfo/platform', 'samples/bookinfo/networking/bookinfo-gateway.yaml', 'samples/bookinfo/networking/destination-rule-all.yaml', 'samples/bookinfo/networking/virtual-service-all-v1.yaml'];
    const r = await run('meshctl', ['analyze', ...files.flatMap((f) => ['-f', f]), '-o', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).summary).toMatchObject({ errors: 0, warnings: 0 });
  });
});
