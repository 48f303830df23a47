/**
 * Push debouncing as Istio's pilot does it (PILOT_DEBOUNCE_AFTER = 100ms quiet,
 * PILOT_DEBOUNCE_MAX = 10s): config events are merged until none has arrived for `quietMs`,
 * or until `maxMs` has passed since the first one, then one push carries them all. While a
 * push is running, new events wait and are merged into the next one (Istio's
 * "enable EDS debounce" / one push in flight).
 */
import type { Clock } from './clock.js';

/** What changed; `full` means every proxy must be recomputed (a config change), else only endpoints of `services`. */
export interface PushRequest {
  readonly full: boolean;
  /** Config keys (`kind/namespace/name`) that changed; empty with full = everything. */
  readonly configs: ReadonlySet<string>;
  /** Service hostnames whose endpoints changed. */
  readonly services: ReadonlySet<string>;
  /** Why, for logs and metrics (`config`, `endpoint`, `proxy`, ...). */
  readonly reasons: ReadonlySet<string>;
  /** When the first merged event happened (ms since epoch): for push-queue-time metrics. */
  readonly start: number;
}

/** mergePush returns one request covering both. */
export function mergePush(a: PushRequest, b: PushRequest): PushRequest {
  return {
    full: a.full || b.full,
    configs: new Set([...a.configs, ...b.configs]),
    services: new Set([...a.services, ...b.services]),
    reasons: new Set([...a.reasons, ...b.reasons]),
    start: Math.min(a.start, b.start),
  };
}

export interface DebounceOptions {
  readonly quietMs: number;
  readonly maxMs: number;
  readonly clock: Clock;
  /** Runs one merged push; the next one starts only after this settles. */
  readonly push: (req: PushRequest) => Promise<void>;
}

/** Debouncer merges push requests and runs at most one push at a time. */
export class Debouncer {
  private pending: PushRequest | undefined;
  private firstAt = 0;
  private lastAt = 0;
  private timer: unknown;
  private running = false;
  private closed = false;

  constructor(private readonly opts: DebounceOptions) {}

  /** enqueue adds a change; the push happens after the quiet period (or the max wait). */
  enqueue(req: PushRequest): void {
    if (this.closed) return;
    const now = this.opts.clock.now();
    if (!this.pending) this.firstAt = now;
    this.pending = this.pending ? mergePush(this.pending, req) : req;
    this.lastAt = now;
    this.schedule();
  }

  /** close drops pending work and stops timers (graceful shutdown). */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private schedule(): void {
    if (this.running || !this.pending) return;
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    const now = this.opts.clock.now();
    const quietLeft = this.lastAt + this.opts.quietMs - now;
    const maxLeft = this.firstAt + this.opts.maxMs - now;
    const wait = Math.max(0, Math.min(quietLeft, maxLeft));
    this.timer = this.opts.clock.setTimeout(() => this.fire(), wait);
  }

  private fire(): void {
    this.timer = undefined;
    const req = this.pending;
    if (!req || this.running || this.closed) return;
    this.pending = undefined;
    this.running = true;
    void this.opts
      .push(req)
      .catch(() => undefined) // the push reports its own errors; the debouncer must keep going
      .finally(() => {
        this.running = false;
        if (this.pending) {
          // events that arrived during the push: their quiet period may already be over
          this.firstAt = Math.min(this.firstAt, this.opts.clock.now());
          this.schedule();
        }
      });
  }
}
