/**
 * Bookinfo end to end through the mesh: our TypeScript Bookinfo services (the built
 * samples/bookinfo binary), each behind a real sidecar that gets its configuration from a real
 * pilot, calling each other through their sidecars' outbound ports (HTTP_PROXY style). Istio's
 * Bookinfo routing YAMLs from samples/bookinfo/networking are copied into pilot's config
 * directory byte for byte; only the registry part (a ServiceEntry per service whose endpoints are
 * the sidecars' inbound ports, and a Sidecar per workload naming its application's port) is ours,
 * standing in for the Kubernetes Services and Pods of samples/bookinfo/platform.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, unlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startSidecar, viaProxy, type RunningSidecar } from './sidecar-support.js';
import { root, startPilot, until, type RunningPilot } from './support.js';

const NETWORKING = join(root, 'samples/bookinfo/networking');
const BIN = join(root, 'samples/bookinfo/bin/bookinfo.js');
const PAGE = 'http://productpage.default.svc.cluster.local:9080/productpage';
const REVIEWS_UNAVAILABLE = 'Sorry, product reviews are currently unavailable for this book.';
const RATINGS_UNAVAILABLE = 'Ratings service is currently unavailable';

interface Workload {
  readonly service: string;
  readonly version: string;
  readonly appPort: number;
  readonly inboundPort: number;
  sidecar?: RunningSidecar;
  app?: ChildProcess;
  out: string;
}

/** The registry part of the mesh: a ServiceEntry per service and a Sidecar per workload. */
function registryYaml(workloads: readonly Workload[]): string {
  const docs: string[] = [];
  for (const service of [...new Set(workloads.map((w) => w.service))]) {
    const eps = workloads.filter((w) => w.service === service);
    docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${service}, namespace: default}
spec:
  hosts: [${service}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
${eps.map((w) => `  - {address: 127.0.0.1, ports: {http: ${w.inboundPort}}, labels: {app: ${service}, version: ${w.version}}}`).join('\n')}`);
  }
  for (const w of workloads) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${w.service}-${w.version}, namespace: default}
spec:
  workloadSelector: {labels: {app: ${w.service}, version: ${w.version}}}
  ingress:
  - port: {number: ${w.inboundPort}, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:${w.appPort}`);
  }
  return docs.join('\n---\n');
}

const appArgs = (w: Workload): string[] => [BIN, '--service', w.service, '--version', w.version, '--port', String(w.appPort), '--pod-name', `${w.service}-${w.version}-1`, '--drain-timeout', '1s'];

