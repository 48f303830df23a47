/**
 * ProxyTelemetry on an inbound listener that terminates mTLS (the real engine, real TLS, certificates
 * from @meshwork/pki): Istio's destination-reporter labels — connection_security_policy
 * `mutual_tls` with source and destination principals for mTLS, `none` and unknown principals for
 * plaintext on the same PERMISSIVE port — the access log's response_code_details of an RBAC denial,
 * the per-policy RBAC denial counter, and the listener's ssl counters on the same registry.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { PassThrough } from 'node:stream';
import { createRootCa, generateKeyPair, issueSvid, privateKeyToPem, type CertificateAuthority } from '@meshwork/pki';
import { ClusterManager, compileConfig, Headers, ListenerManager, MemorySecretProvider, ROOT_CA_SECRET, WORKLOAD_CERT_SECRET, type CertificateSecret, type DownstreamInfo, type Endpoint, type EngineClock, type EngineExchangeRecord, type ListenerPlanExt } from '@meshwork/proxy';
import type { RequestRecord } from '@meshwork/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deniedPolicy, ProxyTelemetry } from './proxy-telemetry.js';

const clock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
const DTLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const SELF = 'spiffe://cluster.local/ns/default/sa/reviews';
const GOOD = 'spiffe://cluster.local/ns/default/sa/productpage';
const BAD = 'spiffe://cluster.local/ns/other/sa/intruder';

function svid(ca: CertificateAuthority, spiffeId: string): CertificateSecret {
  const keys = generateKeyPair('ECDSA_P256');
  const c = issueSvid(ca, { publicKey: keys.publicKey, spiffeId, ttlMs: 3_600_000 });
  return { kind: 'certificate', certChainPem: c.chainPems.join(''), keyPem: privateKeyToPem(keys.privateKey), serialHex: c.serialHex, identity: spiffeId };
}

const ca = createRootCa({ trustDomain: 'cluster.local' });
const closers: (() => unknown)[] = [];
let lm: ListenerManager;
let clusters: ClusterManager;
let telemetry: ProxyTelemetry;
let port = 0;
let tcpInboundPort = 0;
const logLines: string[] = [];

beforeAll(async () => {
  const app = http.createServer((req, res) => res.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  closers.push(() => app.close());
  const appPort = (app.address() as { port: number }).port;
  const tcpApp = createServer((c) => c.on('data', (d: Buffer) => c.end(`tcp:${d.toString()}`)));
  await new Promise<void>((r) => tcpApp.listen(0, '127.0.0.1', () => r()));
  closers.push(() => tcpApp.close());
  const tcpPort = (tcpApp.address() as { port: number }).port;
  const secrets = new MemorySecretProvider();
  secrets.set(WORKLOAD_CERT_SECRET, svid(ca, SELF));
  secrets.set(ROOT_CA_SECRET, { kind: 'validation', trustedCaPem: ca.rootPem });
  const hcm = {
    name: 'envoy.filters.network.http_connection_manager',
    typedConfig: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      statPrefix: 'inbound_0.0.0.0_9080',
      routeConfig: { name: 'inbound|9080||', virtualHosts: [{ name: 'inbound|http|9080', domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: 'inbound|9080||' } }] }] },
      httpFilters: [
        {
          name: 'envoy.filters.http.rbac',
          typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC', rules: { action: 'DENY', policies: { 'ns[default]-policy[deny-other]-rule[0]': { permissions: [{ any: true }], principals: [{ authenticated: { principalName: { exact: BAD } } }] } } } },
        },
        { name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
      ],
    },
  };
  const tls = {
    name: 'envoy.transport_sockets.tls',
    typedConfig: { '@type': DTLS, requireClientCertificate: { value: true }, commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: 'default' }], combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: 'ROOTCA' } }, alpnProtocols: ['istio-peer-exchange', 'h2', 'http/1.1'] } },
  };
  const r = compileConfig({
    listeners: [
      {
        name: 'tcpInbound',
        address: { socketAddress: { address: '0.0.0.0', portValue: 15007 } },
        trafficDirection: 'INBOUND',
        filterChains: [
          {
            filterChainMatch: { transportProtocol: 'tls' },
            filters: [
              { name: 'envoy.filters.network.rbac', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC', statPrefix: 'tcp.', rules: { action: 'DENY', policies: { 'ns[default]-policy[deny-tcp]-rule[0]': { permissions: [{ any: true }], principals: [{ authenticated: { principalName: { exact: BAD } } }] } } } } },
              { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', statPrefix: 'inbound|9000||', cluster: 'inbound|9000||' } },
            ],
            transportSocket: tls,
          },
        ],
      },
      {
        name: 'virtualInbound',
        address: { socketAddress: { address: '0.0.0.0', portValue: 15006 } },
        trafficDirection: 'INBOUND',
        filterChains: [
          { name: 'inbound|9080||-mtls', filterChainMatch: { transportProtocol: 'tls' }, filters: [hcm], transportSocket: tls },
          { name: 'inbound|9080||-plaintext', filterChainMatch: { transportProtocol: 'raw_buffer' }, filters: [hcm] },
        ],
      },
    ],
    routes: [],
    clusters: [{ name: 'inbound|9000||', type: 'STATIC', connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: 'inbound|9000||', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: tcpPort } } } }] }] } }, { name: 'inbound|9080||', type: 'STATIC', connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: 'inbound|9080||', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: appPort } } } }] }] } }],
    endpoints: [],
  });
  if (!r.ok) throw new Error(r.errors.join('; '));
  clusters = new ClusterManager(clock);
  const accessLog = new PassThrough();
  accessLog.on('data', (c: Buffer) => logLines.push(...c.toString().split('\n').filter((l) => l !== '')));
  let manager: ListenerManager | undefined;
  telemetry = new ProxyTelemetry({ self: { workload: 'reviews-v1', namespace: 'default' }, clusters, accessLog, secrets, listenerStats: () => manager?.stats() ?? new Map() });
  lm = manager = new ListenerManager({ clusters, clock, secrets, bind: () => ({ host: '127.0.0.1', port: 0 }), onHttp1: (rec, l: ListenerPlanExt) => telemetry.http(rec, l), onHttp2: (rec, l) => telemetry.http(rec, l), onTcp: (rec, l) => telemetry.tcp(rec, l) });
  clusters.apply(r.value);
  expect(await lm.apply(r.value)).toEqual([]);
  port = lm.ports().get('virtualInbound') ?? 0;
  tcpInboundPort = lm.ports().get('tcpInbound') ?? 0;
});

afterAll(async () => {
  await lm?.close();
  clusters?.close();
  for (const c of closers) await c();
});

function get(path: string, client?: CertificateSecret): Promise<number> {
  return new Promise((resolve, reject) => {
    const done = (res: http.IncomingMessage): void => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    };
    const req = client
      ? https.request({ host: '127.0.0.1', port, path, agent: false, ca: ca.rootPem, cert: client.certChainPem, key: client.keyPem, servername: 'outbound_.9080_._.reviews.default.svc.cluster.local', checkServerIdentity: () => undefined }, done)
      : http.request({ host: '127.0.0.1', port, path, agent: false }, done);
    req.on('error', reject);
    req.end();
  });
}

/** The value of the first sample of `metric` whose labels include all of `labels`. */
function sample(text: string, metric: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('ProxyTelemetry for inbound mTLS', () => {
  it("labels mTLS requests mutual_tls with both principals and plaintext ones none, as Istio's destination reporter", async () => {
    expect(await get('/mtls', svid(ca, GOOD))).toBe(200);
    expect(await get('/plain')).toBe(200);
    const text = (await telemetry.prometheus()).text;
    expect(sample(text, 'istio_requests_total', { reporter: 'destination', connection_security_policy: 'mutual_tls', source_principal: GOOD, destination_principal: SELF, response_code: '200' })).toBe(1);
    expect(sample(text, 'istio_requests_total', { reporter: 'destination', connection_security_policy: 'none', source_principal: 'unknown', destination_principal: 'unknown', response_code: '200' })).toBe(1);
    expect(sample(text, 'envoy_listener_ssl_handshake', { envoy_listener_address: '0.0.0.0_15006' })).toBe(1);
  });

  it('labels TCP over mTLS and counts network RBAC denials per policy', async () => {
    const exchange = (client: CertificateSecret): Promise<string> =>
      new Promise((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: tcpInboundPort, ca: ca.rootPem, cert: client.certChainPem, key: client.keyPem, checkServerIdentity: () => undefined }, () => s.write('hi'));
        let b = '';
        s.on('data', (d: Buffer) => (b += d.toString()));
        s.on('error', () => undefined);
        s.on('close', () => resolve(b));
      });
    expect(await exchange(svid(ca, GOOD))).toBe('tcp:hi');
    expect(await exchange(svid(ca, BAD))).toBe('');
    let text = '';
    for (let i = 0; i < 200; i++) {
      text = (await telemetry.prometheus()).text;
      if (sample(text, 'istio_tcp_connections_closed_total', { source_principal: GOOD }) !== undefined) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(sample(text, 'istio_tcp_connections_closed_total', { reporter: 'destination', connection_security_policy: 'mutual_tls', source_principal: GOOD, destination_principal: SELF })).toBe(1);
    expect(sample(text, 'envoy_tcp_rbac_denied', { policy: 'ns[default]-policy[deny-tcp]-rule[0]' })).toBe(1);
  });

  it('records an RBAC denial: 403 with its details in the access log, counted per policy', async () => {
    expect(await get('/denied', svid(ca, BAD))).toBe(403);
    const text = (await telemetry.prometheus()).text;
    expect(sample(text, 'envoy_http_rbac_denied', { envoy_http_conn_manager_prefix: 'inbound_0.0.0.0_9080', policy: 'ns[default]-policy[deny-other]-rule[0]' })).toBe(1);
    expect(sample(text, 'istio_requests_total', { connection_security_policy: 'mutual_tls', source_principal: BAD, response_code: '403' })).toBe(1);
    await telemetry.close();
    const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const denied = lines.find((l) => l.path === '/denied');
    expect(denied).toMatchObject({ response_code: 403, response_code_details: 'rbac_access_denied_matched_policy[ns[default]-policy[deny-other]-rule[0]]', requested_server_name: 'outbound_.9080_._.reviews.default.svc.cluster.local' });
    expect(lines.find((l) => l.path === '/plain')).toMatchObject({ response_code_details: null, requested_server_name: null });
  });

  it('reads the denying policy from Envoy response code details', () => {
    expect(deniedPolicy('rbac_access_denied_matched_policy[ns[a]-policy[b]-rule[0]]')).toBe('ns[a]-policy[b]-rule[0]');
    expect(deniedPolicy('rbac_access_denied_matched_policy[none]')).toBe('none');
    expect(deniedPolicy('via_upstream')).toBeUndefined();
    expect(deniedPolicy(undefined)).toBeUndefined();
  });
});

