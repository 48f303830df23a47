/**
 * Proxyless gRPC interop through the real meshwork-pilot process: real @grpc/grpc-js-xds
 * clients, real gRPC backends, configuration changed live by rewriting pilot's config
 * directory. Covers fault delay, retries (explicit, disabled, and Istio's default policy),
 * ring-hash stickiness, and an update the client NACKs (pilot records it, does not resend it,
 * the client keeps its last good config, and the next good version is ACKed).
 *
 * grpc-js-xds 1.14 enables fault injection, retries and ring hash by default
 * (GRPC_XDS_EXPERIMENTAL_FAULT_INJECTION / _ENABLE_RETRY / _ENABLE_RING_HASH default to true),
 * so no environment variable is set here.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { echoBackend, echoCall as call, flakyBackend, metricValue, proxySync, startPilot, until, xdsClient, type RunningPilot, type TypeSync } from './support.js';

let dir: string;
let pilot: RunningPilot;
const servers: grpc.Server[] = [];
/** Ports of the echo backends a, b, c; the echo service's port is the first. */
const echoPorts: number[] = [];
let flaky: Awaited<ReturnType<typeof flakyBackend>>;

const ECHO = 'echo.default.svc.cluster.local';
const FLAKY = 'flaky.default.svc.cluster.local';

/** A STATIC MESH_INTERNAL ServiceEntry with one gRPC port and the given endpoint lines. */
const serviceEntry = (name: string, host: string, port: number, endpoints: string[]): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${port}, name: grpc, protocol: GRPC}]
  endpoints:
${endpoints.map((e) => `  - ${e}`).join('\n')}
`;

/** The two services (echo: endpoints a, b[, c]; flaky: one endpoint) plus `extra` documents. */
function mesh(extra: string, echoEndpoints = 2): string {
  const eps = ['a', 'b', 'c'].slice(0, echoEndpoints).map((n, i) => `{address: 127.0.0.1, ports: {grpc: ${echoPorts[i]}}, labels: {app: echo, version: ${n}}}`);
  return [serviceEntry('echo', ECHO, echoPorts[0], eps), serviceEntry('flaky', FLAKY, flaky.port, ['{address: 127.0.0.1}']), ...(extra ? [extra] : [])].join('---\n');
}

const echoVs = (http: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: [${ECHO}]
  http:
${http}
`;

const flakyVs = (retries: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky, namespace: default}
spec:
  hosts: [${FLAKY}]
  http:
  - route: [{destination: {host: ${FLAKY}}}]
    retries: ${retries}
`;

const hashDr = (extra = ''): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: ${ECHO}
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user${extra}}
`;

beforeAll(async () => {
  grpcXds.register();
  for (const name of ['a', 'b', 'c']) {
    const b = await echoBackend(name);
    servers.push(b.server);
    echoPorts.push(b.port);
  }
  flaky = await flakyBackend('flaky');
  servers.push(flaky.server);
  dir = mkdtempSync(join(tmpdir(), 'xds-interop-'));
  writeFileSync(join(dir, 'mesh.yaml'), mesh(''));
  pilot = await startPilot(['--config-dir', dir]);
}, 30_000);

afterAll(async () => {
  await pilot?.stop();
  for (const s of servers) s.forceShutdown();
});

const echoClient = (id: string): grpc.Client => xdsClient(pilot.xdsPort, `xds:///${ECHO}:${echoPorts[0]}`, id);

/** The proxy's sync state; fails the wait (returns an empty record) until pilot lists it. */
const sync = async (id: string): Promise<Record<string, TypeSync>> => (await proxySync(pilot, id)) ?? {};

/** settled resolves with the proxy's sync state once it has ACKed every version pilot sent it, for all four types. */
async function settled(id: string): Promise<Record<string, TypeSync>> {
  let last: Record<string, TypeSync> = {};
  await until(async () => {
    last = await sync(id);
    return ['cds', 'eds', 'lds', 'rds'].every((t) => last[t]?.sent !== undefined && last[t].acked === last[t].sent);
  }, `proxy ${id} to ACK what pilot sent it`);
  return last;
}

/**
 * apply rewrites the mesh config and resolves once pilot has pushed the proxy `id` a new
 * version of some type and the proxy has ACKed everything (the client took the change).
 */
