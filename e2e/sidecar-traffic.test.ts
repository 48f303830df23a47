/**
 * Traffic management through real sidecars on HTTP/1.1: pilot, a source sidecar (productpage,
 * explicit HTTP proxy) and one destination sidecar per reviews version, each in front of a real
 * application. One mesh configuration (VirtualService routes by path prefix, DestinationRule
 * subsets with their own traffic policies) covers retries, timeouts, fault delay, rewrites,
 * header operations, CORS, mirroring, load balancing, connection-pool limits and outlier
 * detection, each observed from responses, the applications' own logs and the admin pages.
 */
import * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startSidecar, viaProxy, type ProxiedResponse, type RunningSidecar } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';

const HOST = 'reviews.default.svc.cluster.local';
const URL_ = `http://${HOST}:9080`;
const VERSIONS = ['v1', 'v2', 'v3'] as const;

interface Seen {
  readonly path: string;
  readonly host: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * One application per version. It answers JSON `{version, path, host, headers, body}` and has a
 * few behaviours by path: `/fail/<key>/<n>…` answers 503 to the first n requests of that key,
 * `/slow/<ms>…` answers after ms, `/err…` answers 500 on v1 only, `/hold…` waits for `release()`.
 */
async function app(version: string): Promise<{ port: number; server: http.Server; seen: Seen[]; release(): void }> {
  const seen: Seen[] = [];
  const fails = new Map<string, number>();
  let held: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const path = req.url ?? '/';
      seen.push({ path, host: req.headers.host ?? '', headers: req.headers, body });
      const answer = (status = 200): void => {
        res.statusCode = status;
        res.setHeader('x-app-version', version);
        res.setHeader('x-app-drop', 'drop me');
        res.end(JSON.stringify({ version, path, host: req.headers.host, headers: req.headers, body }));
      };
      const f = /^\/[^/]*\/?fail\/([^/]+)\/(\d+)/.exec(path);
      if (f) {
        const n = (fails.get(f[1]) ?? 0) + 1;
        fails.set(f[1], n);
        return answer(n <= Number(f[2]) ? 503 : 200);
      }
      const s = /\/slow\/(\d+)/.exec(path);
      if (s) return void setTimeout(() => answer(), Number(s[1]));
      if (path.includes('/err')) return answer(version === 'v1' ? 500 : 200);
      if (path.includes('/hold')) return void held.push(() => answer());
      answer();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    server,
    seen,
    release: () => {
      const h = held;
      held = [];
      for (const f of h) f();
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'sidecar-traffic-e2e-'));
let pilot: RunningPilot;
let productpage: RunningSidecar;
const sidecars: RunningSidecar[] = [];
const apps: Awaited<ReturnType<typeof app>>[] = [];
const inbound: number[] = [];

const subsetRoute = (prefix: string, subset: string, extra = ''): string => `  - match: [{uri: {prefix: ${prefix}}}]
    route: [{destination: {host: ${HOST}, subset: ${subset}}}]
${extra}`;

function mesh(): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
${VERSIONS.map((v, i) => `  - {address: 127.0.0.1, ports: {http: ${inbound[i]}}, labels: {app: reviews, version: ${v}}}`).join('\n')}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: ${HOST}
  subsets:
${VERSIONS.map((v) => `  - {name: ${v}, labels: {version: ${v}}}`).join('\n')}
  - name: rr
    labels: {app: reviews}
    trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  - name: lr
    labels: {app: reviews}
    trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
  - name: hash
    labels: {app: reviews}
    trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
  - name: limited
    labels: {version: v2}
    trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1, http2MaxRequests: 2}}}
  - name: od
    labels: {app: reviews}
    trafficPolicy:
      loadBalancer: {simple: ROUND_ROBIN}
      outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [${HOST}]
  http:
${subsetRoute('/retry/', 'v1', '    retries: {attempts: 3, retryOn: 5xx, perTryTimeout: 2s}')}
${subsetRoute('/noretry/', 'v1', '    retries: {attempts: 0}')}
${subsetRoute('/pertry/', 'v1', '    retries: {attempts: 2, retryOn: 5xx, perTryTimeout: 0.3s}')}
${subsetRoute('/timeout/', 'v1', '    timeout: 0.3s')}
${subsetRoute('/delay/', 'v2', '    fault: {delay: {fixedDelay: 0.5s, percentage: {value: 100}}}')}
${subsetRoute('/rewrite-prefix/', 'v2', '    rewrite: {uri: /rewritten/}')}
${subsetRoute('/rewrite-regex/', 'v2', "    rewrite: {uriRegexRewrite: {match: '^/rewrite-regex/([a-z]+)/(\\d+)$', rewrite: '/items/\\2/\\1'}}")}
${subsetRoute(
  '/headers/',
  'v2',
  `    headers:
      request: {set: {x-set: set-by-mesh}, add: {x-add: added}, remove: [x-remove-me]}
      response: {set: {x-resp-set: r1}, add: {x-resp-add: r2}, remove: [x-app-drop]}`,
)}
${subsetRoute('/cors/', 'v2', "    corsPolicy: {allowOrigins: [{exact: 'https://web.example'}], allowMethods: [PUT, GET], allowHeaders: [x-custom], exposeHeaders: [x-app-version], maxAge: 60s}")}
${subsetRoute('/mirror/', 'v2', `    mirror: {host: ${HOST}, subset: v3}\n    mirrorPercentage: {value: 100}`)}
${subsetRoute('/lb-rr/', 'rr')}
${subsetRoute('/lb-lr/', 'lr')}
${subsetRoute('/lb-hash/', 'hash')}
${subsetRoute('/limited/', 'limited', '    retries: {attempts: 0}')}
${subsetRoute('/od/', 'od', '    retries: {attempts: 0}')}
  - route: [{destination: {host: ${HOST}, subset: v2}}]
