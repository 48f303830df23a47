/**
 * The retry stage's decisions (Envoy router retry semantics as Istio configures them): which
 * attempt outcomes a route's `retryOn` conditions retry, and how long to back off between
 * attempts (fully jittered exponential: the n-th retry waits a random time in
 * [0, min((2^n − 1) × base, max)]). The attempt loop itself runs in the forwarding stage.
 */
import type { RetryPolicy } from '../model.js';

/** How one upstream attempt ended. */
export type AttemptResult =
  /** Response headers arrived (for gRPC, `grpcStatus` when the status came in the headers: trailers-only). */
  | { readonly kind: 'response'; readonly status: number; readonly grpcStatus?: number }
  /** The connection could not be made (Envoy UF). */
  | { readonly kind: 'connect-failure' }
  /** The upstream reset or closed before responding (UC); `refusedStream`: HTTP/2 REFUSED_STREAM. */
  | { readonly kind: 'reset'; readonly refusedStream?: boolean }
  /** The per-try timeout fired before response headers. */
  | { readonly kind: 'per-try-timeout' };

/** gRPC status codes named by Envoy's gRPC retry conditions. */
const GRPC_RETRY_ON: Readonly<Record<string, number>> = { cancelled: 1, 'deadline-exceeded': 4, 'resource-exhausted': 8, internal: 13, unavailable: 14 };

/** retriable says whether `policy` retries an attempt that ended with `r`. */
export function retriable(r: AttemptResult, policy: RetryPolicy): boolean {
  const on = policy.retryOn;
  switch (r.kind) {
    case 'connect-failure':
      // 5xx and gateway-error include connect failures (Envoy docs, x-envoy-retry-on).
      return on.has('connect-failure') || on.has('5xx') || on.has('gateway-error') || on.has('reset');
    case 'reset':
      return on.has('reset') || on.has('5xx') || (r.refusedStream === true && on.has('refused-stream'));
    case 'per-try-timeout':
      // A per-try timeout is "no response": Envoy retries it under 5xx, gateway-error and reset.
      return on.has('5xx') || on.has('gateway-error') || on.has('reset');
    case 'response': {
      const s = r.status;
      if (s >= 500 && on.has('5xx')) return true;
      if ((s === 502 || s === 503 || s === 504) && on.has('gateway-error')) return true;
      if (s === 409 && on.has('retriable-4xx')) return true;
      if (on.has('retriable-status-codes') && policy.retriableStatusCodes.has(s)) return true;
      if (r.grpcStatus !== undefined) {
        for (const [name, code] of Object.entries(GRPC_RETRY_ON)) if (code === r.grpcStatus && on.has(name)) return true;
      }
      return false;
    }
  }
}

/** backoffMs returns the wait before retry number `n` (1 = first retry); `random` returns [0, 1). */
export function backoffMs(n: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min((2 ** n - 1) * policy.backoffBaseMs, policy.backoffMaxMs);
  return Math.floor(random() * ceiling);
}