async function apply(id: string, yaml: string): Promise<void> {
  // Settled first, so an ACK still in flight for the previous config is not taken for this one.
  const before = await settled(id);
  // Unchanged config (a test run alone starts from the initial file): nothing new to wait for.
  if (readFileSync(join(dir, 'mesh.yaml'), 'utf8') === yaml) return;
  writeFileSync(join(dir, 'mesh.yaml'), yaml);
  await until(async () => {
    const now = Object.entries(await sync(id));
    return now.some(([t, s]) => s.sent !== before[t]?.sent) && now.every(([, s]) => s.acked === s.sent);
  }, `proxy ${id} to ACK the new config`);
}

/** Calls until the first success (the client is connected and configured). */
async function connected(client: grpc.Client): Promise<void> {
  await until(async () => call(client, 'hello').then(() => true, () => false), 'the client to reach a backend');
}

/** The milliseconds one echo call takes. */
async function timed(client: grpc.Client): Promise<number> {
  const t0 = performance.now();
  await call(client, 't');
  return performance.now() - t0;
}

const DELAY_MS = 300;
/** A call counts as delayed when it took at least the injected delay, less a little timer slack. */
const DELAYED_MS = DELAY_MS - 20;

it('delays every call by a 100% fixedDelay fault, none at 0%, and about half at 50%', async () => {
  const delay = (pct: number): string => echoVs(`  - fault: {delay: {fixedDelay: ${DELAY_MS}ms, percentage: {value: ${pct}}}}
    route: [{destination: {host: ${ECHO}}}]`);
  const client = echoClient('client-delay');
  try {
    await connected(client);
    await apply('client-delay', mesh(delay(100)));
    for (let i = 0; i < 8; i++) expect(await timed(client)).toBeGreaterThanOrEqual(DELAYED_MS);

    await apply('client-delay', mesh(delay(0)));
    const off: number[] = [];
    for (let i = 0; i < 10; i++) off.push(await timed(client));
    // No upper bound per call: a loaded machine may stall a few, never most (at 100% every call was).
    expect(off.filter((ms) => ms >= DELAYED_MS).length).toBeLessThan(5);

    await apply('client-delay', mesh(delay(50)));
    let delayed = 0;
    for (let i = 0; i < 40; i++) if ((await timed(client)) >= DELAYED_MS) delayed++;
    // Binomial(40, 0.5): 6..34 leaves over four standard deviations either side.
    expect(delayed).toBeGreaterThanOrEqual(6);
    expect(delayed).toBeLessThanOrEqual(34);
  } finally {
    client.close();
  }
}, 30_000);

it('retries UNAVAILABLE as the VirtualService says, not at all with attempts 0, and twice under Istio’s default policy', async () => {
  const id = 'client-retry';
  const client = xdsClient(pilot.xdsPort, `xds:///${FLAKY}:${flaky.port}`, id);
  let seq = 0;
  /** One call that the backend refuses `k` times before answering: its outcome and the attempts the backend saw. */
  const attempt = async (k: number): Promise<{ ok: boolean; code?: number; attempts: number }> => {
    const body = `${k}:${id}-${seq++}`;
    const r = await call(client, body).then(
      () => ({ ok: true }),
      (e: grpc.ServiceError) => ({ ok: false, code: e.code }),
    );
    return { ...r, attempts: flaky.attempts.get(body) ?? 0 };
  };
  try {
    await until(async () => (await attempt(0)).ok, 'the client to reach the flaky backend');

    await apply(id, mesh(flakyVs('{attempts: 3, retryOn: unavailable}')));
    expect(await attempt(2)).toEqual({ ok: true, attempts: 3 });

    await apply(id, mesh(flakyVs('{attempts: 0}')));
    expect(await attempt(2)).toEqual({ ok: false, code: grpc.status.UNAVAILABLE, attempts: 1 });

    // No VirtualService: Istio's default, 2 retries on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes
    // (grpc-js-xds keeps the gRPC codes it knows: UNAVAILABLE and CANCELLED), so at most 3 attempts.
    await apply(id, mesh(''));
    expect(await attempt(2)).toEqual({ ok: true, attempts: 3 });
    expect(await attempt(3)).toEqual({ ok: false, code: grpc.status.UNAVAILABLE, attempts: 3 });
  } finally {
    client.close();
  }
}, 30_000);

