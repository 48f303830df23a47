/**
 * Workload auto-registration end to end: a sidecar started with --nats-url registers its
 * workload in NATS KV `mesh-registry` (a real nats-server), pilot selects it with a ServiceEntry
 * workloadSelector and sends it to other sidecars in EDS; when the sidecar stops it deregisters
 * and leaves their endpoints.
 */
import * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { freePort, startSidecar, versionedApp, viaProxy, type RunningSidecar } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'sidecar-reg-'));
let nats: NatsServerHandle;
let pilot: RunningPilot;
let app: http.Server;
let ratings: RunningSidecar;
let productpage: RunningSidecar;
let inbound = 0;

beforeAll(async () => {
  nats = await startNatsServer();
  const a = await versionedApp('v1');
  app = a.server;
  inbound = await freePort();
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
  pilot = await startPilot(['--config-dir', dir, '--nats-url', nats.url]);
  ratings = await startSidecar(pilot.xdsPort, 'ratings-v1-1', { app: 'ratings', version: 'v1' }, ['--nats-url', nats.url, '--ports', `http=${inbound}`]);
  productpage = await startSidecar(pilot.xdsPort, 'productpage-v1-1', { app: 'productpage', version: 'v1' });
}, 60_000);

afterAll(async () => {
  for (const s of [productpage, ratings]) await s?.stop();
  await pilot?.stop();
  app?.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const clusters = async (): Promise<string> => (await fetch(`http://127.0.0.1:${productpage.adminPort}/clusters`)).text();

it('puts a registered sidecar in EDS, routes to it, and removes it when the sidecar stops', async () => {
  const host = `outbound|9080||ratings.default.svc.cluster.local::127.0.0.1:${inbound}::health_flags::healthy`;
  await until(async () => (await clusters()).includes(host), 'the registered workload in EDS');
  const r = await viaProxy(productpage, 'http://ratings.default.svc.cluster.local:9080/stars');
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body)).toMatchObject({ version: 'v1', path: '/stars' });
  // The registered sidecar (with NATS) publishes its sampled spans on mesh.spans.<ns>.<workload>.
  const nc = await connect({ servers: nats.url });
  const sub = nc.subscribe('mesh.spans.>');
  const got = (async () => {
    for await (const m of sub) return { subject: m.subject, spans: JSON.parse(m.string()) as { traceId: string; kind: string }[] };
    return undefined;
  })();
  await viaProxy(productpage, 'http://ratings.default.svc.cluster.local:9080/traced', { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
  const published = await got;
  expect(published?.subject).toBe('mesh.spans.default.ratings-v1-1');
  expect(published?.spans[0]).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', kind: 'server' });
  await nc.close();
  expect(await ratings.stop()).toBe(0);
  await until(async () => !(await clusters()).includes(`127.0.0.1:${inbound}`), 'the stopped workload to leave EDS');
  expect((await viaProxy(productpage, 'http://ratings.default.svc.cluster.local:9080/stars')).status).toBe(503);
});
