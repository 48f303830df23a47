/**
 * The ingress gateway end to end over HTTP: pilot on a config directory holding Istio's Bookinfo
 * `bookinfo-gateway.yaml` unchanged, plus a hosts-routed Gateway and an httpsRedirect server;
 * productpage and reviews applications behind real sidecars; the real gateway binary with the
 * Gateway ports mapped to free local ports. Checks routing by path (/productpage) and by Host,
 * 404 NR for hosts and paths nothing binds, the 301 of httpsRedirect, readiness on the health
 * port, reporter=source telemetry, and a SIGTERM drain that lets a request in flight finish.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, startGateway, type RunningGateway } from './gateway-support.js';
import { freePort, startSidecar, versionedApp, type RunningSidecar } from './sidecar-support.js';
import { root, startPilot, until, type RunningPilot } from './support.js';

function backend(name: string, inbound: number, app: number): string {
  return `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${inbound}}, labels: {app: ${name}, version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${name}, namespace: default}
spec:
  workloadSelector: {labels: {app: ${name}}}
  ingress:
  - port: {number: ${inbound}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${app}
`;
}

/** A backend answering after 600 ms: in flight when the gateway is told to stop. */
async function slowApp(): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer((req, res) => void setTimeout(() => res.end(JSON.stringify({ slow: true, path: req.url })), 600));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, server };
}

const HOSTS_GATEWAY = `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: hosts-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8081, name: http-hosts, protocol: HTTP}
    hosts: [reviews.example.com, details.example.com]
  - port: {number: 8082, name: http-redirect, protocol: HTTP}
    hosts: [secure.example.com]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-external, namespace: default}
spec:
  hosts: [reviews.example.com, secure.example.com]
  gateways: [hosts-gateway]
  http:
  - route:
    - destination: {host: reviews, port: {number: 9080}}
`;

/** A slow backend reached straight from the gateway (no sidecar), on the Bookinfo gateway. */
const slowMesh = (port: number): string => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: slow, namespace: default}
spec:
  hosts: [slow.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${port}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: slow, namespace: default}
spec:
  hosts: [slow.example.com]
  gateways: [bookinfo-gateway]
  http:
  - route:
    - destination: {host: slow, port: {number: 9080}}
