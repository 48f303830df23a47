/**
 * Locality load balancing end to end (issue 5 item 4, locality-weighted endpoints): pilot groups
 * the reviews endpoints by locality and the client sidecar (started with --locality) balances as
 * Envoy does — `distribute` weights localities (80/20 within a few percent over 500 requests),
 * `failover` keeps everything in the client's own zone while it is healthy and moves to the next
 * region once outlier detection ejects it.
 */
import * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSidecar, versionedApp, viaProxy, type RunningSidecar } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'sidecar-locality-'));
let pilot: RunningPilot;
let client: RunningSidecar;
const servers: http.Server[] = [];
const ports: Record<string, number> = {};
const URL_ = 'http://reviews.default.svc.cluster.local:9080/';

/** Endpoints: `local` in the client's zone, `near` in another zone of its region, `far` in another region. */
function mesh(trafficPolicy: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${ports.local}}, locality: us-east/zone-a, labels: {app: reviews}}
  - {address: 127.0.0.1, ports: {http: ${ports.near}}, locality: us-east/zone-b, labels: {app: reviews}}
  - {address: 127.0.0.1, ports: {http: ${ports.far}}, locality: eu-west/zone-c, labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy:
${trafficPolicy}`;
}

async function tally(n: number): Promise<Record<string, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const out: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: 4 }, async (_, w) => {
      for (let i = w; i < n; i += 4) {
        const r = await viaProxy(client, URL_, { agent });
        const v = r.status === 200 ? (JSON.parse(r.body) as { version: string }).version : `status ${r.status}`;
        out[v] = (out[v] ?? 0) + 1;
      }
    }),
  );
  agent.destroy();
  return out;
}

beforeAll(async () => {
  for (const name of ['local', 'near', 'far']) {
    const a = await versionedApp(name);
    servers.push(a.server);
    ports[name] = a.port;
  }
  writeFileSync(join(dir, 'mesh.yaml'), mesh('    loadBalancer: {simple: ROUND_ROBIN}'));
  pilot = await startPilot(['--config-dir', dir]);
  client = await startSidecar(pilot.xdsPort, 'productpage-v1-1', { app: 'productpage', version: 'v1' }, ['--locality', 'us-east/zone-a']);
}, 60_000);

afterAll(async () => {
  await client?.stop();
  await pilot?.stop();
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

it('without locality settings, round robin spreads over every locality', async () => {
  await until(async () => Object.keys(await tally(30)).length === 3, 'all three endpoints to serve');
});

it('distribute: 80% stays in the client zone, 20% goes to the other region', async () => {
  writeFileSync(
    join(dir, 'mesh.yaml'),
    mesh(`    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        enabled: true
        distribute:
        - from: us-east/zone-a/*
          to: {"us-east/zone-a/*": 80, "eu-west/*": 20}`),
  );
  await until(async () => (await tally(20)).near === undefined, 'the distribute weights to apply (nothing to zone-b)');
  const t = await tally(500);
  expect(t.near).toBeUndefined();
  expect((t.local ?? 0) + (t.far ?? 0)).toBe(500);
  expect((t.local ?? 0) / 500).toBeGreaterThan(0.72);
  expect((t.local ?? 0) / 500).toBeLessThan(0.88);
}, 120_000);

it('failover: all traffic stays local while it is healthy, then moves to the failover region once the local endpoint is ejected', async () => {
  writeFileSync(
    join(dir, 'mesh.yaml'),
    mesh(`    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        enabled: true
        failover:
        - from: us-east
          to: eu-west
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100}`),
  );
  await until(async () => {
    const t = await tally(20);
    return t.local === 20;
  }, 'traffic to stay in the client locality');
  // zone-a fails: one 5xx ejects it; then the region's other zone takes over before the other region.
  const local = servers[0] as http.Server;
  local.removeAllListeners('request');
  local.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.statusCode = 503;
    res.end('down');
  });
  await until(async () => {
    const t = await tally(10);
    return t.near === 10;
  }, 'traffic to fail over to the same region first (zone-b)');
  const t = await tally(50);
  expect(t).toEqual({ near: 50 });
}, 120_000);
