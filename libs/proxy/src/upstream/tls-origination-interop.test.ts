/**
 * Sidecar to sidecar: one engine originates Istio mTLS (auto mTLS cluster), another terminates it
 * with the inbound mTLS chain pilot builds (libs/translate/src/sidecar.ts: Istio's downstream TLS
 * context, client certificate required, ALPN `istio-peer-exchange, h2, http/1.1`) and forwards to
 * the application. Asserted from the server side: the peer identity the inbound engine verified,
 * the ALPN negotiated, and for TCP the bytes that crossed.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { connect as netConnect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../config/compile.js';
import { ClusterManager } from '../engine/clusters.js';
import { ListenerManager, type EngineExchangeRecord } from '../engine/listeners.js';
import type { EngineClock } from '../model.js';
import { testCa, testSecrets } from '../security/test-pki.js';

const clock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
const SDS = { ads: {}, resourceApiVersion: 'V3' };
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const ROUTER = { name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const PRODUCTPAGE = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';
const REVIEWS = 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews';
const ca = testCa();
const closers: (() => unknown)[] = [];
const records: EngineExchangeRecord[] = [];
let outbound = 0;
let tcpOut = 0;

const staticCluster = (name: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  type: 'STATIC',
  connectTimeout: { seconds: 2 },
  loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port } } }, metadata: { filterMetadata: { 'envoy.transport_socket_match': { tlsMode: 'istio' } } } }] }] },
  ...extra,
});

/** Istio's mTLS socket on the client side, auto mTLS form (cluster.ts). */
const autoMtls = (sni: string, h2: boolean): Record<string, unknown> => ({
  transportSocketMatches: [
    {
      name: 'tlsMode-istio',
      match: { tlsMode: 'istio' },
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
          sni,
          commonTlsContext: {
            tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: SDS }],
            combinedValidationContext: { defaultValidationContext: { matchSubjectAltNames: [{ exact: REVIEWS }] }, validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: SDS } },
            alpnProtocols: h2 ? ['istio-peer-exchange', 'istio', 'h2'] : ['istio-peer-exchange', 'istio'],
          },
        },
      },
    },
    { name: 'tlsMode-disabled', match: {}, transportSocket: { name: 'envoy.transport_sockets.raw_buffer' } },
  ],
  ...(h2 ? { typedExtensionProtocolOptions: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicitHttpConfig: { http2ProtocolOptions: {} } } } } : {}),
});

/** The inbound mTLS chain pilot builds (sidecar.ts), in front of `cluster` (HTTP) or as TCP proxy. */
const inboundListener = (name: string, port: number, cluster: string, tcp: boolean): Record<string, unknown> => ({
  name,
  address: { socketAddress: { address: '127.0.0.1', portValue: port } },
  filterChains: [
    {
      name: `${cluster}-mtls`,
      filterChainMatch: { transportProtocol: 'tls' },
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
          commonTlsContext: {
            tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: SDS }],
            combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: SDS } },
            alpnProtocols: ['istio-peer-exchange', 'h2', 'http/1.1'],
          },
          requireClientCertificate: { value: true },
        },
      },
      filters: tcp
        ? [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP, statPrefix: cluster, cluster } }]
        : [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: { '@type': HCM, statPrefix: name, routeConfig: { name: cluster, virtualHosts: [{ name: 'inbound', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] }, httpFilters: [ROUTER] } }],
    },
  ],
});

