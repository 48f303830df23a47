/**
 * Counters of hits per key and window. `incr` adds hits and returns the new total; the key names
 * the window, so a counter is never reset, it expires. Memory (one replica) by default; Redis
 * (redis-counters.ts) when several mixer replicas must share totals.
 */

/** A place to count hits. Implementations must add atomically: two replicas adding 1 each see totals n+1 and n+2. */
export interface CounterStore {
  /** incr adds `hits` to `key` (created at 0, expiring `ttlSeconds` after creation) and returns the new total; rejects with CounterBackendError when it cannot count. */
  incr(key: string, hits: number, ttlSeconds: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * MemoryCounterStore counts in this process. Expired keys are dropped by a sweep every
 * `sweepEveryIncrs` increments (no timer to keep the process alive or to stop).
 */
export class MemoryCounterStore implements CounterStore {
  private readonly counts = new Map<string, { n: number; expiresAt: number }>();
  private ops = 0;

  constructor(private readonly opts: { now?: () => number; sweepEveryIncrs?: number } = {}) {}

  incr(key: string, hits: number, ttlSeconds: number): Promise<number> {
    const now = (this.opts.now ?? Date.now)();
    if (++this.ops % (this.opts.sweepEveryIncrs ?? 10_000) === 0) this.sweep(now);
    let c = this.counts.get(key);
    if (!c || c.expiresAt <= now) {
      c = { n: 0, expiresAt: now + ttlSeconds * 1000 };
      this.counts.set(key, c);
    }
    c.n += hits;
    return Promise.resolve(c.n);
  }

  /** How many keys are held (tests). */
  size(): number {
    return this.counts.size;
  }

  private sweep(now: number): void {
    for (const [k, c] of this.counts) if (c.expiresAt <= now) this.counts.delete(k);
  }

  close(): Promise<void> {
    this.counts.clear();
    return Promise.resolve();
  }
}
