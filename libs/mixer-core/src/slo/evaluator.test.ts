import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import type { SloResource } from '@meshwork/slo';
import type { RequestRecord } from '@meshwork/telemetry';
import { SloEvaluator, type SloAlertEvent } from './evaluator.js';
import { registerSloRoutes } from './extension.js';

const T0 = Date.UTC(2026, 10, 26);
const MIN = 60_000;

const reviews: SloResource = { name: 'reviews-availability', namespace: 'default', spec: { host: 'reviews', sli: { availability: {} }, objective: 99.9 } };
const latency: SloResource = { name: 'reviews-latency', namespace: 'default', spec: { host: 'reviews', sli: { latency: { threshold: '100ms' } }, objective: 99, alerting: { disabled: true } } };

function rec(t: number, code: number, durationMs = 5, over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    reporter: 'destination',
    protocol: 'http',
    startTime: t,
    source: { workload: 'productpage-v1', namespace: 'default' },
    destination: { workload: 'reviews-v1', namespace: 'default' },
    destinationService: { host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default' },
    responseCode: code,
    responseFlags: '-',
    securityPolicy: 'mutual_tls',
    durationMs,
    bytesReceived: 0,
    bytesSent: 0,
    ...over,
  };
}

/** Traffic: `perMin` requests each minute for `minutes` minutes from `start`, `bad` of them 503. */
function traffic(start: number, minutes: number, perMin: number, bad: number): RequestRecord[] {
  const out: RequestRecord[] = [];
  for (let m = 0; m < minutes; m++) for (let i = 0; i < perMin; i++) out.push(rec(start + m * MIN + i, i < bad ? 503 : 200, i % 10 === 0 ? 150 : 5));
  return out;
}

