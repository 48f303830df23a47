/**
 * Token buckets of the local rate-limit stage (Envoy's local_ratelimit: `max_tokens`,
 * `tokens_per_fill`, `fill_interval`). A bucket starts full and gains tokens_per_fill per
 * fill_interval, spread evenly (refilled continuously, computed on use: no timers), never beyond
 * max_tokens; a request takes one token or is refused.
 */

/** A bucket's shape. */
export interface TokenBucketSpec {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
}

/** One bucket's state. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly spec: TokenBucketSpec,
    now: number,
  ) {
    this.tokens = spec.maxTokens;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.spec.maxTokens, this.tokens + ((now - this.last) * this.spec.tokensPerFill) / this.spec.fillIntervalMs);
      this.last = now;
    }
  }

  /** tryTake takes one token when there is one and says whether it did. */
  tryTake(now: number): boolean {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Whole tokens left now. */
  remaining(now: number): number {
    this.refill(now);
    return Math.floor(this.tokens);
  }

  /** Milliseconds until the next whole token (0 when one is there). */
  msUntilToken(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * this.spec.fillIntervalMs) / this.spec.tokensPerFill);
  }

  /** Whether the bucket is full now (it can then be forgotten: a new one starts full). */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.spec.maxTokens;
  }
}

/** Most buckets one rule keeps (one per distinct descriptor value); beyond it full ones are dropped, then the oldest. */
export const MAX_BUCKETS_PER_RULE = 100_000;

/** A rule's buckets by descriptor key. */
export class BucketSet {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(readonly spec: TokenBucketSpec) {}

  /** bucket returns the bucket of `key`, creating a full one. */
  bucket(key: string, now: number): TokenBucket {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= MAX_BUCKETS_PER_RULE) this.evict(now);
      b = new TokenBucket(this.spec, now);
      this.buckets.set(key, b);
    }
    return b;
  }

  size(): number {
    return this.buckets.size;
  }

  private evict(now: number): void {
    for (const [k, b] of this.buckets) if (b.full(now)) this.buckets.delete(k);
    if (this.buckets.size >= MAX_BUCKETS_PER_RULE) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }
}

const shared = new Map<string, BucketSet>();

/**
 * sharedBuckets returns the bucket set of one rule, shared by every stage compiled from the same
 * filter (the mTLS and plaintext chains of a port, every port, and the next configuration while
 * the bucket's shape is unchanged): the limit is per proxy, as the RateLimit docs promise.
 */
export function sharedBuckets(key: string, spec: TokenBucketSpec): BucketSet {
  const k = `${key}|${spec.maxTokens}|${spec.tokensPerFill}|${spec.fillIntervalMs}`;
  let s = shared.get(k);
  if (!s) {
    s = new BucketSet(spec);
    shared.set(k, s);
  }
  return s;
}
