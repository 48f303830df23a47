import { describe, expect, it } from 'vitest';
import type { AttemptOutcome, ClusterLimits, EngineClock, Endpoint, RetryPolicy } from '../model.js';
import { forward, outcomeOf, type AttemptEnd, type ClusterRuntime } from './forward.js';
import type { AttemptResult } from './retry.js';

const realClock: EngineClock = { now: () => Date.now(), random: () => 0.5, setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
const hosts: Endpoint[] = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((address) => ({ address, port: 80, weight: 1, healthy: true }));

function limits(max = { requests: 100, retries: 100 }): ClusterLimits & { peak: { requests: number; retries: number } } {
  const active = { requests: 0, pending: 0, connections: 0, retries: 0 };
  const peak = { requests: 0, retries: 0 };
  const acquire = (k: 'requests' | 'retries', m: number) => (): boolean => {
    if (active[k] >= m) return false;
    active[k]++;
    peak[k] = Math.max(peak[k], active[k]);
    return true;
  };
  return {
    tryAcquireRequest: acquire('requests', max.requests),
    releaseRequest: () => void active.requests--,
    tryAcquirePending: () => true,
    releasePending: () => undefined,
    tryAcquireConnection: () => true,
    releaseConnection: () => undefined,
    tryAcquireRetry: acquire('retries', max.retries),
    releaseRetry: () => void active.retries--,
    active,
    peak,
  };
}

/** A cluster whose balancer always takes the first host not excluded, and that records outlier outcomes. */
function cluster(l = limits(), eps = hosts): ClusterRuntime & { outcomes: [string, AttemptOutcome][] } {
  const outcomes: [string, AttemptOutcome][] = [];
  return {
    plan: { name: 'c' } as ClusterRuntime['plan'],
    lb: {
      pick: (ctx) => {
        const ok = eps.filter((e) => !ctx.exclude?.has(e));
        return ok[0];
      },
    },
    limits: l,
    outlier: { record: (e, o) => void outcomes.push([e.address, o]), isEjected: () => false, ejected: () => [], setEndpoints: () => undefined, close: () => undefined },
    outcomes,
  };
}
const policy = (over: Partial<RetryPolicy> = {}): RetryPolicy => ({ numRetries: 2, retryOn: new Set(['5xx', 'connect-failure']), retriableStatusCodes: new Set(), backoffBaseMs: 1, backoffMaxMs: 5, avoidPreviousHosts: true, hostSelectionRetryMaxAttempts: 5, ...over });
const resp = (status: number): AttemptEnd<string> => ({ result: { kind: 'response', status }, response: `resp-${status}` });

/** script returns an attempt function that plays the given ends in order, recording hosts and discards. */
function script(...ends: (AttemptEnd<string> | 'hang')[]): { attempt: (e: Endpoint, s: AbortSignal) => Promise<AttemptEnd<string>>; hosts: string[]; discarded: string[] } {
  const seen: string[] = [];
  const discarded: string[] = [];
  let n = 0;
  return {
    hosts: seen,
    discarded,
    attempt: (e, signal) => {
      seen.push(e.address);
      const end = ends[Math.min(n++, ends.length - 1)];
      if (end !== 'hang') return Promise.resolve(end);
      return new Promise((resolve) => signal.addEventListener('abort', () => resolve({ result: { kind: 'reset' } })));
    },
  };
}

describe('forward (the attempt loop)', () => {
  it('returns the first good response, with no retry', async () => {
    const s = script(resp(200));
    const c = cluster();
    const r = await forward({ cluster: c, retry: policy(), replayable: true, attempt: s.attempt, discard: (x) => s.discarded.push(x), clock: realClock });
    expect(r).toMatchObject({ kind: 'response', response: 'resp-200', attempts: 1, flags: [] });
    expect(c.outcomes).toEqual([['10.0.0.1', 'success']]);
  });

  it('retries a 503 on another host, discarding the failed response', async () => {
    const s = script(resp(503), resp(200));
    const c = cluster();
    const r = await forward({ cluster: c, retry: policy(), replayable: true, attempt: s.attempt, discard: (x) => s.discarded.push(x), clock: realClock });
    expect(r).toMatchObject({ kind: 'response', response: 'resp-200', attempts: 2 });
    expect(s.hosts).toEqual(['10.0.0.1', '10.0.0.2']); // previous_hosts: the retry avoids the failed host
    expect(s.discarded).toEqual(['resp-503']);
    expect(c.outcomes.map((o) => o[1])).toEqual(['gateway-error', 'success']);
  });

  it('returns the last retriable response with URX when retries run out', async () => {
    const s = script(resp(503));
    const r = await forward({ cluster: cluster(), retry: policy(), replayable: true, attempt: s.attempt, discard: (x) => s.discarded.push(x), clock: realClock });
    expect(r).toMatchObject({ kind: 'response', response: 'resp-503', attempts: 3, flags: ['URX'] });
    expect(s.discarded).toEqual(['resp-503', 'resp-503']);
  });

  it('turns connect failures into 503 UF (URX once retried out), and does not retry what retryOn omits', async () => {
    const cf: AttemptEnd<string> = { result: { kind: 'connect-failure' } };
    expect(await forward({ cluster: cluster(), replayable: true, attempt: script(cf).attempt, discard: () => undefined, clock: realClock })).toMatchObject({ kind: 'local', status: 503, flags: ['UF'], attempts: 1 });
    expect(await forward({ cluster: cluster(), retry: policy(), replayable: true, attempt: script(cf).attempt, discard: () => undefined, clock: realClock })).toMatchObject({ kind: 'local', status: 503, flags: ['UF', 'URX'], attempts: 3 });
    const reset: AttemptEnd<string> = { result: { kind: 'reset' } };
    expect(await forward({ cluster: cluster(), retry: policy({ retryOn: new Set(['connect-failure']) }), replayable: true, attempt: script(reset).attempt, discard: () => undefined, clock: realClock })).toMatchObject({ kind: 'local', status: 503, flags: ['UC'], attempts: 1 });
  });

  it('makes one attempt when the body cannot be replayed', async () => {
    const s = script(resp(503), resp(200));
    expect(await forward({ cluster: cluster(), retry: policy(), replayable: false, attempt: s.attempt, discard: () => undefined, clock: realClock })).toMatchObject({ kind: 'response', response: 'resp-503', attempts: 1, flags: [] });
  });

  it('times out a hanging attempt per try and retries it; the route timeout ends everything with 504 UT', async () => {
    const s = script('hang', resp(200));
    const r = await forward({ cluster: cluster(), retry: policy({ perTryTimeoutMs: 30 }), replayable: true, attempt: s.attempt, discard: () => undefined, clock: realClock });
    expect(r).toMatchObject({ kind: 'response', response: 'resp-200', attempts: 2 });
    const c = cluster();
    const t0 = Date.now();
    const slow = await forward({ cluster: c, timeoutMs: 60, retry: policy(), replayable: true, attempt: script('hang').attempt, discard: () => undefined, clock: realClock });
    expect(slow).toMatchObject({ kind: 'local', status: 504, flags: ['UT'], attempts: 1 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    expect(c.outcomes).toEqual([['10.0.0.1', 'local-origin-failure']]);
  });

  it('answers 503 UO when the request breaker is full, 503 UH when no host is left, and holds one retry slot at most', async () => {
    const full = limits({ requests: 0, retries: 10 });
    expect(await forward({ cluster: cluster(full), replayable: true, attempt: script(resp(200)).attempt, discard: () => undefined, clock: realClock })).toMatchObject({ kind: 'local', status: 503, flags: ['UO'], attempts: 0 });
    expect(await forward({ cluster: cluster(limits(), []), replayable: true, attempt: script(resp(200)).attempt, discard: () => undefined, clock: realClock })).toMatchObject({ kind: 'local', status: 503, flags: ['UH'] });
    // Retry breaker at zero: the first retriable failure is final (URX).
    const noRetries = limits({ requests: 10, retries: 0 });
    expect(await forward({ cluster: cluster(noRetries), retry: policy(), replayable: true, attempt: script(resp(503), resp(200)).attempt, discard: () => undefined, clock: realClock })).toMatchObject({ kind: 'response', response: 'resp-503', attempts: 1, flags: ['URX'] });
    const l = limits();
    await forward({ cluster: cluster(l), retry: policy(), replayable: true, attempt: script(resp(503)).attempt, discard: () => undefined, clock: realClock });
    expect(l.peak.retries).toBe(1);
    expect(l.active.requests).toBe(0);
    expect(l.active.retries).toBe(0);
  });

  it('classifies attempts for outlier detection', () => {
    const cases: [AttemptResult, AttemptOutcome][] = [
      [{ kind: 'response', status: 200 }, 'success'],
      [{ kind: 'response', status: 404 }, 'success'],
      [{ kind: 'response', status: 500 }, '5xx'],
      [{ kind: 'response', status: 503 }, 'gateway-error'],
      [{ kind: 'connect-failure' }, 'local-origin-failure'],
      [{ kind: 'per-try-timeout' }, 'local-origin-failure'],
    ];
    for (const [r, o] of cases) expect(outcomeOf(r)).toBe(o);
  });
});
