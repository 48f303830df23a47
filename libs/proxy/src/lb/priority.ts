/**
 * Envoy's priority load: how much traffic (in whole percent) each priority level takes, from the
 * health of each level scaled by the overprovisioning factor, and which levels are in panic.
 */

/** Envoy's default overprovisioning factor (1.4, expressed in percent). */
export const OVERPROVISIONING_FACTOR = 140;
/** Envoy's default healthy panic threshold (CommonLbConfig.healthy_panic_threshold). */
export const DEFAULT_PANIC_THRESHOLD = 50;

/** Host counts of one priority level. */
export interface LevelHealth {
  readonly total: number;
  readonly healthy: number;
}

/** Loads per level summing to 100 (or all zero when there are no hosts), and the levels in panic. */
export interface PriorityLoad {
  readonly load: readonly number[];
  readonly panic: readonly boolean[];
}

/**
 * priorityLoad returns the share of traffic each priority takes: a level's health is
 * min(100, 1.4 × healthy %), loads are given to the levels in order as health × 100 / total
 * health (total capped at 100), and rounding leftovers go to the first level with health. A
 * level below the panic threshold is in panic (uses all its hosts) unless total health is 100;
 * when every level is in panic, load follows host counts. With panic disabled (threshold 0) and
 * nothing healthy, P0 takes all the load and the pick finds no host (Envoy: no healthy upstream).
 */
export function priorityLoad(levels: readonly LevelHealth[], panicThresholdPercent = DEFAULT_PANIC_THRESHOLD): PriorityLoad {
  const n = levels.length;
  const load = new Array<number>(n).fill(0);
  const panic = new Array<boolean>(n).fill(false);
  if (n === 0) return { load, panic };
  const health = levels.map((l) => (l.total === 0 ? 0 : Math.min(100, Math.floor((OVERPROVISIONING_FACTOR * l.healthy) / l.total))));
  const totalHealth = Math.min(100, health.reduce((a, b) => a + b, 0));
  const threshold = Math.min(100, Math.max(0, panicThresholdPercent));

  if (totalHealth > 0) {
    let remaining = 100;
    let first = -1;
    for (let i = 0; i < n; i++) {
      if (first < 0 && health[i] > 0) first = i;
      load[i] = Math.min(remaining, Math.floor((health[i] * 100) / totalHealth));
      remaining -= load[i];
    }
    load[first] += remaining;
  } else if (threshold === 0) {
    load[0] = 100;
    return { load, panic };
  }

  for (let i = 0; i < n; i++) {
    const l = levels[i];
    const healthyPercent = l.total === 0 ? 0 : (100 * l.healthy) / l.total;
    panic[i] = totalHealth === 100 ? false : healthyPercent < threshold;
  }
  if (panic.every(Boolean)) {
    // Total panic: spread by host counts, healthy or not.
    load.fill(0);
    const hosts = levels.reduce((a, l) => a + l.total, 0);
    if (hosts === 0) {
      load[0] = 100;
      return { load, panic };
    }
    let remaining = 100;
    let first = -1;
    for (let i = 0; i < n; i++) {
      if (first < 0 && levels[i].total > 0) first = i;
      load[i] = Math.floor((100 * levels[i].total) / hosts);
      remaining -= load[i];
    }
    load[first] += remaining;
  }
  return { load, panic };
}

/** choosePriority returns the level whose cumulative load band contains `percent` (0..99). */
export function choosePriority(load: readonly number[], percent: number): number {
  let acc = 0;
  for (let i = 0; i < load.length; i++) {
    acc += load[i];
    if (percent < acc) return i;
  }
  return 0;
}
