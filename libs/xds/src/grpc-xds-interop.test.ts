/**
 * Interop: a real proxyless gRPC xDS client (@grpc/grpc-js-xds, SotW ADS) resolves `xds:///echo`
 * through our ADS server — Listener (ApiListener + HCM + RDS) → RouteConfiguration → EDS Cluster →
 * ClusterLoadAssignment — and calls a real local gRPC server. Proof that what we encode is what a
 * real xDS client accepts.
 */
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createAdsServer, listenAds, pushSnapshot, type AdsConnection, type ListeningAds } from './ads-server.js';
import { ROUTE_TYPE } from './resources.js';
import { buildSnapshot, type Snapshot } from './snapshot.js';
import { sampleResources } from './testing.js';

const BOOTSTRAP_KEY = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
const ECHO_PATH = '/meshwork.test.Echo/Echo';
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };

let backend: grpc.Server;
let backendPort: number;
let ads: ListeningAds;
const acks: string[] = [];
const nacks: string[] = [];
const conns: AdsConnection[] = [];
let snapshot: Snapshot;

beforeAll(async () => {
  grpcXds.register();
  backend = new grpc.Server();
  backend.addService(
    { echo: { path: ECHO_PATH, requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize } },
    { echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.concat([Buffer.from('echo:'), call.request])) },
  );
  backendPort = await new Promise<number>((res, rej) => backend.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const s = buildSnapshot(sampleResources('echo', '127.0.0.1', backendPort));
  if (!s.ok) throw new Error(s.errors.join('; '));
  snapshot = s.value;
  ads = await listenAds(
    createAdsServer({
      onConnect: (c) => {
        conns.push(c);
        return snapshot;
      },
      onAck: (_c, t, v) => acks.push(`${t}:${v}`),
      onNack: (_c, t, _v, e) => nacks.push(`${t}: ${e}`),
    }),
  );
});

afterAll(async () => {
  await ads?.close();
  backend?.forceShutdown();
});

function call(client: grpc.Client, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(ECHO_PATH, raw.serialize, raw.deserialize, Buffer.from(msg), { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res ? res.toString() : '')));
  });
}

test('a grpc-js-xds client resolves xds:///echo through our ADS server and calls the backend', async () => {
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${ads.port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc~127.0.0.1~client-1.default~default.svc.cluster.local', locality: {}, metadata: { GENERATOR: 'grpc' } },
  };
  const client = new grpc.Client('xds:///echo', grpc.credentials.createInsecure(), { [BOOTSTRAP_KEY]: JSON.stringify(bootstrap) });
  try {
    expect(await call(client, 'hello')).toBe('echo:hello');
    expect(nacks).toEqual([]);
    // The client ACKed all four types, and our server saw its node.
    expect(new Set(acks.map((a) => a.split(':').slice(0, 2).join(':'))).size).toBe(4);
    expect(conns[0].nodeId).toBe(bootstrap.node.id);
    expect(conns[0].node.metadata).toEqual({ GENERATOR: 'grpc' });
    // A route pointing at a cluster that is not there would be rejected or fail the call; a
    // real change (new route name in the same config) is ACKed.
    const s2 = buildSnapshot(sampleResources('echo', '127.0.0.1', backendPort, 'v2'));
    if (!s2.ok) throw new Error(s2.errors.join('; '));
    expect(pushSnapshot(conns[0], s2.value)).toBe(1);
    const v2 = s2.value.types[ROUTE_TYPE].version;
    for (let i = 0; i < 500 && !acks.includes(`${ROUTE_TYPE}:${v2}`); i++) await new Promise((r) => setTimeout(r, 10));
    expect(acks).toContain(`${ROUTE_TYPE}:${v2}`);
    expect(await call(client, 'again')).toBe('echo:again');

    // A route grpc-js-xds rejects (weighted clusters summing to 0): NACKed with its reason,
    // recorded, not resent, and the client keeps serving with the last good config.
    const bad = sampleResources('echo', '127.0.0.1', backendPort, 'v3');
    const vh = (bad[ROUTE_TYPE][0].virtualHosts as { routes: { route: Record<string, unknown> }[] }[])[0];
    vh.routes[0].route = { weightedClusters: { clusters: [{ name: 'outbound|8080||echo.default.svc.cluster.local', weight: { value: 0 } }] } };
    const s3 = buildSnapshot(bad, { skipConsistencyCheck: true });
    if (!s3.ok) throw new Error(s3.errors.join('; '));
    expect(pushSnapshot(conns[0], s3.value)).toBe(1);
    for (let i = 0; i < 500 && nacks.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(nacks).toHaveLength(1);
    expect(nacks[0]).toMatch(new RegExp(`^${ROUTE_TYPE}: .*weight`, 'i'));
    expect(conns[0].status()[ROUTE_TYPE]).toMatchObject({ ackedVersion: v2, nackedVersion: s3.value.types[ROUTE_TYPE].version, nacks: 1 });
    expect(pushSnapshot(conns[0], s3.value)).toBe(0);
    expect(await call(client, 'still')).toBe('echo:still');
  } finally {
    client.close();
  }
});
