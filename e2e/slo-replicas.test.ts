/**
 * SLOs with two mixer replicas: the replicas split the telemetry batches, share their SLO counts
 * through the mesh-mixer-slo KV bucket, and both evaluate the objective over every request. A
 * replica restarted under the same --replica-name starts from the counts it saved.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { until } from './support.js';
import { metricSum, peer, request, scrape, startMixer, workloadPublisher, type RunningMixer } from './mixer-support.js';

const dir = mkdtempSync(join(tmpdir(), 'slo-replicas-'));
let nats: NatsServerHandle;
const mixers: RunningMixer[] = [];
const args = (name: string) => ['--replica-name', name, '--slo-config', join(dir, 'slo.yaml'), '--slo-nats-config=false', '--slo-eval-interval', '300ms'];

beforeAll(async () => {
  nats = await startNatsServer();
  writeFileSync(join(dir, 'slo.yaml'), 'apiVersion: meshwork.io/v1alpha1\nkind: ServiceLevelObjective\nmetadata: {name: reviews, namespace: default}\nspec:\n  host: reviews\n  sli: {availability: {}}\n  objective: 99.9\n');
  mixers.push(await startMixer(nats.url, args('m1')));
  mixers.push(await startMixer(nats.url, args('m2')));
}, 60_000);

afterAll(async () => {
  for (const m of mixers) await m.stop();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Slo = { good: number; total: number; replicas: number };
const slo = async (m: RunningMixer): Promise<Slo | undefined> => ((await (await fetch(`${m.url}/api/slos`)).json()) as { slos: Slo[] }).slos[0];

it('both replicas evaluate over all requests, and a restarted replica keeps its share', async () => {
  const pub = await workloadPublisher(nats.url, 'default', 'reviews-v1', { maxBatch: 10, flushIntervalMs: 50 });
  for (let i = 0; i < 600; i++) pub.publisher.offer(request(peer('productpage', 'v1'), peer('reviews', 'v1'), i % 20 === 0 ? 503 : 200, 3));
  await pub.close();
  await until(async () => (await Promise.all(mixers.map(slo))).every((s) => s?.total === 600 && s.good === 570), 'both replicas to see all 600 requests');
  const views = await Promise.all(mixers.map(slo));
  expect(views.map((v) => v?.replicas)).toEqual([2, 2]);
  // Each replica counted its own share (mesh_slo_requests_total is per replica); together, every request.
  const shares = await Promise.all(mixers.map(async (m) => metricSum(await scrape(m), 'mesh_slo_requests_total', { slo_name: 'reviews' })));
  console.info(`SLO requests counted per replica: ${shares.join(' / ')}`);
  expect(shares[0] + shares[1]).toBe(600);

  // Restart the replica with the larger share under the same name: it starts from the counts it saved.
  const i = shares[0] >= shares[1] ? 0 : 1;
  const name = i === 0 ? 'm1' : 'm2';
  expect(await mixers[i].stop()).toBe(0);
  mixers[i] = await startMixer(nats.url, args(name));
  await until(async () => (await slo(mixers[i]))?.total === 600, 'the restarted replica to see all 600 again');
  expect(await slo(mixers[i])).toMatchObject({ good: 570, total: 600, replicas: 2 });
  // Nothing was ingested again: the restored counts are the saved ones, not new records.
  expect(metricSum(await scrape(mixers[i]), 'mesh_slo_requests_total', { slo_name: 'reviews' })).toBe(0);
}, 90_000);
