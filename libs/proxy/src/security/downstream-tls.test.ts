/**
 * Inbound mTLS through the listener manager with real TLS (test-pki: a mesh CA and SVIDs) against
 * real upstreams: STRICT refuses plaintext, a client certificate from another CA and no client
 * certificate; PERMISSIVE serves plaintext and mTLS on one port; the peer identity reaches RBAC on
 * HTTP/1.1, HTTP/2 (ALPN h2 and sniffed without ALPN) and TCP; rotating `default` keeps an open
 * keep-alive connection working while new connections see the new certificate; a missing secret
 * refuses without crashing.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import { connect as netConnect, createServer, type Server } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../config/compile.js';
import { ClusterManager } from '../engine/clusters.js';
import { ListenerManager, type EngineExchangeRecord, type EngineTcpRecord } from '../engine/listeners.js';
import type { CompiledConfig, EngineClock } from '../model.js';
import { DownstreamTls, parseSubjectAltName, peerIdentitiesOf } from './downstream-tls.js';
import { ROOT_CA_SECRET, WORKLOAD_CERT_SECRET, type CertificateSecret, type MemorySecretProvider } from './secrets.js';
import { testCa, testSecrets, testServerCert, testSvid } from './test-pki.js';

const clock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const DTLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const HTTP_RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const NET_RBAC = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const ROUTER = { name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const GOOD = 'spiffe://cluster.local/ns/default/sa/good';

/** The configured port of each test listener (they bind ephemeral ports): Envoy names listener stats by address and port. */
const STAT_PORTS: Record<string, number> = { strict: 15101, permissive: 15102, rbac: 15103, tcp: 15104, sniffed: 15105, optional: 15106, missing: 15107, san: 15108 };
/** stat returns the ListenerManager counter of a test listener, e.g. `listener.127.0.0.1_15101.ssl.handshake`. */
const stat = (listener: string, name: string): string => `listener.127.0.0.1_${STAT_PORTS[listener]}.${name}`;

const ca = testCa();
const otherCa = testCa();
const closers: (() => unknown)[] = [];
let secrets: MemorySecretProvider;
let clusters: ClusterManager;
let lm: ListenerManager;
const ports = new Map<string, number>();
const h1Records: EngineExchangeRecord[] = [];
const h2Records: EngineExchangeRecord[] = [];
const tcpRecords: EngineTcpRecord[] = [];
const warnings: string[] = [];

async function listen(s: Server | http.Server | http2.Http2Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  closers.push(() => s.close());
  return (s.address() as { port: number }).port;
}

/** Istio's inbound mTLS transport socket (translate/sidecar.ts), optionally with other SDS names or an optional client certificate (a gateway's OPTIONAL_MUTUAL). */
function mtlsSocket(cert = 'default', validation = 'ROOTCA', require = true): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typedConfig: {
      '@type': DTLS,
      requireClientCertificate: { value: require },
      commonTlsContext: {
        tlsCertificateSdsSecretConfigs: [{ name: cert, sdsConfig: { ads: {} } }],
        combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: validation, sdsConfig: { ads: {} } } },
        alpnProtocols: ['istio-peer-exchange', 'h2', 'http/1.1'],
      },
    },
  };
}

const rbacRules = { action: 'ALLOW', policies: { 'ns[default]-policy[allow-good]-rule[0]': { permissions: [{ any: true }], principals: [{ authenticated: { principalName: { exact: GOOD } } }] } } };

function hcm(prefix: string, rbac: boolean): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typedConfig: {
      '@type': HCM,
      statPrefix: prefix,
      routeConfig: { name: prefix, virtualHosts: [{ name: 'in', domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: 'app' } }] }] },
      httpFilters: [...(rbac ? [{ name: 'envoy.filters.http.rbac', typedConfig: { '@type': HTTP_RBAC, rules: rbacRules } }] : []), ROUTER],
    },
  };
}

