/**
 * Istio's Bookinfo ingress in Kubernetes Gateway API form (samples/bookinfo/gateway-api/
 * bookinfo-gateway.yaml, unchanged: class istio, listener port 80, HTTPRoute to productpage)
 * through the gateway binary labelled as that Gateway's automated deployment, with port 80 mapped
 * to a free local port (--port-map).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { get, startGateway, type RunningGateway } from './gateway-support.js';
import { freePort, versionedApp } from './sidecar-support.js';
import { root, startPilot, type RunningPilot } from './support.js';

let dir: string;
let pilot: RunningPilot;
let gateway: RunningGateway;
let app: http.Server;
let port = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gateway-api-bookinfo-'));
  const pp = await versionedApp('productpage-v1');
  app = pp.server;
  port = await freePort();
  writeFileSync(join(dir, 'bookinfo-gateway.yaml'), readFileSync(join(root, 'samples/bookinfo/gateway-api/bookinfo-gateway.yaml'), 'utf8'));
  writeFileSync(
    join(dir, 'productpage.yaml'),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: productpage, namespace: default}
spec:
  hosts: [productpage.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${pp.port}}}]
`,
  );
  pilot = await startPilot(['--config-dir', dir]);
  gateway = await startGateway(pilot.xdsPort, new Map([[80, port]]), ['--labels', 'gateway.networking.k8s.io/gateway-name=bookinfo-gateway', '--namespace', 'default', '--name', 'bookinfo-gateway-istio']);
}, 90_000);

afterAll(async () => {
  await gateway?.stop();
  await pilot?.stop();
  app?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('serves /productpage, /static/… and /api/v1/products through the HTTPRoute; other paths 404', async () => {
  for (const path of ['/productpage', '/static/bootstrap.css', '/api/v1/products/0', '/login']) {
    const r = await get(port, `127.0.0.1:${port}`, path);
    expect(r.status, path).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ version: 'productpage-v1', path });
  }
  for (const path of ['/', '/productpage/x', '/staticx']) expect((await get(port, `127.0.0.1:${port}`, path)).status, path).toBe(404);
});