describe('SloEvaluator', () => {
  test('SLI, budget and burn rates from the records; only covered requests count', () => {
    let now = T0;
    const ev = new SloEvaluator({ now: () => now });
    ev.setObjectives([reviews, latency]);
    ev.record(traffic(T0, 60, 100, 1)); // 1% errors for an hour: 10x burn
    ev.record([rec(T0, 503, 5, { reporter: 'source' }), rec(T0, 503, 5, { destinationService: { host: 'ratings.default.svc.cluster.local' } }), rec(T0, 0, 5, { protocol: 'tcp' })]);
    now = T0 + 60 * MIN;
    const [avail, lat] = ev.evaluate();
    expect(avail).toMatchObject({ name: 'reviews-availability', service: 'reviews.default.svc.cluster.local', good: 5940, total: 6000 });
    expect(avail.sli).toBeCloseTo(0.99, 9);
    expect(avail.errorBudgetRemaining).toBeCloseTo(1 - 0.01 / 0.001, 6); // -9: overspent ninefold
    const fast = avail.alerts[0];
    expect(fast.longBurnRate).toBeCloseTo(10, 6);
    expect(avail.alerts.map((a) => a.firing)).toEqual([false, true, true, true]);
    expect(lat.sli).toBeCloseTo(0.9, 9); // every tenth request took 150ms
    expect(lat.alerts).toEqual([]);
  });

  test('alert changes become events, once per change', () => {
    let now = T0;
    const events: SloAlertEvent[] = [];
    const ev = new SloEvaluator({ now: () => now, onEvent: (e) => events.push(e) });
    ev.setObjectives([reviews]);
    ev.record(traffic(T0, 10, 100, 100)); // a 10-minute total outage
    now = T0 + 10 * MIN;
    ev.evaluate();
    ev.evaluate();
    const firing = events.filter((e) => e.type === 'slo_alert_firing').map((e) => `${e.longWindow}/${e.shortWindow}`);
    expect(firing).toEqual(['1h/5m', '6h/30m', '1d/2h', '3d/6h']);
    expect(events[0]).toMatchObject({ slo: { name: 'reviews-availability', namespace: 'default' }, severity: 'PAGE', burnRate: 14.4, time: now });
    events.length = 0;
    // Recovery: 10 clean minutes make the 5-minute window quiet, so the fast pair resolves.
    ev.record(traffic(T0 + 10 * MIN, 10, 100, 0));
    now = T0 + 20 * MIN;
    ev.evaluate();
    expect(events.map((e) => `${e.type} ${e.longWindow}/${e.shortWindow}`)).toEqual(['slo_alert_resolved 1h/5m']);
  });

  test('mesh_slo_* metrics and reloads: an unchanged objective keeps its counts, a removed one its series go', async () => {
    let now = T0;
    const registry = new Registry();
    const ev = new SloEvaluator({ now: () => now, registry });
    ev.setObjectives([reviews, latency]);
    ev.record(traffic(T0, 5, 100, 2));
    now = T0 + 5 * MIN;
    ev.evaluate();
    let text = await registry.metrics();
    expect(text).toContain('mesh_slo_sli_ratio{slo_name="reviews-availability",slo_namespace="default",service="reviews.default.svc.cluster.local"} 0.98');
    expect(text).toContain('mesh_slo_objective_ratio{slo_name="reviews-availability",slo_namespace="default",service="reviews.default.svc.cluster.local"} 0.999');
    expect(text).toMatch(/mesh_slo_burn_rate\{slo_name="reviews-availability",slo_namespace="default",service="reviews.default.svc.cluster.local",window="5m"\} 20/);
    expect(text).toContain('mesh_slo_alert_firing{slo_name="reviews-availability",slo_namespace="default",service="reviews.default.svc.cluster.local",long_window="1h",short_window="5m",severity="page"} 1');
    expect(text).toContain('mesh_slo_requests_total{slo_name="reviews-availability",slo_namespace="default",service="reviews.default.svc.cluster.local",result="bad"} 10');

    ev.setObjectives([reviews]);
    expect(ev.evaluate()[0].total).toBe(500);
    text = await registry.metrics();
    expect(text).not.toContain('slo_name="reviews-latency"');

    ev.setObjectives([{ ...reviews, spec: { ...reviews.spec, objective: 99 } }]);
    expect(ev.evaluate()[0].total).toBe(0);
    // A changed objective counts from zero in the metrics too.
    ev.record([rec(now - 1000, 503)]);
    text = await registry.metrics();
    expect(text).toContain('mesh_slo_requests_total{slo_name="reviews-availability",slo_namespace="default",service="reviews.default.svc.cluster.local",result="bad"} 1');
  });

  test('GET /api/slos and /api/slos/rules', async () => {
    const ev = new SloEvaluator({ now: () => T0 + MIN });
    ev.setObjectives([reviews]);
    ev.record([rec(T0, 200), rec(T0, 500)]);
    ev.evaluate();
    const app = Fastify();
    registerSloRoutes(app, ev, () => [reviews]);
    const r = (await app.inject('/api/slos')).json() as { slos: { name: string; sli: number; total: number }[] };
    expect(r.slos).toMatchObject([{ name: 'reviews-availability', sli: 0.5, total: 2 }]);
    const rules = await app.inject('/api/slos/rules');
    expect(rules.headers['content-type']).toMatch(/yaml/);
    expect(rules.body).toContain('alert: MeshworkSLOErrorBudgetBurn');
    await app.close();
  });
});

describe('counts of several replicas', () => {
  test('peers are summed into SLI and alerts; restore adds saved counts; another spec is not mixed in', () => {
    const now = T0 + 5 * MIN;
    const a = new SloEvaluator({ now: () => now });
    const b = new SloEvaluator({ now: () => now });
    a.setObjectives([reviews]);
    b.setObjectives([reviews]);
    a.record(traffic(T0, 5, 100, 0)); // 500 good
    b.record(traffic(T0, 5, 100, 10)); // 450 good, 50 bad
    const [snapB] = b.snapshots();
    a.setPeer('default/reviews-availability', 'm2', snapB.specKey, JSON.parse(JSON.stringify(snapB.counts)));
    const [s] = a.evaluate();
    expect(s).toMatchObject({ good: 950, total: 1000, replicas: 2 });
    expect(s.alerts[0].longBurnRate).toBeCloseTo(50, 6);

    a.setPeer('default/reviews-availability', 'm2', 'another-spec', snapB.counts);
    expect(a.evaluate()[0]).toMatchObject({ total: 500, replicas: 1 });

    // b restarts: a fresh evaluator restores what b saved
    const b2 = new SloEvaluator({ now: () => now });
    b2.setObjectives([reviews]);
    expect(b2.restore('default/reviews-availability', snapB.specKey, snapB.counts)).toBe(true);
    expect(b2.restore('default/reviews-availability', 'another-spec', snapB.counts)).toBe(false);
    expect(b2.evaluate()[0]).toMatchObject({ good: 450, total: 500 });
  });
});