function config(appPort: number, tcpAppPort: number): CompiledConfig {
  const listener = (name: string, chains: Record<string, unknown>[]): Record<string, unknown> => ({ name, address: { socketAddress: { address: '127.0.0.1', portValue: STAT_PORTS[name] } }, trafficDirection: 'INBOUND', filterChains: chains });
  const r = compileConfig({
    listeners: [
      listener('strict', [{ name: 'strict-mtls', filterChainMatch: { transportProtocol: 'tls' }, filters: [hcm('inbound_strict', false)], transportSocket: mtlsSocket() }]),
      listener('permissive', [
        { name: 'p-mtls', filterChainMatch: { transportProtocol: 'tls' }, filters: [hcm('inbound_permissive', false)], transportSocket: mtlsSocket() },
        { name: 'p-plaintext', filterChainMatch: { transportProtocol: 'raw_buffer' }, filters: [hcm('inbound_permissive', false)] },
      ]),
      listener('rbac', [{ name: 'rbac-mtls', filterChainMatch: { transportProtocol: 'tls' }, filters: [hcm('inbound_rbac', true)], transportSocket: mtlsSocket() }]),
      listener('tcp', [
        {
          name: 'tcp-mtls',
          filterChainMatch: { transportProtocol: 'tls' },
          filters: [
            { name: 'envoy.filters.network.rbac', typedConfig: { '@type': NET_RBAC, statPrefix: 'tcp.', rules: rbacRules } },
            { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP, statPrefix: 'inbound_tcp', cluster: 'tcpapp' } },
          ],
          transportSocket: mtlsSocket(),
        },
      ]),
      // Istio's chains for a port whose protocol is sniffed: ALPN offered in the ClientHello picks HTTP or TCP over mTLS
      // (the TCP chain first: `istio` is offered by both kinds of client, the client's order decides).
      listener('sniffed', [
        { name: 'mtls-tcp', filterChainMatch: { transportProtocol: 'tls', applicationProtocols: ['istio-peer-exchange', 'istio'] }, filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP, statPrefix: 'inbound_tcp', cluster: 'tcpapp' } }], transportSocket: mtlsSocket() },
        { name: 'mtls-http', filterChainMatch: { transportProtocol: 'tls', applicationProtocols: ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'] }, filters: [hcm('inbound_sniffed', false)], transportSocket: mtlsSocket() },
        { name: 'plaintext-http', filterChainMatch: { transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.0', 'http/1.1', 'h2c'] }, filters: [hcm('inbound_sniffed', false)] },
      ]),
      listener('optional', [{ name: 'optional-mtls', filters: [hcm('inbound_optional', false)], transportSocket: mtlsSocket('default', 'ROOTCA', false) }]),
      listener('san', [
        {
          filters: [hcm('inbound_san', false)],
          transportSocket: {
            name: 'envoy.transport_sockets.tls',
            typedConfig: {
              '@type': DTLS,
              requireClientCertificate: { value: true },
              commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: 'default' }], combinedValidationContext: { defaultValidationContext: { matchSubjectAltNames: [{ exact: GOOD }] }, validationContextSdsSecretConfig: { name: 'ROOTCA' } } },
            },
          },
        },
      ]),
      listener('missing', [{ name: 'missing-mtls', filterChainMatch: { transportProtocol: 'tls' }, filters: [hcm('inbound_missing', false)], transportSocket: mtlsSocket('gateway-cred', 'ROOTCA') }]),
    ],
    routes: [],
    clusters: ['app', 'tcpapp'].map((name) => ({
      name,
      type: 'STATIC',
      connectTimeout: { seconds: 1 },
      loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: name === 'app' ? appPort : tcpAppPort } } } }] }] },
    })),
    endpoints: [],
  });
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.value;
}

beforeAll(async () => {
  const appPort = await listen(http.createServer((req, res) => res.end(`app ${req.method} ${req.url}`)));
  const tcpAppPort = await listen(createServer((c) => c.on('data', (d: Buffer) => c.end(`tcp:${d.toString()}`))));
  secrets = testSecrets(ca, 'default', 'server');
  clusters = new ClusterManager(clock);
  lm = new ListenerManager({
    clusters,
    clock,
    secrets,
    bind: () => ({ host: '127.0.0.1', port: 0 }),
    onHttp1: (r) => h1Records.push(r),
    onHttp2: (r) => h2Records.push(r),
    onTcp: (r) => tcpRecords.push(r),
    onWarning: (m) => warnings.push(m),
  });
  const cfg = config(appPort, tcpAppPort);
  clusters.apply(cfg);
  expect(await lm.apply(cfg)).toEqual([]);
  for (const [n, p] of lm.ports()) ports.set(n, p);
});

afterAll(async () => {
  await lm?.close();
  clusters?.close();
  for (const c of closers) await c();
});

/** A client's TLS options: its SVID (or none) and the mesh CA to check the server with (SPIFFE certs carry no DNS name). */
function clientTls(svid: CertificateSecret | undefined, alpn?: string[]): Record<string, unknown> {
  return { ca: ca.rootPem, checkServerIdentity: () => undefined, ...(svid ? { cert: svid.certChainPem, key: svid.keyPem } : {}), ...(alpn ? { ALPNProtocols: alpn } : {}) };
}

