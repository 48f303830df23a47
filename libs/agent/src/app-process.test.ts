import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppProcess, exitCodeOf } from './app-process.js';
import { AppStartError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'agent-app-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const node = (script: string): { command: string; args: string[] } => ({ command: process.execPath, args: ['-e', script] });

describe('AppProcess', () => {
  it('reports the exit code of an application that finishes by itself, and passes extra environment', async () => {
    const out = join(dir, 'env');
    const app = await AppProcess.start({ ...node(`require('fs').writeFileSync(${JSON.stringify(out)}, process.env.HTTP_PROXY); process.exit(3)`), env: { HTTP_PROXY: 'http://127.0.0.1:15001' } });
    expect(await app.exited).toEqual({ code: 3, signal: null });
    expect(app.running).toBe(false);
    expect(readFileSync(out, 'utf8')).toBe('http://127.0.0.1:15001');
  });

  it('stops an application with SIGTERM and lets it exit cleanly', async () => {
    const app = await AppProcess.start(node(`process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)`));
    await new Promise((r) => setTimeout(r, 200)); // let it install its handler
    expect(await app.stop(5000)).toEqual({ code: 0, signal: null });
  });

  it('kills an application that ignores SIGTERM after the grace period (exit code 137)', async () => {
    const app = await AppProcess.start(node(`process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)`));
    await new Promise((r) => setTimeout(r, 200));
    const exit = await app.stop(300);
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(exitCodeOf(exit)).toBe(137);
    expect(exitCodeOf({ code: null, signal: 'SIGTERM' })).toBe(143);
  });

  it('refuses a command that does not exist with an error naming it', async () => {
    await expect(AppProcess.start({ command: join(dir, 'no-such-app') })).rejects.toThrow(AppStartError);
    await expect(AppProcess.start({ command: join(dir, 'no-such-app') })).rejects.toThrow(/no-such-app.*ENOENT/);
  });
});
