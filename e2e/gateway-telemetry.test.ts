/**
 * The gateway's feed to mixer: with --nats-url every request it proxies is published, batched, to
 * the MESH_TELEMETRY JetStream stream on mesh.telemetry.<ns>.<workload>, reported by the gateway
 * as the source (reporter=source, source workload istio-ingressgateway in istio-system), as
 * Istio's gateways report. Real nats-server, pilot and gateway binary.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TELEMETRY_STREAM, TELEMETRY_SUBJECTS } from '@meshwork/bus';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { decodeWireBatch, type RequestRecord } from '@meshwork/telemetry';
import { get, startGateway, type RunningGateway } from './gateway-support.js';
import { freePort, versionedApp } from './sidecar-support.js';
import { startPilot, type RunningPilot } from './support.js';

let dir: string;
let nats: NatsServerHandle;
let nc: NatsConnection;
let pilot: RunningPilot;
let gateway: RunningGateway;
let app: http.Server;
let port = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gateway-telemetry-'));
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  await (await jetstreamManager(nc)).streams.add({ name: TELEMETRY_STREAM, subjects: [TELEMETRY_SUBJECTS] });
  const pp = await versionedApp('productpage-v1');
  app = pp.server;
  port = await freePort();
  writeFileSync(
    join(dir, 'mesh.yaml'),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: productpage, namespace: default}
spec:
  hosts: [productpage.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${pp.port}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: ${port}, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: productpage, namespace: default}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: productpage, port: {number: 9080}}}]}]
`,
  );
  pilot = await startPilot(['--config-dir', dir]);
  gateway = await startGateway(pilot.xdsPort, new Map(), ['--nats-url', nats.url]);
}, 90_000);

afterAll(async () => {
  await gateway?.stop();
  await pilot?.stop();
  await nc?.close();
  await nats?.stop();
  app?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('publishes one source-reported record per request to the telemetry stream', async () => {
  for (let i = 0; i < 3; i++) expect((await get(port, 'bookinfo.example.com', `/productpage?i=${i}`)).status).toBe(200);
  const c = await jetstream(nc).consumers.get(TELEMETRY_STREAM);
  const records: RequestRecord[] = [];
  const subjects = new Set<string>();
  while (records.length < 3) {
    const m = await c.next({ expires: 10_000 });
    if (!m) break;
    subjects.add(m.subject);
    const d = decodeWireBatch(m.data);
    if (d.ok) records.push(...d.value.records);
  }
  expect([...subjects]).toEqual(['mesh.telemetry.istio-system.istio-ingressgateway']);
  expect(records.map((r) => r.path).sort()).toEqual(['/productpage?i=0', '/productpage?i=1', '/productpage?i=2']);
  for (const r of records) {
    expect(r.reporter).toBe('source');
    expect(r.source).toMatchObject({ workload: 'istio-ingressgateway', namespace: 'istio-system' });
    expect(r.destinationService).toMatchObject({ host: 'productpage.default.svc.cluster.local' });
    expect(r.responseCode).toBe(200);
  }
});
