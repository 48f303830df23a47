// Per-endpoint pools against a real loopback TCP server.
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MemorySecretProvider } from '../security/secrets.js';
import { createServer as createTlsServer } from 'node:tls';
import { testCa, testSecrets, testSvid } from '../security/test-pki.js';
import { setPoolTls, UpstreamPools, type ConnectionUser, type UpstreamConnection } from './pool.js';
import { newSslStats, SecureContextCache, TlsOrigination, transportFailureReason, upstreamPeerIdentities } from './tls-origination.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function server(): Promise<{ port: number; accepted: () => number; srv: Server }> {
  let accepted = 0;
  const sockets = new Set<import('node:net').Socket>();
  const srv = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    srv.close(() => r());
  }));
  return { port: (srv.address() as AddressInfo).port, accepted: () => accepted, srv };
}

/** A user that records what the pool tells it. */
function user() {
  const events: string[] = [];
  let ready: UpstreamConnection | undefined;
  const u: ConnectionUser = {
    onUpstreamData: () => events.push('data'),
    onUpstreamEnd: () => events.push('end'),
    onUpstreamClose: (c) => events.push(`close:${c.failure ?? 'ok'}`),
    onUpstreamDrain: () => undefined,
    onUpstreamReady: (c) => {
      ready = c;
      events.push('ready');
    },
    onUpstreamOverflow: () => events.push('overflow'),
  };
  return { u, events, ready: () => ready };
}

const connected = (c: UpstreamConnection) => new Promise<void>((r) => (c.connected ? r() : c.socket.once('connect', () => r())));

describe('upstream pools', () => {
  it('reuses the most recently released idle connection', async () => {
    const { port, accepted } = await server();
    const pools = new UpstreamPools();
    cleanup.push(() => pools.close());
    const pool = pools.get('127.0.0.1', port);
    const a = pool.acquire(user().u) as UpstreamConnection;
    const b = pool.acquire(user().u) as UpstreamConnection;
    await Promise.all([connected(a), connected(b)]);
    pool.release(a, true);
    pool.release(b, true);
    expect(pool.idleCount).toBe(2);
    const c = pool.acquire(user().u) as UpstreamConnection;
    expect(c).toBe(b);
    expect(c.requests).toBe(2);
    expect(c.reused).toBe(true);
    await expect.poll(() => accepted()).toBe(2);
    expect(pools.get('127.0.0.1', port)).toBe(pool);
  });

  it('closes connections idle past the idle timeout and beyond maxIdle', async () => {
    const { port } = await server();
    const pools = new UpstreamPools({ idleTimeoutMs: 1000, maxIdle: 1 });
    cleanup.push(() => pools.close());
    const pool = pools.get('127.0.0.1', port);
    const a = pool.acquire(user().u) as UpstreamConnection;
    const b = pool.acquire(user().u) as UpstreamConnection;
    await Promise.all([connected(a), connected(b)]);
    pool.release(a, true);
    pool.release(b, true); // over maxIdle: closed
    await expect.poll(() => b.closed).toBe(true);
    expect(pool.idleCount).toBe(1);
    pools.sweep(Date.now() + 500);
    expect(a.closed || a.socket.destroyed).toBe(false);
    pools.sweep(Date.now() + 1500);
    await expect.poll(() => a.closed).toBe(true);
    expect(pool.idleCount).toBe(0);
    expect(pool.open).toBe(0);
  });

  it('does not pool a connection released as not reusable, nor one that reached maxRequestsPerConnection', async () => {
    const { port } = await server();
    const pools = new UpstreamPools({ maxRequestsPerConnection: 2 });
    cleanup.push(() => pools.close());
    const pool = pools.get('127.0.0.1', port);
    const a = pool.acquire(user().u) as UpstreamConnection;
    await connected(a);
    pool.release(a, false);
    expect(pool.idleCount).toBe(0);
    const b = pool.acquire(user().u) as UpstreamConnection;
    await connected(b);
    pool.release(b, true);
    expect(pool.acquire(user().u)).toBe(b);
    pool.release(b, true); // second request done: limit reached
    expect(pool.idleCount).toBe(0);
    await expect.poll(() => b.closed).toBe(true);
  });

  it('reports a refused connection as failure "refused"', async () => {
    const { port, srv } = await server();
    await new Promise<void>((r) => srv.close(() => r()));
    const pools = new UpstreamPools();
    cleanup.push(() => pools.close());
    const u = user();
    pools.get('127.0.0.1', port).acquire(u.u);
    await expect.poll(() => u.events).toEqual(['close:refused']);

  });

  it('queues past max connections and hands a released connection to the waiting user', async () => {
    const { port } = await server();
    let connections = 0;
    let pending = 0;
    const limits = {
      tryAcquireRequest: () => true,
      releaseRequest: () => undefined,
      tryAcquirePending: () => (pending < 1 ? (pending++, true) : false),
      releasePending: () => void pending--,
      tryAcquireConnection: () => (connections < 1 ? (connections++, true) : false),
      releaseConnection: () => void connections--,
      tryAcquireRetry: () => true,
      releaseRetry: () => undefined,
      get active() {
        return { requests: 0, pending, connections, retries: 0 };
      },
    };
    const pools = new UpstreamPools({ limits });
    cleanup.push(() => pools.close());
    const pool = pools.get('127.0.0.1', port);
    const a = pool.acquire(user().u) as UpstreamConnection;
    const w = user();
    expect(pool.acquire(w.u)).toBe('queued');
    expect(pool.acquire(user().u)).toBe('overflow');
    await connected(a);
    pool.release(a, true);
    expect(w.events).toEqual(['ready']);
    expect(w.ready()).toBe(a);
    expect(pending).toBe(0);
    pool.release(a, false);
    await expect.poll(() => connections).toBe(0);
  });
});

