import { describe, expect, test } from 'vitest';
import { validateText, type MeshResource } from '@meshwork/api';
import { MemoryCounterStore, type CounterStore } from './counters.js';
import { CounterBackendError, InvalidRateLimitRequestError } from './errors.js';
import { StaticLimits, limitTable } from './limits.js';
import { RateLimitService, counterKey } from './service.js';

const YAML = `
apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: api, namespace: shop}
spec:
  mode: GLOBAL
  rules:
  - name: per-user
    descriptors:
    - requestHeader: {name: x-user}
    limit: {requestsPerUnit: 3, unit: MINUTE}
  - name: all
    limit: {requestsPerUnit: 5, unit: SECOND}
  - name: per-path
    descriptors:
    - path: {}
    limit: {requestsPerUnit: 1, unit: HOUR}
---
apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: local-only, namespace: shop}
spec:
  rules:
  - name: all
    limit: {requestsPerUnit: 1, unit: SECOND}
`;

function resources(): MeshResource[] {
  const r = validateText(YAML, 'test.yaml');
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.resources;
}

const user = (u: string) => ({ entries: [{ key: 'rule', value: 'shop/api/per-user' }, { key: 'x-user', value: u }] });
const all = { entries: [{ key: 'rule', value: 'shop/api/all' }] };

function service(now: { t: number }, counters: CounterStore = new MemoryCounterStore({ now: () => now.t })): RateLimitService {
  return new RateLimitService({ limits: new StaticLimits(resources()), counters, now: () => now.t });
}

describe('limitTable', () => {
  test('GLOBAL rules become limits by <ns>/<name>/<rule>; LOCAL resources are not the service’s business', () => {
    expect([...limitTable(resources()).keys()].sort()).toEqual(['shop/api/all', 'shop/api/per-path', 'shop/api/per-user']);
  });
});

describe('RateLimitService.shouldRateLimit', () => {
  test('counts per descriptor value in the current window, OVER_LIMIT beyond requestsPerUnit, again from the next boundary', async () => {
    const now = { t: Date.UTC(2026, 0, 1, 12, 0, 10) };
    const svc = service(now);
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) codes.push((await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [user('alice')], hitsAddend: 0 })).overallCode);
    expect(codes).toEqual(['OK', 'OK', 'OK', 'OVER_LIMIT', 'OVER_LIMIT']);
    // Another user has their own bucket.
    expect((await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [user('bob')], hitsAddend: 0 })).overallCode).toBe('OK');
    const r = await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [user('alice')], hitsAddend: 0 });
    expect(r.statuses[0]).toEqual({ code: 'OVER_LIMIT', currentLimit: { name: 'shop/api/per-user', requestsPerUnit: 3, unit: 'MINUTE' }, limitRemaining: 0, durationUntilResetMs: 50_000 });
    now.t = Date.UTC(2026, 0, 1, 12, 1, 0);
    const next = await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [user('alice')], hitsAddend: 0 });
    expect(next.statuses[0]).toMatchObject({ code: 'OK', limitRemaining: 2, durationUntilResetMs: 60_000 });
  });

  test('every descriptor is counted; overall OVER_LIMIT when any is; unknown descriptors are OK and uncounted', async () => {
    const now = { t: Date.UTC(2026, 0, 1, 12, 0, 0, 500) };
    const counters = new MemoryCounterStore({ now: () => now.t });
    const svc = service(now, counters);
    const unknown = { entries: [{ key: 'rule', value: 'shop/api/nope' }] };
    for (let i = 0; i < 3; i++) await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [user('carol'), all, unknown], hitsAddend: 0 });
    const r = await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [user('carol'), all, unknown], hitsAddend: 0 });
    expect(r.overallCode).toBe('OVER_LIMIT');
    expect(r.statuses.map((s) => s.code)).toEqual(['OVER_LIMIT', 'OK', 'OK']);
    expect(r.statuses[1]).toMatchObject({ limitRemaining: 1, durationUntilResetMs: 500 });
    expect(r.statuses[2]).toEqual({ code: 'OK', limitRemaining: 0, durationUntilResetMs: 0 });
    expect(counters.size()).toBe(2);
  });

  test('hits_addend counts several hits at once; another domain has no limits', async () => {
    const now = { t: Date.UTC(2026, 0, 1) };
    const svc = service(now);
    expect((await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [all], hitsAddend: 5 })).overallCode).toBe('OK');
    expect((await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [all], hitsAddend: 1 })).overallCode).toBe('OVER_LIMIT');
    expect((await svc.shouldRateLimit({ domain: 'other', descriptors: [all], hitsAddend: 1 })).statuses[0].currentLimit).toBeUndefined();
  });

  test('the path descriptor counts the path without its query string', async () => {
    const now = { t: Date.UTC(2026, 0, 1) };
    const svc = service(now);
    const p = (v: string) => ({ entries: [{ key: 'rule', value: 'shop/api/per-path' }, { key: 'path', value: v }] });
    expect((await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [p('/a?x=1')], hitsAddend: 0 })).overallCode).toBe('OK');
    expect((await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [p('/a?x=2')], hitsAddend: 0 })).overallCode).toBe('OVER_LIMIT');
    expect((await svc.shouldRateLimit({ domain: 'meshwork', descriptors: [p('/b')], hitsAddend: 0 })).overallCode).toBe('OK');
  });

  test('a counter failure fails the call; malformed requests are refused', async () => {
    const failing: CounterStore = { incr: () => Promise.reject(new CounterBackendError('down')), close: () => Promise.resolve() };
    const svc = service({ t: 0 }, failing);
    await expect(svc.shouldRateLimit({ domain: 'meshwork', descriptors: [all], hitsAddend: 0 })).rejects.toBeInstanceOf(CounterBackendError);
    await expect(svc.shouldRateLimit({ domain: '', descriptors: [all], hitsAddend: 0 })).rejects.toBeInstanceOf(InvalidRateLimitRequestError);
    await expect(svc.shouldRateLimit({ domain: 'meshwork', descriptors: [], hitsAddend: 0 })).rejects.toBeInstanceOf(InvalidRateLimitRequestError);
  });
});

describe('counterKey', () => {
  test('values with separators cannot collide', () => {
    const a = counterKey('p', 'd', [{ key: 'a', value: 'x|b=y' }], 1, 0);
    const b = counterKey('p', 'd', [{ key: 'a', value: 'x' }, { key: 'b', value: 'y' }], 1, 0);
    expect(a).not.toBe(b);
  });
});
