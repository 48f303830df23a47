/**
 * Error budget and burn rate (Google SRE workbook, "Implementing SLOs" and "Alerting on SLOs").
 * Objectives are percentages as the ServiceLevelObjective resource writes them (`99.9`);
 * ratios are fractions in [0, 1].
 */

/** errorBudget returns the share of requests that may be bad: 1 − objective/100 (0.001 for 99.9). */
export function errorBudget(objectivePercent: number): number {
  // Rounded to 12 significant digits: (100 - 99.9) / 100 is 0.000999999999999943 in binary,
  // which would make an error ratio of exactly 0.1% burn "faster" than 1x.
  return Number(((100 - objectivePercent) / 100).toPrecision(12));
}

/**
 * burnRate returns how fast an error ratio spends the budget relative to the sustainable rate:
 * 1 spends exactly the whole budget over the SLO window, 14.4 spends a 30-day budget in 50 hours.
 */
export function burnRate(errorRatio: number, objectivePercent: number): number {
  return errorRatio / errorBudget(objectivePercent);
}

/**
 * errorBudgetRemaining returns the share of the window's budget not yet spent given the SLI
 * over the window: 1 untouched, 0 exactly spent, negative when overspent (kept negative so a
 * dashboard shows by how much).
 */
export function errorBudgetRemaining(sli: number, objectivePercent: number): number {
  return 1 - (1 - sli) / errorBudget(objectivePercent);
}

/**
 * budgetSpentByAlert returns the share of the SLO window's budget spent by the time a burn-rate
 * alert over `longWindowSeconds` can fire: burnRate × longWindow / sloWindow (the workbook's
 * table: 14.4 over 1 h of 30 d is 2%).
 */
export function budgetSpentByAlert(rate: number, longWindowSeconds: number, sloWindowSeconds: number): number {
  return (rate * longWindowSeconds) / sloWindowSeconds;
}

/**
 * detectionTimeSeconds returns how long an alert takes to fire when the error ratio jumps from 0
 * to `errorRatio` and stays: the long window must average above the threshold, so
 * longWindow × threshold / errorRatio (the workbook's "detection time"). Infinity when it
 * never fires.
 */
export function detectionTimeSeconds(errorRatio: number, rate: number, objectivePercent: number, longWindowSeconds: number): number {
  const threshold = rate * errorBudget(objectivePercent);
  if (errorRatio <= threshold) return Infinity;
  return (longWindowSeconds * threshold) / errorRatio;
}
