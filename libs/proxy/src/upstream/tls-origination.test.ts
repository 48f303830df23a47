/**
 * Upstream TLS origination through the engine (ClusterManager + ListenerManager, real sockets)
 * against real TLS servers with certificates from the test PKI: Istio auto mTLS and ISTIO_MUTUAL
 * (client SVID, SNI, ALPN, SAN and CA checks, plaintext for endpoints without a sidecar), HTTP/2
 * and TCP over mTLS, certificate rotation, and SIMPLE TLS origination to an "external" server
 * with a CA file, SNI and SAN. The clusters are written as libs/translate/src/cluster.ts emits them.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { compileConfig } from '../config/compile.js';
import { ClusterManager } from '../engine/clusters.js';
import { ListenerManager } from '../engine/listeners.js';
import type { CompiledConfig, EngineClock } from '../model.js';
import type { TcpRecord } from '../tcp/tcp-proxy.js';
import { MemorySecretProvider, ROOT_CA_SECRET, WORKLOAD_CERT_SECRET } from '../security/secrets.js';
import { testCa, testSecrets, testServerCert, testSvid } from '../security/test-pki.js';

const clock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
const closers: (() => unknown)[] = [];
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const SDS = { ads: {}, resourceApiVersion: 'V3' };
const H2_OPTIONS = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicitHttpConfig: { http2ProtocolOptions: {} } } };

const REVIEWS_ID = 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews';
const RATINGS_ID = 'spiffe://cluster.local/ns/default/sa/bookinfo-ratings';

/** What a TLS server saw of one connection. */
interface Seen {
  serial?: string;
  san?: string;
  sni?: string | false;
  alpn?: string | false;
  offered?: string[];
  port?: number;
  http?: string;
}

const ca = testCa();
const otherCa = testCa();
const nextCa = testCa();
let secrets: MemorySecretProvider;
const offers: { servername: string; protocols: string[] }[] = [];
const ports: Record<string, number> = {};
let clusters: ClusterManager;
let lm: ListenerManager;
let outbound = 0;
let tcpListener = 0;
let badTcpListener = 0;
const tcpRecords: TcpRecord[] = [];
let dir = '';

async function listen(s: Server | http2.Http2SecureServer): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  closers.push(() => s.close());
  return (s.address() as { port: number }).port;
}

function seen(s: TLSSocket, extra: Partial<Seen> = {}): Seen {
  const c = s.getPeerCertificate();
  const offered = offers.at(-1)?.protocols;
  return { serial: c?.serialNumber, san: c?.subjectaltname, sni: s.servername, alpn: s.alpnProtocol, ...(offered ? { offered } : {}), port: s.remotePort, ...extra };
}

/** A TLS server (mTLS when `clientCa`) that answers HTTP/1.1 with what it saw of the connection. */
function httpsServer(cert: { certChainPem: string; keyPem: string }, clientCa: string | undefined, extra: TlsOptions = {}): Server {
  const h = http.createServer((req, res) => res.end(JSON.stringify(seen(req.socket as TLSSocket, { http: req.httpVersion }))));
  const opts: TlsOptions = {
    cert: cert.certChainPem,
    key: cert.keyPem,
    ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    // Records what the client offered; selects as Istio's inbound chain does (h2, http/1.1 or the peer exchange).
    ALPNCallback: ({ servername, protocols }) => {
      offers.push({ servername, protocols });
      return ['http/1.1', 'istio-peer-exchange'].find((p) => protocols.includes(p));
    },
    ...extra,
  };
  return createTlsServer(opts, (s) => h.emit('connection', s));
}

const edsCluster = (name: string, transport: Record<string, unknown>, h2 = false): Record<string, unknown> => ({
  name,
  type: 'EDS',
  edsClusterConfig: { serviceName: name, edsConfig: SDS },
  connectTimeout: { seconds: 2 },
  ...transport,
  ...(h2 ? { typedExtensionProtocolOptions: H2_OPTIONS } : {}),
});

