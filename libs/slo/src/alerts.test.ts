import { describe, expect, test } from 'vitest';
import { effectiveBurnRateWindows } from '@meshwork/api';
import { evaluateBurnRateAlerts } from './alerts.js';

const H = 3600;

describe('multiwindow, multi-burn-rate alerts', () => {
  const windows = effectiveBurnRateWindows({ host: 'reviews', sli: { availability: {} }, objective: 99.9 });

  test('the defaults are the workbook pairs', () => {
    expect(windows.map((w) => [w.longWindowSeconds / H, w.shortWindowSeconds / H, w.burnRate, w.severity])).toEqual([
      [1, 5 / 60, 14.4, 'PAGE'],
      [6, 0.5, 6, 'PAGE'],
      [24, 2, 3, 'TICKET'],
      [72, 6, 1, 'TICKET'],
    ]);
  });

  // Error ratio per window length, as a table of the scenario.
  const scenario = (ratios: Record<number, number | undefined>) => (s: number) => ratios[s];
  const firing = (ratios: Record<number, number | undefined>) =>
    evaluateBurnRateAlerts(windows, 99.9, scenario(ratios))
      .filter((a) => a.firing)
      .map((a) => `${a.longWindowSeconds / H}h@${a.burnRate}`);

  test.each([
    // a total outage that started 10 minutes ago: only the fast pair sees enough of it in 1h
    ['outage for 10 min', { 300: 1, [H]: 1 / 6, 1800: 1 / 3, [6 * H]: 1 / 36, [2 * H]: 1 / 12, [24 * H]: 1 / 144, [21600]: 1 / 36, [72 * H]: 1 / 432 }, ['1h@14.4', '6h@6', '24h@3', '72h@1']],
    ['2% errors for 1h, over since 10 min', { 300: 0, [H]: 0.02, 1800: 0, [6 * H]: 0.02 / 6, [2 * H]: 0.01, [24 * H]: 0.02 / 24, [72 * H]: 0.02 / 72 }, []],
    ['steady 0.7% errors (7x)', { 300: 0.007, [H]: 0.007, 1800: 0.007, [6 * H]: 0.007, [2 * H]: 0.007, [24 * H]: 0.007, [72 * H]: 0.007 }, ['6h@6', '24h@3', '72h@1']],
    ['steady 0.1% errors (1x: exactly sustainable)', { 300: 0.001, [H]: 0.001, 1800: 0.001, [6 * H]: 0.001, [2 * H]: 0.001, [24 * H]: 0.001, [72 * H]: 0.001 }, []],
    ['no requests at all', {}, []],
  ])('%s', (_name, ratios, want) => {
    expect(firing(ratios as Record<number, number>)).toEqual(want);
  });

  test('burn rates are reported per window', () => {
    const [fast, slow] = evaluateBurnRateAlerts(windows, 99.9, (s) => (s <= 3600 ? 0.0143 : 0.0061));
    expect(fast.longBurnRate).toBeCloseTo(14.3, 9);
    expect(fast.shortBurnRate).toBeCloseTo(14.3, 9);
    expect(fast.firing).toBe(false);
    expect(slow.longBurnRate).toBeCloseTo(6.1, 9);
    expect(slow.firing).toBe(true);
  });
});