/** startApp runs one Bookinfo service, calling others through its sidecar (--proxy), and resolves once it logs "bookinfo ready". */
async function startApp(w: Workload): Promise<void> {
  const args = [...appArgs(w), '--proxy', `http://127.0.0.1:${w.sidecar?.outboundPort}`];
  // SERVICES_DOMAIN stays unset: the services call the short names (reviews:9080), as in Kubernetes.
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  w.app = proc;
  proc.stdout?.on('data', (d: Buffer) => (w.out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (w.out += d.toString()));
  await until(() => w.out.includes('"bookinfo ready"') || proc.exitCode !== null, `${w.service} ${w.version} to be ready`);
  if (proc.exitCode !== null) throw new Error(`${w.service} ${w.version} exited ${proc.exitCode}: ${w.out}`);
}

async function stopApp(w: Workload): Promise<number | null> {
  const p = w.app;
  if (!p || p.exitCode !== null) return p?.exitCode ?? null;
  const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  p.kill('SIGTERM');
  const killer = setTimeout(() => p.kill('SIGKILL'), 8000);
  const code = await exited;
  clearTimeout(killer);
  return code;
}

let dir: string;
let pilot: RunningPilot;
const workloads: Workload[] = [];
let productpage: Workload;
let jason: string;

/** routes replaces the routing config with these sample files, copied unchanged (DestinationRules always present). */
function routes(...files: string[]): void {
  for (const f of readdirSync(dir)) if (f.startsWith('sample-')) unlinkSync(join(dir, f));
  for (const f of ['destination-rule-all.yaml', ...files]) copyFileSync(join(NETWORKING, f), join(dir, `sample-${f}`));
}

async function page(cookie?: string): Promise<string> {
  const res = await viaProxy(productpage.sidecar as RunningSidecar, PAGE, cookie ? { headers: { cookie } } : {});
  expect(res.status).toBe(200);
  return res.body;
}

/** What a product page shows of the reviews: which version answered, judged by the stars. */
function reviewsShown(html: string): 'v1' | 'v2' | 'v3' | 'unavailable' | 'ratings-unavailable' | 'other' {
  if (html.includes(REVIEWS_UNAVAILABLE)) return 'unavailable';
  const black = /<font color="black">\s*<span class="glyphicon glyphicon-star">/.test(html);
  const red = /<font color="red">\s*<span class="glyphicon glyphicon-star">/.test(html);
  if (black && !red) return 'v2';
  if (red && !black) return 'v3';
  if (html.includes(RATINGS_UNAVAILABLE)) return 'ratings-unavailable';
  if (!html.includes('glyphicon-star') && html.includes('Book Reviews')) return 'v1';
  return 'other';
}

/** eventually retries `check` until it passes (config takes a moment to reach every sidecar). */
async function eventually(check: () => Promise<void>, ms = 40_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bookinfo-e2e-'));
  for (const [service, version] of [['productpage', 'v1'], ['details', 'v1'], ['ratings', 'v1'], ['reviews', 'v1'], ['reviews', 'v2'], ['reviews', 'v3']]) {
    workloads.push({ service, version, appPort: await freePort(), inboundPort: await freePort(), out: '' });
  }
  productpage = workloads[0];
  writeFileSync(join(dir, 'registry.yaml'), registryYaml(workloads));
  routes('virtual-service-all-v1.yaml');
  pilot = await startPilot(['--config-dir', dir]);
  for (const w of workloads) {
    if (w.service === 'reviews' && w.version === 'v3') {
      // This one is started by its sidecar (after `--`, once the proxy is ready), which hands it
      // HTTP_PROXY: no --proxy flag, the way `meshctl up` can run a workload.
      const sc = await startSidecar(pilot.xdsPort, 'reviews-v3-1', { app: 'reviews', version: 'v3' }, [], [process.execPath, ...appArgs(w)]);
      w.sidecar = sc;
      await until(() => sc.logs().includes('"bookinfo ready"') || sc.proc.exitCode !== null, 'reviews v3 under its sidecar to be ready');
      expect(sc.logs()).toContain(`"proxy":"http://127.0.0.1:${sc.outboundPort}"`);
      continue;
    }
    w.sidecar = await startSidecar(pilot.xdsPort, `${w.service}-${w.version}-1`, { app: w.service, version: w.version });
    await startApp(w);
  }
  // The first request may beat the routes to the productpage sidecar (404 NR): retry until it is routed.
  let login = { status: 0, headers: {} as Record<string, unknown>, body: '' };
  await eventually(async () => {
    login = await viaProxy(productpage.sidecar as RunningSidecar, 'http://productpage.default.svc.cluster.local:9080/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', referer: PAGE },
      body: 'username=jason&passwd=',
    });
    expect(login.status).toBe(302);
  });
  jason = String(login.headers['set-cookie']).split(';')[0];
}, 180_000);

afterAll(async () => {
  const codes: (number | null)[] = [];
  // The sidecar that started its application stops it and exits with its exit code.
  for (const w of workloads) codes.push(w.app ? await stopApp(w) : ((await w.sidecar?.stop()) ?? null));
  for (const w of workloads) await w.sidecar?.stop();
  await pilot?.stop();
  rmSync(dir, { recursive: true, force: true });
  // SIGTERM is a graceful stop: every service drained and exited 0.
  expect(codes).toEqual(workloads.map(() => 0));
}, 60_000);

