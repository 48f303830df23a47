/**
 * GLOBAL rate limits end to end: NATS, the real mixer binary (RateLimitService, memory counters),
 * pilot, and real sidecars for reviews v1 and v2 given mixer's address with --ratelimit-address.
 * Traffic from productpage's sidecar alternates between both reviews sidecars (routed by a
 * header); mixer counts them together. Then mixer down (stopped) and mixer hung (SIGSTOP, so calls miss their deadline):
 * `failureMode: ALLOW` lets requests through, `DENY` refuses them, and paths no rule covers pass
 * either way (the sidecar only calls mixer for requests a rule matches).
 */
import type * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { startMixer, type RunningMixer } from './mixer-support.js';
import { freePort, reviewsMesh, startSidecar, versionedApp, viaProxy, type ProxiedResponse, type RunningSidecar } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';

const URL_ = 'http://reviews.default.svc.cluster.local:9080';
const LIMIT = 6;

const RATE_LIMITS = `---
apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: reviews-open, namespace: default}
spec:
  selector:
    matchLabels: {app: reviews}
  mode: GLOBAL
  failureMode: ALLOW
  timeout: 1s
  response:
    rateLimitHeaders: DRAFT_VERSION_03
  rules:
  - name: per-user
    match:
    - paths: [/open/*]
    descriptors:
    - requestHeader: {name: x-user}
    limit: {requestsPerUnit: ${LIMIT}, unit: MINUTE}
---
apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: reviews-closed, namespace: default}
spec:
  selector:
    matchLabels: {app: reviews}
  mode: GLOBAL
  failureMode: DENY
  timeout: 1s
  rules:
  - name: per-user
    match:
    - paths: [/closed/*]
    descriptors:
    - requestHeader: {name: x-user}
    limit: {requestsPerUnit: 1000, unit: MINUTE}
`;

const SPLIT = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - match:
    - headers: {x-to: {exact: v2}}
    route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v2}
  - route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1}
`;

let nats: NatsServerHandle;
let mixer: RunningMixer;
let pilot: RunningPilot;
let productpage: RunningSidecar;
const reviews: RunningSidecar[] = [];
const servers: http.Server[] = [];
let pilotDir: string;
let mixerDir: string;
let rlsPort: number;

const get = (path: string, user: string, to = 'v1'): Promise<ProxiedResponse> => viaProxy(productpage, `${URL_}${path}`, { headers: { 'x-user': user, 'x-to': to } });

async function roomInWindow(needMs: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 50));
}

beforeAll(async () => {
  nats = await startNatsServer();
  rlsPort = await freePort();
  mixerDir = mkdtempSync(join(tmpdir(), 'rl-global-mixer-'));
  writeFileSync(join(mixerDir, 'ratelimit.yaml'), RATE_LIMITS);
  mixer = await startMixer(nats.url, ['--ratelimit-config-dir', mixerDir, '--ratelimit-port', String(rlsPort)]);
  pilotDir = mkdtempSync(join(tmpdir(), 'rl-global-pilot-'));
  const appPorts: number[] = [];
  const inbound: number[] = [];
  for (const v of ['v1', 'v2']) {
    const a = await versionedApp(v);
    servers.push(a.server);
    appPorts.push(a.port);
    inbound.push(await freePort());
  }
  writeFileSync(join(pilotDir, 'mesh.yaml'), reviewsMesh(appPorts, inbound, SPLIT + RATE_LIMITS));
  pilot = await startPilot(['--config-dir', pilotDir]);
  for (const v of ['v1', 'v2']) reviews.push(await startSidecar(pilot.xdsPort, `reviews-${v}-1`, { app: 'reviews', version: v }, ['--ratelimit-address', `127.0.0.1:${rlsPort}`]));
  productpage = await startSidecar(pilot.xdsPort, 'productpage-v1-1', { app: 'productpage', version: 'v1' });
  // In force once a probe user is refused on both versions' sidecars (a 429 says the filter and mixer answered).
  await until(async () => (await get('/open/probe', 'probe')).status === 429, 'the GLOBAL RateLimit to reach the reviews sidecars');
}, 120_000);

afterAll(async () => {
  if (mixer?.proc.signalCode === null && mixer.proc.exitCode === null) mixer.proc.kill('SIGCONT');
  for (const s of [productpage, ...reviews]) await s?.stop();
  await pilot?.stop();
  await mixer?.stop();
  await nats?.stop();
  for (const s of servers) s.close();
  for (const d of [pilotDir, mixerDir]) if (d) rmSync(d, { recursive: true, force: true });
}, 60_000);

describe('GLOBAL RateLimit through sidecars and mixer', () => {
  it('counts both reviews sidecars together: exactly the limit per user per window, then 429 with x-envoy-ratelimited and x-ratelimit-*', async () => {
    await roomInWindow(20_000);
    const rs: ProxiedResponse[] = [];
    // Alternating between the v1 and v2 sidecars: each would allow LIMIT on its own.
    for (let i = 0; i < 3 * LIMIT; i++) rs.push(await get('/open/items', 'alice', i % 2 ? 'v2' : 'v1'));
    expect(rs.map((r) => r.status)).toEqual([...Array(LIMIT).fill(200), ...Array(2 * LIMIT).fill(429)]);
    expect(rs.slice(0, LIMIT).map((r) => (JSON.parse(r.body) as { version: string }).version)).toEqual(Array.from({ length: LIMIT }, (_, i) => (i % 2 ? 'v2' : 'v1')));
    const refused = rs.find((r) => r.status === 429);
    expect(refused?.headers['x-envoy-ratelimited']).toBe('true');
    expect(refused?.headers['x-ratelimit-limit']).toBe(`${LIMIT}, ${LIMIT};w=60`);
    expect(refused?.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(refused?.headers['x-ratelimit-reset'])).toBeGreaterThan(0);
    // Another user is counted apart.
    expect((await get('/open/items', 'bob')).status).toBe(200);
  });

  it('mixer hung (SIGSTOP): calls miss the 1 s deadline — ALLOW passes, DENY refuses', async () => {
    expect((await get('/closed/x', 'carol')).status).toBe(200);
    mixer.proc.kill('SIGSTOP');
    try {
      const open = await get('/open/x', 'carol');
      const closed = await get('/closed/x', 'carol');
      // A path no RateLimit rule covers: the sidecar does not call mixer at all, so even the
      // fail-closed policy's sidecar answers it (a call would miss its deadline and be refused).
      const uncovered = await get('/other/x', 'carol');
      expect(open.status).toBe(200);
      expect(closed.status).toBe(429);
      expect(closed.headers['x-envoy-ratelimited']).toBeUndefined();
      expect(uncovered.status).toBe(200);
    } finally {
      mixer.proc.kill('SIGCONT');
    }
    await until(async () => (await get('/closed/x', 'carol')).status === 200, 'mixer to answer again');
  });

  it('mixer down (stopped): ALLOW passes, DENY refuses; a restarted mixer answers again', async () => {
    await mixer.stop();
    for (let i = 0; i < 3; i++) {
      expect((await get('/open/x', `dave-${i}`)).status).toBe(200);
      expect((await get('/closed/x', `dave-${i}`)).status).toBe(429);
      // not covered by any rule: never sent to mixer, so not refused by DENY either
      expect((await get('/other/x', `dave-${i}`)).status).toBe(200);
    }
    mixer = await startMixer(nats.url, ['--ratelimit-config-dir', mixerDir, '--ratelimit-port', String(rlsPort)]);
    await until(async () => (await get('/closed/x', 'erin')).status === 200, 'the restarted mixer to answer');
  });
});
