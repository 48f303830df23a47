/**
 * ShouldRateLimit's logic, with no gRPC in it: for each descriptor, find its limit, add the hits
 * to the counter of the current fixed window, and answer OK or OVER_LIMIT with the limit, what
 * remains and when the window resets — envoyproxy/ratelimit's semantics:
 * - every descriptor with a limit is counted, even when another one is already over (so totals
 *   are the same whatever the order);
 * - a descriptor without a limit is OK and not counted;
 * - the overall code is OVER_LIMIT when any descriptor is;
 * - a counter backend failure fails the whole call (the caller's failureMode decides).
 */
import type { CounterStore } from './counters.js';
import { InvalidRateLimitRequestError } from './errors.js';
import type { LimitSource } from './limits.js';
import type { RlsDescriptorStatus, RlsEntry, RlsRequest, RlsResponse } from './rls-proto.js';
import { UNIT_SECONDS, windowOf } from './window.js';

/** Options of RateLimitService. */
export interface RateLimitServiceOptions {
  readonly limits: LimitSource;
  readonly counters: CounterStore;
  /** Clock (ms since the epoch); Date.now by default. */
  readonly now?: () => number;
  /** Prefix of counter keys (default `meshwork-rl`), so one Redis can serve several meshes. */
  readonly keyPrefix?: string;
  /** Called once per answered descriptor with a limit (metrics). */
  readonly onDecision?: (rule: string, code: 'OK' | 'OVER_LIMIT') => void;
}

/** counterKey returns the counter key of a descriptor in a window: prefix, domain, entries, unit and window start, unambiguous whatever the values hold. */
export function counterKey(prefix: string, domain: string, entries: readonly RlsEntry[], unitSeconds: number, windowStartMs: number): string {
  const parts = entries.map((e) => `${encodeURIComponent(e.key)}=${encodeURIComponent(normalizedValue(e))}`);
  return `${prefix}|${encodeURIComponent(domain)}|${parts.join('|')}|${unitSeconds}|${Math.floor(windowStartMs / 1000)}`;
}

/** The `path` descriptor counts the path without its query string (docs/api.md, RateLimit descriptors). */
function normalizedValue(e: RlsEntry): string {
  if (e.key !== 'path') return e.value;
  const q = e.value.indexOf('?');
  return q < 0 ? e.value : e.value.slice(0, q);
}

/** RateLimitService answers ShouldRateLimit calls (see the file comment). */
export class RateLimitService {
  private readonly now: () => number;
  private readonly prefix: string;

  constructor(private readonly opts: RateLimitServiceOptions) {
    this.now = opts.now ?? Date.now;
    this.prefix = opts.keyPrefix ?? 'meshwork-rl';
  }

  /** shouldRateLimit returns the decision for one request; rejects with CounterBackendError when counting fails. */
  async shouldRateLimit(req: RlsRequest): Promise<RlsResponse> {
    if (req.domain === '') throw new InvalidRateLimitRequestError('domain must not be empty');
    if (req.descriptors.length === 0) throw new InvalidRateLimitRequestError('at least one descriptor is required');
    const hits = req.hitsAddend > 0 ? req.hitsAddend : 1;
    const now = this.now();
    const statuses = await Promise.all(
      req.descriptors.map(async (d): Promise<RlsDescriptorStatus> => {
        if (d.entries.length === 0) throw new InvalidRateLimitRequestError('a descriptor must have at least one entry');
        const limit = this.opts.limits.limitFor(req.domain, d.entries);
        if (!limit) return { code: 'OK', limitRemaining: 0, durationUntilResetMs: 0 };
        const unit = UNIT_SECONDS[limit.unit];
        const w = windowOf(now, unit);
        // The key outlives its window a little so a late hit never recreates a fresh counter.
        const total = await this.opts.counters.incr(counterKey(this.prefix, req.domain, d.entries, unit, w.startMs), hits, unit + 1);
        const code = total > limit.requestsPerUnit ? 'OVER_LIMIT' : 'OK';
        this.opts.onDecision?.(limit.name, code);
        return { code, currentLimit: { name: limit.name, requestsPerUnit: limit.requestsPerUnit, unit: limit.unit }, limitRemaining: Math.max(0, limit.requestsPerUnit - total), durationUntilResetMs: w.remainingMs };
      }),
    );
    return { overallCode: statuses.some((s) => s.code === 'OVER_LIMIT') ? 'OVER_LIMIT' : 'OK', statuses };
  }
}


