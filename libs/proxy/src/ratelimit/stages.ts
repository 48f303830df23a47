/**
 * The rate-limit stages (HTTP filters before routing, see model.ts HttpFilterStage):
 * - GlobalRateLimitStage (Envoy's `envoy.filters.http.ratelimit`): builds the request's
 *   descriptors; with none, the request is not the service's business and no call is made;
 *   otherwise asks the rate-limit service within the timeout. OVER_LIMIT → the configured status
 *   (429) with `x-envoy-ratelimited: true`; an error or timeout → allowed, or refused with
 *   status_on_error when failure_mode_deny.
 * - LocalRateLimitStage (Envoy's `envoy.filters.http.local_ratelimit`): one token bucket per rule
 *   and descriptor value; refused when any matching bucket is empty.
 * Refusals carry the configured response headers and, with DRAFT_VERSION_03, `x-ratelimit-limit`,
 * `x-ratelimit-remaining` and `x-ratelimit-reset` of the descriptor closest to its limit.
 */
import type { FilterDenial, HttpFilterContext, HttpFilterStage } from '../model.js';
import type { DescriptorBuilder } from './descriptors.js';
import type { RlsClient, RlsEntry } from './rls-client.js';
import type { BucketSet } from './token-bucket.js';

/** Settings shared by both stages. */
export interface RateLimitResponsePlan {
  readonly name: string;
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly xRateLimitHeaders: boolean;
}

/** A GLOBAL filter's compiled config. */
export interface GlobalRateLimitPlan extends RateLimitResponsePlan {
  readonly domain: string;
  readonly timeoutMs: number;
  readonly failureModeDeny: boolean;
  readonly statusOnError: number;
  readonly descriptors: readonly DescriptorBuilder[];
}

/** A LOCAL filter's compiled config: per rate_limits entry, its descriptor builder and bucket set. */
export interface LocalRateLimitPlan extends RateLimitResponsePlan {
  readonly rules: readonly { readonly descriptor: DescriptorBuilder; readonly buckets: BucketSet }[];
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { SECOND: 1, MINUTE: 60, HOUR: 3600, DAY: 86400, MONTH: 2592000, YEAR: 31536000 };

/** A descriptor's identity: control characters cannot occur in header values, so the join is unambiguous. */
function entriesKey(entries: readonly RlsEntry[]): string {
  let k = '';
  for (const e of entries) k += `${e.key}\u0001${e.value}\u0000`;
  return k;
}

/** The request's descriptors, each once (two match items of one rule may build the same one; it is counted once). */
function descriptorsOf(builders: readonly DescriptorBuilder[], ctx: HttpFilterContext): RlsEntry[][] {
  const out: RlsEntry[][] = [];
  const seen = new Set<string>();
  for (const b of builders) {
    const d = b(ctx);
    if (!d) continue;
    const k = entriesKey(d);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(d);
  }
  return out;
}

/**
 * A refusal carries the response flag RL (Envoy's %RESPONSE_FLAGS% for rate-limited requests).
 * FilterDenial has no flag field yet, so the transports do not read it: the flag is carried ready
 * for when they do (docs/proxy.md, "Rate limits").
 */
export type RateLimitDenial = FilterDenial & { readonly flag: 'RL' };

function denial(plan: RateLimitResponsePlan, status: number, body: string, details: string, extra: readonly (readonly [string, string])[]): RateLimitDenial {
  return { status, body, details, headers: [...extra, ...plan.headers], flag: 'RL' };
}

/** GlobalRateLimitStage asks mixer's rate-limit service (see the file comment). */
export class GlobalRateLimitStage implements HttpFilterStage {
  readonly name: string;

  constructor(
    private readonly plan: GlobalRateLimitPlan,
    private readonly client: RlsClient,
  ) {
    this.name = plan.name;
  }

  run(ctx: HttpFilterContext): FilterDenial | undefined | Promise<FilterDenial | undefined> {
    const descriptors = descriptorsOf(this.plan.descriptors, ctx);
    if (descriptors.length === 0) return undefined;
    const plan = this.plan;
    return this.client.shouldRateLimit(plan.domain, descriptors, plan.timeoutMs).then(
      (a) => {
        if (a.overallCode !== 'OVER_LIMIT') return undefined;
        const extra: [string, string][] = [['x-envoy-ratelimited', 'true']];
        if (plan.xRateLimitHeaders) {
          // Envoy reports the limit closest to being exceeded (the fewest remaining).
          let best: (typeof a.statuses)[number] | undefined;
          for (const s of a.statuses) if (s.currentLimit && (!best || s.limitRemaining < best.limitRemaining)) best = s;
          if (best?.currentLimit) {
            const n = best.currentLimit.requestsPerUnit;
            extra.push(['x-ratelimit-limit', `${n}, ${n};w=${UNIT_SECONDS[best.currentLimit.unit] ?? 1}`], ['x-ratelimit-remaining', String(best.limitRemaining)], ['x-ratelimit-reset', String(Math.ceil(best.durationUntilResetMs / 1000))]);
          }
        }
        return denial(plan, plan.status, '', 'request_rate_limited', extra);
      },
      () => (plan.failureModeDeny ? denial(plan, plan.statusOnError, '', 'rate_limiter_error', []) : undefined),
    );
  }
}

/** LocalRateLimitStage takes tokens from this proxy's buckets (see the file comment). */
export class LocalRateLimitStage implements HttpFilterStage {
  readonly name: string;

  constructor(
    private readonly plan: LocalRateLimitPlan,
    private readonly now: () => number = Date.now,
  ) {
    this.name = plan.name;
  }

  run(ctx: HttpFilterContext): FilterDenial | undefined {
    const now = this.now();
    let refused: { buckets: BucketSet; key: string } | undefined;
    const seen = new Set<string>();
    for (const r of this.plan.rules) {
      const d = r.descriptor(ctx);
      if (!d) continue;
      const key = entriesKey(d);
      // The same descriptor from two match items of one rule takes one token.
      const sp = r.buckets.spec;
      const once = `${sp.maxTokens}|${sp.tokensPerFill}|${sp.fillIntervalMs}|${key}`;
      if (seen.has(once)) continue;
      seen.add(once);
      if (!r.buckets.bucket(key, now).tryTake(now) && !refused) refused = { buckets: r.buckets, key };
    }
    if (!refused) return undefined;
    const extra: [string, string][] = [];
    if (this.plan.xRateLimitHeaders) {
      const b = refused.buckets.bucket(refused.key, now);
      const spec = refused.buckets.spec;
      extra.push(['x-ratelimit-limit', `${spec.tokensPerFill}, ${spec.tokensPerFill};w=${Math.max(1, Math.round(spec.fillIntervalMs / 1000))}`], ['x-ratelimit-remaining', String(b.remaining(now))], ['x-ratelimit-reset', String(Math.ceil(b.msUntilToken(now) / 1000))]);
    }
    return denial(this.plan, this.plan.status, 'local_rate_limited', 'local_rate_limited', extra);
  }
}