/** An HTTP/1.1 GET over mTLS (or plaintext when tls is undefined); resolves `status body` or `error: …`. */
function get(port: number, path: string, tls: Record<string, unknown> | undefined, agent?: https.Agent): Promise<string> {
  return new Promise((resolve) => {
    const opts = { host: '127.0.0.1', port, path, agent: agent ?? false };
    const req = tls ? https.request({ ...opts, ...tls }, done) : http.request({ host: '127.0.0.1', port, path, agent: false }, done);
    function done(res: http.IncomingMessage): void {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${b}`));
    }
    req.on('error', (e) => resolve(`error: ${e.message}`));
    req.end();
  });
}

/** An HTTP/2 GET over TLS with ALPN h2. */
async function getH2(port: number, path: string, svid: CertificateSecret, alpn = ['h2']): Promise<string> {
  // http2.connect offers only `h2`; a socket of our own offers what a sidecar offers.
  const s = http2.connect(`https://127.0.0.1:${port}`, { createConnection: () => tlsConnect({ host: '127.0.0.1', port, ...clientTls(svid, alpn) }) } as http2.SecureClientSessionOptions);
  s.on('error', () => undefined);
  try {
    return await new Promise((resolve) => {
      const req = s.request({ ':path': path });
      let status = 0;
      let b = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => resolve(`${status} ${b}`));
      req.on('error', (e) => resolve(`error: ${e.message}`));
      req.end();
    });
  } finally {
    s.close();
  }
}

/** Connects with TLS and tells whether the server kept the connection to exchange data, or why not. */
function tcpExchange(port: number, tls: Record<string, unknown>, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ...tls }, () => s.write(payload));
    let b = '';
    s.on('data', (d: Buffer) => (b += d.toString()));
    s.on('error', (e) => (b += `error: ${e.message}`));
    s.on('close', () => resolve(b));
  });
}