/** Istio's mTLS socket (cluster.ts istioCommonTlsContext): SDS `default` + `ROOTCA`, SANs, istio ALPN. */
const istioSocket = (sans: string[], sni: string): Record<string, unknown> => ({
  name: 'envoy.transport_sockets.tls',
  typedConfig: {
    '@type': UPSTREAM_TLS,
    sni,
    commonTlsContext: {
      tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: SDS }],
      combinedValidationContext: { defaultValidationContext: sans.length > 0 ? { matchSubjectAltNames: sans.map((exact) => ({ exact })) } : {}, validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: SDS } },
      alpnProtocols: ['istio-peer-exchange', 'istio'],
    },
  },
});
const autoMtls = (sans: string[], sni: string): Record<string, unknown> => ({
  transportSocketMatches: [
    { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transportSocket: istioSocket(sans, sni) },
    { name: 'tlsMode-disabled', match: {}, transportSocket: { name: 'envoy.transport_sockets.raw_buffer', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } } },
  ],
});
/** DestinationRule SIMPLE with caCertificates, sni and subjectAltNames (cluster.ts, file data sources). */
const simple = (caFile: string, sni: string, sans: string[]): Record<string, unknown> => ({
  transportSocket: { name: 'envoy.transport_sockets.tls', typedConfig: { '@type': UPSTREAM_TLS, sni, commonTlsContext: { validationContext: { trustedCa: { filename: caFile }, matchSubjectAltNames: sans.map((exact) => ({ exact })) } } } },
});
/** DestinationRule MUTUAL with files: Envoy file data sources (cluster.ts) or Istio's agent-served SDS names. */
const mutual = (files: { cert: string; key: string; ca: string }, sni: string, sans: string[], istioSdsNames: boolean): Record<string, unknown> => ({
  transportSocket: {
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': UPSTREAM_TLS,
      sni,
      commonTlsContext: istioSdsNames
        ? {
            tlsCertificateSdsSecretConfigs: [{ name: `file-cert:${files.cert}~${files.key}`, sdsConfig: SDS }],
            combinedValidationContext: { defaultValidationContext: { matchSubjectAltNames: sans.map((exact) => ({ exact })) }, validationContextSdsSecretConfig: { name: `file-root:${files.ca}`, sdsConfig: SDS } },
          }
        : {
            tlsCertificates: [{ certificateChain: { filename: files.cert }, privateKey: { filename: files.key } }],
            validationContext: { trustedCa: { filename: files.ca }, matchSubjectAltNames: sans.map((exact) => ({ exact })) },
          },
    },
  },
});
const cla = (name: string, port: number, istio: boolean): Record<string, unknown> => ({
  clusterName: name,
  endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port } } }, ...(istio ? { metadata: { filterMetadata: { 'envoy.transport_socket_match': { tlsMode: 'istio' } } } } : {}) }] }],
});

const clientFiles = (): { cert: string; key: string; ca: string } => ({ cert: join(dir, 'client.pem'), key: join(dir, 'client-key.pem'), ca: join(dir, 'ca.pem') });

