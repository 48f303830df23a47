/**
 * Issue 8's Bookinfo scenarios through the ingress gateway with mTLS STRICT mesh-wide, on the
 * local mesh `meshctl up` starts (real nats-server, citadel, pilot, mixer, gateway, six sidecars
 * and our TypeScript Bookinfo). Istio's YAMLs from samples/bookinfo/networking are applied
 * unchanged with `meshctl apply`: all-v1; 50/50 v1/v3; jason → v2; a 7 s ratings delay for jason
 * (productpage's "unavailable" text after its 2 × 3 s); a ratings abort for jason; and traffic
 * shifting under load with zero failed requests.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { freePort } from '@meshwork/bus/testing';
import { root, until } from './support.js';

const home = mkdtempSync(join(tmpdir(), 'bookinfo-gw-'));
const state = join(home, 'state');
const env = { ...process.env, HOME: home, MESHCTL_CONTEXT: join(home, 'context.json') };
const NET = join(root, 'samples/bookinfo/networking');
const REVIEWS_UNAVAILABLE = 'Sorry, product reviews are currently unavailable for this book.';
const RATINGS_UNAVAILABLE = 'Ratings service is currently unavailable';
let gatewayPort = 0;
let jason = '';
let mixerUrl = '';

async function meshctl(args: string[], timeoutMs = 300_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [join(root, 'apps/meshctl/bin/meshctl.js'), ...args], { cwd: root, env, timeout: timeoutMs });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** apply runs `meshctl apply` on sample files (unchanged) and fails the test on any error. */
async function apply(...files: string[]): Promise<void> {
  const r = await meshctl(['apply', ...files.flatMap((f) => ['-f', f.startsWith('/') ? f : join(NET, f)])]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

async function page(cookie?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${gatewayPort}/productpage`, { headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, body: await res.text() };
}

/** Which reviews the page shows, judged by its stars and messages. */
function shown(html: string): string {
  if (html.includes(REVIEWS_UNAVAILABLE)) return 'unavailable';
  const black = html.includes('<font color="black">');
  const red = html.includes('<font color="red">');
  if (black && !red) return 'v2';
  if (red && !black) return 'v3';
  if (html.includes(RATINGS_UNAVAILABLE)) return 'ratings-unavailable';
  if (!html.includes('glyphicon-star') && html.includes('Book Reviews')) return 'v1';
  return 'other';
}

async function eventually(check: () => Promise<void>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** plainGet sends a plaintext request straight to a sidecar's inbound port: 'ok' for any answer, else the socket error. */
function plainGet(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', headers: { host: 'reviews:9080' }, agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(`status ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** The inbound port meshctl up gave a workload, from the platform YAML it wrote in the state directory. */
function inboundPort(workload: string): number {
  const find = (dir: string): string | undefined => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) {
        const f = find(p);
        if (f) return f;
      } else if (e === 'bookinfo-platform.yaml') return p;
    }
    return undefined;
  };
  const file = find(state);
  if (!file) throw new Error('no bookinfo-platform.yaml under the state directory');
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const o = doc.toJS() as { kind: string; metadata: { name: string }; spec: { ingress?: { port: { number: number } }[] } };
    if (o.kind === 'Sidecar' && o.metadata.name === workload) return o.spec.ingress?.[0].port.number as number;
  }
  throw new Error(`no Sidecar for ${workload}`);
}

beforeAll(async () => {
  gatewayPort = await freePort();
  const up = await meshctl(['up', '--state-dir', state, '--gateway-port', String(gatewayPort)]);
  if (up.code !== 0) {
    // Say why: the last lines of each component's log (afterAll removes the state directory).
    const logs = join(state, 'logs');
    for (const f of readdirSync(logs)) process.stderr.write(`--- ${f}\n${readFileSync(join(logs, f), 'utf8').split('\n').slice(-8).join('\n')}\n`);
  }
  expect(up.stderr).toBe('');
  expect(up.code).toBe(0);
  mixerUrl = /mixer\s+mixer (http:\/\/\S+)/.exec(up.stdout)?.[1] ?? '';
  await until(async () => (await page().catch(() => ({ status: 0, body: '' }))).status === 200, 'the product page through the gateway');
  const login = await fetch(`http://127.0.0.1:${gatewayPort}/login`, { method: 'POST', body: new URLSearchParams({ username: 'jason', passwd: 'x' }), redirect: 'manual' });
  expect(login.status).toBe(302);
  jason = (login.headers.get('set-cookie') ?? '').split(';')[0];
  expect(jason).toMatch(/^session=/);
}, 360_000);

afterAll(async () => {
  await meshctl(['down', '--state-dir', state], 120_000);
  rmSync(home, { recursive: true, force: true });
}, 150_000);