describe('inbound mTLS through the listener manager', () => {
  const good = testSvid(ca, 'default', 'good');
  const bad = testSvid(ca, 'default', 'bad');
  const foreign = testSvid(otherCa, 'default', 'good');

  it('STRICT: serves an mTLS client and refuses plaintext, no client certificate and a certificate from another CA', async () => {
    const port = ports.get('strict') ?? 0;
    expect(await get(port, '/ok', clientTls(good, ['http/1.1']))).toBe('200 app GET /ok');
    expect(await get(port, '/plain', undefined)).toMatch(/^error: /);
    expect(await get(port, '/nocert', clientTls(undefined))).toMatch(/^error: /);
    expect(await get(port, '/foreign', clientTls(foreign))).toMatch(/^error: /);
    const stats = lm.stats();
    expect(stats.get(stat('strict', 'no_filter_chain_match'))).toBe(1);
    expect(stats.get(stat('strict', 'ssl.fail_verify_no_cert'))).toBe(1);
    expect(stats.get(stat('strict', 'ssl.fail_verify_error'))).toBe(1);
    expect(stats.get(stat('strict', 'ssl.handshake'))).toBe(1);
    const rec = h1Records.find((r) => r.request.path === '/ok');
    expect(rec?.downstream.tls?.peerIdentities).toEqual([GOOD]);
    expect(rec?.downstream.tls?.alpn).toBe('http/1.1');
    expect(h1Records.some((r) => r.request.path !== '/ok' && r.request.path.length > 1 && ['/plain', '/nocert', '/foreign'].includes(r.request.path))).toBe(false);
  });

  it('PERMISSIVE: plaintext and mTLS on one port, with the peer identity only on the mTLS one', async () => {
    const port = ports.get('permissive') ?? 0;
    expect(await get(port, '/plain', undefined)).toBe('200 app GET /plain');
    expect(await get(port, '/mtls', clientTls(good))).toBe('200 app GET /mtls');
    // Istio's client sidecars offer istio-peer-exchange and istio-http/1.1 (none of the server's but the first): negotiated, then sniffed as HTTP/1.1.
    expect(await get(port, '/istio-alpn', clientTls(good, ['istio-peer-exchange', 'istio-http/1.1']))).toBe('200 app GET /istio-alpn');
    expect(h1Records.find((r) => r.request.path === '/istio-alpn')?.downstream.tls?.alpn).toBe('istio-peer-exchange');
    // A client offering only protocols the server does not list still connects (Envoy negotiates none rather than failing).
    expect(await get(port, '/other-alpn', clientTls(good, ['istio-http/1.1']))).toBe('200 app GET /other-alpn');
    expect(h1Records.find((r) => r.request.path === '/other-alpn')?.downstream.tls?.alpn).toBeUndefined();
    expect(h1Records.find((r) => r.request.path === '/plain')?.downstream.tls).toBeUndefined();
    expect(h1Records.find((r) => r.request.path === '/mtls')?.downstream.tls?.peerIdentities).toEqual([GOOD]);
  });

  it('RBAC principals see the peer identity on HTTP/1.1 and HTTP/2 (ALPN h2, and h2 sniffed with no ALPN)', async () => {
    const port = ports.get('rbac') ?? 0;
    expect(await get(port, '/h1', clientTls(good))).toBe('200 app GET /h1');
    expect(await get(port, '/h1-denied', clientTls(bad))).toBe('403 RBAC: access denied');
    expect(await getH2(port, '/h2', good)).toBe('200 app GET /h2');
    expect(await getH2(port, '/h2-denied', bad)).toBe('403 RBAC: access denied');
    // No ALPN at all (openssl s_client style): the decrypted preface says HTTP/2.
    const s = http2.connect(`https://127.0.0.1:${port}`, { createConnection: () => tlsConnect({ host: '127.0.0.1', port, ...clientTls(good) }) } as http2.SecureClientSessionOptions);
    s.on('error', () => undefined);
    const noAlpn = await new Promise<string>((resolve) => {
      const req = s.request({ ':path': '/h2-sniffed' });
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', () => undefined);
      req.on('end', () => resolve(String(status)));
      req.on('error', (e) => resolve(`error: ${e.message}`));
      req.end();
    });
    s.close();
    expect(noAlpn).toBe('200');
    const denied = h1Records.find((r) => r.request.path === '/h1-denied');
    expect(denied?.responseCodeDetails).toBe('rbac_access_denied_matched_policy[none]');
    expect(denied?.statPrefix).toBe('inbound_rbac');
    expect(h1Records.find((r) => r.request.path === '/h1')?.responseCodeDetails).toBeUndefined();
    const h2ok = h2Records.find((r) => r.request.path === '/h2');
    expect(h2ok?.downstream.tls).toMatchObject({ peerIdentities: [GOOD], alpn: 'h2' });
    expect(h2Records.find((r) => r.request.path === '/h2-denied')?.responseCodeDetails).toBe('rbac_access_denied_matched_policy[none]');
    expect(h2Records.find((r) => r.request.path === '/h2-sniffed')?.downstream.tls?.alpn).toBeUndefined();
  });

  it('network RBAC sees the peer identity on a TCP chain over mTLS', async () => {
    const port = ports.get('tcp') ?? 0;
    expect(await tcpExchange(port, clientTls(good), 'hello')).toBe('tcp:hello');
    expect(await tcpExchange(port, clientTls(bad), 'hello')).not.toContain('tcp:hello');
    const denied = tcpRecords.find((r) => r.connectionTerminationDetails !== undefined);
    expect(denied?.connectionTerminationDetails).toBe('rbac_access_denied_matched_policy[none]');
    expect(denied?.downstream?.tls?.peerIdentities).toEqual(['spiffe://cluster.local/ns/default/sa/bad']);
    // The proxied connection's record comes when both sides have closed.
    for (let i = 0; i < 200 && !tcpRecords.some((r) => r.connectionTerminationDetails === undefined); i++) await new Promise((r) => setTimeout(r, 25));
    const ok = tcpRecords.find((r) => r.connectionTerminationDetails === undefined);
    expect(ok?.downstream?.tls?.peerIdentities).toEqual([GOOD]);
    expect(ok?.cluster).toBe('tcpapp');
  });

  it("picks HTTP or TCP over mTLS by the ALPN the client offers, as Istio's chains for sniffed ports", async () => {
    const port = ports.get('sniffed') ?? 0;
    expect(await get(port, '/http-over-mtls', clientTls(good, ['istio-http/1.1', 'istio', 'http/1.1']))).toBe('200 app GET /http-over-mtls');
    expect(await getH2(port, '/h2-over-mtls', good, ['istio-h2', 'istio', 'h2'])).toBe('200 app GET /h2-over-mtls');
    expect(await tcpExchange(port, clientTls(good, ['istio-peer-exchange', 'istio']), 'raw')).toBe('tcp:raw');
    expect(await get(port, '/plain', undefined)).toBe('200 app GET /plain');
    // Offering none of them: no chain matches, the connection is closed.
    expect(await get(port, '/no-alpn', clientTls(good))).toMatch(/^error: /);
    expect(lm.stats().get(stat('sniffed', 'no_filter_chain_match'))).toBe(1);
  });

  it('reads a ClientHello split over several segments whole before picking the chain by its ALPN', async () => {
    const port = ports.get('sniffed') ?? 0;
    // A relay that sends the client's first 20 bytes, then the rest 50 ms later (SNI and ALPN are in the rest).
    const relay = createServer((down) => {
      const up = netConnect(port, '127.0.0.1');
      let first = true;
      down.on('data', (d: Buffer) => {
        if (!first) return void up.write(d);
        first = false;
        up.write(d.subarray(0, 20));
        setTimeout(() => up.write(d.subarray(20)), 50);
      });
      up.on('data', (d: Buffer) => down.write(d));
      up.on('close', () => down.destroy());
      down.on('close', () => up.destroy());
      up.on('error', () => undefined);
      down.on('error', () => undefined);
    });
    const relayPort = await listen(relay);
    const before = lm.stats().get(stat('sniffed', 'no_filter_chain_match')) ?? 0;
    expect(await get(relayPort, '/split-hello', clientTls(good, ['istio-http/1.1', 'istio', 'http/1.1']))).toBe('200 app GET /split-hello');
    expect(lm.stats().get(stat('sniffed', 'no_filter_chain_match')) ?? 0).toBe(before);
  });

  /** connectStrictOnce makes one TLS connection to the STRICT listener (offering `session` to resume), sends GET `path` and reports the ticket it got, whether it resumed, and the response. */
  const connectStrictOnce = (path: string, session?: Buffer): Promise<{ session?: Buffer; reused: boolean; body: string }> =>
    new Promise((resolve) => {
      let saved: Buffer | undefined;
      let reused = false;
      const s = tlsConnect({ host: '127.0.0.1', port: ports.get('strict') ?? 0, ...clientTls(good, ['http/1.1']), ...(session ? { session } : {}) }, () => {
        reused = s.isSessionReused();
        s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
      });
      s.on('session', (b: Buffer) => (saved = b));
      let body = '';
      s.on('data', (d: Buffer) => (body += d.toString()));
      s.on('error', () => undefined);
      s.on('close', () => resolve({ ...(saved ? { session: saved } : {}), reused, body }));
    });

  it('a resumed TLS session (session ticket) still carries the verified peer identity', async () => {
    const connectOnce = (session?: Buffer) => connectStrictOnce('/resumed', session);
    const first = await connectOnce();
    expect(first.session).toBeDefined();
    const second = await connectOnce(first.session);
    expect(second.reused).toBe(true);
    expect(second.body).toMatch(/^HTTP\/1.1 200/);
    const recs = h1Records.filter((r) => r.request.path === '/resumed');
    expect(recs).toHaveLength(2);
    expect(recs[1].downstream.tls?.peerIdentities).toEqual([GOOD]);
  });

  it('a resumed connection is given a fresh session ticket, so a client that uses each ticket once keeps resuming (as with HAProxy)', async () => {
    const connectOnce = (session?: Buffer) => connectStrictOnce('/renewed', session);
    let c = await connectOnce();
    for (let i = 0; i < 3; i++) {
      // each connection offers the ticket the previous one received, never one already used
      expect(c.session).toBeDefined();
      c = await connectOnce(c.session);
      expect(c.reused).toBe(true);
      expect(c.body).toMatch(/^HTTP\/1.1 200/);
    }
    const recs = h1Records.filter((r) => r.request.path === '/renewed');
    expect(recs.map((r) => r.downstream.tls?.peerIdentities)).toEqual([[GOOD], [GOOD], [GOOD], [GOOD]]);
  });

  it('match_subject_alt_names: only a client certificate carrying one of them is accepted', async () => {
    const port = ports.get('san') ?? 0;
    expect(await get(port, '/san-good', clientTls(good))).toBe('200 app GET /san-good');
    expect(await get(port, '/san-bad', clientTls(bad))).toMatch(/^error: /);
    expect(lm.stats().get(stat('san', 'ssl.fail_verify_san'))).toBe(1);
  });

  it('an optional client certificate is verified when presented (Envoy without require_client_certificate)', async () => {
    const port = ports.get('optional') ?? 0;
    expect(await get(port, '/optional-none', clientTls(undefined))).toBe('200 app GET /optional-none');
    expect(await get(port, '/optional-good', clientTls(good))).toBe('200 app GET /optional-good');
    expect(await get(port, '/optional-foreign', clientTls(foreign))).toMatch(/^error: /);
    expect(h1Records.find((r) => r.request.path === '/optional-none')?.downstream.tls?.peerIdentities).toEqual([]);
    expect(h1Records.find((r) => r.request.path === '/optional-good')?.downstream.tls?.peerIdentities).toEqual([GOOD]);
    expect(lm.stats().get(stat('optional', 'ssl.fail_verify_error'))).toBe(1);
  });

  it('rotating `default` keeps an open keep-alive connection; new connections get the new certificate', async () => {
    const port = ports.get('permissive') ?? 0;
    const seen: string[] = [];
    const tls = { ...clientTls(good) };
    // The TLS options belong to the agent: node 22+ never keeps alive a socket whose request set
    // its own checkServerIdentity (https.Agent#keepSocketAlive), and this test is about reuse.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ...tls });
    const viaAgent = (path: string): Promise<string> =>
      new Promise((resolve) => {
        const req = https.request({ host: '127.0.0.1', port, path, agent }, (res) => {
          const serial = (res.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? '';
          if (serial !== '' && !seen.includes(serial)) seen.push(serial);
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve(`${res.statusCode} ${b}`));
        });
        req.on('error', (e) => resolve(`error: ${e.message}`));
        req.end();
      });
    let sockets = 0;
    agent.on('free', () => undefined);
    const origCreate = agent.createConnection.bind(agent);
    agent.createConnection = ((...a: Parameters<typeof origCreate>) => {
      sockets++;
      return origCreate(...a);
    }) as typeof agent.createConnection;
    expect(await viaAgent('/before')).toBe('200 app GET /before');
    const before = (secrets.get(WORKLOAD_CERT_SECRET) as CertificateSecret).serialHex;
    const next = testSvid(ca, 'default', 'server');
    secrets.set(WORKLOAD_CERT_SECRET, next);
    expect(await viaAgent('/after-rotation-same-connection')).toBe('200 app GET /after-rotation-same-connection');
    expect(sockets).toBe(1); // the live connection was not dropped: the second request reused it
    expect(seen).toHaveLength(1);
    agent.destroy();
    const fresh = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ...tls }, () => {
        resolve(s.getPeerX509Certificate()?.serialNumber ?? '');
        s.destroy();
      });
      s.on('error', (e) => resolve(`error: ${e.message}`));
    });
    const norm = (h: string | undefined): string => (h ?? '').replace(/^0+/, '').toUpperCase();
    expect(norm(seen[0])).toBe(norm(before));
    expect(norm(fresh)).toBe(norm(next.serialHex));
  });

  it('rotating `default` five times under load (new and keep-alive connections) fails no request', async () => {
    const port = ports.get('permissive') ?? 0;
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 2 });
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const loop = async (agent?: https.Agent): Promise<void> => {
      while (!stop) {
        const r = await get(port, '/under-rotation', clientTls(good), agent);
        if (r === '200 app GET /under-rotation') ok++;
        else failures.push(r);
      }
    };
    const loops = [loop(), loop(), loop(keepAlive), loop(keepAlive)];
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      secrets.set(WORKLOAD_CERT_SECRET, testSvid(ca, 'default', 'server'));
    }
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await Promise.all(loops);
    keepAlive.destroy();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(5);
  });

  it('a chain whose secret is missing refuses connections without crashing, warns once, and serves once the secret arrives', async () => {
    const port = ports.get('missing') ?? 0;
    expect(await get(port, '/1', clientTls(good))).toMatch(/^error: /);
    expect(await get(port, '/2', clientTls(good))).toMatch(/^error: /);
    expect(lm.stats().get(stat('missing', 'ssl.no_certificate'))).toBe(2);
    expect(warnings.filter((w) => w.includes('gateway-cred'))).toHaveLength(1);
    secrets.set('gateway-cred', testSvid(ca, 'istio-system', 'gateway'));
    expect(await get(port, '/3', clientTls(good))).toBe('200 app GET /3');
    // Still serving the other listeners.
    expect(await get(ports.get('strict') ?? 0, '/still', clientTls(good))).toBe('200 app GET /still');
    expect(secrets.get(ROOT_CA_SECRET)?.kind).toBe('validation');
  });

  it('a peer certificate with a plain TCP client that never finishes the handshake does not hang the listener', async () => {
    const port = ports.get('strict') ?? 0;
    await new Promise<void>((resolve) => {
      const c = netConnect(port, '127.0.0.1', () => {
        c.write(Buffer.from([0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3]));
        setTimeout(() => c.destroy(), 50);
      });
      c.on('error', () => undefined);
      c.on('close', () => resolve());
    });
    expect(await get(port, '/after-junk', clientTls(good))).toBe('200 app GET /after-junk');
  });
});

