import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../model.js';
import { backoffMs, retriable, type AttemptResult } from './retry.js';

const policy = (on: string[], codes: number[] = []): RetryPolicy => ({ numRetries: 2, retryOn: new Set(on), retriableStatusCodes: new Set(codes), backoffBaseMs: 25, backoffMaxMs: 250, avoidPreviousHosts: true, hostSelectionRetryMaxAttempts: 5 });
const resp = (status: number, grpcStatus?: number): AttemptResult => ({ kind: 'response', status, ...(grpcStatus !== undefined ? { grpcStatus } : {}) });

describe('retriable (Envoy retry_on)', () => {
  it.each<[string[], AttemptResult, boolean]>([
    [['5xx'], resp(500), true],
    [['5xx'], resp(404), false],
    [['5xx'], { kind: 'connect-failure' }, true],
    [['5xx'], { kind: 'reset' }, true],
    [['5xx'], { kind: 'per-try-timeout' }, true],
    [['gateway-error'], resp(502), true],
    [['gateway-error'], resp(500), false],
    [['gateway-error'], { kind: 'per-try-timeout' }, true],
    [['connect-failure'], { kind: 'connect-failure' }, true],
    [['connect-failure'], { kind: 'reset' }, false],
    [['refused-stream'], { kind: 'reset', refusedStream: true }, true],
    [['refused-stream'], { kind: 'reset' }, false],
    [['reset'], { kind: 'reset' }, true],
    [['retriable-4xx'], resp(409), true],
    [['retriable-4xx'], resp(404), false],
    [['unavailable'], resp(200, 14), true],
    [['unavailable'], resp(200, 13), false],
    [['cancelled', 'deadline-exceeded'], resp(200, 4), true],
    [['resource-exhausted'], resp(200, 8), true],
    [['internal'], resp(200, 13), true],
    [[], resp(503), false],
  ])('%j retries %j: %s', (on, r, want) => {
    expect(retriable(r, policy(on))).toBe(want);
  });

  it('retries the listed status codes under retriable-status-codes only', () => {
    expect(retriable(resp(418), policy(['retriable-status-codes'], [418]))).toBe(true);
    expect(retriable(resp(418), policy([], [418]))).toBe(false);
    expect(retriable(resp(419), policy(['retriable-status-codes'], [418]))).toBe(false);
  });
});

describe('backoffMs (fully jittered exponential)', () => {
  it('grows as (2^n − 1) × base, capped at max, scaled by the random draw', () => {
    const p = policy(['5xx']);
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, p, () => 0.999999))).toEqual([24, 74, 174, 249, 249]);
    expect(backoffMs(3, p, () => 0)).toBe(0);
    expect(backoffMs(2, p, () => 0.5)).toBe(37);
  });
});