function config(): CompiledConfig {
  const vh = (host: string, cluster: string): Record<string, unknown> => ({ name: host, domains: [host], routes: [{ match: { prefix: '/' }, route: { cluster } }] });
  const r = compileConfig({
    listeners: [
      {
        name: 'virtualOutbound',
        address: { socketAddress: { address: '0.0.0.0', portValue: 15001 } },
        filterChains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: { '@type': HCM, statPrefix: 'outbound', rds: { routeConfigName: '15001', configSource: SDS }, httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }] } }] }],
      },
      {
        name: 'tcp_9000',
        address: { socketAddress: { address: '127.0.0.1', portValue: 9000 } },
        filterChains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP, statPrefix: 'outbound|9000||db', cluster: 'outbound|9000||db' } }] }],
      },
      {
        name: 'tcp_9001',
        address: { socketAddress: { address: '127.0.0.1', portValue: 9001 } },
        filterChains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP, statPrefix: 'outbound|9001||db-bad', cluster: 'outbound|9001||db-bad' } }] }],
      },
    ],
    routes: [
      {
        name: '15001',
        virtualHosts: [
          vh('reviews', 'outbound|9080||reviews'),
          vh('reviews-short', 'outbound|9080|short|reviews'),
          vh('newroot', 'outbound|9080||newroot'),
          vh('tls12', 'outbound|9080||tls12'),
          vh('tls12-wrongsan', 'outbound|9080|bad|tls12'),
          vh('legacy', 'outbound|9080||legacy'),
          vh('wrongsan', 'outbound|9080||wrongsan'),
          vh('otherca', 'outbound|9080||otherca'),
          vh('grpc', 'outbound|9090||grpc'),
          vh('cnn', 'outbound|80||edition.cnn.test'),
          vh('cnn-badsan', 'outbound|80||badsan.cnn.test'),
          vh('insecure', 'outbound|80||insecure.cnn.test'),
          vh('sans-only', 'outbound|80||sans.cnn.test'),
          vh('mutual', 'outbound|443||mtls.ext.test'),
          vh('mutual-sds', 'outbound|443|sds|mtls.ext.test'),
          vh('mutual-nocert', 'outbound|443|nocert|mtls.ext.test'),
        ],
      },
    ],
    clusters: [
      edsCluster('outbound|9080||reviews', autoMtls([REVIEWS_ID], 'outbound_.9080_._.reviews.default.svc.cluster.local')),
      {
        ...edsCluster('outbound|9080|short|reviews', autoMtls([REVIEWS_ID], 'outbound_.9080_.short_.reviews.default.svc.cluster.local')),
        // Few requests per connection: connections come and go while certificates rotate.
        typedExtensionProtocolOptions: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', commonHttpProtocolOptions: { maxRequestsPerConnection: { value: 3 } }, explicitHttpConfig: { httpProtocolOptions: {} } } },
      },
      { ...edsCluster('outbound|9080||tls12', { transportSocket: istioSocket([REVIEWS_ID], 'outbound_.9080_._.tls12.default.svc.cluster.local') }), maxRequestsPerConnection: { value: 1 } },
      { ...edsCluster('outbound|9080|bad|tls12', { transportSocket: istioSocket([RATINGS_ID], 'outbound_.9080_.bad_.tls12.default.svc.cluster.local') }), maxRequestsPerConnection: { value: 1 } },
      edsCluster('outbound|9080||newroot', { transportSocket: istioSocket([REVIEWS_ID], 'outbound_.9080_._.newroot.default.svc.cluster.local') }),
      edsCluster('outbound|9080||legacy', autoMtls([], 'outbound_.9080_._.legacy.default.svc.cluster.local')),
      edsCluster('outbound|9080||wrongsan', { transportSocket: istioSocket([RATINGS_ID], 'outbound_.9080_._.ratings.default.svc.cluster.local') }),
      edsCluster('outbound|9080||otherca', { transportSocket: istioSocket([], 'outbound_.9080_._.otherca.default.svc.cluster.local') }),
      edsCluster('outbound|9090||grpc', { transportSocket: istioSocket([REVIEWS_ID], 'outbound_.9090_._.grpc.default.svc.cluster.local') }, true),
      edsCluster('outbound|9000||db', { transportSocket: istioSocket([REVIEWS_ID], 'outbound_.9000_._.db.default.svc.cluster.local') }),
      edsCluster('outbound|9001||db-bad', { transportSocket: istioSocket([RATINGS_ID], 'outbound_.9001_._.db-bad.default.svc.cluster.local') }),
      edsCluster('outbound|80||edition.cnn.test', simple(join(dir, 'ca.pem'), 'edition.cnn.test', ['edition.cnn.test'])),
      edsCluster('outbound|80||badsan.cnn.test', simple(join(dir, 'ca.pem'), 'edition.cnn.test', ['www.elsewhere.test'])),
      // SIMPLE with insecureSkipVerify: cluster.ts leaves the validation context out.
      edsCluster('outbound|80||insecure.cnn.test', { transportSocket: { name: 'envoy.transport_sockets.tls', typedConfig: { '@type': UPSTREAM_TLS, commonTlsContext: {} } } }),
      // subjectAltNames without caCertificates: cluster.ts sends SAN matchers and no trusted CA.
      edsCluster('outbound|80||sans.cnn.test', { transportSocket: { name: 'envoy.transport_sockets.tls', typedConfig: { '@type': UPSTREAM_TLS, sni: 'edition.cnn.test', commonTlsContext: { validationContext: { matchSubjectAltNames: [{ exact: 'edition.cnn.test' }] } } } } }),
      edsCluster('outbound|443||mtls.ext.test', mutual(clientFiles(), 'mtls.ext.test', ['mtls.ext.test'], false)),
      edsCluster('outbound|443|sds|mtls.ext.test', mutual(clientFiles(), 'mtls.ext.test', ['mtls.ext.test'], true)),
      edsCluster('outbound|443|nocert|mtls.ext.test', simple(join(dir, 'ca.pem'), 'mtls.ext.test', [])),
    ],
    endpoints: [
      cla('outbound|9080||reviews', ports.reviews, true),
      cla('outbound|9080|short|reviews', ports.reviews, true),
      cla('outbound|9080||newroot', ports.newroot, true),
      cla('outbound|9080||tls12', ports.tls12, true),
      cla('outbound|9080|bad|tls12', ports.tls12, true),
      cla('outbound|9080||legacy', ports.plain, false),
      cla('outbound|9080||wrongsan', ports.reviews, true),
      cla('outbound|9080||otherca', ports.otherca, true),
      cla('outbound|9090||grpc', ports.h2, true),
      cla('outbound|9000||db', ports.tcp, true),
      cla('outbound|9001||db-bad', ports.tcp, true),
      cla('outbound|80||edition.cnn.test', ports.external, false),
      cla('outbound|80||badsan.cnn.test', ports.external, false),
      cla('outbound|80||insecure.cnn.test', ports.external, false),
      cla('outbound|80||sans.cnn.test', ports.external, false),
      cla('outbound|443||mtls.ext.test', ports.mutual, false),
      cla('outbound|443|sds|mtls.ext.test', ports.mutual, false),
      cla('outbound|443|nocert|mtls.ext.test', ports.mutual, false),
    ],
  });
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.value;
}

