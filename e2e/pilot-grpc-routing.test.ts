/**
 * Istio traffic management seen by real proxyless gRPC clients (@grpc/grpc-js-xds) through
 * the real meshwork-pilot process: weighted subsets, header-match routing, a live weight
 * change, and fault abort — each asserted from the calls the client actually makes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { echoBackend, echoCall as call, startPilot, until, xdsClient, type RunningPilot } from './support.js';

let dir: string;
let pilot: RunningPilot;
const servers: grpc.Server[] = [];
const ports: number[] = [];

// Two versions of one service: each endpoint is its own backend (v1 answers "a", v2 "b").
const mesh = (http: string): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${ports[0]}, name: grpc, protocol: GRPC}]
  endpoints:
  - {address: 127.0.0.1, ports: {grpc: ${ports[0]}}, labels: {app: echo, version: v1}}
  - {address: 127.0.0.1, ports: {grpc: ${ports[1]}}, labels: {app: echo, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo.default.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.default.svc.cluster.local]
  http:
${http}
`;

const WEIGHTED = (w1: number, w2: number): string => `  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: echo.default.svc.cluster.local, subset: v2}}]
  - route:
    - {destination: {host: echo.default.svc.cluster.local, subset: v1}, weight: ${w1}}
    - {destination: {host: echo.default.svc.cluster.local, subset: v2}, weight: ${w2}}`;

beforeAll(async () => {
  grpcXds.register();
  for (const name of ['a', 'b']) {
    const b = await echoBackend(name);
    servers.push(b.server);
    ports.push(b.port);
  }
  dir = mkdtempSync(join(tmpdir(), 'xds-routing-'));
  writeFileSync(join(dir, 'echo.yaml'), mesh(WEIGHTED(80, 20)));
  pilot = await startPilot(['--config-dir', dir]);
}, 30_000);

afterAll(async () => {
  await pilot?.stop();
  for (const s of servers) s.forceShutdown();
});

const newClient = (id: string): grpc.Client => xdsClient(pilot.xdsPort, `xds:///echo.default.svc.cluster.local:${ports[0]}`, id);

async function share(client: grpc.Client, n: number, md: Record<string, string> = {}): Promise<{ a: number; b: number }> {
  const seen = { a: 0, b: 0 };
  for (let i = 0; i < n; i++) seen[(await call(client, String(i), md)).split(':')[0] as 'a' | 'b']++;
  return seen;
}

it('splits 80/20 within ±5% over 1000 calls, routes end-user: jason to v2, and follows a weight change', async () => {
  const client = newClient('client-weights');
  try {
    const split = await share(client, 1000);
    expect(split.a + split.b).toBe(1000);
    expect(split.a / 1000).toBeGreaterThan(0.75);
    expect(split.a / 1000).toBeLessThan(0.85);
    expect(await share(client, 50, { 'end-user': 'jason' })).toEqual({ a: 0, b: 50 });
    writeFileSync(join(dir, 'echo.yaml'), mesh(WEIGHTED(0, 100)));
    await until(async () => (await share(client, 20)).b === 20, 'the 0/100 weights to apply');
    expect(await share(client, 100)).toEqual({ a: 0, b: 100 });
  } finally {
    client.close();
  }
}, 60_000);

it('injects a fault abort for matching requests only', async () => {
  writeFileSync(join(dir, 'echo.yaml'), mesh(`  - match: [{headers: {end-user: {exact: jason}}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: echo.default.svc.cluster.local, subset: v1}}]
  - route: [{destination: {host: echo.default.svc.cluster.local, subset: v1}}]`));
  const client = newClient('client-fault');
  try {
    await until(async () => (await call(client, 'x', { 'end-user': 'jason' }).then(() => 'ok', (e: grpc.ServiceError) => String(e.code))) === String(grpc.status.UNAVAILABLE), 'the abort to apply');
    expect(await call(client, 'fine')).toBe('a:fine');
  } finally {
    client.close();
  }
}, 60_000);