describe('ProxyTelemetry records (outbound)', () => {
  const CLUSTER = 'outbound|9080|v2|reviews.default.svc.cluster.local';
  let meta: { host?: string; name?: string; namespace?: string; subset?: string } = { host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default', subset: 'v2' };
  // Only what the telemetry stage reads of the cluster manager: a cluster's Istio metadata.
  const fakeClusters = { get: (name: string) => (name === CLUSTER ? { plan: { meta } } : undefined) } as unknown as ClusterManager;
  const outbound = { trafficDirection: 'OUTBOUND' } as ListenerPlanExt;
  const endpoint: Endpoint = { address: '10.0.0.7', port: 9080, weight: 1, healthy: true, meta: { workload: 'reviews-v2', namespace: 'default', identity: 'spiffe://cluster.local/ns/default/sa/reviews' } };
  const connection: DownstreamInfo = { remoteAddress: '127.0.0.1', remotePort: 50123, localAddress: '127.0.0.1', localPort: 15001 };
  const exchange = (headers: string[], over: Partial<EngineExchangeRecord> = {}): EngineExchangeRecord => ({
    request: { method: 'GET', path: '/reviews/0', authority: 'reviews:9080', scheme: 'http', headers: new Headers(headers) },
    downstream: connection,
    protocol: 'HTTP/1.1',
    grpc: false,
    status: 200,
    flags: [],
    route: 'reviews.default.svc.cluster.local:9080',
    cluster: CLUSTER,
    upstream: endpoint,
    attempts: 1,
    requestBodyBytes: 0,
    responseBodyBytes: 120,
    startTime: 1_764_000_000_000,
    durationMs: 4,
    upstreamServiceTimeMs: 3,
    responseCodeDetails: 'via_upstream',
    ...over,
  });

  it('fills the record from the exchange, its headers (first value wins), the endpoint and the cluster', () => {
    const records: RequestRecord[] = [];
    const t = new ProxyTelemetry({ self: { workload: 'productpage-v1', namespace: 'default' }, clusters: fakeClusters, onRecord: (r) => records.push(r) });
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    t.http(exchange(['user-agent', 'curl/8', 'x-request-id', 'id-1', 'user-agent', 'second', 'x-forwarded-for', '10.1.1.1', 'traceparent', tp, 'x-envoy-original-path', '/original']), outbound);
    t.http(exchange([], { status: 503, flags: ['UH'], upstream: undefined, responseCodeDetails: undefined }), outbound);
    expect(records[0]).toEqual({
      reporter: 'source',
      protocol: 'http',
      startTime: 1_764_000_000_000,
      source: { workload: 'productpage-v1', namespace: 'default' },
      destination: { workload: 'reviews-v2', namespace: 'default', principal: 'spiffe://cluster.local/ns/default/sa/reviews', app: 'reviews', canonicalService: 'reviews', version: 'v2' },
      destinationService: { host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default' },
      method: 'GET',
      path: '/original',
      authority: 'reviews:9080',
      httpProtocol: 'HTTP/1.1',
      userAgent: 'curl/8',
      xForwardedFor: '10.1.1.1',
      requestId: 'id-1',
      traceId: '0af7651916cd43dd8448eb211c80319c',
      responseCode: 200,
      responseFlags: '-',
      securityPolicy: 'unknown',
      responseCodeDetails: 'via_upstream',
      durationMs: 4,
      upstreamServiceTimeMs: 3,
      bytesReceived: 0,
      bytesSent: 120,
      upstreamCluster: CLUSTER,
      upstreamHost: '10.0.0.7:9080',
      downstreamLocalAddress: '127.0.0.1:15001',
      downstreamRemoteAddress: '127.0.0.1:50123',
      routeName: 'reviews.default.svc.cluster.local:9080',
    });
    // No endpoint (no healthy upstream): the destination is what the cluster says, no upstream host, no trace id.
    expect(records[1]).toMatchObject({ responseCode: 503, responseFlags: 'UH', destination: { namespace: 'default', app: 'reviews', canonicalService: 'reviews', version: 'v2' }, path: '/reviews/0' });
    expect(records[1].upstreamHost).toBeUndefined();
    expect(records[1].traceId).toBeUndefined();
    expect(records[1].userAgent).toBeUndefined();
  });

  it('shares the peer, service and address strings among the records of one endpoint and connection, and follows a cluster update', () => {
    const records: RequestRecord[] = [];
    const t = new ProxyTelemetry({ self: { workload: 'productpage-v1', namespace: 'default' }, clusters: fakeClusters, onRecord: (r) => records.push(r) });
    t.http(exchange([]), outbound);
    t.http(exchange([]), outbound);
    expect(records[1].destination).toBe(records[0].destination);
    expect(records[1].destinationService).toBe(records[0].destinationService);
    expect(records[1].upstreamHost).toBe(records[0].upstreamHost);
    expect(records[1].downstreamRemoteAddress).toBe(records[0].downstreamRemoteAddress);
    // CDS replaces the cluster's metadata: records made afterwards carry the new subset.
    meta = { ...meta, subset: 'v3' };
    t.http(exchange([]), outbound);
    expect(records[2].destination).toMatchObject({ workload: 'reviews-v2', version: 'v3' });
    expect(records[2].destinationService).toEqual(records[0].destinationService);
  });

  it("feeds a TCP connection's open and close records, and names each service's own destination even when endpoints carry no workload metadata", () => {
    const records: RequestRecord[] = [];
    const metas: Record<string, object> = {
      'outbound|9080||reviews.default.svc.cluster.local': { host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default' },
      'outbound|6379||cache.default.svc.cluster.local': { host: 'cache.default.svc.cluster.local', name: 'cache', namespace: 'default' },
    };
    const clusters = { get: (name: string) => (metas[name] ? { plan: { meta: metas[name] } } : undefined) } as unknown as ClusterManager;
    const t = new ProxyTelemetry({ self: { workload: 'productpage-v1', namespace: 'default' }, clusters, onRecord: (r) => records.push(r) });
    const bare: Endpoint = { address: '10.0.0.9', port: 9080, weight: 1, healthy: true };
    t.http(exchange([], { cluster: 'outbound|9080||reviews.default.svc.cluster.local', upstream: bare }), outbound);
    t.tcp({ cluster: 'outbound|6379||cache.default.svc.cluster.local', upstream: '10.0.0.10:6379', flags: [], sentBytes: 1000, receivedBytes: 300, durationMs: 5, downstream: connection }, outbound);
    expect(records.map((r) => [r.protocol, r.tcpEvent, r.destination.app, r.destinationService.name])).toEqual([
      ['http', undefined, 'reviews', 'reviews'],
      ['tcp', 'open', 'cache', 'cache'],
      ['tcp', 'close', 'cache', 'cache'],
    ]);
    expect(records[2]).toMatchObject({ bytesReceived: 1000, bytesSent: 300 });
    // A connection tcpOpen saw at its open: the close brings only the close.
    records.length = 0;
    const open = { cluster: 'outbound|6379||cache.default.svc.cluster.local', upstream: '10.0.0.10:6379', flags: [], sentBytes: 0, receivedBytes: 0, durationMs: 1, downstream: connection };
    t.tcpOpen(open, outbound);
    expect(records.map((r) => r.tcpEvent)).toEqual(['open']);
    t.tcp({ ...open, sentBytes: 10, receivedBytes: 20, durationMs: 9, opened: true }, outbound);
    expect(records.map((r) => r.tcpEvent)).toEqual(['open', 'close']);
    expect(records[1]).toMatchObject({ bytesReceived: 10, bytesSent: 20, destination: { app: 'cache' } });
    // A long-lived one reported 6 of its 10 bytes sent and 15 of 20 received: the close carries the rest.
    records.length = 0;
    t.tcpReport({ ...open, sentBytes: 6, receivedBytes: 15, durationMs: 5000, opened: true }, outbound);
    t.tcp({ ...open, sentBytes: 10, receivedBytes: 20, durationMs: 7000, opened: true, reportedSentBytes: 6, reportedReceivedBytes: 15 }, outbound);
    expect(records.map((r) => [r.tcpEvent, r.bytesReceived, r.bytesSent])).toEqual([
      ['report', 6, 15],
      ['close', 4, 5],
    ]);
  });
});
