/**
 * Issue 7 item 4 end to end: two real sidecars publish their spans on NATS (a real
 * nats-server), a real mixer assembles them into traces, serves them on /api/traces and exports
 * them to a Zipkin endpoint (a tiny real HTTP server standing in for Zipkin). After the traffic,
 * mixer holds exactly one trace per request, each with the productpage sidecar's CLIENT span and
 * the ratings sidecar's SERVER span as its child (three SERVER spans for the 503, which Istio's
 * default retry policy retries twice). The sidecars' request records reach mixer's recent
 * access-log API too (GET /api/logs), from both reporters.
 */
import * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { freePort, startSidecar, viaProxy, type RunningSidecar } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';
import { startMixer, type RunningMixer } from './mixer-support.js';

const dir = mkdtempSync(join(tmpdir(), 'mixer-traces-'));
let nats: NatsServerHandle;
let pilot: RunningPilot;
let mixer: RunningMixer;
let app: http.Server;
let zipkin: http.Server;
let ratings: RunningSidecar;
let productpage: RunningSidecar;
const zipkinSpans: { traceId: string; id: string; parentId?: string; kind?: string; localEndpoint?: { serviceName?: string } }[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  zipkin = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/v2/spans') zipkinSpans.push(...(JSON.parse(body) as typeof zipkinSpans));
      res.statusCode = 202;
      res.end();
    });
  });
  await new Promise<void>((r) => zipkin.listen(0, '127.0.0.1', r));
  // The application answers 503 on /status/503 (an error trace) and 200 elsewhere.
  app = http.createServer((req, res) => {
    res.statusCode = req.url === '/status/503' ? 503 : 200;
    res.end(JSON.stringify({ path: req.url }));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const a = { port: (app.address() as AddressInfo).port };
  const inbound = await freePort();
  writeFileSync(
    join(dir, 'mesh.yaml'),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: ratings}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ratings, namespace: default}
spec:
  workloadSelector: {labels: {app: ratings}}
  ingress: [{port: {number: ${inbound}, protocol: HTTP, name: http}, defaultEndpoint: '127.0.0.1:${a.port}'}]
`,
  );
  mixer = await startMixer(nats.url, ['--zipkin-url', `http://127.0.0.1:${(zipkin.address() as AddressInfo).port}/api/v2/spans`, '--slo-nats-config=false']);
  pilot = await startPilot(['--config-dir', dir, '--nats-url', nats.url]);
  ratings = await startSidecar(pilot.xdsPort, 'ratings-v1-1', { app: 'ratings', version: 'v1' }, ['--nats-url', nats.url, '--ports', `http=${inbound}`]);
  productpage = await startSidecar(pilot.xdsPort, 'productpage-v1-1', { app: 'productpage', version: 'v1' }, ['--nats-url', nats.url]);
}, 90_000);

