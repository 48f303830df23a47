/**
 * The application a sidecar runs after `--` (`meshwork-sidecar ... -- node server.js`): started
 * only once the proxy is ready (Istio's holdApplicationUntilProxyStarts), stopped with SIGTERM and,
 * after a grace period, SIGKILL; its exit becomes the sidecar's exit code, so a job that finishes
 * ends its sidecar too (what Istio users do with `curl -X POST localhost:15020/quitquitquit`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { AppStartError } from './errors.js';

/** How the application ended. */
export interface AppExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface AppProcessOptions {
  readonly command: string;
  readonly args?: readonly string[];
  /** Extra environment (merged over the sidecar's own), e.g. HTTP_PROXY pointing at the outbound listener. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** exitCodeOf returns the shell convention for an exit: the code, or 128 + the signal number. */
export function exitCodeOf(e: AppExit): number {
  if (e.code !== null) return e.code;
  const n = e.signal ? constants.signals[e.signal] : undefined;
  return n !== undefined ? 128 + n : 1;
}

/** A started application. */
export class AppProcess {
  /** Resolves when the application has exited (never rejects). */
  readonly exited: Promise<AppExit>;
  private readonly child: ChildProcess;
  private exit: AppExit | undefined;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  /**
   * start spawns the application with inherited stdio and resolves once it runs, or rejects with
   * AppStartError naming the command (not found, not executable).
   */
  static start(o: AppProcessOptions): Promise<AppProcess> {
    return new Promise((resolve, reject) => {
      const child = spawn(o.command, [...(o.args ?? [])], { stdio: 'inherit', cwd: o.cwd, env: { ...process.env, ...o.env } });
      child.once('spawn', () => resolve(new AppProcess(child)));
      child.once('error', (err) => reject(new AppStartError(`cannot start application "${o.command}": ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err })));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** running is true until the application exits. */
  get running(): boolean {
    return this.exit === undefined;
  }

  /**
   * stop sends `signal` (SIGTERM), waits up to graceMs for the application to exit, then sends
   * SIGKILL; resolves with how it ended.
   */
  async stop(graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<AppExit> {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((r) => {
      timer = setTimeout(() => {
        if (this.running) this.child.kill('SIGKILL');
        r();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }
}