/** The backends (a, b, c) that `n` calls carrying `x-user: user` reached. */
async function backendsFor(client: grpc.Client, user: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add((await call(client, String(i), { 'x-user': user })).split(':')[0]);
  return seen;
}

it('keeps each x-user on one backend under consistentHash and spreads users over more than one', async () => {
  const id = 'client-ring';
  const client = echoClient(id);
  try {
    await connected(client);
    await apply(id, mesh('', 3));
    // Round robin first: the same user reaches every backend.
    expect((await backendsFor(client, 'u0', 12)).size).toBe(3);

    await apply(id, mesh(hashDr(), 3));
    const all = new Set<string>();
    for (let u = 0; u < 20; u++) {
      const seen = await backendsFor(client, `u${u}`, 5);
      expect(seen.size, `user u${u} reached ${[...seen].join(',')}`).toBe(1);
      for (const s of seen) all.add(s);
    }
    expect((await backendsFor(client, 'u0', 30)).size).toBe(1);
    expect(all.size).toBeGreaterThan(1);
  } finally {
    client.close();
  }
}, 30_000);

it('records a NACKed update without resending it, keeps routing with the last good config, and ACKs the fix', async () => {
  const id = 'client-nack';
  const client = echoClient(id);
  try {
    await connected(client);
    await apply(id, mesh(''));
    // Types are ACKed one by one: the two-endpoint EDS may land just after the ACK apply() saw.
    await until(async () => (await backendsFor(client, 'u1', 10)).size === 2, 'round robin over the two endpoints');
    const good = await settled(id);
    const pushesBefore = await metricValue(pilot, 'pilot_xds_pushes{type="cds"}');

    // Valid for meshwork (minimumRingSize is any uint64), but grpc-js-xds caps rings at 8,388,608 entries.
    const BAD = hashDr(', ringHash: {minimumRingSize: 10000000}');
    writeFileSync(join(dir, 'mesh.yaml'), mesh(BAD));
    await until(async () => {
      const cds = (await sync(id)).cds;
      return cds?.nacked !== undefined && cds.nacked === cds.sent && cds.sent !== good.cds.sent;
    }, 'the client to NACK the cluster update');
    const nacked = await sync(id);
    expect(nacked.cds.error).toContain('minimum_ring_size is too large');
    expect(nacked.cds.acked).toBe(good.cds.acked);

    // A later push that changes only the routes (a timeout) carries the new RDS version but must
    // not resend the rejected cluster version (go-control-plane#962's endless resend).
    const cdsPushes = await metricValue(pilot, 'pilot_xds_pushes{type="cds"}');
    expect(cdsPushes, 'the rejected cluster update was counted as a push').toBeGreaterThan(pushesBefore);
    const rdsPushes = await metricValue(pilot, 'pilot_xds_pushes{type="rds"}');
    writeFileSync(join(dir, 'mesh.yaml'), mesh(`${BAD}---\n${echoVs(`  - route: [{destination: {host: ${ECHO}}}]\n    timeout: 5s`)}`));
    await until(async () => {
      const rds = (await sync(id)).rds;
      return rds.sent !== nacked.rds.sent && rds.acked === rds.sent;
    }, 'the client to ACK the route change');
    await new Promise((r) => setTimeout(r, 300));
    expect(await metricValue(pilot, 'pilot_xds_pushes{type="rds"}')).toBeGreaterThan(rdsPushes);
    expect(await metricValue(pilot, 'pilot_xds_pushes{type="cds"}')).toBe(cdsPushes);
    expect((await sync(id)).cds).toEqual(nacked.cds);

    // The client still balances round robin: the rejected ring hash never took effect.
    expect((await backendsFor(client, 'u1', 10)).size).toBe(2);

    // Fixed: a ring the client accepts. The next version is ACKed and followed.
    writeFileSync(join(dir, 'mesh.yaml'), mesh(hashDr(', ringHash: {minimumRingSize: 1024}')));
    await until(async () => {
      const cds = (await sync(id)).cds;
      return cds.acked === cds.sent && cds.sent !== nacked.cds.sent;
    }, 'the client to ACK the fixed cluster');
    expect((await backendsFor(client, 'u1', 20)).size).toBe(1);
  } finally {
    client.close();
  }
}, 30_000);
