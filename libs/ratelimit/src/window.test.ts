import { describe, expect, test } from 'vitest';
import { windowOf } from './window.js';

describe('windowOf: fixed windows aligned to the unit (UTC)', () => {
  test.each([
    { now: Date.UTC(2026, 0, 1, 10, 20, 30, 250), unit: 1, start: Date.UTC(2026, 0, 1, 10, 20, 30), remaining: 750 },
    { now: Date.UTC(2026, 0, 1, 10, 20, 30, 250), unit: 60, start: Date.UTC(2026, 0, 1, 10, 20), remaining: 29_750 },
    { now: Date.UTC(2026, 0, 1, 10, 20, 30, 250), unit: 3600, start: Date.UTC(2026, 0, 1, 10), remaining: 39 * 60_000 + 29_750 },
    { now: Date.UTC(2026, 0, 1, 10, 20, 30, 250), unit: 86400, start: Date.UTC(2026, 0, 1), remaining: 86_400_000 - (10 * 3600_000 + 20 * 60_000 + 30_250) },
    { now: Date.UTC(2026, 0, 1, 10, 21), unit: 60, start: Date.UTC(2026, 0, 1, 10, 21), remaining: 60_000 },
  ])('unit $unit s', ({ now, unit, start, remaining }) => {
    const w = windowOf(now, unit);
    expect(w.startMs).toBe(start);
    expect(w.endMs).toBe(start + unit * 1000);
    expect(w.remainingMs).toBe(remaining);
  });
});
