/**
 * Issue 7 item 6 end to end: a real nats-server and a real mixer evaluating two
 * ServiceLevelObjectives, one from a --slo-config file and one stored in the mesh-config KV
 * bucket (what `meshctl apply` writes in local mode, written here by pilot's own KvConfigStore).
 * Records published the way sidecars publish them (RecordPublisher) drive the SLIs: mixer's
 * mesh_slo_* metrics and /api/slos report the exact ratios, the burn-rate alerts fire and
 * their events arrive on mesh.events.slo, and `meshctl slo status` prints them. The same records
 * are queried back through the recent access-log API (GET /api/logs).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { KvConfigStore } from '@meshwork/registry';
import { root, until } from './support.js';
import { metricSum, peer, request, scrape, startMixer, workloadPublisher, type RunningMixer } from './mixer-support.js';

const dir = mkdtempSync(join(tmpdir(), 'slo-e2e-'));
let nats: NatsServerHandle;
let mixer: RunningMixer;
let nc: NatsConnection;
const events: { type: string; slo: { name: string }; longWindow: string; shortWindow: string; severity: string }[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  writeFileSync(
    join(dir, 'slo.yaml'),
    `apiVersion: meshwork.io/v1alpha1
kind: ServiceLevelObjective
metadata: {name: reviews-availability, namespace: default}
spec:
  host: reviews
  sli: {availability: {}}
  objective: 99.9
`,
  );
  nc = await connect({ servers: nats.url });
  const sub = nc.subscribe('mesh.events.slo');
  void (async () => {
    for await (const m of sub) events.push(m.json());
  })();
  // The latency objective goes into the KV bucket pilot serves config from in local mode.
  const store = await KvConfigStore.open({ nc });
  await store.create({
    apiVersion: 'meshwork.io/v1alpha1',
    kind: 'ServiceLevelObjective',
    metadata: { name: 'ratings-latency', namespace: 'default' },
    spec: { host: 'ratings.default.svc.cluster.local', sli: { latency: { threshold: '50ms' } }, objective: 95, alerting: { disabled: true } },
  });
  await store.close();
  mixer = await startMixer(nats.url, ['--slo-config', join(dir, 'slo.yaml'), '--slo-eval-interval', '500ms']);
}, 60_000);

afterAll(async () => {
  if (mixer) expect(await mixer.stop()).toBe(0);
  await nc?.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('evaluates SLOs from the records: exact SLIs, budget, firing alerts as metrics, API, events and meshctl', async () => {
  const productpage = peer('productpage', 'v1');
  const reviews = peer('reviews', 'v1');
  const ratings = peer('ratings', 'v1');
  const reviewsPub = await workloadPublisher(nats.url, 'default', 'reviews-v1', { maxBatch: 50, flushIntervalMs: 100 });
  const ratingsPub = await workloadPublisher(nats.url, 'default', 'ratings-v1', { maxBatch: 50, flushIntervalMs: 100 });
  // reviews: 1,000 requests, 20 of them 503 (2% errors: 20x the 0.1% budget, every default pair fires).
  for (let i = 0; i < 1000; i++) reviewsPub.publisher.offer(request(productpage, reviews, i % 50 === 0 ? 503 : 200, 5));
  // ratings: 400 requests, 100 slower than 50 ms (SLI 0.75 against 95%).
  for (let i = 0; i < 400; i++) ratingsPub.publisher.offer(request(reviews, ratings, 200, i % 4 === 0 ? 80 : 10));
  // Source-reported records of the same requests do not count (both objectives use the destination view).
  for (let i = 0; i < 100; i++) reviewsPub.publisher.offer(request(productpage, reviews, 503, 5, { reporter: 'source' }));
  await reviewsPub.close();
  await ratingsPub.close();

  const labels = (name: string) => ({ slo_name: name, slo_namespace: 'default' });
  await until(async () => {
    const t = await scrape(mixer);
    return metricSum(t, 'mesh_slo_requests_total', labels('reviews-availability')) === 1000 && metricSum(t, 'mesh_slo_requests_total', labels('ratings-latency')) === 400;
  }, 'mixer to count every covered record');
  await until(async () => metricSum(await scrape(mixer), 'mesh_slo_alert_firing', labels('reviews-availability')) === 4, 'the four default alerts to fire');
  const text = await scrape(mixer);
  expect(metricSum(text, 'mesh_slo_requests_total', { ...labels('reviews-availability'), result: 'bad' })).toBe(20);
  expect(metricSum(text, 'mesh_slo_sli_ratio', labels('reviews-availability'))).toBeCloseTo(0.98, 9);
  expect(metricSum(text, 'mesh_slo_error_budget_remaining_ratio', labels('reviews-availability'))).toBeCloseTo(-19, 6);
  expect(metricSum(text, 'mesh_slo_burn_rate', { ...labels('reviews-availability'), window: '5m' })).toBeCloseTo(20, 6);
  expect(metricSum(text, 'mesh_slo_sli_ratio', labels('ratings-latency'))).toBeCloseTo(0.75, 9);
  expect(metricSum(text, 'mesh_slo_objective_ratio', labels('ratings-latency'))).toBe(0.95);
  expect(metricSum(text, 'mesh_slo_alert_firing', labels('ratings-latency'))).toBe(0); // alerting disabled

  await until(() => events.filter((e) => e.type === 'slo_alert_firing').length === 4, 'four alert events on mesh.events.slo');
  expect(events.map((e) => `${e.slo.name} ${e.longWindow}/${e.shortWindow} ${e.severity}`)).toEqual([
    'reviews-availability 1h/5m PAGE',
    'reviews-availability 6h/30m PAGE',
    'reviews-availability 1d/2h TICKET',
    'reviews-availability 3d/6h TICKET',
  ]);

  const api = (await (await fetch(`${mixer.url}/api/slos`)).json()) as { slos: { name: string; total: number; good: number }[] };
  expect(api.slos.map((s) => [s.name, s.good, s.total])).toEqual([
    ['ratings-latency', 300, 400],
    ['reviews-availability', 980, 1000],
  ]);

  // The same records feed the recent access-log API (issue 7 item 5): by logging workload and code.
  type Logs = { logs: { workload: string; response_code: number; reporter: string }[] };
  const logs = async (q: string): Promise<Logs['logs']> => ((await (await fetch(`${mixer.url}/api/logs?${q}`)).json()) as Logs).logs;
  expect(await logs('workload=reviews-v1&code=5xx&limit=1000')).toHaveLength(20);
  expect((await logs('workload=productpage-v1&limit=1000')).every((l) => l.reporter === 'source' && l.response_code === 503)).toBe(true);
  expect(await logs('workload=productpage-v1&limit=1000')).toHaveLength(100);
  expect(await logs('workload=ratings-v1&limit=5')).toHaveLength(5);

  const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'apps/meshctl/bin/meshctl.js'), 'slo', 'status', '--mixer', mixer.url]);
  const lines = stdout.trim().split('\n');
  expect(lines).toHaveLength(3);
  expect(lines[2]).toMatch(/^default\s+reviews-availability\s+reviews\.default\.svc\.cluster\.local\s+99\.9%\s+30d\s+1000\s+98\.000%\s+-1900\.0%\s+1h\/5m@14\.4x\(PAGE\),6h\/30m@6x\(PAGE\),1d\/2h@3x\(TICKET\),3d\/6h@1x\(TICKET\)$/);
}, 90_000);
