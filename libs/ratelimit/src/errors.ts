/** Named errors of @meshwork/ratelimit (STYLE.md 11): each has a stable MESH_ERR_* code and an optional cause. */

/** Base class: every error this library throws carries a stable `code`. */
export class RateLimitError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The counter backend (Redis) could not count a hit: unreachable, timed out or answered an error.
 * The service answers the call with a gRPC error, so the proxy's failureMode decides (Envoy's
 * failure_mode_deny).
 */
export class CounterBackendError extends RateLimitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_RATELIMIT_BACKEND', message, options);
  }
}

/** The rate-limit service could not start (port taken, bad Redis URL, protos missing). */
export class RateLimitStartError extends RateLimitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_RATELIMIT_START', message, options);
  }
}

/** A ShouldRateLimit request that cannot be answered (no domain, a descriptor without entries). */
export class InvalidRateLimitRequestError extends RateLimitError {
  constructor(message: string) {
    super('MESH_ERR_RATELIMIT_INVALID_REQUEST', message);
  }
}
