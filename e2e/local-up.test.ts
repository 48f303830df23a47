/**
 * The local mesh in one command (issue 8 item 3), end to end with the real binaries:
 * `meshctl up` starts nats-server, citadel, pilot, mixer, Bookinfo with sidecars and the ingress
 * gateway; the product page answers through the gateway over the mesh (mTLS between sidecars);
 * `meshctl apply` finds pilot through the context `up` wrote; a killed component is restarted and
 * reported; `meshctl down` stops everything; a second `up`
 * finds its CA and config where they were.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '@meshwork/bus/testing';
import { root, until } from './support.js';

const home = mkdtempSync(join(tmpdir(), 'local-up-'));
const state = join(home, 'state');
let gatewayPort = 0;
const env = { ...process.env, HOME: home, MESHCTL_CONTEXT: join(home, 'context.json') };
const hasPrometheus = (process.env.PATH ?? '').split(':').some((d) => existsSync(join(d, 'prometheus')));

async function meshctl(args: string[], timeoutMs = 240_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [join(root, 'apps/meshctl/bin/meshctl.js'), ...args], { cwd: root, env, timeout: timeoutMs });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Headers }> {
  try {
    const res = await fetch(`http://127.0.0.1:${gatewayPort}${path}`, { headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: await res.text(), headers: res.headers };
  } catch {
    return { status: 0, body: '', headers: new Headers() };
  }
}

interface Status {
  ready: boolean;
  components: { name: string; state: string; healthy: boolean; restarts: number; pid?: number }[];
}

async function status(): Promise<Status | undefined> {
  const r = await meshctl(['status', '--state-dir', state, '-o', 'json']);
  try {
    return JSON.parse(r.stdout) as Status;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  gatewayPort = await freePort();
  const up = await meshctl(['up', '--state-dir', state, '--gateway-port', String(gatewayPort), '--no-well-known-ports']);
  expect(up.stderr).toBe('');
  expect(up.code).toBe(0);
  expect(up.stdout).toContain('the local mesh is up');
  expect(up.stdout).toContain(`Bookinfo product page: http://127.0.0.1:${gatewayPort}/productpage`);
}, 300_000);

afterAll(async () => {
  await meshctl(['down', '--state-dir', state]);
  rmSync(home, { recursive: true, force: true });
}, 120_000);

it('reports every component healthy', async () => {
  const s = await status();
  expect(s?.ready).toBe(true);
  // Prometheus joins when it is installed (CI installs it).
  const expected = ['nats', 'citadel', 'pilot', 'mixer', 'details-v1', 'ratings-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'productpage-v1', 'istio-ingressgateway', ...(hasPrometheus ? ['prometheus'] : [])];
  expect(s?.components.map((c) => c.name)).toEqual(expected);
  expect(s?.components.every((c) => c.healthy)).toBe(true);
});

it('serves the product page through the ingress gateway, with details and reviews from the mesh', async () => {
  await until(async () => (await get('/productpage')).status === 200, 'the product page through the gateway');
  const page = (await get('/productpage')).body;
  expect(page).toContain('The Comedy of Errors');
  expect(page).toMatch(/Reviews served by/);
  expect(page).not.toContain('Error fetching product details');
  expect(page).not.toContain('product reviews are currently unavailable');
  // up runs the gateway and sidecars with --access-log=true (Istio's demo profile): each writes Envoy-format lines to its log.
  const accessLine = (name: string): boolean => readFileSync(join(state, 'logs', `${name}.log`), 'utf8').split('\n').some((l) => l.includes('"response_code":200') && l.includes('/productpage'));
  await until(() => accessLine('istio-ingressgateway') && accessLine('productpage-v1'), 'access log lines of the gateway and the productpage sidecar');
}, 120_000);

it('takes config with meshctl apply through the context up wrote (virtual-service-all-v1: no stars)', async () => {
  const applied = await meshctl(['apply', '-f', join(root, 'samples/bookinfo/networking/virtual-service-all-v1.yaml')]);
  expect(applied.stderr).toBe('');
  expect(applied.code).toBe(0);
  let noStars = 0;
  await until(async () => {
    const r = await get('/productpage');
    noStars = r.status === 200 && !r.body.includes('glyphicon-star') ? noStars + 1 : 0;
    return noStars >= 5;
  }, 'five pages in a row from reviews v1');
}, 120_000);

it.runIf(hasPrometheus)('Prometheus scrapes the sidecars and mixer: Istio dashboard queries answer (meshctl dashboard prometheus)', async () => {
  const d = await meshctl(['dashboard', 'prometheus', '--state-dir', state]);
  expect(d.code).toBe(0);
  const prom = d.stdout.trim();
  expect(prom).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  for (let i = 0; i < 5; i++) expect((await get('/productpage')).status).toBe(200);
  const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    const r = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(q)}`);
    return ((await r.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
  };
  // Per-pod scraping (the sidecars' merged 15020 ports), as Istio's Prometheus addon.
  await until(async () => (await query('sum by (destination_workload) (istio_requests_total{reporter="destination"})')).some((r) => r.metric.destination_workload === 'reviews-v1' || r.metric.destination_workload === 'details-v1'), 'Istio request metrics in Prometheus');
  const wanted = ['pilot', 'citadel', 'mixer', 'envoy-stats-productpage-v1', 'envoy-stats-reviews-v1'];
  let jobsUp: string[] = [];
  await until(async () => {
    jobsUp = (await query('up == 1')).map((r) => r.metric.job ?? '');
    return wanted.every((j) => jobsUp.includes(j));
  }, `Prometheus to scrape ${wanted.join(', ')}`).catch((err: Error) => {
    throw new Error(`${err.message}; up: ${jobsUp.join(', ')}`);
  });
  expect((await meshctl(['dashboard', 'console', '--state-dir', state])).code).toBe(1);
}, 120_000);

it('restarts a killed component and reports the restart', async () => {
  const before = (await status())?.components.find((c) => c.name === 'ratings-v1');
  expect(before?.pid).toBeGreaterThan(0);
  process.kill(before?.pid as number, 'SIGKILL');
  await until(async () => {
    const c = (await status())?.components.find((x) => x.name === 'ratings-v1');
    return !!c && c.restarts >= 1 && c.healthy && c.pid !== before?.pid;
  }, 'ratings-v1 to be restarted');
  expect(readFileSync(join(state, 'logs', 'up.log'), 'utf8')).toMatch(/ratings-v1 exited .*restarting in/);
}, 120_000);

it('stops with meshctl down and comes back with the same CA and config', async () => {
  const rootBefore = readFileSync(join(state, 'citadel', 'root-cert.pem'), 'utf8');
  const down = await meshctl(['down', '--state-dir', state]);
  expect(down.stderr).toBe('');
  expect(down.code).toBe(0);
  expect(down.stdout).toContain('the local mesh is stopped');
  expect((await meshctl(['status', '--state-dir', state])).code).toBe(1);
  expect((await get('/productpage')).status).toBe(0);
  const up = await meshctl(['up', '--state-dir', state, '--gateway-port', String(gatewayPort), '--no-well-known-ports']);
  expect(up.stderr).toBe('');
  expect(up.code).toBe(0);
  expect(readFileSync(join(state, 'citadel', 'root-cert.pem'), 'utf8')).toBe(rootBefore);
  const vs = await meshctl(['get', 'virtualservice', 'reviews', '-n', 'default', '-o', 'json']);
  expect(vs.stderr).toBe('');
  expect(vs.code).toBe(0);
  expect(vs.stdout).toMatch(/"subset":\s*"v1"/);
  await until(async () => (await get('/productpage')).status === 200, 'the product page after the restart');
}, 300_000);

it('names nats-server and how to install it when it is missing', async () => {
  const bare = await promisify(execFile)(process.execPath, [join(root, 'apps/meshctl/bin/meshctl.js'), 'up', '--state-dir', join(home, 'other')], { cwd: root, env: { ...env, PATH: '/nonexistent' } }).catch((e: { code: number; stderr: string }) => e);
  expect((bare as { code: number }).code).toBe(1);
  expect((bare as { stderr: string }).stderr).toMatch(/nats-server is not installed: install it with `sudo apt-get install -y nats-server`/);
});