async function listen(s: Server | http.Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  closers.push(() => s.close());
  return (s.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  // The destination workload: its application, and its sidecar (reviews' SVID) terminating mTLS.
  const app = await listen(http.createServer((req, res) => res.end(`app ${req.url} http/${req.httpVersion}`)));
  const tcpApp = await listen(createServer((c) => c.on('data', (d: Buffer) => c.end(`tcp-app:${d.toString()}`))));
  const [inHttp, inTcp] = [await freePort(), await freePort()];
  const serverClusters = new ClusterManager(clock);
  const server = new ListenerManager({ clusters: serverClusters, clock, secrets: testSecrets(ca, 'default', 'bookinfo-reviews'), bind: (plan) => ({ host: '127.0.0.1', port: plan.port }), onHttp1: (r) => records.push(r), onHttp2: (r) => records.push(r) });
  const sc = compileConfig({
    listeners: [inboundListener('inbound_9080', inHttp, 'inbound|9080||', false), inboundListener('inbound_9000', inTcp, 'inbound|9000||', true)],
    routes: [],
    clusters: [staticCluster('inbound|9080||', app), staticCluster('inbound|9000||', tcpApp)],
    endpoints: [],
  });
  if (!sc.ok) throw new Error(sc.errors.join('; '));
  serverClusters.apply(sc.value);
  expect(await server.apply(sc.value)).toEqual([]);
  closers.push(async () => {
    await server.close();
    serverClusters.close();
  });

  // The source workload's sidecar (productpage's SVID) originating mTLS to it.
  const clientClusters = new ClusterManager(clock, { secrets: testSecrets(ca, 'default', 'bookinfo-productpage') });
  const client = new ListenerManager({ clusters: clientClusters, clock, bind: () => ({ host: '127.0.0.1', port: 0 }) });
  const vh = (host: string, cluster: string): Record<string, unknown> => ({ name: host, domains: [host], routes: [{ match: { prefix: '/' }, route: { cluster } }] });
  const cc = compileConfig({
    listeners: [
      { name: 'virtualOutbound', address: { socketAddress: { address: '0.0.0.0', portValue: 15001 } }, filterChains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: { '@type': HCM, statPrefix: 'outbound', rds: { routeConfigName: '15001', configSource: SDS }, httpFilters: [ROUTER] } }] }] },
      { name: 'tcp_9000', address: { socketAddress: { address: '127.0.0.1', portValue: 9000 } }, filterChains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP, statPrefix: 'db', cluster: 'outbound|9000||db' } }] }] },
    ],
    routes: [{ name: '15001', virtualHosts: [vh('reviews', 'outbound|9080||reviews'), vh('reviews-h2', 'outbound|9080|h2|reviews')] }],
    clusters: [
      staticCluster('outbound|9080||reviews', inHttp, autoMtls('outbound_.9080_._.reviews.default.svc.cluster.local', false)),
      staticCluster('outbound|9080|h2|reviews', inHttp, autoMtls('outbound_.9080_.h2_.reviews.default.svc.cluster.local', true)),
      staticCluster('outbound|9000||db', inTcp, autoMtls('outbound_.9000_._.db.default.svc.cluster.local', false)),
    ],
    endpoints: [],
  });
  if (!cc.ok) throw new Error(cc.errors.join('; '));
  clientClusters.apply(cc.value);
  expect(await client.apply(cc.value)).toEqual([]);
  outbound = client.ports().get('virtualOutbound') ?? 0;
  tcpOut = client.ports().get('tcp_9000') ?? 0;
  closers.push(async () => {
    await client.close();
    clientClusters.close();
  });
});

afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

function get(host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outbound, path, headers: { host }, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('sidecar to sidecar over Istio mTLS (origination meets termination)', () => {
  it('HTTP/1.1: the destination sidecar sees the source SVID and forwards to its application', async () => {
    const r = await get('reviews', '/reviews/1');
    expect(r).toEqual({ status: 200, body: 'app /reviews/1 http/1.1' });
    const rec = records.find((x) => x.request.path === '/reviews/1');
    expect(rec?.downstream.tls?.peerIdentities).toEqual([PRODUCTPAGE]);
    expect(rec?.downstream.tls?.sni).toBe('outbound_.9080_._.reviews.default.svc.cluster.local');
    expect(rec?.downstream.tls?.alpn).toBe('http/1.1');
  });

  it('HTTP/2: h2 is negotiated between the sidecars', async () => {
    const body = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const s = http2.connect(`http://127.0.0.1:${outbound}`);
      s.on('error', reject);
      const req = s.request({ ':path': '/h2', ':authority': 'reviews-h2' });
      let status = 0;
      let b = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        s.close();
        resolve({ status, body: b });
      });
      req.end();
    });
    expect(body).toEqual({ status: 200, body: 'app /h2 http/1.1' });
    const rec = records.find((x) => x.request.path === '/h2');
    expect(rec?.protocol).toBe('HTTP/2');
    expect(rec?.downstream.tls?.alpn).toBe('h2');
    expect(rec?.downstream.tls?.peerIdentities).toEqual([PRODUCTPAGE]);
  });

  it('TCP: bytes cross the mTLS connection both ways', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const c = netConnect({ host: '127.0.0.1', port: tcpOut }, () => c.write('hello'));
      let b = '';
      c.on('data', (d: Buffer) => (b += d.toString()));
      c.on('end', () => resolve(b));
      c.on('error', reject);
    });
    expect(reply).toBe('tcp-app:hello');
  });

  it('TCP: a client that half-closes after its request still gets the reply', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const c = netConnect({ host: '127.0.0.1', port: tcpOut, allowHalfOpen: true }, () => c.end('bye'));
      let b = '';
      c.on('data', (d: Buffer) => (b += d.toString()));
      c.on('end', () => resolve(b));
      c.on('error', reject);
    });
    expect(reply).toBe('tcp-app:bye');
  });
});