describe('Bookinfo through the ingress gateway, mTLS STRICT mesh-wide', () => {
  it('STRICT mesh-wide: the sidecars stop taking plaintext, the page still answers over mTLS', async () => {
    const port = inboundPort('reviews-v1');
    expect(await plainGet(port)).toBe('status 200');
    const pa = join(home, 'strict.yaml');
    writeFileSync(pa, 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n');
    await apply(pa);
    await eventually(async () => expect(await plainGet(port)).not.toMatch(/^status/));
    await eventually(async () => {
      const p = await page();
      expect(p.status).toBe(200);
      expect(p.body).toContain('<dt>Publisher:</dt><dd>PublisherA</dd>');
      expect(p.body).not.toContain('Error fetching');
    });
  }, 120_000);

  it('virtual-service-all-v1: everyone gets reviews v1, no stars', async () => {
    await apply('virtual-service-all-v1.yaml');
    await eventually(async () => {
      for (const cookie of [undefined, jason, undefined, jason, undefined]) expect(shown((await page(cookie)).body)).toBe('v1');
    });
  }, 120_000);

  it('virtual-service-reviews-50-v3: v1 and v3, never v2', async () => {
    await apply('virtual-service-reviews-50-v3.yaml');
    await eventually(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 24; i++) seen.add(shown((await page()).body));
      expect([...seen].sort()).toEqual(['v1', 'v3']);
    });
  }, 120_000);

  it('virtual-service-reviews-test-v2: jason gets black stars, everyone else none', async () => {
    await apply('virtual-service-reviews-test-v2.yaml');
    await eventually(async () => {
      for (let i = 0; i < 3; i++) {
        expect(shown((await page(jason)).body)).toBe('v2');
        expect(shown((await page()).body)).toBe('v1');
      }
    });
  }, 120_000);

  it('virtual-service-ratings-test-delay: jason\'s page says reviews are unavailable (productpage gave up after 2 × 3 s)', async () => {
    await apply('virtual-service-ratings-test-delay.yaml');
    await eventually(async () => {
      const p = await page(jason);
      expect(p.status).toBe(200);
      expect(shown(p.body)).toBe('unavailable');
      expect(p.body).toContain('<dt>Publisher:</dt><dd>PublisherA</dd>');
    }, 90_000);
    expect(shown((await page()).body)).toBe('v1');
  }, 150_000);

  it('virtual-service-ratings-test-abort: jason\'s reviews say "Ratings service is currently unavailable"', async () => {
    await apply('virtual-service-ratings-test-abort.yaml');
    await eventually(async () => expect(shown((await page(jason)).body)).toBe('ratings-unavailable'));
    expect(shown((await page()).body)).toBe('v1');
  }, 120_000);

  it('traffic shifting under load (all-v1 → 80/20 v1/v2 → 50/50 v1/v3 → v3): zero failed requests', async () => {
    await apply('virtual-service-all-v1.yaml');
    let stop = false;
    const tally = { ok: 0, failed: 0, versions: {} as Record<string, number>, failures: [] as string[] };
    const worker = async (): Promise<void> => {
      while (!stop) {
        try {
          const p = await page();
          const v = shown(p.body);
          if (p.status !== 200 || p.body.includes('Error fetching') || !['v1', 'v2', 'v3'].includes(v)) {
            tally.failed++;
            tally.failures.push(`${p.status} ${v}`);
          } else tally.ok++;
          tally.versions[v] = (tally.versions[v] ?? 0) + 1;
        } catch (err) {
          tally.failed++;
          tally.failures.push(String(err));
        }
      }
    };
    const workers = Array.from({ length: 6 }, worker);
    for (const f of ['virtual-service-reviews-80-20.yaml', 'virtual-service-reviews-50-v3.yaml', 'virtual-service-reviews-v3.yaml']) {
      await new Promise((r) => setTimeout(r, 3000));
      await apply(f);
    }
    // The last shift (everything to v3) is seen before the load stops.
    await until(async () => shown((await page()).body) === 'v3' && shown((await page()).body) === 'v3', 'reviews v3 for everyone');
    stop = true;
    await Promise.all(workers);
    process.stderr.write(`bookinfo-gateway shifting under load: ${JSON.stringify({ ok: tally.ok, failed: tally.failed, versions: tally.versions })}\n`);
    expect(tally.failures.slice(0, 5)).toEqual([]);
    expect(tally.failed).toBe(0);
    expect(tally.ok).toBeGreaterThan(50);
    expect(tally.versions.v1).toBeGreaterThan(0);
    expect(tally.versions.v3).toBeGreaterThan(0);
  }, 180_000);

  it('one sampled request is one trace in mixer across the gateway, productpage, details, reviews and ratings (the services pass the trace headers on)', async () => {
    expect(mixerUrl).toMatch(/^http:/);
    await apply('virtual-service-reviews-v3.yaml');
    await eventually(async () => expect(shown((await page()).body)).toBe('v3'));
    const traceId = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
    const res = await fetch(`http://127.0.0.1:${gatewayPort}/productpage`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(shown(await res.text())).toBe('v3');
    let services: string[] = [];
    await eventually(async () => {
      const r = await fetch(`${mixerUrl}/api/traces?service=ratings&limit=1000`);
      const t = ((await r.json()) as { traces: { traceId: string; services: string[] }[] }).traces.find((x) => x.traceId === traceId);
      services = t?.services ?? [];
      for (const svc of ['productpage', 'details', 'reviews', 'ratings']) expect(services, JSON.stringify(services)).toContain(`${svc}.default`);
    });
    process.stderr.write(`bookinfo-gateway trace ${traceId}: ${services.join(', ')}\n`);
  }, 120_000);
});
