import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppProcess, exitCodeOf } from './app-process.js';
import { AppStartError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'agent-app-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const node = (script: string): { command: string; args: string[] } => ({ command: process.execPath, args: ['-e', script] });
let marks = 0;
/** handlerReady returns a script prefix that installs `handler` for SIGTERM and then creates a file, and a wait for that file. */
function handlerReady(handler: string): { script: string; wait: () => Promise<void> } {
  const f = join(dir, `ready-${marks++}`);
  return {
    script: `process.on('SIGTERM', ${handler}); require('fs').writeFileSync(${JSON.stringify(f)}, ''); setInterval(() => {}, 1000)`,
    wait: async () => {
      for (let i = 0; i < 500 && !existsSync(f); i++) await new Promise((r) => setTimeout(r, 20));
    },
  };
}

describe('AppProcess', () => {
  it('reports the exit code of an application that finishes by itself, and passes extra environment', async () => {
    const out = join(dir, 'env');
    const app = await AppProcess.start({ ...node(`require('fs').writeFileSync(${JSON.stringify(out)}, process.env.HTTP_PROXY); process.exit(3)`), env: { HTTP_PROXY: 'http://127.0.0.1:15001' } });
    expect(await app.exited).toEqual({ code: 3, signal: null });
    expect(app.running).toBe(false);
    expect(readFileSync(out, 'utf8')).toBe('http://127.0.0.1:15001');
  });

  it('stops an application with SIGTERM and lets it exit cleanly', async () => {
    const h = handlerReady('() => process.exit(0)');
    const app = await AppProcess.start(node(h.script));
    await h.wait(); // SIGTERM only once its handler is installed
    expect(await app.stop(5000)).toEqual({ code: 0, signal: null });
  });

  it('kills an application that ignores SIGTERM after the grace period (exit code 137)', async () => {
    const h = handlerReady('() => {}');
    const app = await AppProcess.start(node(h.script));
    await h.wait();
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
