import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { effectiveBurnRateWindows } from '@meshwork/api';
import { evaluateBurnRateAlerts } from './alerts.js';
import { renderPrometheusRules, SLO_ALERT_NAME, type SloResource } from './rules.js';
import { WindowedCounts } from './window.js';

const availability: SloResource = { name: 'reviews-availability', namespace: 'bookinfo', spec: { host: 'reviews', sli: { availability: { errorCodes: ['5xx', '429'] } }, objective: 99.9 } };
const latency: SloResource = {
  name: 'productpage-api-latency',
  namespace: 'bookinfo',
  spec: {
    host: 'productpage',
    match: [{ uri: { prefix: '/api/' } }],
    reporter: 'SOURCE',
    sli: { latency: { threshold: '300ms' } },
    objective: 99,
    window: '4w',
    alerting: { burnRateWindows: [{ longWindow: '1h', shortWindow: '5m', burnRate: 14.4, severity: 'PAGE' }, { longWindow: '1d', shortWindow: '2h', burnRate: 3, severity: 'TICKET' }] },
  },
};

const PROMTOOL = '/usr/bin/promtool';

describe('Prometheus rules', () => {
  test('one group per objective: a ratio per window, objective, budget, one alert per pair', () => {
    const out = renderPrometheusRules([availability, latency]);
    const doc = parse(out.yaml) as { groups: { name: string; rules: Record<string, unknown>[] }[] };
    expect(doc.groups.map((g) => g.name)).toEqual(['meshwork-slo-bookinfo-productpage-api-latency', 'meshwork-slo-bookinfo-reviews-availability']);
    const reviews = doc.groups[1].rules;
    expect(reviews.filter((r) => r.record).map((r) => r.record)).toEqual([
      'meshwork_slo:sli_error:ratio_rate5m',
      'meshwork_slo:sli_error:ratio_rate30m',
      'meshwork_slo:sli_error:ratio_rate1h',
      'meshwork_slo:sli_error:ratio_rate2h',
      'meshwork_slo:sli_error:ratio_rate6h',
      'meshwork_slo:sli_error:ratio_rate1d',
      'meshwork_slo:sli_error:ratio_rate3d',
      'meshwork_slo:sli_error:ratio_rate30d',
      'meshwork_slo:objective:ratio',
      'meshwork_slo:error_budget_remaining:ratio',
    ]);
    expect(reviews[0].expr).toBe(
      '(sum(rate(istio_requests_total{reporter="destination",destination_service="reviews.bookinfo.svc.cluster.local",response_code=~"5..|429|0"}[5m])) or vector(0)) / sum(rate(istio_requests_total{reporter="destination",destination_service="reviews.bookinfo.svc.cluster.local"}[5m]))',
    );
    const alerts = reviews.filter((r) => r.alert === SLO_ALERT_NAME);
    expect(alerts.map((a) => (a.labels as Record<string, string>).severity)).toEqual(['page', 'page', 'ticket', 'ticket']);
    expect(alerts[0].expr).toBe(
      'meshwork_slo:sli_error:ratio_rate1h{slo_name="reviews-availability",slo_namespace="bookinfo"} > (14.4 * 0.001) and meshwork_slo:sli_error:ratio_rate5m{slo_name="reviews-availability",slo_namespace="bookinfo"} > (14.4 * 0.001)',
    );
    const pp = doc.groups[0].rules;
    expect(pp[0].expr).toContain('istio_request_duration_milliseconds_bucket{reporter="source",destination_service="productpage.bookinfo.svc.cluster.local",le="250"}[5m]');
    expect(out.warnings).toHaveLength(2);
    expect(out.warnings[0]).toMatch(/^bookinfo\/productpage-api-latency: match/);
    expect(out.warnings[1]).toMatch(/le="250"/);
  });

  test.skipIf(!existsSync(PROMTOOL))('promtool check rules accepts the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slo-rules-'));
    writeFileSync(join(dir, 'rules.yaml'), renderPrometheusRules([availability, latency]).yaml);
    const out = execFileSync(PROMTOOL, ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: 23 rules found/);
  });

  /*
   * Equivalence: the same traffic through promtool's rule evaluation and through the library's
   * own evaluation (what mixer runs) fires the same alert pairs. Traffic: 1,000 requests per
   * minute to reviews for 3 hours, 1% of them 503 (a 10x burn against 99.9%): the 1h@14.4 pair
   * must stay quiet, the 6h@6, 1d@3 and 3d@1 pairs fire.
   */
  test.skipIf(!existsSync(PROMTOOL))('promtool and the library agree on which pairs fire', () => {
    const minutes = 180;
    const host = 'reviews.bookinfo.svc.cluster.local';
    const counts = new WindowedCounts();
    const t0 = Date.UTC(2026, 0, 1);
    for (let m = 1; m <= minutes; m++) counts.add(t0 + m * 60_000 - 1, 990, 1000);
    const now = t0 + minutes * 60_000;
    const ours = evaluateBurnRateAlerts(effectiveBurnRateWindows(availability.spec), 99.9, (s) => counts.errorRatio(now, s))
      .filter((a) => a.firing)
      .map((a) => a.longWindowSeconds / 3600);
    expect(ours).toEqual([6, 24, 72]);

    const dir = mkdtempSync(join(tmpdir(), 'slo-rules-'));
    const rendered = renderPrometheusRules([availability]);
    writeFileSync(join(dir, 'rules.yaml'), rendered.yaml);
    const annotations = (long: string) => rendered.groups[0].rules.find((r) => (r.labels as Record<string, string>).long_window === long)?.annotations;
    const labels = (long: string, short: string, severity: string, rate: string) => ({
      slo_name: 'reviews-availability',
      slo_namespace: 'bookinfo',
      service: host,
      severity,
      long_window: long,
      short_window: short,
      burn_rate: rate,
    });
    const testFile = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: `istio_requests_total{reporter="destination",destination_service="${host}",response_code="200"}`, values: `0+990x${minutes}` },
            { series: `istio_requests_total{reporter="destination",destination_service="${host}",response_code="503"}`, values: `0+10x${minutes}` },
          ],
          alert_rule_test: [
            {
              eval_time: `${minutes}m`,
              alertname: SLO_ALERT_NAME,
              // promtool compares in label order: burn_rate "1" < "3" < "6".
              exp_alerts: [
                { exp_labels: labels('3d', '6h', 'ticket', '1'), exp_annotations: annotations('3d') },
                { exp_labels: labels('1d', '2h', 'ticket', '3'), exp_annotations: annotations('1d') },
                { exp_labels: labels('6h', '30m', 'page', '6'), exp_annotations: annotations('6h') },
              ],
            },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'test.yaml'), JSON.stringify(testFile));
    const out = execFileSync(PROMTOOL, ['test', 'rules', join(dir, 'test.yaml')], { encoding: 'utf8', cwd: dir });
    expect(out).toMatch(/SUCCESS/);
  });
});