`;

describe('ingress gateway (HTTP)', () => {
  let dir: string;
  let pilot: RunningPilot;
  let gateway: RunningGateway;
  const sidecars: RunningSidecar[] = [];
  const servers: http.Server[] = [];
  const ports = new Map<number, number>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-e2e-'));
    const pp = await versionedApp('productpage-v1');
    const rv = await versionedApp('reviews-v1');
    servers.push(pp.server, rv.server);
    const slow = await slowApp();
    servers.push(slow.server);
    const ppIn = await freePort();
    const rvIn = await freePort();
    // Istio's sample file, unchanged (the Gateway in the default namespace, port 8080, hosts "*").
    writeFileSync(join(dir, 'bookinfo-gateway.yaml'), readFileSync(join(root, 'samples/bookinfo/networking/bookinfo-gateway.yaml'), 'utf8'));
    writeFileSync(join(dir, 'mesh.yaml'), backend('productpage', ppIn, pp.port) + backend('reviews', rvIn, rv.port) + HOSTS_GATEWAY + slowMesh(slow.port));
    pilot = await startPilot(['--config-dir', dir]);
    sidecars.push(await startSidecar(pilot.xdsPort, 'productpage-v1-1', { app: 'productpage', version: 'v1' }, ['--inbound-address', '127.0.0.1']));
    sidecars.push(await startSidecar(pilot.xdsPort, 'reviews-v1-1', { app: 'reviews', version: 'v1' }));
    for (const p of [8080, 8081, 8082]) ports.set(p, await freePort());
    gateway = await startGateway(pilot.xdsPort, ports);
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    for (const s of sidecars) await s.stop();
    await pilot?.stop();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is ready on the health port once its Gateway listeners are bound', async () => {
    const r = await get(gateway.healthPort, '127.0.0.1', '/healthz/ready');
    expect(r.status).toBe(200);
    const bound = JSON.parse(gateway.logs().split('\n').find((l) => l.includes('"gateway ready"')) as string) as { listeners: Record<string, string[]> };
    expect(bound.listeners).toEqual({ '0.0.0.0_8080': [`127.0.0.1:${ports.get(8080)}`], '0.0.0.0_8081': [`127.0.0.1:${ports.get(8081)}`], '0.0.0.0_8082': [`127.0.0.1:${ports.get(8082)}`] });
  });

  it('routes /productpage of any host to productpage (bookinfo-gateway.yaml, hosts "*")', async () => {
    for (const host of ['bookinfo.example.com', `127.0.0.1:${ports.get(8080)}`]) {
      const r = await get(ports.get(8080) as number, host, '/productpage');
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ version: 'productpage-v1', path: '/productpage' });
    }
  });

  it('answers 404 NR for a path the VirtualService does not route', async () => {
    const r = await get(ports.get(8080) as number, 'bookinfo.example.com', '/admin');
    expect(r.status).toBe(404);
    await until(() => gateway.accessLog().some((e) => e.path === '/admin'), 'the access log line of /admin');
    expect(gateway.accessLog().find((e) => e.path === '/admin')).toMatchObject({ response_code: 404, response_flags: 'NR' });
  });

  it('routes by Host on a hosts-listed server; a listed host without a VirtualService and an unlisted host get 404 NR', async () => {
    const ok = await get(ports.get(8081) as number, 'reviews.example.com', '/reviews/0');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ version: 'reviews-v1', path: '/reviews/0' });
    for (const host of ['details.example.com', 'unknown.example.com']) {
      const r = await get(ports.get(8081) as number, host, '/reviews/0');
      expect(r.status, host).toBe(404);
    }
    await until(() => gateway.accessLog().filter((e) => e.authority === 'unknown.example.com').length > 0, 'the access log line of unknown.example.com');
    expect(gateway.accessLog().find((e) => e.authority === 'unknown.example.com')).toMatchObject({ response_code: 404, response_flags: 'NR' });
  });

  it('answers 301 to https:// for a server with httpsRedirect', async () => {
    const r = await get(ports.get(8082) as number, 'secure.example.com', '/reviews/0?x=1');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('https://secure.example.com/reviews/0?x=1');
  });

  it('reports istio_requests_total with reporter=source from the gateway workload', async () => {
    const r = await get(gateway.statsPort, '127.0.0.1', '/stats/prometheus');
    const line = r.body.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('destination_service_name="productpage"') && l.includes('response_code="200"'));
    expect(line).toBeDefined();
    expect(line).toContain('reporter="source"');
    expect(line).toContain('source_workload="istio-ingressgateway"');
    expect(line).toContain('source_workload_namespace="istio-system"');
  });

  it('applies a LOCAL RateLimit that selects the gateway (istio: ingressgateway): 429 past the budget', async () => {
    writeFileSync(
      join(dir, 'ratelimit.yaml'),
      `apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  rules:
  - name: ratelimited-path
    match: [{paths: [/productpage]}]
    descriptors: [{requestHeader: {name: x-client}}]
    limit: {requestsPerUnit: 3, unit: MINUTE}
`,
    );
    const port = ports.get(8080) as number;
    const call = (client: string): Promise<number> => get(port, 'bookinfo.example.com', '/productpage', { 'x-client': client }).then((r) => r.status);
    await until(async () => (await call('probe')) === 429, 'the rate limit on the gateway');
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push(await call('alice'));
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    // Envoy's RL response flag in the access log and the metric label.
    await until(() => gateway.accessLog().some((e) => e.response_code === 429 && e.response_flags === 'RL'), 'an access log line with flag RL');
    expect(await call('bob')).toBe(200);
    rmSync(join(dir, 'ratelimit.yaml'));
    await until(async () => (await call('alice')) === 200, 'the rate limit to be removed');
  });

  it('drains on SIGTERM: a request in flight completes, then the gateway exits 0', async () => {
    const inFlight = get(ports.get(8080) as number, 'slow.example.com', '/slow');
    await new Promise((r) => setTimeout(r, 200));
    const code = await gateway.stop();
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ slow: true, path: '/slow' });
    expect(code).toBe(0);
    await expect(get(ports.get(8080) as number, 'bookinfo.example.com', '/productpage')).rejects.toThrow(/ECONNREFUSED/);
  });
});
