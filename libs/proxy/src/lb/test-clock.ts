/**
 * Deterministic EngineClocks for the engine's unit tests: a seeded random (mulberry32) and a
 * manual clock whose timers fire when the test advances time. Test support only; candidates for
 * the library's `testing` entry point.
 */
import type { EngineClock } from '../model.js';

/** seededRandom returns a deterministic random in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ManualClock extends EngineClock {
  /** advance moves time forward by `ms`, firing due timers in deadline order. */
  advance(ms: number): void;
  /** Timers not yet fired. */
  readonly pending: number;
}

/** manualClock returns a clock starting at `start` ms whose time moves only by advance(). */
export function manualClock(seed = 1, start = 0): ManualClock {
  let now = start;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const random = seededRandom(seed);
  return {
    now: () => now,
    random,
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    get pending() {
      return timers.size;
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const t of timers) if (t[1].at <= end && (!next || t[1].at < next[1].at)) next = t;
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
  };
}