describe('x-forwarded-client-cert (Istio inbound: APPEND_FORWARD with Subject, URI, DNS)', () => {
  it('appends the mTLS client to the header, and removes a header a plaintext client made up', async () => {
    const app = http.createServer((req, res) => res.end(`xfcc=${String(req.headers['x-forwarded-client-cert'] ?? '-')}`));
    const appPort = await listen(app);
    const xfccHcm = hcm('inbound_xfcc', false);
    const tc = xfccHcm.typedConfig as Record<string, unknown>;
    tc.forwardClientCertDetails = 'APPEND_FORWARD';
    tc.setCurrentClientCertDetails = { subject: { value: true }, dns: true, uri: true };
    const r = compileConfig({
      listeners: [
        {
          name: 'xfcc',
          address: { socketAddress: { address: '127.0.0.1', portValue: 1 } },
          filterChains: [
            { filterChainMatch: { transportProtocol: 'tls' }, filters: [xfccHcm], transportSocket: mtlsSocket() },
            { filterChainMatch: { transportProtocol: 'raw_buffer' }, filters: [xfccHcm] },
          ],
        },
      ],
      routes: [],
      clusters: [{ name: 'app', type: 'STATIC', connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: 'app', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: appPort } } } }] }] } }],
      endpoints: [],
    });
    if (!r.ok) throw new Error(r.errors.join('; '));
    const cm = new ClusterManager(clock);
    const m = new ListenerManager({ clusters: cm, clock, secrets, bind: () => ({ host: '127.0.0.1', port: 0 }) });
    const client = testSvid(ca, 'default', 'good');
    const hash = new X509Certificate(client.certChainPem).fingerprint256.replace(/:/g, '').toLowerCase();
    const server = (secrets.get(WORKLOAD_CERT_SECRET) as CertificateSecret).identity;
    const withHeader = (port: number, tls: Record<string, unknown> | undefined, value: string): Promise<string> =>
      new Promise((resolve) => {
        const opts = { host: '127.0.0.1', port, path: '/', agent: false as const, headers: { 'x-forwarded-client-cert': value } };
        const done = (res: http.IncomingMessage): void => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve(b));
        };
        const req = tls ? https.request({ ...opts, ...tls }, done) : http.request(opts, done);
        req.on('error', (e) => resolve(`error: ${e.message}`));
        req.end();
      });
    try {
      cm.apply(r.value);
      expect(await m.apply(r.value)).toEqual([]);
      const port = m.ports().get('xfcc') ?? 0;
      expect(await withHeader(port, clientTls(client), 'By=spiffe://a;Hash=00')).toBe(`xfcc=By=spiffe://a;Hash=00,By=${server};Hash=${hash};Subject="";URI=${GOOD}`);
      expect(await withHeader(port, undefined, 'By=spiffe://forged;URI=spiffe://cluster.local/ns/default/sa/admin')).toBe('xfcc=-');
    } finally {
      await m.close();
      cm.close();
    }
  });
});

