/**
 * Issue 7 item 2: a real Prometheus (the Debian package's /usr/bin/prometheus) scrapes mixer
 * every second, and the PromQL Istio's Grafana dashboards use returns the expected series:
 * request rate by destination workload, error share, and latency quantiles from
 * istio_request_duration_milliseconds_bucket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { until } from './support.js';
import { metricSum, peer, request, scrape, startMixer, workloadPublisher, type RunningMixer } from './mixer-support.js';

const PROMETHEUS = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe('mixer scraped by a real Prometheus', () => {
  let nats: NatsServerHandle;
  let mixer: RunningMixer;
  let prom: ChildProcess;
  let promUrl = '';
  let dir = '';
  let promLog = '';

  beforeAll(async () => {
    if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} not found: apt-get install -y prometheus (or set PROMETHEUS_BIN)`);
    nats = await startNatsServer();
    mixer = await startMixer(nats.url, ['--replica-name', 'p1']);
    dir = mkdtempSync(join(tmpdir(), 'meshwork-prom-'));
    writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: mixer\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['127.0.0.1:${mixer.httpPort}']\n`);
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stderr?.on('data', (d: Buffer) => (promLog += d.toString()));
    await until(async () => {
      if (prom.exitCode !== null) throw new Error(`prometheus exited ${prom.exitCode}: ${promLog}`);
      return fetch(`${promUrl}/-/ready`).then((r) => r.ok, () => false);
    }, 'prometheus to be ready');
  }, 90_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const done = new Promise((r) => prom.once('exit', r));
      prom.kill('SIGTERM');
      await done;
    }
    await mixer?.stop();
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const query = async (q: string): Promise<Sample[]> => {
    const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await r.json()) as { status: string; data: { result: Sample[] }; error?: string };
    if (body.status !== 'success') throw new Error(`${q}: ${body.error}`);
    return body.data.result;
  };

  it('answers Istio dashboard queries from mixer\'s aggregated metrics', async () => {
    const src = peer('productpage', 'v1');
    const v1 = peer('reviews', 'v1');
    const v2 = peer('reviews', 'v2');
    const p1 = await workloadPublisher(nats.url, 'default', 'reviews-v1', { maxBatch: 50, flushIntervalMs: 100 });
    const p2 = await workloadPublisher(nats.url, 'default', 'reviews-v2', { maxBatch: 50, flushIntervalMs: 100 });
    // Steady traffic for ~8 s: reviews-v1 three times the rate of v2; v1 answers in 3 ms, v2 in 200 ms with 10 % 503s.
    for (let tick = 0; tick < 80; tick++) {
      for (let k = 0; k < 30; k++) p1.publisher.offer(request(src, v1, 200, 3));
      for (let k = 0; k < 10; k++) p2.publisher.offer(request(src, v2, k === 0 ? 503 : 200, 200));
      await sleep(100);
    }
    await p1.close();
    await p2.close();
    const sent = p1.publisher.published + p2.publisher.published;
    await until(async () => metricSum(await scrape(mixer), 'mixer_records_ingested_total') === sent, 'mixer to ingest all records');
    // Two more scrapes after the last record, so Prometheus holds the final values.
    await sleep(2_500);

    const totals = await query('sum(istio_requests_total{reporter="destination"}) by (destination_workload)');
    expect(Object.fromEntries(totals.map((s) => [s.metric.destination_workload, Number(s.value[1])]))).toEqual({ 'reviews-v1': p1.publisher.published, 'reviews-v2': p2.publisher.published });

    const rates = await query('sum(rate(istio_requests_total{reporter="destination"}[1m])) by (destination_workload)');
    const rate = Object.fromEntries(rates.map((s) => [s.metric.destination_workload, Number(s.value[1])]));
    expect(Object.keys(rate).sort()).toEqual(['reviews-v1', 'reviews-v2']);
    expect(rate['reviews-v1']).toBeGreaterThan(0);
    // Same scrapes, same batches: the ratio of the rates is the ratio of the traffic (3:1), within scrape jitter.
    expect(rate['reviews-v1'] / rate['reviews-v2']).toBeGreaterThan(2.5);
    expect(rate['reviews-v1'] / rate['reviews-v2']).toBeLessThan(3.5);

    const errShare = await query('sum(rate(istio_requests_total{reporter="destination",response_code=~"5.."}[1m])) by (destination_workload) / sum(rate(istio_requests_total{reporter="destination"}[1m])) by (destination_workload)');
    expect(errShare.map((s) => s.metric.destination_workload)).toEqual(['reviews-v2']);
    expect(Number(errShare[0].value[1])).toBeCloseTo(0.1, 1);

    const p50 = await query('histogram_quantile(0.50, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[1m])) by (le, destination_workload))');
    const q = Object.fromEntries(p50.map((s) => [s.metric.destination_workload, Number(s.value[1])]));
    // 3 ms falls in Istio's (1, 5] bucket, 200 ms in (100, 250].
    expect(q['reviews-v1']).toBeGreaterThan(1);
    expect(q['reviews-v1']).toBeLessThanOrEqual(5);
    expect(q['reviews-v2']).toBeGreaterThan(100);
    expect(q['reviews-v2']).toBeLessThanOrEqual(250);
    const p99 = await query('histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload="reviews-v2"}[1m])) by (le))');
    expect(Number(p99[0].value[1])).toBeGreaterThan(100);
    expect(Number(p99[0].value[1])).toBeLessThanOrEqual(250);

    const own = await query('mixer_records_ingested_total');
    expect(Number(own[0].value[1])).toBe(sent);
  }, 180_000);
});
