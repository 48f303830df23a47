import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor, type ComponentStatus } from './supervisor.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Supervisor', () => {
  it('restarts a crashed component with backoff, reports it, logs its output, and stops everything', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'supervisor-'));
    dirs.push(logDir);
    const restarts: Array<[string, number | null, number]> = [];
    let last: readonly ComponentStatus[] = [];
    const sup = new Supervisor({ logDir, initialBackoffMs: 50, maxBackoffMs: 200, onRestart: (n, e, ms) => restarts.push([n, e.code, ms]), onChange: (s) => (last = s) });
    // "crashy" exits 3 at once every time; "steady" runs until SIGTERM and says goodbye.
    sup.start({ name: 'crashy', command: process.execPath, args: ['-e', 'console.log("hello from crashy"); process.exit(3)'] });
    sup.start({ name: 'steady', command: process.execPath, args: ['-e', 'process.on("SIGTERM", () => { console.log("bye"); process.exit(0) }); setInterval(() => {}, 1000)'] });
    await until(() => restarts.length >= 3, 'three restarts');
    expect(restarts.slice(0, 3)).toEqual([
      ['crashy', 3, 50],
      ['crashy', 3, 100],
      ['crashy', 3, 200],
    ]);
    const crashy = sup.status().find((s) => s.name === 'crashy');
    expect(crashy?.restarts).toBeGreaterThanOrEqual(3);
    expect(crashy?.lastExit?.code).toBe(3);
    sup.markRunning('steady');
    expect(sup.status().find((s) => s.name === 'steady')).toMatchObject({ state: 'running', restarts: 0, pid: expect.any(Number) });
    await sup.stop(2000);
    expect(last.map((s) => s.state)).toEqual(['stopped', 'stopped']);
    const steadyLog = readFileSync(join(logDir, 'steady.log'), 'utf8');
    expect(steadyLog).toContain('bye');
    expect(steadyLog).toMatch(/exited: code 0/);
    expect(readFileSync(join(logDir, 'crashy.log'), 'utf8')).toContain('hello from crashy');
    // Nothing restarts after stop.
    const n = restarts.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(restarts.length).toBe(n);
  });

  it('kills a component that ignores SIGTERM after the grace period', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'supervisor-'));
    dirs.push(logDir);
    const sup = new Supervisor({ logDir });
    sup.start({ name: 'stubborn', command: process.execPath, args: ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000); console.log("ignoring " + "SIGTERM")'] });
    await until(() => existsSync(join(logDir, 'stubborn.log')) && readFileSync(join(logDir, 'stubborn.log'), 'utf8').includes('ignoring SIGTERM'), 'the child to start');
    await sup.stop(200);
    expect(readFileSync(join(logDir, 'stubborn.log'), 'utf8')).toMatch(/signal SIGKILL/);
  });
});

describe('Supervisor process groups', () => {
  it("ends a killed component's children before restarting it (no orphan keeps its port)", async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'supervisor-'));
    dirs.push(logDir);
    const restarts: string[] = [];
    const sup = new Supervisor({ logDir, initialBackoffMs: 50, onRestart: (n) => restarts.push(n) });
    // The parent prints its child's pid; the child would live forever on its own.
    const script = 'const c = require("node:child_process").spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" }); console.log("child=" + c.pid); setInterval(() => {}, 1000)';
    sup.start({ name: 'parent', command: process.execPath, args: ['-e', script] });
    const log = join(logDir, 'parent.log');
    await until(() => existsSync(log) && /child=\d+/.test(readFileSync(log, 'utf8')), 'the child pid');
    const childPid = Number(/child=(\d+)/.exec(readFileSync(log, 'utf8'))?.[1]);
    const parentPid = sup.status()[0]?.pid as number;
    process.kill(parentPid, 'SIGKILL');
    await until(() => restarts.length === 1, 'the restart');
    const gone = (): boolean => {
      try {
        process.kill(childPid, 0);
        return false;
      } catch {
        return true;
      }
    };
    await until(gone, 'the orphan to be killed');
    await sup.stop(2000);
  });
});
