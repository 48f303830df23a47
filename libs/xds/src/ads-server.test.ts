import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, test } from 'vitest';
import { createAdsClient, type AdsClient } from './ads-client.js';
import { createAdsServer, listenAds, pushSnapshot, type AdsConnection, type AdsServerHooks, type ListeningAds } from './ads-server.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, type ResourceObject } from './resources.js';
import { buildSnapshot, type Snapshot } from './snapshot.js';
import { sampleResources } from './testing.js';
import { ADS_SERVICE_NAME, codec, type WireSotwResponse } from './wire.js';

const NODE = { id: 'sidecar~127.0.0.1~echo-1.default~default.svc.cluster.local', cluster: 'echo', metadata: { NAMESPACE: 'default', LABELS: { app: 'echo' } } };

function snap(resources: Record<string, ResourceObject[]>): Snapshot {
  const s = buildSnapshot(resources);
  if (!s.ok) throw new Error(s.errors.join('; '));
  return s.value;
}

/** Polls until `fn` returns a truthy value (protocol events arrive asynchronously). */
async function waitFor<T>(fn: () => T, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Log {
  acks: string[];
  nacks: string[];
  pushes: string[];
  connects: AdsConnection[];
  disconnects: number;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(initial: Snapshot | undefined, extra: Partial<AdsServerHooks> = {}): Promise<{ ads: ListeningAds; log: Log; conn: () => AdsConnection }> {
  const log: Log = { acks: [], nacks: [], pushes: [], connects: [], disconnects: 0 };
  const server = createAdsServer({
    onConnect: (c) => {
      log.connects.push(c);
      return initial;
    },
    onAck: (_c, t, v) => log.acks.push(`${short(t)}:${v}`),
    onNack: (_c, t, v, e) => log.nacks.push(`${short(t)}:${v}:${e}`),
    onPush: (_c, t, _v, n, removed) => log.pushes.push(`${short(t)}:${n}-${removed}`),
    onDisconnect: () => log.disconnects++,
    ...extra,
  });
  const ads = await listenAds(server);
  cleanups.push(() => ads.close());
  return { ads, log, conn: () => server.connections()[0] };
}

const short = (t: string): string => ({ [CLUSTER_TYPE]: 'cds', [ENDPOINT_TYPE]: 'eds', [LISTENER_TYPE]: 'lds', [ROUTE_TYPE]: 'rds' })[t] ?? t;

function client(port: number, extra: Partial<Parameters<typeof createAdsClient>[0]> = {}): AdsClient {
  const c = createAdsClient({ target: `127.0.0.1:${port}`, node: NODE, backoff: { initialMs: 10, maxMs: 50 }, ...extra });
  cleanups.push(() => c.close());
  return c;
}

function subscribeAll(c: AdsClient): void {
  c.subscribe(CLUSTER_TYPE);
  c.subscribe(ENDPOINT_TYPE, ['outbound|8080||echo.default.svc.cluster.local']);
  c.subscribe(LISTENER_TYPE);
  c.subscribe(ROUTE_TYPE, ['echo-route']);
}

const EDS_NAME = 'outbound|8080||echo.default.svc.cluster.local';

describe.each([false, true])('ADS over gRPC (delta=%s)', (delta) => {
  test('every subscribed type arrives and is ACKed; the server sees the node; syncz state is kept', async () => {
    const s1 = snap(sampleResources());
    const { ads, log, conn } = await start(s1);
    const c = client(ads.port, { delta });
    subscribeAll(c);
    await waitFor(() => log.acks.length >= 4, 'four ACKs');
    expect([...c.resources(ROUTE_TYPE).keys()]).toEqual(['echo-route']);
    expect(c.resources(ENDPOINT_TYPE).get(EDS_NAME)).toEqual(sampleResources()[ENDPOINT_TYPE][0]);
    expect(log.connects[0].node).toEqual(NODE);
    expect(log.connects[0].delta).toBe(delta);
    const st = conn().status();
    for (const t of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]) expect(st[t]).toMatchObject({ sentVersion: s1.types[t].version, ackedVersion: s1.types[t].version, nacks: 0 });
    expect(log.nacks).toEqual([]);
  });

  test('a NACK is recorded, the rejected version is not resent, the client keeps its last good config', async () => {
    const good = snap(sampleResources());
    const bad = snap(sampleResources('echo', '127.0.0.1', 8080, 'bad'));
    const { ads, log, conn } = await start(good);
    const c = client(ads.port, {
      delta,
      validate: (t, rs) => (t === ROUTE_TYPE && JSON.stringify([...rs.values()]).includes('"bad"') ? 'route bad refused' : undefined),
    });
    subscribeAll(c);
    await waitFor(() => log.acks.length >= 4, 'four ACKs');
    expect(pushSnapshot(conn(), bad)).toBe(1); // only RDS changed
    await waitFor(() => log.nacks.length === 1, 'a NACK');
    expect(log.nacks).toEqual([`rds:${bad.types[ROUTE_TYPE].version}:route bad refused`]);
    expect(conn().status()[ROUTE_TYPE]).toMatchObject({ nackedVersion: bad.types[ROUTE_TYPE].version, lastError: 'route bad refused', nacks: 1, ackedVersion: good.types[ROUTE_TYPE].version });
    expect(pushSnapshot(conn(), bad)).toBe(0); // not resent
    expect(JSON.stringify(c.resources(ROUTE_TYPE).get('echo-route'))).toContain('"v1"');
    const fixed = snap(sampleResources('echo', '127.0.0.1', 8080, 'v3'));
    expect(pushSnapshot(conn(), fixed)).toBe(1);
    await waitFor(() => JSON.stringify(c.resources(ROUTE_TYPE).get('echo-route')).includes('"v3"'), 'the fixed route');
  });

  test('reconnects after the server drops the stream and gets its config again', async () => {
    const { ads, log } = await start(snap(sampleResources()));
    const c = client(ads.port, { delta });
    subscribeAll(c);
    await waitFor(() => log.acks.length >= 4, 'four ACKs');
    log.connects[0].close();
    await waitFor(() => log.connects.length === 2 && c.streams === 2, 'a second stream');
    await waitFor(() => log.acks.length >= (delta ? 4 : 8), 'ACKs on the new stream');
    expect(log.disconnects).toBe(1);
    expect(c.resources(CLUSTER_TYPE).size).toBe(1);
  });
});

describe('SotW specifics', () => {
  test('push order is CDS, EDS, LDS, RDS; a stale nonce is ignored', async () => {
    const { ads, log, conn } = await start(undefined);
    const raw = new grpc.Client(`127.0.0.1:${ads.port}`, grpc.credentials.createInsecure());
    cleanups.push(() => raw.close());
    const got: WireSotwResponse[] = [];
    const stream = raw.makeBidiStreamRequest(`/${ADS_SERVICE_NAME}/StreamAggregatedResources`, codec.encodeSotwRequest, codec.decodeSotwResponse);
    cleanups.push(() => stream.cancel());
    stream.on('data', (r: WireSotwResponse) => got.push(r));
    stream.on('error', () => undefined);
    // Requests in the "wrong" order; no snapshot yet, so nothing is answered.
    stream.write({ node: NODE, typeUrl: ROUTE_TYPE, resourceNames: ['echo-route'] });
    stream.write({ typeUrl: LISTENER_TYPE });
    stream.write({ typeUrl: ENDPOINT_TYPE, resourceNames: [EDS_NAME] });
    stream.write({ typeUrl: CLUSTER_TYPE });
    await waitFor(() => conn()?.status()[CLUSTER_TYPE], 'four subscriptions');
    const s1 = snap(sampleResources());
    expect(pushSnapshot(conn(), s1)).toBe(4);
    await waitFor(() => got.length === 4, 'four responses');
    expect(got.map((r) => short(r.typeUrl))).toEqual(['cds', 'eds', 'lds', 'rds']);
    expect(got.map((r) => r.resources.length)).toEqual([1, 1, 1, 1]);
    // A NACK carrying a nonce the server did not send last is stale: neither recorded nor answered.
    stream.write({ typeUrl: CLUSTER_TYPE, responseNonce: 'nope', errorDetail: { code: 3, message: 'x' } });
    stream.write({ typeUrl: CLUSTER_TYPE, versionInfo: got[0].versionInfo, responseNonce: got[0].nonce });
    await waitFor(() => log.acks.length === 1, 'the ACK');
    expect(log.nacks).toEqual([]);
    expect(conn().status()[CLUSTER_TYPE]).toMatchObject({ acks: 1, nacks: 0 });
    expect(got).toHaveLength(4);
  });

  test('a refused stream ends with the status onConnect chose', async () => {
    const { AdsRefusedError } = await import('./errors.js');
    const { ads } = await start(undefined, {
      onConnect: () => {
        throw new AdsRefusedError(grpc.status.PERMISSION_DENIED, 'no config for you');
      },
    });
    const errors: Error[] = [];
    const c = client(ads.port, { onStreamError: (e) => errors.push(e) });
    c.subscribe(CLUSTER_TYPE);
    const e = await waitFor(() => errors[0], 'the refusal');
    expect((e as grpc.ServiceError).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(e.message).toContain('no config for you');
  });
});

describe('Delta specifics', () => {
  const delta = true;
  test('only changed resources are pushed; removals are sent; unsubscribe stops updates', async () => {
    const { ads, log, conn } = await start(snap(sampleResources()));
    const updates: string[] = [];
    const c = client(ads.port, { delta, onUpdate: (u) => updates.push(`${short(u.typeUrl)}+${u.changed.join(',')}-${u.removed.join(',')}`) });
    subscribeAll(c);
    await waitFor(() => log.acks.length >= 4, 'four ACKs');
    // Add a second service: only its resources go out.
    const two = sampleResources();
    const other = sampleResources('other', '127.0.0.1', 9090);
    for (const t of Object.keys(two)) two[t] = [...two[t], ...other[t]];
    log.pushes.length = 0;
    expect(pushSnapshot(conn(), snap(two))).toBe(2); // CDS and LDS are wildcard; EDS/RDS names not subscribed
    await waitFor(() => log.acks.length >= 6, 'ACKs of the push');
    expect(log.pushes).toEqual(['cds:1-0', 'lds:1-0']);
    expect([...c.resources(CLUSTER_TYPE).keys()].sort()).toEqual([EDS_NAME, 'outbound|9090||other.default.svc.cluster.local']);
    // Remove it again: removed_resources, no resources.
    log.pushes.length = 0;
    pushSnapshot(conn(), snap(sampleResources()));
    await waitFor(() => log.acks.length >= 8, 'ACKs of the removal');
    expect(log.pushes).toEqual(['cds:0-1', 'lds:0-1']);
    expect(c.resources(LISTENER_TYPE).size).toBe(1);
    // Unsubscribe from the route: a later change of it is not sent.
    c.unsubscribe(ROUTE_TYPE, ['echo-route']);
    await waitFor(() => conn().status()[ROUTE_TYPE].subscribed.length === 0, 'the unsubscribe');
    log.pushes.length = 0;
    expect(pushSnapshot(conn(), snap(sampleResources('echo', '127.0.0.1', 8080, 'v9')))).toBe(0);
    expect(updates.filter((u) => u.startsWith('rds'))).toEqual(['rds+echo-route-']);
  });
});
