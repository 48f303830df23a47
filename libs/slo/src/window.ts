/**
 * Good/total counts over rolling windows, in bounded memory and without reading a clock: every
 * call passes the time. Two rings of buckets: fine ones (default 1 min) covering the short
 * windows alerts use, and coarse ones (default 1 h) covering the SLO window (up to 90 d). A
 * window is summed from the finest ring that covers it; the oldest bucket is counted whole, so
 * a window can include up to one bucket's width more than asked (1 min for windows up to the
 * fine span, 1 h beyond), the price of fixed memory.
 */

interface Ring {
  readonly widthMs: number;
  readonly good: Float64Array;
  readonly total: Float64Array;
  /** Bucket index (time / width) each slot holds, -1 when empty. */
  readonly slot: Float64Array;
}

function ring(widthMs: number, spanMs: number): Ring {
  const n = Math.max(1, Math.ceil(spanMs / widthMs) + 1);
  return { widthMs, good: new Float64Array(n), total: new Float64Array(n), slot: new Float64Array(n).fill(-1) };
}

function add(r: Ring, tMs: number, good: number, total: number): void {
  addAt(r, Math.floor(tMs / r.widthMs), good, total);
}

function addAt(r: Ring, idx: number, good: number, total: number): void {
  const i = idx % r.slot.length;
  if (r.slot[i] !== idx) {
    // A newer bucket reuses the slot; a record older than the slot's bucket is past the ring.
    if (r.slot[i] > idx) return;
    r.slot[i] = idx;
    r.good[i] = 0;
    r.total[i] = 0;
  }
  r.good[i] += good;
  r.total[i] += total;
}

function sum(r: Ring, nowMs: number, windowMs: number): { good: number; total: number } {
  const last = Math.floor(nowMs / r.widthMs);
  const first = Math.floor((nowMs - windowMs) / r.widthMs);
  let good = 0;
  let total = 0;
  for (let idx = Math.max(first, last - r.slot.length + 1); idx <= last; idx++) {
    const i = ((idx % r.slot.length) + r.slot.length) % r.slot.length;
    if (r.slot[i] === idx) {
      good += r.good[i];
      total += r.total[i];
    }
  }
  return { good, total };
}

/** Options of WindowedCounts. */
export interface WindowedCountsOptions {
  /** Fine bucket width, ms (default 60,000). */
  readonly fineMs?: number;
  /** Time the fine ring covers, ms (default 3 d: the longest default alert window). */
  readonly fineSpanMs?: number;
  /** Coarse bucket width, ms (default 3,600,000). */
  readonly coarseMs?: number;
  /** Time the coarse ring covers, ms (default 90 d: the longest SLO window). */
  readonly coarseSpanMs?: number;
}

/** The counts of a WindowedCounts as plain data: non-empty buckets as [bucket index, good, total]. */
export interface WindowSnapshot {
  readonly fineMs: number;
  readonly coarseMs: number;
  readonly fine: readonly (readonly [number, number, number])[];
  readonly coarse: readonly (readonly [number, number, number])[];
}

function entries(r: Ring): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = 0; i < r.slot.length; i++) if (r.slot[i] >= 0 && r.total[i] > 0) out.push([r.slot[i], r.good[i], r.total[i]]);
  return out.sort((a, b) => a[0] - b[0]);
}

/** WindowedCounts keeps good and total request counts and sums them over rolling windows. */
export class WindowedCounts {
  private readonly fine: Ring;
  private readonly coarse: Ring;
  private readonly fineSpanMs: number;

  constructor(opts: WindowedCountsOptions = {}) {
    this.fineSpanMs = opts.fineSpanMs ?? 3 * 86_400_000;
    this.fine = ring(opts.fineMs ?? 60_000, this.fineSpanMs);
    this.coarse = ring(opts.coarseMs ?? 3_600_000, opts.coarseSpanMs ?? 90 * 86_400_000);
  }

  /** add counts requests that ended at `tMs` (epoch ms). */
  add(tMs: number, good: number, total: number): void {
    add(this.fine, tMs, good, total);
    add(this.coarse, tMs, good, total);
  }

  /** over returns the good and total counts of the last `seconds` before `nowMs`. */
  over(nowMs: number, seconds: number): { good: number; total: number } {
    const ms = seconds * 1000;
    return sum(ms <= this.fineSpanMs ? this.fine : this.coarse, nowMs, ms);
  }

  /** errorRatio returns 1 − good/total over the last `seconds`, or undefined without requests. */
  errorRatio(nowMs: number, seconds: number): number | undefined {
    const { good, total } = this.over(nowMs, seconds);
    return total > 0 ? 1 - good / total : undefined;
  }

  /** snapshot returns the counts as plain data (to persist them, or to share them with other mixer replicas). */
  snapshot(): WindowSnapshot {
    return { fineMs: this.fine.widthMs, coarseMs: this.coarse.widthMs, fine: entries(this.fine), coarse: entries(this.coarse) };
  }

  /**
   * merge adds a snapshot's counts to these (restoring after a restart). A snapshot taken with
   * other bucket widths is ignored and false returned: its buckets cannot be placed.
   */
  merge(s: WindowSnapshot): boolean {
    if (s.fineMs !== this.fine.widthMs || s.coarseMs !== this.coarse.widthMs) return false;
    for (const [idx, good, total] of s.fine) addAt(this.fine, idx, good, total);
    for (const [idx, good, total] of s.coarse) addAt(this.coarse, idx, good, total);
    return true;
  }
}

/** combinedErrorRatio returns 1 − good/total over the last `seconds` of several counts together (mixer replicas' shares), or undefined without requests. */
export function combinedErrorRatio(counts: readonly WindowedCounts[], nowMs: number, seconds: number): number | undefined {
  let good = 0;
  let total = 0;
  for (const c of counts) {
    const o = c.over(nowMs, seconds);
    good += o.good;
    total += o.total;
  }
  return total > 0 ? 1 - good / total : undefined;
}
