/**
 * Issue 7 "done when" (1) with the real data plane: pilot, three real sidecars (productpage,
 * reviews v1 and v2, each in front of a real application) publishing their records to NATS
 * (--nats-url), and a real mixer. After N requests, mixer's Istio metrics count each
 * request once per reporter, and the graph — joining each request's two reports on x-request-id —
 * shows productpage → reviews per version with exactly the requests each version answered
 * (nothing dropped on loopback; the dropped counters say so).
 */
import * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { freePort, reviewsMesh, startSidecar, versionedApp, viaProxy, type RunningSidecar } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';
import { metricSum, scrape, startMixer, type RunningMixer } from './mixer-support.js';

const URL_ = 'http://reviews.default.svc.cluster.local:9080';

describe('mixer fed by real sidecars', () => {
  let nats: NatsServerHandle;
  let mixer: RunningMixer;
  let pilot: RunningPilot;
  let dir = '';
  const servers: http.Server[] = [];
  const sidecars: RunningSidecar[] = [];
  let productpage: RunningSidecar;

  beforeAll(async () => {
    nats = await startNatsServer();
    // mixer first: it creates the MESH_TELEMETRY stream the sidecars publish to
    mixer = await startMixer(nats.url, ['--replica-name', 's1']);
    dir = mkdtempSync(join(tmpdir(), 'mixer-sidecars-'));
    const appPorts: number[] = [];
    const inbound: number[] = [];
    for (const v of ['v1', 'v2']) {
      const a = await versionedApp(v);
      servers.push(a.server);
      appPorts.push(a.port);
      inbound.push(await freePort());
    }
    writeFileSync(join(dir, 'mesh.yaml'), reviewsMesh(appPorts, inbound));
    pilot = await startPilot(['--config-dir', dir]);
    // with --nats-url a sidecar publishes its records to MESH_TELEMETRY (apps/sidecar main.ts)
    const telemetry = ['--nats-url', nats.url];
    sidecars.push(await startSidecar(pilot.xdsPort, 'reviews-v1-1', { app: 'reviews', version: 'v1' }, telemetry));
    sidecars.push(await startSidecar(pilot.xdsPort, 'reviews-v2-1', { app: 'reviews', version: 'v2' }, telemetry));
    productpage = await startSidecar(pilot.xdsPort, 'productpage-v1-1', { app: 'productpage', version: 'v1' }, telemetry);
    sidecars.push(productpage);
  }, 120_000);

  afterAll(async () => {
    for (const s of sidecars) await s.stop();
    await pilot?.stop();
    await mixer?.stop();
    await nats?.stop();
    for (const s of servers) s.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('counts every request once per reporter and draws the edges', async () => {
    const N = 60;
    const versions: Record<string, number> = {};
    for (let i = 0; i < N; i++) {
      const r = await viaProxy(productpage, `${URL_}/reviews/${i}`);
      expect(r.status).toBe(200);
      const v = (JSON.parse(r.body) as { version: string }).version;
      versions[v] = (versions[v] ?? 0) + 1;
    }
    const total = async (match: Record<string, string>) => metricSum(await scrape(mixer), 'istio_requests_total', match);
    await until(async () => (await total({ reporter: 'destination' })) >= N && (await total({ reporter: 'source' })) >= N, 'mixer to count both reports of every request');
    await new Promise((r) => setTimeout(r, 500));
    const text = await scrape(mixer);
    expect(metricSum(text, 'istio_requests_total', { reporter: 'source', source_workload: 'productpage-v1', response_code: '200' })).toBe(N);
    for (const [v, n] of Object.entries(versions)) expect(metricSum(text, 'istio_requests_total', { reporter: 'destination', destination_workload: `reviews-${v}`, response_code: '200' })).toBe(n);
    expect(metricSum(text, 'mixer_records_dropped_total')).toBe(0);
    // each sidecar published on mesh.telemetry.<ns>.<workload> (workload name, not pod name)
    const nc = await connect({ servers: nats.url });
    const info = await (await jetstreamManager(nc)).streams.info('MESH_TELEMETRY', { subjects_filter: '>' });
    await nc.close();
    const subjects = Object.keys(info.state.subjects ?? {}).sort();
    expect(subjects).toEqual(['mesh.telemetry.default.productpage-v1', 'mesh.telemetry.default.reviews-v1', 'mesh.telemetry.default.reviews-v2']);
    expect(metricSum(text, 'mixer_batches_duplicate_total')).toBe(0);

    // The graph joins each request's two reports (x-request-id): one edge per version from
    // productpage, each request once — after the join wait (JOIN_MS) for any unjoined report.
    type G = { elements: { edges: { data: { source: string; target: string; requests: number; errors: number } }[] } };
    const graph = async (): Promise<G> => (await (await fetch(`${mixer.url}/api/graph?type=versionedApp&window=5m`)).json()) as G;
    const want = Object.entries(versions).map(([v, n]) => ['app:default/productpage/v1', `app:default/reviews/${v}`, n]).sort();
    const got = async () => (await graph()).elements.edges.map((e) => [e.data.source, e.data.target, e.data.requests]).sort();
    await until(async () => JSON.stringify(await got()) === JSON.stringify(want), 'the graph to show productpage → reviews per version');
    await new Promise((r) => setTimeout(r, 3_500));
    expect(await got()).toEqual(want);
    console.info(`versions ${JSON.stringify(versions)}; edges ${JSON.stringify(await got())}`);
  }, 120_000);
});