function get(host: string, path = '/', port = outbound): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An h2c request to the outbound listener (the engine's HTTP/2 transport). */
function getH2(host: string, path: string, port = outbound): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':path': path, ':authority': host });
    let status = 0;
    let b = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => {
      session.close();
      resolve({ status, body: b });
    });
    req.on('error', reject);
    req.end();
  });
}

const json = (r: { body: string }): Seen => JSON.parse(r.body) as Seen;
const serialOf = (hex: string | undefined): string => (hex ?? '').toLowerCase().replace(/^0+/, '');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mw-tls-orig-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  secrets = testSecrets(ca, 'default', 'bookinfo-productpage');
  const reviewsSvid = testSvid(ca, 'default', 'bookinfo-reviews');
  ports.reviews = await listen(httpsServer(reviewsSvid, ca.rootPem));
  ports.plain = await listen(http.createServer((req, res) => res.end(JSON.stringify({ http: req.httpVersion, plaintext: true }))) as unknown as Server);
  // TLS 1.2 hands the client its session during the handshake (resumption must wait for verification).
  ports.tls12 = await listen(httpsServer(reviewsSvid, ca.rootPem, { maxVersion: 'TLSv1.2' }));
  // A workload whose certificate comes from the next root (root rotation); it trusts both roots.
  ports.newroot = await listen(httpsServer(testSvid(nextCa, 'default', 'bookinfo-reviews'), ca.rootPem + nextCa.rootPem));
  ports.otherca = await listen(httpsServer(testSvid(otherCa, 'default', 'bookinfo-reviews'), ca.rootPem));
  const h2 = http2.createSecureServer({ cert: reviewsSvid.certChainPem, key: reviewsSvid.keyPem, ca: ca.rootPem, requestCert: true, rejectUnauthorized: true }, (req, res) =>
    res.end(JSON.stringify(seen(req.socket as unknown as TLSSocket, { http: req.httpVersion }))),
  );
  ports.h2 = await listen(h2);
  const tcp = createTlsServer(
    {
      cert: reviewsSvid.certChainPem,
      key: reviewsSvid.keyPem,
      ca: ca.rootPem,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNCallback: ({ servername, protocols }) => {
        offers.push({ servername, protocols });
        return protocols.includes('istio-peer-exchange') ? 'istio-peer-exchange' : undefined;
      },
    },
    (s) => s.once('data', (d: Buffer) => s.end(JSON.stringify(seen(s, { http: d.toString() })))),
  );
  ports.tcp = await listen(tcp);
  // "External" HTTPS service: a certificate from another CA for its DNS name, no client certificate asked.
  writeFileSync(join(dir, 'ca.pem'), otherCa.rootPem);
  ports.external = await listen(httpsServer(testServerCert(otherCa, ['edition.cnn.test']), undefined));
  // An external server that asks for a client certificate of its own CA (DestinationRule MUTUAL).
  const client = testSvid(otherCa, 'external', 'client', 'ext.test');
  writeFileSync(join(dir, 'client.pem'), client.certChainPem);
  writeFileSync(join(dir, 'client-key.pem'), client.keyPem);
  ports.mutual = await listen(httpsServer(testServerCert(otherCa, ['*.ext.test']), otherCa.rootPem));

  clusters = new ClusterManager(clock, { secrets });
  lm = new ListenerManager({ clusters, clock, bind: () => ({ host: '127.0.0.1', port: 0 }), onTcp: (r) => tcpRecords.push(r) });
  const cfg = config();
  clusters.apply(cfg);
  expect(await lm.apply(cfg)).toEqual([]);
  outbound = lm.ports().get('virtualOutbound') ?? 0;
  tcpListener = lm.ports().get('tcp_9000') ?? 0;
  badTcpListener = lm.ports().get('tcp_9001') ?? 0;
});