${VERSIONS.map(
  (v, i) => `---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews-${v}, namespace: default}
spec:
  workloadSelector: {labels: {app: reviews, version: ${v}}}
  ingress:
  - port: {number: ${inbound[i]}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${apps[i].port}`,
).join('\n')}
`;
}

beforeAll(async () => {
  for (const v of VERSIONS) {
    apps.push(await app(v));
    inbound.push(await freePort());
  }
  writeFileSync(join(dir, 'mesh.yaml'), mesh());
  pilot = await startPilot(['--config-dir', dir]);
  for (const v of VERSIONS) sidecars.push(await startSidecar(pilot.xdsPort, `reviews-${v}-1`, { app: 'reviews', version: v }));
  productpage = await startSidecar(pilot.xdsPort, 'productpage-v1-1', { app: 'productpage', version: 'v1' });
  // The whole configuration is in force once the last route answers as configured.
  await until(async () => (await viaProxy(productpage, `${URL_}/od/ready`)).status === 200 && (await viaProxy(productpage, `${URL_}/rewrite-prefix/x`)).body.includes('/rewritten/x'), 'the mesh configuration');
}, 90_000);

afterAll(async () => {
  for (const s of [productpage, ...sidecars]) await s?.stop();
  await pilot?.stop();
  for (const a of apps) a.server.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = (path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<ProxiedResponse> => viaProxy(productpage, `${URL_}${path}`, opts);
const json = (r: ProxiedResponse): { version: string; path: string; host: string; headers: Record<string, string>; body: string } => JSON.parse(r.body) as never;
const seenOn = (i: number, prefix: string): Seen[] => apps[i].seen.filter((s) => s.path.startsWith(prefix));

describe('traffic management through real sidecars (HTTP/1.1)', () => {
  it.each([
    // [path, failures before success, expected status, expected requests the app saw]
    ['/retry/fail/a/2', 200, 3],
    ['/retry/fail/b/5', 503, 4],
    ['/noretry/fail/c/1', 503, 1],
  ] as const)('retries: %s → %i after %i requests at the application', async (path, status, requests) => {
    const r = await get(path, { method: 'POST', body: 'replayed body' });
    expect(r.status).toBe(status);
    const seen = seenOn(0, path);
    expect(seen.length).toBe(requests);
    expect(seen.every((s) => s.body === 'replayed body')).toBe(true);
  });

  it('times out a slow application with 504 (route timeout and per-try timeout)', async () => {
    let t0 = Date.now();
    const r = await get('/timeout/slow/2000');
    expect(r.status).toBe(504);
    expect(Date.now() - t0).toBeLessThan(1500);
    t0 = Date.now();
    const p = await get('/pertry/slow/1000');
    expect(p.status).toBe(504);
    expect(seenOn(0, '/pertry/slow/1000').length).toBe(3); // one try and two retries, each cut at 0.3 s
    expect(Date.now() - t0).toBeLessThan(1900);
    await until(() => productpage.logs().includes('"path":"/timeout/slow/2000"'), 'the access log line');
    const line = productpage.logs().split('\n').find((l) => l.includes('"path":"/timeout/slow/2000"')) ?? '{}';
    expect(JSON.parse(line)).toMatchObject({ response_code: 504, response_flags: 'UT' });
  });

  it('holds a request for an injected delay', async () => {
    const t0 = Date.now();
    const r = await get('/delay/x');
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(480);
  });

  it.each([
    ['/rewrite-prefix/a/b', '/rewritten/a/b'],
    ['/rewrite-regex/abc/42', '/items/42/abc'],
  ])('rewrites %s to %s', async (from, to) => {
    expect(json(await get(from)).path).toBe(to);
  });

  it('applies request and response header operations (set, add, remove)', async () => {
    const r = await get('/headers/x', { headers: { 'x-remove-me': 'secret', 'x-set': 'from-client' } });
    const seen = json(r).headers;
    expect(seen['x-set']).toBe('set-by-mesh');
    expect(seen['x-add']).toBe('added');
    expect(seen['x-remove-me']).toBeUndefined();
    expect(r.headers['x-resp-set']).toBe('r1');
    expect(r.headers['x-resp-add']).toBe('r2');
    expect(r.headers['x-app-drop']).toBeUndefined();
    expect(r.headers['x-app-version']).toBe('v2');
  });

  it('answers a CORS preflight at the source sidecar and adds CORS headers to the actual response', async () => {
    const before = seenOn(1, '/cors/').length;
    const pre = await get('/cors/x', { method: 'OPTIONS', headers: { origin: 'https://web.example', 'access-control-request-method': 'PUT' } });
    expect(pre.status).toBe(200);
    expect(pre.headers['access-control-allow-origin']).toBe('https://web.example');
    expect(String(pre.headers['access-control-allow-methods'])).toContain('PUT');
    expect(seenOn(1, '/cors/').length).toBe(before); // the preflight never reached the application
    const actual = await get('/cors/x', { headers: { origin: 'https://web.example' } });
    expect(actual.headers['access-control-allow-origin']).toBe('https://web.example');
    expect(actual.headers['access-control-expose-headers']).toBe('x-app-version');
    const other = await get('/cors/x', { headers: { origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('mirrors a copy with the -shadow authority to the mirror subset, without slowing the main request', async () => {
    const t0 = Date.now();
    const r = await get('/mirror/slow/800', { method: 'POST', body: 'shadowed' });
    expect(json(r).version).toBe('v2');
    expect(Date.now() - t0).toBeLessThan(1500); // the v2 answer takes 0.8 s; the mirror's does not add to it
    await until(() => seenOn(2, '/mirror/slow/800').length === 1, 'the mirrored copy');
    const copy = seenOn(2, '/mirror/slow/800')[0];
    expect(copy.host).toBe(`${HOST}-shadow:9080`);
    expect(copy.body).toBe('shadowed');
  });

  it('balances: round robin spreads, ring hash by header sticks, least request avoids a busy host', async () => {
    const rr = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const v = json(await get('/lb-rr/x')).version;
      rr.set(v, (rr.get(v) ?? 0) + 1);
    }
    expect([...rr.values()].sort()).toEqual([10, 10, 10]);
    for (const user of ['alice', 'bob', 'carol']) {
      const vs = new Set<string>();
      for (let i = 0; i < 10; i++) vs.add(json(await get('/lb-hash/x', { headers: { 'x-user': user } })).version);
      expect(vs.size).toBe(1);
    }
    // Hold one request on each of two hosts: least request then sends everything to the third.
    const held = [get('/lb-lr/hold'), get('/lb-lr/hold')];
    await until(() => apps.reduce((n, a) => n + a.seen.filter((s) => s.path === '/lb-lr/hold').length, 0) === 2, 'two held requests');
    const idle = apps.findIndex((a) => a.seen.every((s) => s.path !== '/lb-lr/hold'));
    const lr = new Set<string>();
    for (let i = 0; i < 10; i++) lr.add(json(await get('/lb-lr/x')).version);
    for (const a of apps) a.release();
    await Promise.all(held);
    // Envoy's least request picks the lesser of two random choices: a busy host can still win a draw against the other busy one.
    expect(lr.has(VERSIONS[idle])).toBe(true);
  });

  it('enforces connection-pool limits as circuit breakers: 503 UO beyond max connections and pending requests', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => get(`/limited/slow/400?i=${i}`)));
    const codes = results.map((r) => r.status);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThanOrEqual(1);
    expect(codes.filter((c) => c === 503).length).toBeGreaterThanOrEqual(1);
    await until(() => productpage.logs().includes('"response_flags":"UO"'), 'a UO access log line');
  });

  it('ejects a host that returns 5xx (outlier detection): traffic moves to the healthy ones and /clusters says so', async () => {
    const bad = inbound[0];
    await until(async () => {
      await get('/od/err');
      const clusters = await (await fetch(`http://127.0.0.1:${productpage.adminPort}/clusters`)).text();
      return clusters.includes(`outbound|9080|od|${HOST}::127.0.0.1:${bad}::health_flags::/failed_outlier_check`);
    }, 'v1 to be ejected');
    for (let i = 0; i < 10; i++) expect((await get('/od/err')).status).toBe(200);
  });
});
