/** Prometheus counters that follow totals kept by plain objects (stores stay free of prom-client). */
import type { Counter } from 'prom-client';

/**
 * CounterMirror raises prom-client counters to totals kept elsewhere: at each scrape it adds
 * the growth since the previous scrape, per label set.
 */
export class CounterMirror {
  private readonly seen = new Map<Counter<string>, Map<string, number>>();

  /** set makes the counter (with these labels) read `total`, as long as totals only grow. */
  set(c: Counter<string>, read: () => number, labels?: Record<string, string>): void {
    const key = JSON.stringify(labels ?? {});
    const byLabels = this.seen.get(c) ?? new Map<string, number>();
    this.seen.set(c, byLabels);
    const total = read();
    const before = byLabels.get(key) ?? 0;
    if (total > before) {
      if (labels) c.inc(labels, total - before);
      else c.inc(total - before);
    }
    byLabels.set(key, Math.max(total, before));
  }

  /** forget drops what was mirrored for a label set (its series was removed: counting starts again from 0). */
  forget(c: Counter<string>, labels?: Record<string, string>): void {
    this.seen.get(c)?.delete(JSON.stringify(labels ?? {}));
  }
}
