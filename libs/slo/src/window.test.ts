import { describe, expect, test } from 'vitest';
import { WindowedCounts } from './window.js';

const MIN = 60_000;
const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 26, 0, 0, 0);

describe('WindowedCounts', () => {
  test('sums the buckets of a window, the oldest partial bucket included', () => {
    const c = new WindowedCounts();
    c.add(T0 + 0.5 * MIN, 10, 10);
    c.add(T0 + 3.5 * MIN, 8, 10);
    c.add(T0 + 9.5 * MIN, 0, 10);
    const now = T0 + 9.9 * MIN;
    expect(c.over(now, 60)).toEqual({ good: 0, total: 10 });
    expect(c.over(now, 5 * 60)).toEqual({ good: 0, total: 10 });
    expect(c.over(now, 7 * 60)).toEqual({ good: 8, total: 20 });
    expect(c.over(now, 3600)).toEqual({ good: 18, total: 30 });
    expect(c.errorRatio(now, 3600)).toBeCloseTo(0.4, 9);
  });

  test('windows beyond the fine span use the hourly ring', () => {
    const c = new WindowedCounts();
    c.add(T0, 1, 1);
    c.add(T0 + 10 * 24 * H, 0, 1);
    const now = T0 + 10 * 24 * H + MIN;
    expect(c.over(now, 30 * 86_400)).toEqual({ good: 1, total: 2 });
    expect(c.over(now, 86_400)).toEqual({ good: 0, total: 1 });
  });

  test('old buckets are reused, not summed: memory stays fixed', () => {
    const c = new WindowedCounts({ fineMs: MIN, fineSpanMs: 10 * MIN, coarseMs: H, coarseSpanMs: 2 * H });
    for (let i = 0; i < 1000; i++) c.add(T0 + i * MIN, 1, 1);
    const now = T0 + 999 * MIN;
    expect(c.over(now, 5 * 60).total).toBe(6);
    expect(c.over(now, 2 * 3600).total).toBeLessThanOrEqual(180);
  });

  test('a record older than its slot is dropped, and no data gives no ratio', () => {
    const c = new WindowedCounts({ fineMs: MIN, fineSpanMs: 2 * MIN });
    c.add(T0 + 10 * MIN, 1, 1);
    c.add(T0 + 7 * MIN, 5, 5); // same slot (ring of 3), older bucket
    expect(c.over(T0 + 10 * MIN, 120)).toEqual({ good: 1, total: 1 });
    expect(new WindowedCounts().errorRatio(T0, 300)).toBeUndefined();
  });
});

describe('WindowedCounts snapshots', () => {
  test('a snapshot merged into fresh counts gives the same sums; other widths are refused', () => {
    const c = new WindowedCounts();
    c.add(T0 + 0.5 * MIN, 10, 10);
    c.add(T0 + 3.5 * MIN, 8, 10);
    c.add(T0 + 2 * 24 * H, 1, 4);
    const snap = JSON.parse(JSON.stringify(c.snapshot()));
    const d = new WindowedCounts();
    expect(d.merge(snap)).toBe(true);
    const now = T0 + 2 * 24 * H + MIN;
    for (const s of [300, 3600, 86_400, 3 * 86_400, 30 * 86_400]) expect(d.over(now, s)).toEqual(c.over(now, s));
    expect(new WindowedCounts({ fineMs: 30_000 }).merge(snap)).toBe(false);
    expect(snap.fine).toEqual([
      [Math.floor((T0 + 0.5 * MIN) / MIN), 10, 10],
      [Math.floor((T0 + 3.5 * MIN) / MIN), 8, 10],
      [Math.floor((T0 + 2 * 24 * H) / MIN), 1, 4],
    ]);
  });

  test('combined ratios sum the replicas', async () => {
    const { combinedErrorRatio } = await import('./window.js');
    const a = new WindowedCounts();
    const b = new WindowedCounts();
    a.add(T0, 99, 100);
    b.add(T0, 0, 100);
    expect(combinedErrorRatio([a, b], T0 + MIN, 300)).toBeCloseTo(0.505, 9);
    expect(combinedErrorRatio([], T0, 300)).toBeUndefined();
  });
});