describe('downstream TLS from certificate files with tls_params (a gateway SIMPLE server)', () => {
  it('serves TLS 1.3 with the file certificate, no client certificate needed; refuses a TLS 1.2-only client', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-dtls-'));
    const server = testServerCert(ca, ['bookinfo.example.com']);
    writeFileSync(join(dir, 'cert.pem'), server.certChainPem);
    writeFileSync(join(dir, 'key.pem'), server.keyPem);
    const app = http.createServer((req, res) => res.end(`files ${req.url}`));
    const appPort = await listen(app);
    const r = compileConfig({
      listeners: [
        {
          name: 'gw_8443',
          address: { socketAddress: { address: '127.0.0.1', portValue: 8443 } },
          filterChains: [
            {
              filterChainMatch: { serverNames: ['bookinfo.example.com'] },
              filters: [hcm('https_8443', false)],
              transportSocket: { name: 'envoy.transport_sockets.tls', typedConfig: { '@type': DTLS, commonTlsContext: { tlsCertificates: [{ certificateChain: { filename: join(dir, 'cert.pem') }, privateKey: { filename: join(dir, 'key.pem') } }], tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_3' }, alpnProtocols: ['h2', 'http/1.1'] } } },
            },
          ],
        },
      ],
      routes: [],
      clusters: [{ name: 'app', type: 'STATIC', connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: 'app', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: appPort } } } }] }] } }],
      endpoints: [],
    });
    if (!r.ok) throw new Error(r.errors.join('; '));
    const records: EngineExchangeRecord[] = [];
    const cm = new ClusterManager(clock);
    const m = new ListenerManager({ clusters: cm, clock, bind: () => ({ host: '127.0.0.1', port: 0 }), onHttp1: (x) => records.push(x) });
    try {
      cm.apply(r.value);
      expect(await m.apply(r.value)).toEqual([]);
      const port = m.ports().get('gw_8443') ?? 0;
      const client = { ca: ca.rootPem, servername: 'bookinfo.example.com', ALPNProtocols: ['http/1.1'] };
      expect(await get(port, '/tls13', client)).toBe('200 files /tls13');
      expect(records[0]?.downstream.tls).toEqual({ sni: 'bookinfo.example.com', peerIdentities: [], alpn: 'http/1.1' });
      expect(await get(port, '/tls12', { ...client, maxVersion: 'TLSv1.2' })).toMatch(/^error: /);
      expect(m.stats().get('listener.127.0.0.1_8443.ssl.connection_error')).toBe(1);
    } finally {
      await m.close();
      cm.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('DownstreamTls on its own', () => {
  it('rebuilds a file-based context when the certificate files change on disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-dtls-'));
    const write = (c: CertificateSecret, mtime: number): void => {
      writeFileSync(join(dir, 'cert.pem'), c.certChainPem);
      writeFileSync(join(dir, 'key.pem'), c.keyPem);
      for (const f of ['cert.pem', 'key.pem']) utimesSync(join(dir, f), mtime, mtime);
    };
    const first = testServerCert(ca, ['files.example']);
    const second = testServerCert(ca, ['files.example']);
    write(first, 1_000_000);
    const dtls = new DownstreamTls({ fileCheckMs: 0 });
    const tls = { requireClientCertificate: false, alpn: [], certificateFiles: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }, subjectAltNames: [] };
    const server = createServer({ pauseOnConnect: true }, (sock) =>
      sock.once('readable', () => {
        const head = sock.read() as Buffer;
        void dtls.accept(sock, head, tls, []).then((r) => (r.ok ? r.socket.end('hi') : sock.destroy()));
      }),
    );
    const port = await listen(server);
    const serial = (): Promise<string> =>
      new Promise((resolve) => {
        const c = tlsConnect({ host: '127.0.0.1', port, ca: ca.rootPem, servername: 'files.example' }, () => resolve(c.getPeerX509Certificate()?.serialNumber ?? ''));
        c.on('error', (e) => resolve(`error: ${e.message}`));
        c.resume();
      });
    const norm = (h: string | undefined): string => (h ?? '').replace(/^0+/, '').toUpperCase();
    try {
      expect(norm(await serial())).toBe(norm(first.serialHex));
      write(second, 2_000_000);
      expect(norm(await serial())).toBe(norm(second.serialHex));
    } finally {
      dtls.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('peer identities from a certificate', () => {
  it('parses node subjectaltname strings, quoted values included', () => {
    expect(parseSubjectAltName('URI:spiffe://cluster.local/ns/a/sa/b, DNS:x.example')).toEqual([
      ['URI', 'spiffe://cluster.local/ns/a/sa/b'],
      ['DNS', 'x.example'],
    ]);
    expect(parseSubjectAltName('DNS:"a,b", URI:spiffe://td/ns/x/sa/y')).toEqual([
      ['DNS', 'a,b'],
      ['URI', 'spiffe://td/ns/x/sa/y'],
    ]);
    expect(parseSubjectAltName(undefined)).toEqual([]);
  });

  it('prefers URI SANs, then DNS SANs, then the subject (Envoy principal order)', () => {
    const svid = testSvid(ca, 'ns1', 'sa1');
    const x = new X509Certificate(svid.certChainPem);
    expect(peerIdentitiesOf({ subjectaltname: x.subjectAltName ?? '' })).toEqual(['spiffe://cluster.local/ns/ns1/sa/sa1']);
    expect(peerIdentitiesOf({ subjectaltname: 'DNS:a.example' })).toEqual(['a.example']);
    expect(peerIdentitiesOf({ subject: { CN: 'client' } })).toEqual(['CN=client']);
    expect(peerIdentitiesOf({})).toEqual([]);
  });
});
