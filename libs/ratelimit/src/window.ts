/**
 * Fixed windows aligned to the unit, as envoyproxy/ratelimit counts: the window of a hit at time
 * t (UTC) for a unit of u seconds starts at floor(t / u) · u, so every replica and every Redis
 * key agrees on the window without coordination, and the count starts again at each boundary.
 */

/** Seconds in each unit the service counts. */
export const UNIT_SECONDS = { SECOND: 1, MINUTE: 60, HOUR: 3600, DAY: 86400 } as const;

/** The window containing `nowMs`: its start (ms since the epoch), its end, and the time left in it. */
export interface Window {
  readonly startMs: number;
  readonly endMs: number;
  readonly remainingMs: number;
}

/** windowOf returns the fixed window of `unitSeconds` that contains `nowMs`. */
export function windowOf(nowMs: number, unitSeconds: number): Window {
  const size = unitSeconds * 1000;
  const startMs = Math.floor(nowMs / size) * size;
  return { startMs, endMs: startMs + size, remainingMs: startMs + size - nowMs };
}
