/**
 * The forwarding half's attempt loop (Envoy's router filter), transport-agnostic: the HTTP/1.1
 * and HTTP/2 transports pass in how to make one attempt, and this loop decides everything around
 * it — the cluster's request limit (UO), host selection with previous-host avoidance (UH), the
 * route timeout over all attempts and the per-try timeout (UT), which outcomes are retried and
 * after what backoff, the retry circuit breaker, and what outlier detection hears of each attempt
 * (URX when retries run out on a retriable outcome, UF/UC for connect failures and resets).
 */
import type { AttemptOutcome, ClusterLimits, ClusterPlan, EngineClock, Endpoint, LoadBalancer, OutlierDetector, ResponseFlag, RetryPolicy } from '../model.js';
import { backoffMs, retriable, type AttemptResult } from './retry.js';

/** A cluster's live parts, as the engine holds them between config updates. */
export interface ClusterRuntime {
  readonly plan: ClusterPlan;
  readonly lb: LoadBalancer;
  readonly limits: ClusterLimits;
  readonly outlier?: OutlierDetector;
}

/** One attempt's end as the transport reports it: how it ended, and the response handle when headers arrived. */
export interface AttemptEnd<R> {
  readonly result: AttemptResult;
  readonly response?: R;
}

export interface ForwardInput<R> {
  readonly cluster: ClusterRuntime;
  /** Route timeout in ms: 0 = none, undefined = Envoy's default of 15 s. */
  readonly timeoutMs?: number;
  readonly retry?: RetryPolicy;
  /** Request hash for ring-hash/maglev clusters. */
  readonly hash?: number;
  /**
   * Whether the request can still be replayed (its body so far fits the retry buffer); asked before
   * each retry, since a streaming body can outgrow the buffer while attempts run. False: one attempt.
   */
  readonly replayable: boolean | (() => boolean);
  /**
   * attempt sends the request to `endpoint` and resolves when response headers arrive (result
   * `response`) or the attempt fails; it must give up when `signal` aborts (per-try or route timeout).
   * `attempt` is its number: 1, then 2, … on retries.
   */
  readonly attempt: (endpoint: Endpoint, signal: AbortSignal, attempt: number) => Promise<AttemptEnd<R>>;
  /** discard releases a response that will not be used (a retried 503): drain or reset it. */
  readonly discard: (response: R) => void;
  readonly clock: EngineClock;
}

/** The loop's outcome: an upstream response to stream back, or a local reply to send. */
export type ForwardResult<R> =
  | { readonly kind: 'response'; readonly response: R; readonly endpoint: Endpoint; readonly attempts: number; readonly flags: readonly ResponseFlag[] }
  | { readonly kind: 'local'; readonly status: number; readonly body: string; readonly endpoint?: Endpoint; readonly attempts: number; readonly flags: readonly ResponseFlag[] };

/** Envoy's default route timeout when a route sets none. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

/** outcomeOf classifies an attempt for outlier detection. */
export function outcomeOf(r: AttemptResult): AttemptOutcome {
  if (r.kind !== 'response') return 'local-origin-failure';
  if (r.status === 502 || r.status === 503 || r.status === 504) return 'gateway-error';
  return r.status >= 500 ? '5xx' : 'success';
}

function localFor(r: AttemptResult): { status: number; body: string; flags: ResponseFlag[] } {
  switch (r.kind) {
    case 'connect-failure':
      return { status: 503, body: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure', flags: ['UF'] };
    case 'reset':
      return { status: 503, body: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination', flags: ['UC'] };
    case 'per-try-timeout':
      return { status: 504, body: 'upstream request timeout', flags: ['UT'] };
    case 'response':
      return { status: r.status, body: '', flags: [] };
  }
}

/** forward runs the attempt loop for one request. */
export async function forward<R>(input: ForwardInput<R>): Promise<ForwardResult<R>> {
  const { cluster } = input;
  if (!cluster.limits.tryAcquireRequest()) {
    return { kind: 'local', status: 503, body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow', attempts: 0, flags: ['UO'] };
  }
  try {
    return await loop(input);
  } finally {
    cluster.limits.releaseRequest();
  }
}

async function loop<R>(input: ForwardInput<R>): Promise<ForwardResult<R>> {
  const { cluster, clock, retry } = input;
  const timeoutMs = input.timeoutMs ?? DEFAULT_ROUTE_TIMEOUT_MS;
  const deadline = timeoutMs > 0 ? clock.now() + timeoutMs : Infinity;
  const maxAttempts = 1 + (retry ? retry.numRetries : 0);
  const replayable = typeof input.replayable === 'function' ? input.replayable : (): boolean => input.replayable as boolean;
  const tried = new Set<Endpoint>();
  let attempts = 0;
  let retryHeld = false;
  try {
    for (;;) {
      const endpoint = cluster.lb.pick({ hash: input.hash, exclude: retry?.avoidPreviousHosts && tried.size > 0 ? tried : undefined });
      if (!endpoint) return { kind: 'local', status: 503, body: 'no healthy upstream', attempts, flags: ['UH'] };
      tried.add(endpoint);
      attempts++;
      const remaining = deadline - clock.now();
      if (remaining <= 0) return { kind: 'local', status: 504, body: 'upstream request timeout', endpoint, attempts: attempts - 1, flags: ['UT'] };
      const perTry = retry?.perTryTimeoutMs;
      const limitMs = Math.min(remaining, perTry !== undefined && perTry > 0 ? perTry : Infinity);
      const ctl = new AbortController();
      let timedOut: 'route' | 'per-try' | undefined;
      const timer = Number.isFinite(limitMs)
        ? clock.setTimeout(() => {
            timedOut = limitMs === remaining ? 'route' : 'per-try';
            ctl.abort();
          }, limitMs)
        : undefined;
      let end: AttemptEnd<R>;
      try {
        end = await input.attempt(endpoint, ctl.signal, attempts);
      } finally {
        if (timer !== undefined) clock.clearTimeout(timer);
      }
      // An attempt that lost to a timeout reports per-try-timeout whatever the transport said.
      const result: AttemptResult = timedOut ? { kind: 'per-try-timeout' } : end.result;
      if (timedOut && end.response !== undefined) input.discard(end.response);
      cluster.outlier?.record(endpoint, outcomeOf(result));
      if (timedOut === 'route') return { kind: 'local', status: 504, body: 'upstream request timeout', endpoint, attempts, flags: ['UT'] };

      const canRetry = retry !== undefined && retriable(result, retry);
      const last = attempts >= maxAttempts || !replayable();
      if (!canRetry || last || (retryHeld ? false : !(retryHeld = cluster.limits.tryAcquireRetry()))) {
        // Retries exhausted (or refused by the retry breaker) on an outcome the policy retries: URX.
        const urx: ResponseFlag[] = canRetry && attempts > 1 ? ['URX'] : canRetry && !last && !retryHeld ? ['URX'] : [];
        if (result.kind === 'response' && end.response !== undefined && !timedOut) return { kind: 'response', response: end.response, endpoint, attempts, flags: urx };
        const l = localFor(result);
        return { kind: 'local', status: l.status, body: l.body, endpoint, attempts, flags: [...l.flags, ...urx] };
      }
      if (end.response !== undefined && !timedOut) input.discard(end.response);
      const wait = Math.min(backoffMs(attempts, retry, clock.random), Math.max(0, deadline - clock.now()));
      if (wait > 0) await new Promise<void>((r) => clock.setTimeout(r, wait));
    }
  } finally {
    if (retryHeld) cluster.limits.releaseRetry();
  }
}
