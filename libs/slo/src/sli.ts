/**
 * Service level indicators: which requests are good, and the good/total ratio.
 *
 * Availability: a request is bad when its status is in `errorCodes` (default `5xx`) or when
 * no response was sent at all (status 0: reset, timeout before headers), as docs/api.md says.
 * Latency: a request is good when it completed within the threshold; errors are not special.
 */
import { parseDuration, type ServiceLevelObjectiveSpec } from '@meshwork/api';

/** The availability SLI's error codes when `errorCodes` is not set. */
export const DEFAULT_ERROR_CODES: readonly string[] = ['5xx'];

/** What an SLI needs to know about one request. */
export interface RequestOutcome {
  /** HTTP status; 0 when no response was sent. */
  readonly responseCode: number;
  readonly durationMs: number;
}

/**
 * errorCodeMatcher returns a predicate telling whether a status is an error under `codes`
 * (exact codes such as `429` and classes such as `5xx`; default `5xx`). Status 0 (no response)
 * is always an error.
 */
export function errorCodeMatcher(codes: readonly (string | number)[] = DEFAULT_ERROR_CODES): (code: number) => boolean {
  const exact = new Set<number>();
  const classes = new Set<number>();
  for (const c of codes) {
    const s = String(c);
    if (/^[1-5]xx$/.test(s)) classes.add(Number(s[0]));
    else exact.add(Number(s));
  }
  return (code) => code === 0 || exact.has(code) || classes.has(Math.floor(code / 100));
}

/** latencyThresholdMs returns the latency SLI's threshold in milliseconds (0 when unparsable, which validation prevents). */
export function latencyThresholdMs(threshold: string): number {
  const d = parseDuration(threshold);
  return d.ok ? d.ns / 1e6 : 0;
}

/** goodRequestPredicate returns the function that says whether one request is a good event of the SLI. */
export function goodRequestPredicate(sli: ServiceLevelObjectiveSpec['sli']): (r: RequestOutcome) => boolean {
  if (sli.latency) {
    const threshold = latencyThresholdMs(sli.latency.threshold);
    return (r) => r.durationMs <= threshold;
  }
  const isError = errorCodeMatcher(sli.availability?.errorCodes ?? DEFAULT_ERROR_CODES);
  return (r) => !isError(r.responseCode);
}

/** sliRatio returns good/total, or undefined when there were no requests (no data is not 100%). */
export function sliRatio(good: number, total: number): number | undefined {
  return total > 0 ? good / total : undefined;
}

/** One cumulative histogram bucket: `count` observations were ≤ `le`. */
export interface HistogramBucket {
  readonly le: number;
  readonly count: number;
}

/**
 * latencySliFromBuckets returns the fraction of observations at or under `thresholdMs` from
 * cumulative histogram buckets (Prometheus' `le` buckets, `+Inf` as Infinity), or undefined
 * with no observations. When the threshold falls between two bucket bounds the count is
 * interpolated linearly inside that bucket, the assumption histogram_quantile makes.
 */
export function latencySliFromBuckets(buckets: readonly HistogramBucket[], thresholdMs: number): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.length > 0 ? sorted[sorted.length - 1].count : 0;
  if (total <= 0) return undefined;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of sorted) {
    if (thresholdMs === b.le) return b.count / total;
    if (thresholdMs < b.le) {
      if (!Number.isFinite(b.le)) return prevCount / total;
      const inside = ((thresholdMs - prevLe) / (b.le - prevLe)) * (b.count - prevCount);
      return (prevCount + inside) / total;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevCount / total;
}