describe('upstream pools with TLS origination', () => {
  const tlsPlan = { sni: 'outbound_.80_._.a.default.svc.cluster.local', alpn: ['istio-peer-exchange', 'istio'], subjectAltNames: [], certificate: { sdsName: 'default' }, validation: { sdsName: 'ROOTCA' }, onlyIstioEndpoints: false };

  it('keeps TLS and plaintext connections to one address in different pools, and dials TLS only for the TLS one', async () => {
    const { port } = await server();
    const pools = new UpstreamPools();
    cleanup.push(() => pools.close());
    const contexts = new SecureContextCache(new MemorySecretProvider());
    cleanup.push(() => contexts.close());
    const tls = new TlsOrigination(tlsPlan, contexts);
    const plainSettings = { ...pools.defaults };
    const tlsSettings = { ...pools.defaults };
    setPoolTls(tlsSettings, () => tls);
    const plain = pools.get('127.0.0.1', port, plainSettings);
    const secure = pools.get('127.0.0.1', port, tlsSettings);
    expect(plain).not.toBe(secure);
    expect(plain.tls).toBeUndefined();
    expect(secure.tls).toBe(tls);
    // Asked again, the same pools come back (the TLS decision is made once per pool).
    expect(pools.get('127.0.0.1', port, tlsSettings)).toBe(secure);
  });

  it('fails a TLS connection as a connect failure when the secrets are not there yet', async () => {
    const { port, accepted } = await server();
    const pools = new UpstreamPools();
    cleanup.push(() => pools.close());
    const contexts = new SecureContextCache(new MemorySecretProvider());
    cleanup.push(() => contexts.close());
    const stats = newSslStats();
    const tls = new TlsOrigination(tlsPlan, contexts, stats);
    const pool = pools.get('127.0.0.1', port, { ...pools.defaults, tls: () => tls });
    const r = user();
    const c = pool.acquire(r.u) as UpstreamConnection;
    await new Promise<void>((done) => c.socket.once('close', () => done()));
    expect(c.connected).toBe(false);
    expect(r.events).toEqual(['close:error']);
    expect(transportFailureReason(c.socket)).toContain('secret "default"');
    expect(stats.connection_error).toBe(1);
    expect(accepted()).toBe(0);
  });

  it('connects over mTLS, and knows the verified server identity', async () => {
    const ca = testCa();
    const server = testSvid(ca, 'default', 'reviews');
    const srv = createTlsServer({ cert: server.certChainPem, key: server.keyPem, ca: ca.rootPem, requestCert: true, rejectUnauthorized: true }, (s) => s.on('error', () => undefined));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
    const pools = new UpstreamPools();
    cleanup.push(() => pools.close());
    const contexts = new SecureContextCache(testSecrets(ca, 'default', 'productpage'));
    cleanup.push(() => contexts.close());
    const tls = new TlsOrigination({ ...tlsPlan, subjectAltNames: ['spiffe://cluster.local/ns/default/sa/reviews'] }, contexts);
    const pool = pools.get('127.0.0.1', (srv.address() as AddressInfo).port, { ...pools.defaults, tls: () => tls });
    const c = pool.acquire(user().u) as UpstreamConnection;
    await new Promise<void>((r) => c.socket.once('secureConnect', () => r()));
    expect(c.connected).toBe(true);
    expect(upstreamPeerIdentities(c.socket)).toEqual(['spiffe://cluster.local/ns/default/sa/reviews']);
    c.socket.destroy();
  });

  it('counts a TLS connection as connected only after its handshake (a server that never answers the ClientHello times out as UF)', async () => {
    const { port, accepted } = await server();
    const pools = new UpstreamPools();
    cleanup.push(() => pools.close());
    const ca = testCa();
    const contexts = new SecureContextCache(testSecrets(ca, 'default', 'a'));
    cleanup.push(() => contexts.close());
    const tls = new TlsOrigination(tlsPlan, contexts);
    const pool = pools.get('127.0.0.1', port, { ...pools.defaults, connectTimeoutMs: 300, tls: () => tls });
    const r = user();
    const c = pool.acquire(r.u) as UpstreamConnection;
    await new Promise<void>((done) => c.socket.once('close', () => done()));
    expect(accepted()).toBe(1);
    expect(c.connected).toBe(false);
    expect(r.events).toEqual(['close:timeout']);
  });

  it("builds contexts for the platform's roots (caCertificates: system, file-root:system) and names a missing CA file", () => {
    const contexts = new SecureContextCache(new MemorySecretProvider());
    cleanup.push(() => contexts.close());
    const base = { alpn: [], subjectAltNames: [], onlyIstioEndpoints: false };
    expect(contexts.get({ ...base, validation: { caFile: 'system' } })).not.toBeInstanceOf(Error);
    expect(contexts.get({ ...base, validation: { sdsName: 'file-root:system' } })).not.toBeInstanceOf(Error);
    const missing = contexts.get({ ...base, validation: { caFile: '/nonexistent/ca.pem' } });
    expect(missing).toBeInstanceOf(Error);
    expect((missing as Error).message).toContain('/nonexistent/ca.pem');
    expect(contexts.get({ ...base, certificate: { certFile: '/c.pem' } })).toBeInstanceOf(Error);
  });
});