describe('Bookinfo through sidecars and pilot with Istio\'s sample YAMLs', () => {
  it('virtual-service-all-v1: everyone sees reviews v1 (no stars) and the book details', async () => {
    await eventually(async () => {
      for (const cookie of [undefined, jason, undefined, jason]) {
        const html = await page(cookie);
        expect(reviewsShown(html)).toBe('v1');
        expect(html).toContain('<dt>Publisher:</dt><dd>PublisherA</dd>');
        expect(html).toContain('reviews-v1-1');
      }
    });
    expect(await page(jason)).toContain('jason ( <a href="logout">sign out</a> )');
  });

  it('every hop carries the same x-request-id and trace id: productpage → reviews → ratings through three sidecars', async () => {
    routes('virtual-service-reviews-test-v2.yaml');
    const requestId = 'bookinfo-e2e-4f1c2d3e';
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await eventually(async () => {
      const res = await viaProxy(productpage.sidecar as RunningSidecar, PAGE, { headers: { cookie: jason, 'x-request-id': requestId, traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
      expect(reviewsShown(res.body)).toBe('v2');
    });
    // Each service logs the headers it received (samples/bookinfo server.ts's request line).
    const received = (w: Workload): { requestId?: string; traceparent?: string; user?: string }[] =>
      w.out
        .split('\n')
        .filter((l) => l.includes(requestId))
        .map((l) => JSON.parse(l) as { requestId?: string; traceparent?: string; user?: string });
    for (const w of [workloads[0], workloads[1], workloads[4], workloads[2]]) {
      await until(() => received(w).length > 0, `${w.service} ${w.version} to log ${requestId}`);
      const line = received(w)[0];
      expect(line.traceparent?.split('-')[1], `${w.service} trace id`).toBe(traceId);
      if (w.service !== 'productpage') expect(line.user, `${w.service} end-user`).toBe('jason');
    }
  });

  it('virtual-service-reviews-test-v2: jason sees black stars (reviews v2), everyone else none', async () => {
    routes('virtual-service-reviews-test-v2.yaml');
    await eventually(async () => {
      for (let i = 0; i < 3; i++) {
        expect(reviewsShown(await page(jason))).toBe('v2');
        expect(reviewsShown(await page())).toBe('v1');
      }
    });
  });

  it('virtual-service-reviews-jason-v2-v3: jason sees black stars, everyone else red', async () => {
    routes('virtual-service-reviews-jason-v2-v3.yaml');
    await eventually(async () => {
      for (let i = 0; i < 3; i++) {
        expect(reviewsShown(await page(jason))).toBe('v2');
        expect(reviewsShown(await page())).toBe('v3');
      }
    });
  });

  it('virtual-service-reviews-50-v3: half v1 (no stars), half v3 (red stars), never v2', async () => {
    routes('virtual-service-reviews-50-v3.yaml');
    await eventually(async () => {
      const seen: Record<string, number> = {};
      for (let i = 0; i < 24; i++) {
        const v = reviewsShown(await page(i % 2 ? jason : undefined));
        seen[v] = (seen[v] ?? 0) + 1;
      }
      expect(Object.keys(seen).sort()).toEqual(['v1', 'v3']);
    });
  });

  it('virtual-service-ratings-test-abort: jason\'s ratings calls fail, so reviews v2 shows "Ratings service is currently unavailable"', async () => {
    routes('virtual-service-reviews-test-v2.yaml', 'virtual-service-ratings-test-abort.yaml');
    await eventually(async () => {
      const html = await page(jason);
      expect(reviewsShown(html)).toBe('ratings-unavailable');
      expect(html.match(new RegExp(RATINGS_UNAVAILABLE, 'g'))?.length).toBe(2);
      expect(html).toContain('reviews-v2-1');
    });
    expect(reviewsShown(await page())).toBe('v1');
  });

  it('virtual-service-ratings-test-delay: a 7 s ratings delay for jason outlasts productpage\'s two 3 s reviews attempts, so the page says reviews are unavailable', async () => {
    routes('virtual-service-reviews-test-v2.yaml', 'virtual-service-ratings-test-delay.yaml');
    await eventually(async () => {
      const started = Date.now();
      const html = await page(jason);
      expect(reviewsShown(html), `after ${Date.now() - started} ms`).toBe('unavailable');
      expect(html).toContain('Error fetching product reviews!');
      // details still answered: only the reviews call timed out.
      expect(html).toContain('<dt>Publisher:</dt><dd>PublisherA</dd>');
    }, 60_000);
    expect(reviewsShown(await page())).toBe('v1');
  }, 90_000);

  it('the same 7 s delay with virtual-service-reviews-v3: reviews v3 gives up on ratings after 2.5 s, inside productpage\'s 3 s, so jason gets the reviews without stars', async () => {
    routes('virtual-service-reviews-v3.yaml', 'virtual-service-ratings-test-delay.yaml');
    await eventually(async () => {
      const html = await page(jason);
      expect(reviewsShown(html)).toBe('ratings-unavailable');
      expect(html).toContain('reviews-v3-1');
    }, 60_000);
    expect(reviewsShown(await page())).toBe('v3');
  }, 90_000);
});
