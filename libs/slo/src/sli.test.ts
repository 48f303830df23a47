import { describe, expect, test } from 'vitest';
import { errorCodeMatcher, goodRequestPredicate, latencySliFromBuckets, sliRatio } from './sli.js';

describe('availability SLI', () => {
  const table: [readonly (string | number)[] | undefined, number, boolean][] = [
    [undefined, 200, false],
    [undefined, 404, false],
    [undefined, 500, true],
    [undefined, 503, true],
    [undefined, 0, true], // no response at all
    [['5xx', '429'], 429, true],
    [['5xx', 429], 429, true],
    [['5xx', '429'], 430, false],
    [['503'], 500, false],
    [['503'], 503, true],
    [['4xx'], 404, true],
  ];
  test.each(table)('errorCodes %j: %s is an error: %s', (codes, code, isError) => {
    expect(errorCodeMatcher(codes)(code)).toBe(isError);
  });

  test('availability: {} uses 5xx', () => {
    const good = goodRequestPredicate({ availability: {} });
    expect(good({ responseCode: 200, durationMs: 5 })).toBe(true);
    expect(good({ responseCode: 502, durationMs: 5 })).toBe(false);
  });
});

describe('latency SLI', () => {
  test('good means at or under the threshold, whatever the status', () => {
    const good = goodRequestPredicate({ latency: { threshold: '300ms' } });
    expect(good({ responseCode: 200, durationMs: 300 })).toBe(true);
    expect(good({ responseCode: 500, durationMs: 12 })).toBe(true);
    expect(good({ responseCode: 200, durationMs: 300.5 })).toBe(false);
  });

  test.each([
    // cumulative buckets: 50 ≤ 100, 80 ≤ 250, 95 ≤ 500, 100 total
    [100, 0.5],
    [250, 0.8],
    [175, 0.65], // halfway between 100 and 250: 50 + 15
    [50, 0.25], // halfway into the first bucket (from 0)
    [10_000, 0.95], // past the last finite bound: only what is known to be under it
  ])('from buckets, threshold %s ms → %s', (threshold, want) => {
    const buckets = [
      { le: 100, count: 50 },
      { le: 250, count: 80 },
      { le: 500, count: 95 },
      { le: Infinity, count: 100 },
    ];
    expect(latencySliFromBuckets(buckets, threshold)).toBeCloseTo(want, 9);
  });

  test('above the last finite bound counts only what the finite buckets hold', () => {
    expect(latencySliFromBuckets([{ le: 100, count: 9 }, { le: Infinity, count: 10 }], 1000)).toBeCloseTo(0.9, 9);
  });

  test('no data is not 100%', () => {
    expect(latencySliFromBuckets([{ le: 100, count: 0 }], 100)).toBeUndefined();
    expect(sliRatio(0, 0)).toBeUndefined();
    expect(sliRatio(999, 1000)).toBe(0.999);
  });
});
