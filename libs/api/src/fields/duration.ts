/**
 * Durations as Istio resources carry them: Go `time.ParseDuration` syntax (`1.5s`,
 * `100ms`, `1h30m`), which is also what Kubernetes CEL's `duration()` accepts, so the
 * CRD schema and this parser agree.
 */
const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const COMPONENT = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/y;

export type DurationResult = { ok: true; ns: number } | { ok: false; reason: string };

/** parseDuration returns the duration in nanoseconds, or why the text is not a duration. */
export function parseDuration(text: string): DurationResult {
  if (typeof text !== 'string' || text.length === 0) return { ok: false, reason: 'empty duration' };
  let s = text;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    sign = s[0] === '-' ? -1 : 1;
    s = s.slice(1);
  }
  if (s === '0') return { ok: true, ns: 0 };
  let total = 0;
  let pos = 0;
  COMPONENT.lastIndex = 0;
  while (pos < s.length) {
    COMPONENT.lastIndex = pos;
    const m = COMPONENT.exec(s);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) {
      return { ok: false, reason: `invalid duration "${text}": expected a number followed by a unit (ns, us, ms, s, m, h), e.g. "1.5s"` };
    }
    const whole = m[1] === '' ? 0 : Number(m[1]);
    const frac = m[2] ? Number(`0.${m[2]}`) : 0;
    total += (whole + frac) * UNIT_NS[m[3]];
    pos = COMPONENT.lastIndex;
  }
  if (s.length === 0) return { ok: false, reason: `invalid duration "${text}"` };
  // Go rejects durations that overflow int64 nanoseconds (~292 years).
  if (total > 9.223372036854775e18) return { ok: false, reason: `invalid duration "${text}": out of range` };
  return { ok: true, ns: Math.round(sign * total) };
}

/** formatDuration renders nanoseconds the short way (`1.5s`, `100ms`). */
export function formatDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns % 3600e9 === 0) return `${ns / 3600e9}h`;
  if (ns % 60e9 === 0) return `${ns / 60e9}m`;
  if (ns >= 1e9) return `${ns / 1e9}s`;
  if (ns >= 1e6) return `${ns / 1e6}ms`;
  if (ns >= 1e3) return `${ns / 1e3}us`;
  return `${ns}ns`;
}

export interface DurationRules {
  /** Smallest accepted value in nanoseconds (Istio mostly requires >= 1ms). */
  readonly minNs?: number;
  /** Largest accepted value in nanoseconds. */
  readonly maxNs?: number;
  /** Istio's ValidateDuration accepts only whole milliseconds. */
  readonly msPrecision?: boolean;
}

/** checkDuration returns why `text` is not an acceptable duration, or undefined. */
export function checkDuration(text: string, rules: DurationRules = {}): string | undefined {
  const r = parseDuration(text);
  if (!r.ok) return r.reason;
  if (r.ns < 0) return `duration must not be negative, got "${text}"`;
  if (rules.minNs !== undefined && r.ns < rules.minNs) {
    return `duration must be at least ${formatDuration(rules.minNs)}, got "${text}"`;
  }
  if (rules.maxNs !== undefined && r.ns > rules.maxNs) {
    return `duration must be at most ${formatDuration(rules.maxNs)}, got "${text}"`;
  }
  if (rules.msPrecision && r.ns % 1e6 !== 0) return `only durations to ms precision are supported, got "${text}"`;
  return undefined;
}
