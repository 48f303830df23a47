/**
 * Multiwindow, multi-burn-rate alerts (SRE workbook, "Alerting on SLOs", approach 6): an alert
 * pair fires when the error ratio over both its long and its short window exceeds
 * burnRate × error budget. Windows without data do not fire.
 */
import type { AlertSeverity, EffectiveBurnRateWindow } from '@meshwork/api';
import { burnRate, errorBudget } from './budget.js';

/** The state of one alert pair after an evaluation. */
export interface BurnRateAlertState {
  readonly longWindowSeconds: number;
  readonly shortWindowSeconds: number;
  /** Threshold burn rate of the pair. */
  readonly burnRate: number;
  readonly severity: AlertSeverity;
  /** Burn rate measured over the long window (undefined: no requests in it). */
  readonly longBurnRate: number | undefined;
  readonly shortBurnRate: number | undefined;
  readonly firing: boolean;
}

/**
 * evaluateBurnRateAlerts returns each pair's measured burn rates and whether it fires, given a
 * function that returns the error ratio over the last `seconds` (undefined without requests).
 */
export function evaluateBurnRateAlerts(
  windows: readonly EffectiveBurnRateWindow[],
  objectivePercent: number,
  errorRatioOver: (seconds: number) => number | undefined,
): BurnRateAlertState[] {
  const threshold = (rate: number): number => rate * errorBudget(objectivePercent);
  return windows.map((w) => {
    const longRatio = errorRatioOver(w.longWindowSeconds);
    const shortRatio = errorRatioOver(w.shortWindowSeconds);
    const firing = longRatio !== undefined && shortRatio !== undefined && longRatio > threshold(w.burnRate) && shortRatio > threshold(w.burnRate);
    return {
      longWindowSeconds: w.longWindowSeconds,
      shortWindowSeconds: w.shortWindowSeconds,
      burnRate: w.burnRate,
      severity: w.severity,
      longBurnRate: longRatio === undefined ? undefined : burnRate(longRatio, objectivePercent),
      shortBurnRate: shortRatio === undefined ? undefined : burnRate(shortRatio, objectivePercent),
      firing,
    };
  });
}
