import * as grpc from '@grpc/grpc-js';
import { afterEach, expect, test } from 'vitest';
import { createAdsClient, type AdsUpdate } from './ads-client.js';
import { CLUSTER_TYPE, ROUTE_TYPE, encodeResource, type ResourceObject } from './resources.js';
import { adsServiceDefinition, type WireSotwResponse } from './wire.js';

/** A scripted ADS server: records requests, and the test writes responses by hand. */
async function scriptedServer(): Promise<{ port: number; requests: ResourceObject[]; send: (r: WireSotwResponse) => void; close: () => void }> {
  const requests: ResourceObject[] = [];
  let call: grpc.ServerDuplexStream<ResourceObject, WireSotwResponse> | undefined;
  const server = new grpc.Server();
  server.addService(adsServiceDefinition(), {
    streamAggregatedResources: (c: grpc.ServerDuplexStream<ResourceObject, WireSotwResponse>) => {
      call = c;
      c.on('data', (r: ResourceObject) => requests.push(r));
      c.on('end', () => c.end());
    },
    deltaAggregatedResources: (c: grpc.ServerDuplexStream<unknown, unknown>) => c.end(),
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { port, requests, send: (r) => call?.write(r), close: () => server.forceShutdown() };
}

async function waitFor<T>(fn: () => T, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).reverse().forEach((c) => c()));

function bytes(typeUrl: string, obj: ResourceObject): Uint8Array {
  const r = encodeResource(typeUrl, obj);
  if (!r.ok) throw new Error(r.errors.join());
  return r.value;
}

test('undecodable resources are NACKed with the previous version, the last good set is kept', async () => {
  const srv = await scriptedServer();
  cleanups.push(srv.close);
  const c = createAdsClient({ target: `127.0.0.1:${srv.port}`, node: { id: 'n1' } });
  cleanups.push(() => c.close());
  c.subscribe(CLUSTER_TYPE);
  await waitFor(() => srv.requests.length === 1, 'the first request');
  expect(srv.requests[0]).toEqual({ node: { id: 'n1' }, typeUrl: CLUSTER_TYPE });
  srv.send({ versionInfo: 'v1', typeUrl: CLUSTER_TYPE, nonce: 'a', resources: [{ typeUrl: CLUSTER_TYPE, value: bytes(CLUSTER_TYPE, { name: 'c1' }) }] });
  await waitFor(() => srv.requests.length === 2, 'the ACK');
  expect(srv.requests[1]).toEqual({ typeUrl: CLUSTER_TYPE, versionInfo: 'v1', responseNonce: 'a' });
  srv.send({ versionInfo: 'v2', typeUrl: CLUSTER_TYPE, nonce: 'b', resources: [{ typeUrl: CLUSTER_TYPE, value: new Uint8Array([0x0a, 0xff, 0xff]) }] });
  await waitFor(() => srv.requests.length === 3, 'the NACK');
  expect(srv.requests[2]).toMatchObject({ typeUrl: CLUSTER_TYPE, versionInfo: 'v1', responseNonce: 'b', errorDetail: { code: grpc.status.INVALID_ARGUMENT } });
  expect([...c.resources(CLUSTER_TYPE).keys()]).toEqual(['c1']);
  expect(c.version(CLUSTER_TYPE)).toBe('v1');
});

test('SotW: CDS responses replace the set, RDS responses add to it', async () => {
  const srv = await scriptedServer();
  cleanups.push(srv.close);
  const updates: AdsUpdate[] = [];
  const c = createAdsClient({ target: `127.0.0.1:${srv.port}`, node: { id: 'n1' }, onUpdate: (u) => updates.push(u) });
  cleanups.push(() => c.close());
  c.subscribe(CLUSTER_TYPE);
  c.subscribe(ROUTE_TYPE, ['r1', 'r2']);
  await waitFor(() => srv.requests.length === 2, 'two requests');
  const cl = (n: string) => ({ typeUrl: CLUSTER_TYPE, value: bytes(CLUSTER_TYPE, { name: n }) });
  const rt = (n: string) => ({ typeUrl: ROUTE_TYPE, value: bytes(ROUTE_TYPE, { name: n }) });
  srv.send({ versionInfo: '1', typeUrl: CLUSTER_TYPE, nonce: '1', resources: [cl('a'), cl('b')] });
  srv.send({ versionInfo: '1', typeUrl: ROUTE_TYPE, nonce: '2', resources: [rt('r1')] });
  srv.send({ versionInfo: '2', typeUrl: CLUSTER_TYPE, nonce: '3', resources: [cl('b')] });
  srv.send({ versionInfo: '2', typeUrl: ROUTE_TYPE, nonce: '4', resources: [rt('r2')] });
  await waitFor(() => updates.length === 4, 'four updates');
  expect([...c.resources(CLUSTER_TYPE).keys()]).toEqual(['b']);
  expect(updates[2].removed).toEqual(['a']);
  expect([...c.resources(ROUTE_TYPE).keys()].sort()).toEqual(['r1', 'r2']);
});

test('reconnects with backoff and resumes with the version it holds', async () => {
  const srv = await scriptedServer();
  const c = createAdsClient({ target: `127.0.0.1:${srv.port}`, node: { id: 'n1' }, backoff: { initialMs: 10, maxMs: 20 } });
  cleanups.push(() => c.close());
  c.subscribe(CLUSTER_TYPE);
  await waitFor(() => srv.requests.length === 1, 'the first request');
  srv.send({ versionInfo: 'v1', typeUrl: CLUSTER_TYPE, nonce: 'a', resources: [] });
  await waitFor(() => srv.requests.length === 2, 'the ACK');
  srv.close();
  // A new server on the same port: the client finds it and resumes at v1 with a fresh nonce.
  const again = new grpc.Server();
  const requests: ResourceObject[] = [];
  again.addService(adsServiceDefinition(), {
    streamAggregatedResources: (call: grpc.ServerDuplexStream<ResourceObject, unknown>) => call.on('data', (r: ResourceObject) => requests.push(r)),
    deltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
  });
  await new Promise<void>((res, rej) => again.bindAsync(`127.0.0.1:${srv.port}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  cleanups.push(() => again.forceShutdown());
  await waitFor(() => requests.length === 1, 'the resumed request');
  expect(requests[0]).toEqual({ node: { id: 'n1' }, typeUrl: CLUSTER_TYPE, versionInfo: 'v1' });
  expect(c.streams).toBeGreaterThanOrEqual(2);
});