afterAll(async () => {
  await lm?.close();
  clusters?.close();
  for (const c of closers) await c();
});

describe('upstream TLS origination (auto mTLS / ISTIO_MUTUAL)', () => {
  it('presents the client SVID with Istio SNI and HTTP/1.1 ALPN, and verifies the server identity', async () => {
    const before = clusters.sslStats().get('outbound|9080||reviews')?.handshake ?? 0;
    const r = await get('reviews', '/reviews/1');
    expect(r.status).toBe(200);
    const s = json(r);
    expect(s.san).toBe('URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
    expect(s.sni).toBe('outbound_.9080_._.reviews.default.svc.cluster.local');
    // istio.alpn's override for HTTP/1.1 upstreams; the server side picks http/1.1 from it.
    expect(s.offered).toEqual(['istio-http/1.1', 'istio', 'http/1.1']);
    expect(s.alpn).toBe('http/1.1');
    expect(clusters.sslStats().get('outbound|9080||reviews')?.handshake).toBe(before + 1);
  });

  it('dials endpoints without tlsMode: istio in plaintext (auto mTLS)', async () => {
    const r = await get('legacy');
    expect(r.status).toBe(200);
    expect(json(r)).toMatchObject({ plaintext: true });
  });

  it('answers 503 UF when the server identity is not one of the cluster SANs', async () => {
    const r = await get('wrongsan');
    expect(r.status).toBe(503);
    expect(r.body).toContain('connection failure');
    const st = clusters.sslStats().get('outbound|9080||wrongsan');
    expect(st?.fail_verify_san).toBeGreaterThan(0);
    expect(st?.connection_error).toBeGreaterThan(0);
    expect(st?.handshake).toBe(0);
  });

  it('answers 503 UF when the server chains to another CA', async () => {
    const r = await get('otherca');
    expect(r.status).toBe(503);
    const st = clusters.sslStats().get('outbound|9080||otherca');
    expect(st?.fail_verify_error).toBeGreaterThan(0);
    expect(st?.handshake).toBe(0);
  });

  it('negotiates h2 for an HTTP/2 cluster over mTLS (h2c downstream through the HTTP/2 transport)', async () => {
    const r = await getH2('grpc', '/x');
    expect(r.status).toBe(200);
    const s = json(r);
    expect(s.http).toBe('2.0');
    expect(s.alpn).toBe('h2');
    expect(s.san).toBe('URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
    expect(s.sni).toBe('outbound_.9090_._.grpc.default.svc.cluster.local');
  });

  it('originates mTLS for HTTP/1.1 clusters from the HTTP/2 transport too (h2c downstream)', async () => {
    const r = await getH2('reviews', '/h2-to-h1');
    expect(r.status).toBe(200);
    const s = json(r);
    expect(s.http).toBe('1.1');
    expect(s.san).toBe('URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
    expect(s.offered).toEqual(['istio-http/1.1', 'istio', 'http/1.1']);
    expect(s.sni).toBe('outbound_.9080_._.reviews.default.svc.cluster.local');
    const bad = await getH2('wrongsan', '/');
    expect(bad.status).toBe(503);
  });

  it('proxies TCP over mTLS with the cluster ALPN', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const c = netConnect({ host: '127.0.0.1', port: tcpListener }, () => c.write('ping'));
      let b = '';
      c.on('data', (d: Buffer) => (b += d.toString()));
      c.on('end', () => resolve(b));
      c.on('error', reject);
    });
    const s = JSON.parse(body) as Seen;
    expect(s.http).toBe('ping');
    expect(s.san).toBe('URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
    expect(s.offered).toEqual(['istio-peer-exchange', 'istio']);
    expect(s.alpn).toBe('istio-peer-exchange');
    expect(s.sni).toBe('outbound_.9000_._.db.default.svc.cluster.local');
    await vi.waitFor(() => expect(tcpRecords.find((r) => r.cluster === 'outbound|9000||db')).toMatchObject({ flags: [], upstreamTls: true, sentBytes: 4 }));
  });

  it('closes a TCP connection whose upstream fails verification, flagged UF with the transport failure reason', async () => {
    const closed = await new Promise<string>((resolve) => {
      const c = netConnect({ host: '127.0.0.1', port: badTcpListener }, () => c.write('ping'));
      let b = '';
      c.on('data', (d: Buffer) => (b += d.toString()));
      c.on('close', () => resolve(b));
      c.on('error', () => undefined);
    });
    expect(closed).toBe('');
    await vi.waitFor(() => expect(tcpRecords.find((r) => r.cluster === 'outbound|9001||db-bad')).toMatchObject({ flags: ['UF'], upstreamTls: true, upstreamTransportFailureReason: expect.stringContaining('SAN') }));
  });

  it('uses a rotated certificate for new connections while a pooled one keeps working', async () => {
    const first = json(await get('reviews'));
    const oldSerial = serialOf(first.serial);
    const next = testSvid(ca, 'default', 'bookinfo-productpage');
    secrets.set(WORKLOAD_CERT_SECRET, next);
    // The pooled connection (same client port at the server) goes on with the old certificate.
    const pooled = json(await get('reviews'));
    expect(pooled.port).toBe(first.port);
    expect(serialOf(pooled.serial)).toBe(oldSerial);
    // Two at once: one takes the pooled connection, the other needs a new one, made with the new SVID.
    const both = (await Promise.all([get('reviews'), get('reviews')])).map(json);
    const serials = new Set(both.map((s) => serialOf(s.serial)));
    expect(serials).toEqual(new Set([oldSerial, serialOf(next.serialHex)]));
    expect(serialOf(next.serialHex)).not.toBe(oldSerial);
  });
});

describe('TLS session resumption', () => {
  it('resumes verified sessions only: a SAN mismatch fails every time, also over TLS 1.2', async () => {
    for (let i = 0; i < 3; i++) expect((await get('tls12', `/r/${i}`)).status).toBe(200);
    const ok = clusters.sslStats().get('outbound|9080||tls12');
    expect(ok?.handshake).toBe(3);
    expect(ok?.session_reused).toBe(2);
    for (let i = 0; i < 3; i++) expect((await get('tls12-wrongsan')).status).toBe(503);
    for (let i = 0; i < 3; i++) expect((await get('wrongsan')).status).toBe(503);
    const bad = clusters.sslStats().get('outbound|9080|bad|tls12');
    expect([bad?.fail_verify_san, bad?.handshake, bad?.session_reused]).toEqual([3, 0, 0]);
    expect(clusters.sslStats().get('outbound|9080||wrongsan')?.session_reused).toBe(0);
  });
});

describe('certificate renewal and root rotation', () => {
  it('serves every request while the workload certificate is renewed under load', async () => {
    const statuses: number[] = [];
    const serials = new Set<string>();
    const sans = new Set<string>();
    let renewals = 0;
    const worker = async (): Promise<void> => {
      for (let i = 0; i < 25; i++) {
        const r = await get('reviews-short', `/load/${i}`);
        statuses.push(r.status);
        if (r.status === 200) {
          serials.add(serialOf(json(r).serial));
          sans.add(json(r).san ?? '');
        }
        // Renew every 20 requests overall (the agent renews at half-life; here much faster).
        if (statuses.length % 20 === 0) {
          secrets.set(WORKLOAD_CERT_SECRET, testSvid(ca, 'default', 'bookinfo-productpage'));
          renewals++;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(statuses.length).toBe(200);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(renewals).toBe(10);
    // New connections (3 requests each) picked the renewed certificates up.
    expect(serials.size).toBeGreaterThan(2);
    // Connections after the first per certificate resume its session (Envoy's max_session_keys 1); the server still knows the client.
    expect(sans).toEqual(new Set(['URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage']));
    const st = clusters.sslStats().get('outbound|9080|short|reviews');
    expect(st?.session_reused).toBeGreaterThan(0);
    expect(st?.handshake).toBeGreaterThan(st?.session_reused ?? 0);
  });

  it('trusts a server from the next root once ROOTCA carries both roots', async () => {
    expect((await get('newroot')).status).toBe(503);
    secrets.set(ROOT_CA_SECRET, { kind: 'validation', trustedCaPem: ca.rootPem + nextCa.rootPem });
    const r = await get('newroot');
    expect(r.status).toBe(200);
    expect(json(r).san).toBe('URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
    // The old root's servers still verify.
    expect((await get('reviews')).status).toBe(200);
  });
});

describe('before the workload certificate arrives', () => {
  it('fails mTLS connections as UF (HTTP/1.1 and HTTP/2) and still serves plaintext endpoints', async () => {
    const empty = new ClusterManager(clock, { secrets: new MemorySecretProvider() });
    const lm2 = new ListenerManager({ clusters: empty, clock, bind: (plan) => (plan.name === 'virtualOutbound' ? { host: '127.0.0.1', port: 0 } : undefined) });
    try {
      const cfg = config();
      empty.apply(cfg);
      expect(await lm2.apply(cfg)).toEqual([]);
      const port = lm2.ports().get('virtualOutbound') ?? 0;
      expect((await get('reviews', '/', port)).status).toBe(503);
      expect((await getH2('grpc', '/', port)).status).toBe(503);
      expect((await get('legacy', '/', port)).status).toBe(200);
      expect(empty.sslStats().get('outbound|9080||reviews')?.connection_error).toBeGreaterThan(0);
    } finally {
      await lm2.close();
      empty.close();
    }
  });
});

describe('DestinationRule SIMPLE to an external service', () => {
  it('originates TLS with the CA file, SNI and SAN', async () => {
    const r = await get('cnn', '/');
    expect(r.status).toBe(200);
    const s = json(r);
    expect(s.sni).toBe('edition.cnn.test');
    // SIMPLE: no client certificate.
    expect(s.san).toBeUndefined();
    expect(clusters.sslStats().get('outbound|80||edition.cnn.test')?.handshake).toBeGreaterThan(0);
  });

  it('answers 503 UF when the server certificate lacks the SAN', async () => {
    const r = await get('cnn-badsan');
    expect(r.status).toBe(503);
    expect(clusters.sslStats().get('outbound|80||badsan.cnn.test')?.fail_verify_san).toBeGreaterThan(0);
  });
});

describe('DestinationRule MUTUAL and insecureSkipVerify', () => {
  it('presents the client certificate from files (Envoy file data sources); a wildcard server certificate covers the SAN', async () => {
    const r = await get('mutual');
    expect(r.status).toBe(200);
    const s = json(r);
    expect(s.san).toBe('URI:spiffe://ext.test/ns/external/sa/client');
    expect(s.sni).toBe('mtls.ext.test');
  });

  it("reads Istio's file-cert:/file-root: SDS names from disk", async () => {
    const r = await get('mutual-sds');
    expect(r.status).toBe(200);
    expect(json(r).san).toBe('URI:spiffe://ext.test/ns/external/sa/client');
  });

  it('fails (503 UF) when the server wants a client certificate and the cluster has none', async () => {
    const r = await get('mutual-nocert');
    expect(r.status).toBe(503);
  });

  it('verifies the chain against the platform roots when SANs come without a CA (the test CA is not one of them: 503 UF)', async () => {
    const r = await get('sans-only');
    expect(r.status).toBe(503);
    expect(clusters.sslStats().get('outbound|80||sans.cnn.test')?.fail_verify_error).toBeGreaterThan(0);
  });

  it('accepts any server certificate without a validation context (insecureSkipVerify), sending no SNI when none is set', async () => {
    const r = await get('insecure');
    expect(r.status).toBe(200);
    expect(json(r).sni).toBe(false);
    expect(clusters.sslStats().get('outbound|80||insecure.cnn.test')?.handshake).toBeGreaterThan(0);
  });
});
