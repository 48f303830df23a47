import { describe, expect, it } from 'vitest';
import { validateText } from '../validate.js';
import { findKindByName } from '../registry.js';
import {
  DEFAULT_BURN_RATE_WINDOWS,
  effectiveBurnRateWindows,
  formatSeconds,
  maxBurnRate,
  parseWindow,
  sloWindowSeconds,
  type ServiceLevelObjectiveSpec,
} from './meshwork.js';

function errorsOf(kind: string, spec: unknown): string[] {
  const doc = JSON.stringify({ apiVersion: 'meshwork.io/v1alpha1', kind, metadata: { name: 'x', namespace: 'bookinfo' }, spec });
  return validateText(doc).diagnostics.map((d) => `${d.path} | ${d.reason}`);
}

const H = 3600;
const D = 86400;

describe('parseWindow', () => {
  it.each([
    ['30d', 30 * D],
    ['4w', 28 * D],
    ['720h', 720 * H],
    ['1w3d12h', 10 * D + 12 * H],
    ['90m', 90 * 60],
    ['1.5h', 1.5 * H],
    ['1h30m', 1.5 * H],
    ['500ms', 0.5],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseWindow(text)).toEqual({ ok: true, seconds });
  });

  it.each(['', '30', 'd', '1mo', '-1h', '1 h', '1y', 'h1'])('refuses %j', (text) => {
    expect(parseWindow(text).ok).toBe(false);
  });

  it('formats the short way', () => {
    expect([formatSeconds(30 * D), formatSeconds(14 * D), formatSeconds(6 * H), formatSeconds(300), formatSeconds(90)]).toEqual(['30d', '2w', '6h', '5m', '90s']);
  });
});

function slo(over: Partial<ServiceLevelObjectiveSpec>): ServiceLevelObjectiveSpec {
  return { host: 'reviews', sli: { availability: {} }, objective: 99.9, ...over };
}

describe('burn-rate alerts', () => {
  it('caps the burn rate by the error budget', () => {
    expect(maxBurnRate(99.9)).toBeCloseTo(1000);
    expect(maxBurnRate(90)).toBeCloseTo(10);
  });

  it('uses the SRE workbook pairs by default over a 30d window', () => {
    expect(effectiveBurnRateWindows(slo({}))).toEqual([
      { longWindowSeconds: H, shortWindowSeconds: 300, burnRate: 14.4, severity: 'PAGE' },
      { longWindowSeconds: 6 * H, shortWindowSeconds: 1800, burnRate: 6, severity: 'PAGE' },
      { longWindowSeconds: D, shortWindowSeconds: 2 * H, burnRate: 3, severity: 'TICKET' },
      { longWindowSeconds: 3 * D, shortWindowSeconds: 6 * H, burnRate: 1, severity: 'TICKET' },
    ]);
    expect(DEFAULT_BURN_RATE_WINDOWS).toHaveLength(4);
  });

  it('drops default pairs that cannot apply: longer than the window, or above the maximum burn rate', () => {
    expect(effectiveBurnRateWindows(slo({ window: '2d' })).map((w) => w.longWindowSeconds)).toEqual([H, 6 * H, D]);
    expect(effectiveBurnRateWindows(slo({ objective: 90 })).map((w) => w.burnRate)).toEqual([6, 3, 1]);
  });

  it('keeps explicit windows as written, defaulting severity to PAGE', () => {
    expect(effectiveBurnRateWindows(slo({ alerting: { burnRateWindows: [{ longWindow: '2h', shortWindow: '10m', burnRate: 10 }] } }))).toEqual([
      { longWindowSeconds: 2 * H, shortWindowSeconds: 600, burnRate: 10, severity: 'PAGE' },
    ]);
  });

  it('has none when alerting is disabled', () => {
    expect(effectiveBurnRateWindows(slo({ alerting: { disabled: true } }))).toEqual([]);
  });

  it('defaults the window to 30 days', () => {
    expect(sloWindowSeconds(slo({}))).toBe(30 * D);
    expect(sloWindowSeconds(slo({ window: '7d' }))).toBe(7 * D);
  });
});

describe('ServiceLevelObjective validation', () => {
  it('checks alert windows against the default 30d window when none is set', () => {
    expect(errorsOf('ServiceLevelObjective', slo({ alerting: { burnRateWindows: [{ longWindow: '31d', shortWindow: '1d', burnRate: 1 }] } }))).toEqual([
      'spec.alerting.burnRateWindows[0].longWindow | longWindow (31d) must not be longer than the SLO window (30d)',
    ]);
  });

  it('accepts the boundaries of the window range', () => {
    expect(errorsOf('ServiceLevelObjective', slo({ window: '1h' }))).toEqual([]);
    expect(errorsOf('ServiceLevelObjective', slo({ window: '90d' }))).toEqual([]);
  });
});

describe('RateLimit validation', () => {
  const rule = { name: 'all', limit: { requestsPerUnit: 10, unit: 'SECOND' } };

  it('defaults to LOCAL, where burst is allowed', () => {
    expect(errorsOf('RateLimit', { rules: [{ ...rule, limit: { ...rule.limit, burst: 10 } }] })).toEqual([]);
  });

  it('accepts GLOBAL with failure mode and timeout', () => {
    expect(errorsOf('RateLimit', { mode: 'GLOBAL', failureMode: 'ALLOW', timeout: '10s', rules: [rule] })).toEqual([]);
  });

  it('keeps the selector / targetRefs exclusivity of Istio policies', () => {
    expect(errorsOf('RateLimit', { selector: { matchLabels: { app: 'a' } }, targetRef: { kind: 'Service', name: 'a' }, rules: [rule] })).toEqual([
      'spec.targetRef | only one of selector, targetRef, targetRefs may be set, found selector and targetRef',
    ]);
  });

  it('tells header descriptors apart by name, case-insensitively', () => {
    expect(
      errorsOf('RateLimit', { rules: [{ ...rule, descriptors: [{ requestHeader: { name: 'x-a' } }, { requestHeader: { name: 'x-b' } }, { requestHeader: { name: 'X-A' } }] }] }),
    ).toEqual(['spec.rules[0].descriptors[2] | duplicate descriptor: requestHeader x-a is already listed']);
  });
});

describe('registration', () => {
  it.each([
    ['slo', 'ServiceLevelObjective'],
    ['servicelevelobjectives.meshwork.io', 'ServiceLevelObjective'],
    ['rl', 'RateLimit'],
    ['ratelimit', 'RateLimit'],
  ])('%s names %s', (name, kind) => {
    const def = findKindByName(name);
    expect(def?.kind).toBe(kind);
    expect(def?.group).toBe('meshwork.io');
    expect(def?.versions).toEqual(['v1alpha1']);
    expect(def?.crd).toBe(true);
  });
});
