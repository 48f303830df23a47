/**
 * The local mesh in one command (issue 8 item 3), end to end with the real binaries:
 * `meshctl up --nats-url` (a nats-server this test started) starts citadel, pilot, mixer, Bookinfo
 * with sidecars and the ingress gateway on that server, starting no nats-server of its own; the
 * requested gateway port is busy (held by the test), so the gateway takes another and `up` prints
 * it; the product page answers through the gateway over the mesh (mTLS between sidecars);
 * `meshctl apply` finds pilot through the context `up` wrote; a killed component is restarted and
 * reported; `meshctl down` stops everything but the external nats-server; a second `up`, this time
 * starting nats-server itself on the store the first server used (`<state>/nats`), finds its CA
 * and config where they were.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '@meshwork/bus/testing';
import { root, until } from './support.js';

const home = mkdtempSync(join(tmpdir(), 'local-up-'));
const state = join(home, 'state');
/** The gateway port `up` is asked for, held busy by `blocker` throughout. */
let requestedPort = 0;
let blocker: Server | undefined;
/** The port the gateway took instead (from up's output). */
let gatewayPort = 0;
/** The test's own nats-server (JetStream store in `<state>/nats`), handed to the first `up` with --nats-url. */
let nats: ChildProcess | undefined;
let natsUrl = '';
let natsMonitor = 0;
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

/** startNats runs nats-server with JetStream and monitoring on free ports, its store where `up` keeps its own. */
async function startNats(): Promise<void> {
  const port = await freePort();
  natsMonitor = await freePort();
  natsUrl = `nats://127.0.0.1:${port}`;
  mkdirSync(join(state, 'nats'), { recursive: true });
  nats = spawn(process.env.NATS_SERVER_BIN ?? 'nats-server', ['-a', '127.0.0.1', '-p', String(port), '-m', String(natsMonitor), '-js', '-sd', join(state, 'nats')], { stdio: 'ignore' });
  const healthy = async (): Promise<boolean> => (await fetch(`http://127.0.0.1:${natsMonitor}/healthz?js-enabled-only=true`).catch(() => undefined))?.ok === true;
  await until(healthy, 'the test nats-server');
}

async function stopNats(): Promise<void> {
  const p = nats;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((r) => {
    p.once('exit', () => r());
    p.kill('SIGTERM');
  });
}

beforeAll(async () => {
  requestedPort = await freePort();
  const b = createServer();
  blocker = b;
  await new Promise<void>((r) => b.listen(requestedPort, '127.0.0.1', () => r()));
  await startNats();
  const up = await meshctl(['up', '--state-dir', state, '--gateway-port', String(requestedPort), '--nats-url', natsUrl, '--no-well-known-ports']);
  expect(up.stderr).toBe('');
  expect(up.code).toBe(0);
  expect(up.stdout).toContain('the local mesh is up');
  gatewayPort = Number(/Bookinfo product page: http:\/\/127\.0\.0\.1:(\d+)\/productpage/.exec(up.stdout)?.[1]);
  expect(gatewayPort).toBeGreaterThan(0);
  expect(gatewayPort).not.toBe(requestedPort);
}, 300_000);

afterAll(async () => {
  await meshctl(['down', '--state-dir', state]);
  await stopNats();
  await new Promise<void>((r) => (blocker ? blocker.close(() => r()) : r()));
  rmSync(home, { recursive: true, force: true });
}, 120_000);

it('reports every component healthy', async () => {
  const s = await status();
  expect(s?.ready).toBe(true);
  // Prometheus joins when it is installed (CI installs it).
  // No `nats`: the first up runs on the test's server (--nats-url).
  const expected = ['citadel', 'pilot', 'mixer', 'details-v1', 'ratings-v1', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'productpage-v1', 'istio-ingressgateway', ...(hasPrometheus ? ['prometheus'] : [])];
  expect(s?.components.map((c) => c.name)).toEqual(expected);
  expect(s?.components.every((c) => c.healthy)).toBe(true);
});

it('a busy gateway port does not make up fail: the gateway takes another and up says so', () => {
  expect(readFileSync(join(state, 'logs', 'up.log'), 'utf8')).toContain(`port ${requestedPort} is busy: the gateway serves Bookinfo's port 8080 on ${gatewayPort} instead`);
});

it('runs the mesh on the --nats-url server and starts no nats-server of its own', async () => {
  const connz = (await (await fetch(`http://127.0.0.1:${natsMonitor}/connz`)).json()) as { connections?: { name?: string }[] };
  const names = (connz.connections ?? []).map((c) => c.name ?? '');
  expect(names.some((n) => n.startsWith('meshwork-mixer'))).toBe(true);
  expect(names.some((n) => n.startsWith('meshwork-gateway'))).toBe(true);
  expect((JSON.parse(readFileSync(env.MESHCTL_CONTEXT, 'utf8')) as { nats?: string }).nats).toBe(natsUrl);
  // No nats port was even planned, and nothing named nats is supervised.
  expect((JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')) as { ports: Record<string, number> }).ports).not.toHaveProperty('nats');
  expect((await status())?.components.map((c) => c.name)).not.toContain('nats');
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

it('stops with meshctl down (not the --nats-url server) and comes back, starting nats-server itself, with the same CA and config', async () => {
  const rootBefore = readFileSync(join(state, 'citadel', 'root-cert.pem'), 'utf8');
  const down = await meshctl(['down', '--state-dir', state]);
  expect(down.stderr).toBe('');
  expect(down.code).toBe(0);
  expect(down.stdout).toContain('the local mesh is stopped');
  expect((await meshctl(['status', '--state-dir', state])).code).toBe(1);
  expect((await get('/productpage')).status).toBe(0);
  // down left the server it did not start; stopping it frees <state>/nats for up's own nats-server.
  expect(nats?.exitCode).toBeNull();
  await stopNats();
  const up = await meshctl(['up', '--state-dir', state, '--gateway-port', String(requestedPort), '--no-well-known-ports']);
  expect(up.stderr).toBe('');
  expect(up.code).toBe(0);
  // The gateway keeps the port it took (the plan in the state directory), and nats-server is up's own now.
  expect(up.stdout).toContain(`Bookinfo product page: http://127.0.0.1:${gatewayPort}/productpage`);
  expect((await status())?.components.find((c) => c.name === 'nats')).toMatchObject({ healthy: true });
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