afterAll(async () => {
  for (const s of [productpage, ratings]) await s?.stop();
  await pilot?.stop();
  if (mixer) expect(await mixer.stop()).toBe(0);
  app?.close();
  zipkin?.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  kind: string;
  service: string;
  name: string;
  error: boolean;
  attributes: Record<string, unknown>;
}

it('assembles one trace per request: productpage CLIENT span → ratings SERVER span, searchable and exported to Zipkin', async () => {
  await until(async () => (await fetch(`http://127.0.0.1:${productpage.adminPort}/clusters`).then((r) => r.text())).includes('outbound|9080||ratings.default.svc.cluster.local::127.0.0.1'), 'ratings in productpage EDS');
  const requests = 6;
  const traceIds: string[] = [];
  const callerSpan = 'b7ad6b7169203331';
  for (let i = 0; i < requests; i++) {
    const traceId = `0af7651916cd43dd8448eb211c8031${String(i).padStart(2, '0')}`;
    traceIds.push(traceId);
    // The sampled flag makes both sidecars record the request whatever their sampling rate.
    const path = i === requests - 1 ? '/status/503' : `/ratings/${i}`;
    const r = await viaProxy(productpage, `http://ratings.default.svc.cluster.local:9080${path}`, { headers: { traceparent: `00-${traceId}-${callerSpan}-01` } });
    expect(r.status).toBe(i === requests - 1 ? 503 : 200);
  }

  type Summary = { traceId: string; spanCount: number; services: string[]; error: boolean };
  const search = async (q: string): Promise<Summary[]> => ((await (await fetch(`${mixer.url}/api/traces?${q}`)).json()) as { traces: Summary[] }).traces;
  await until(async () => {
    const t = await search('limit=100');
    // The 503 is retried twice by Istio's default retry policy: one CLIENT span, three SERVER spans.
    return t.length === requests && t.every((x) => x.spanCount === (x.traceId === traceIds[requests - 1] ? 4 : 2));
  }, 'mixer to hold every trace with both spans').catch(async (err: Error) => {
    throw new Error(`${err.message}: mixer holds ${JSON.stringify(await search('limit=100'))}`);
  });

  const traces = await search('limit=100');
  expect(traces.map((t) => t.traceId).sort()).toEqual([...traceIds].sort());
  for (const id of traceIds) {
    const t = (await (await fetch(`${mixer.url}/api/traces/${id}`)).json()) as { spans: Span[]; services: string[]; rootService: string };
    const clients = t.spans.filter((s) => s.kind === 'client');
    const servers = t.spans.filter((s) => s.kind === 'server');
    expect(clients).toHaveLength(1);
    expect(servers).toHaveLength(id === traceIds[requests - 1] ? 3 : 1);
    expect(clients[0]).toMatchObject({ service: 'productpage.default', parentSpanId: callerSpan, name: 'ratings.default.svc.cluster.local:9080/*' });
    for (const server of servers) expect(server).toMatchObject({ service: 'ratings.default', parentSpanId: clients[0].spanId });
    expect(t.rootService).toBe('productpage.default');
    expect(t.services).toEqual(['productpage.default', 'ratings.default']);
  }

  // Search: the failed request is the only error trace, and its tag finds it too.
  const errors = await search('error=true');
  expect(errors.map((t) => t.traceId)).toEqual([traceIds[requests - 1]]);
  expect((await search('tag=http.status_code:503')).map((t) => t.traceId)).toEqual([traceIds[requests - 1]]);
  expect(await search('service=details')).toEqual([]);

  // Export: Zipkin received the same spans, each with its service name.
  const spanTotal = 2 * requests + 2;
  await until(() => zipkinSpans.filter((s) => traceIds.includes(s.traceId)).length === spanTotal, 'Zipkin to receive every span');
  const exported = zipkinSpans.filter((s) => traceIds.includes(s.traceId));
  expect(exported.filter((s) => s.kind === 'CLIENT').map((s) => s.localEndpoint?.serviceName)).toEqual(Array(requests).fill('productpage.default'));
  expect(exported.filter((s) => s.kind === 'SERVER').map((s) => s.localEndpoint?.serviceName)).toEqual(Array(requests + 2).fill('ratings.default'));
  for (const s of exported.filter((x) => x.kind === 'SERVER')) expect(exported.some((c) => c.kind === 'CLIENT' && c.id === s.parentId && c.traceId === s.traceId)).toBe(true);

  // The same requests' records (the sidecars' JetStream feed) reach the recent access-log API from
  // both reporters: productpage logs each request once, ratings each attempt (the 503 three times).
  type Log = { reporter: string; response_code: number; path: string | null; workload: string | null };
  const logs = async (q: string): Promise<Log[]> => ((await (await fetch(`${mixer.url}/api/logs?${q}`)).json()) as { logs: Log[] }).logs;
  const paths = [...traceIds.slice(0, requests - 1).map((_, i) => `/ratings/${i}`), '/status/503'];
  const ours = async (): Promise<Log[]> => (await logs('limit=1000')).filter((l) => l.path !== null && paths.includes(l.path));
  await until(async () => (await ours()).length === requests + requests + 2, "both sidecars' records in /api/logs");
  const got = await ours();
  expect(got.filter((l) => l.reporter === 'source').map((l) => l.path).sort()).toEqual([...paths].sort());
  expect(got.filter((l) => l.reporter === 'destination' && l.path === '/status/503')).toHaveLength(3);
  expect((await logs('code=5xx&reporter=source&limit=1000')).filter((l) => paths.includes(l.path ?? ''))).toHaveLength(1);

  const metrics = await (await fetch(`${mixer.url}/metrics`)).text();
  expect(metrics).toMatch(/^mixer_traces 6$/m);
  expect(metrics).toMatch(new RegExp(`^mixer_spans_exported_total\\{target="zipkin",result="success"} ${spanTotal}$`, 'm'));
}, 120_000);
