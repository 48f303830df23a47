/**
 * The local mesh's process supervisor (what `meshctl up` runs): each component is a child process
 * with its output appended to `<logs>/<name>.log`; one that exits while the mesh is up is restarted
 * after an exponential backoff (1 s doubling to 30 s, back to 1 s once it stayed up a minute) and
 * the restart is reported; `stop()` sends SIGTERM to every child in reverse start order, waits for
 * a grace period and then SIGKILLs what is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

/** One process the supervisor runs. */
export interface ProcessSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Health probe (an HTTP readiness URL, usually); undefined: alive means healthy. */
  readonly healthUrl?: string;
  /** Addresses worth printing (product page, admin ports). */
  readonly urls?: Readonly<Record<string, string>>;
}

export type ComponentState = 'starting' | 'running' | 'restarting' | 'stopped' | 'failed';

/** What `meshctl status` shows for a component. */
export interface ComponentStatus {
  readonly name: string;
  readonly state: ComponentState;
  readonly pid?: number;
  readonly restarts: number;
  readonly lastExit?: { readonly code: number | null; readonly signal: string | null; readonly at: string };
  readonly healthUrl?: string;
  readonly urls?: Readonly<Record<string, string>>;
  readonly log: string;
}

/** Events the supervisor reports (the caller logs them and rewrites the status file). */
export interface SupervisorEvents {
  onChange?(status: readonly ComponentStatus[]): void;
  onRestart?(name: string, exit: { code: number | null; signal: string | null }, inMs: number): void;
}

export interface SupervisorOptions extends SupervisorEvents {
  readonly logDir: string;
  /** First restart delay (1 s) and cap (30 s); a child up for `resetAfterMs` (60 s) starts over at the first delay. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly resetAfterMs?: number;
}

interface Child {
  readonly spec: ProcessSpec;
  proc?: ChildProcess;
  state: ComponentState;
  restarts: number;
  backoffMs: number;
  startedAt: number;
  lastExit?: ComponentStatus['lastExit'];
  timer?: NodeJS.Timeout;
  log: WriteStream;
  exited?: Promise<void>;
}

/** signalGroup signals a child's whole process group (it leads one: spawned detached). */
function signalGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    // the group is already gone
  }
}

/** Supervisor starts, restarts and stops the local mesh's processes. */
export class Supervisor {
  private readonly children = new Map<string, Child>();
  private stopping = false;

  constructor(private readonly opts: SupervisorOptions) {
    mkdirSync(opts.logDir, { recursive: true });
  }

  /** start launches a component (once; a second start of the same name is an error). */
  start(spec: ProcessSpec): void {
    if (this.children.has(spec.name)) throw new Error(`component "${spec.name}" is already supervised`);
    const log = createWriteStream(this.logPath(spec.name), { flags: 'a' });
    const child: Child = { spec, state: 'starting', restarts: 0, backoffMs: this.opts.initialBackoffMs ?? 1000, startedAt: 0, log };
    this.children.set(spec.name, child);
    this.launch(child);
  }

  /** has says whether a component is supervised. */
  has(name: string): boolean {
    return this.children.has(name);
  }

  /** status returns every component, in start order. */
  status(): ComponentStatus[] {
    return [...this.children.values()].map((c) => ({
      name: c.spec.name,
      state: c.state,
      ...(c.proc?.pid !== undefined && c.state !== 'stopped' && c.state !== 'failed' ? { pid: c.proc.pid } : {}),
      restarts: c.restarts,
      ...(c.lastExit ? { lastExit: c.lastExit } : {}),
      ...(c.spec.healthUrl ? { healthUrl: c.spec.healthUrl } : {}),
      ...(c.spec.urls ? { urls: c.spec.urls } : {}),
      log: this.logPath(c.spec.name),
    }));
  }

  /** markRunning records that a component passed its readiness check. */
  markRunning(name: string): void {
    const c = this.children.get(name);
    if (c && c.state === 'starting') {
      c.state = 'running';
      this.changed();
    }
  }

  /** stop ends every component, last started first: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const c of [...this.children.values()].reverse()) {
      if (c.timer) clearTimeout(c.timer);
      const p = c.proc;
      if (p && p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM');
        const killer = setTimeout(() => signalGroup(p, 'SIGKILL'), graceMs);
        await c.exited;
        clearTimeout(killer);
      }
      c.state = 'stopped';
      await new Promise<void>((r) => c.log.end(r));
    }
    this.changed();
  }

  private logPath(name: string): string {
    return join(this.opts.logDir, `${name}.log`);
  }

  private launch(c: Child): void {
    const { spec } = c;
    c.log.write(`--- ${new Date().toISOString()} starting: ${spec.command} ${spec.args.join(' ')}\n`);
    let proc: ChildProcess;
    try {
      // Its own process group: what the component starts (a sidecar's application) is signalled with it.
      proc = spawn(spec.command, [...spec.args], { cwd: spec.cwd, env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (err) {
      this.exited(c, { code: null, signal: null }, (err as Error).message);
      return;
    }
    c.proc = proc;
    c.startedAt = Date.now();
    proc.stdout?.pipe(c.log, { end: false });
    proc.stderr?.pipe(c.log, { end: false });
    c.exited = new Promise((resolve) => {
      let done = false;
      const finish = (exit: { code: number | null; signal: string | null }, why?: string): void => {
        if (done) return;
        done = true;
        this.exited(c, exit, why);
        resolve();
      };
      proc.once('error', (err) => finish({ code: null, signal: null }, err.message));
      proc.once('exit', (code, signal) => {
        // A component that died without stopping its children (SIGKILL, a crash) would leave them
        // holding its ports: end the rest of its process group before anything restarts.
        signalGroup(proc, 'SIGKILL');
        finish({ code, signal });
      });
    });
    this.changed();
  }

  private exited(c: Child, exit: { code: number | null; signal: string | null }, why?: string): void {
    c.lastExit = { ...exit, at: new Date().toISOString() };
    c.log.write(`--- ${c.lastExit.at} exited: code ${exit.code} signal ${exit.signal}${why ? ` (${why})` : ''}\n`);
    if (this.stopping) return;
    // Crash: restart with backoff, starting over once the process had stayed up a while.
    if (Date.now() - c.startedAt >= (this.opts.resetAfterMs ?? 60_000)) c.backoffMs = this.opts.initialBackoffMs ?? 1000;
    const inMs = c.backoffMs;
    c.backoffMs = Math.min(c.backoffMs * 2, this.opts.maxBackoffMs ?? 30_000);
    c.state = 'restarting';
    c.restarts++;
    this.opts.onRestart?.(c.spec.name, exit, inMs);
    this.changed();
    c.timer = setTimeout(() => {
      c.timer = undefined;
      if (this.stopping) return;
      c.state = 'starting';
      this.launch(c);
    }, inMs);
  }

  private changed(): void {
    this.opts.onChange?.(this.status());
  }
}
