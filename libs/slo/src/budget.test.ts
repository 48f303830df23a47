import { describe, expect, test } from 'vitest';
import { budgetSpentByAlert, burnRate, detectionTimeSeconds, errorBudget, errorBudgetRemaining } from './budget.js';

const DAY = 86_400;

describe('error budget and burn rate (SRE workbook, "Alerting on SLOs")', () => {
  test.each([
    [99.9, 0.001],
    [99, 0.01],
    [99.95, 0.0005],
    [95, 0.05],
  ])('objective %s%% leaves a budget of %s', (objective, budget) => {
    expect(errorBudget(objective)).toBeCloseTo(budget, 12);
  });

  // The workbook's table of recommended pairs: budget consumed when each alert fires, 30-day window.
  test.each([
    [14.4, 3600, 0.02],
    [6, 6 * 3600, 0.05],
    [1, 3 * DAY, 0.1],
  ])('burn rate %s over %ss spends %s of a 30d budget', (rate, longS, spent) => {
    expect(budgetSpentByAlert(rate, longS, 30 * DAY)).toBeCloseTo(spent, 9);
  });

  test('the workbook rates: 0.1% errors against 99.9% burn at 1x, 1.44% at 14.4x', () => {
    expect(burnRate(0.001, 99.9)).toBeCloseTo(1, 9);
    expect(burnRate(0.0144, 99.9)).toBeCloseTo(14.4, 9);
    expect(burnRate(1, 99.9)).toBeCloseTo(1000, 6);
  });

  test('detection time: long window × threshold / error ratio; never when the error ratio is at or under the threshold', () => {
    // 100% errors against 99.9% with the 1h@14.4 pair: 3600 × 0.0144 = 51.84 s.
    expect(detectionTimeSeconds(1, 14.4, 99.9, 3600)).toBeCloseTo(51.84, 6);
    // 10x burn (1% errors) never trips a 14.4x alert.
    expect(detectionTimeSeconds(0.01, 14.4, 99.9, 3600)).toBe(Infinity);
  });

  test.each([
    [1, 99.9, 1],
    [0.9995, 99.9, 0.5],
    [0.999, 99.9, 0],
    [0.998, 99.9, -1],
    [0.99, 99, 0],
  ])('SLI %s against %s%% leaves %s of the budget', (sli, objective, remaining) => {
    expect(errorBudgetRemaining(sli, objective)).toBeCloseTo(remaining, 9);
  });
});
