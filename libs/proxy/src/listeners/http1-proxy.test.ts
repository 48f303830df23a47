// The HTTP/1.1 listener against real node:http upstreams and real client sockets on loopback.
import { createServer as createHttpServer, request, Agent, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { compileConfig } from '../config/compile.js';
import { ClusterManager } from '../engine/clusters.js';
import type { ClusterLimits, EngineClock, ExchangeRecord as ModelExchangeRecord, HttpFilterStage } from '../model.js';
import { UpstreamPools, DEFAULT_POOL_SETTINGS, type EndpointPoolSettings } from '../upstream/pool.js';
import { createHttp1Proxy, originalDestination, type Http1Proxy, type RouteFn } from './http1-proxy.js';

type ExchangeRecord = ModelExchangeRecord;

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function upstream(handler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void, setup?: (s: HttpServer) => void) {
  const server = createHttpServer(handler);
  setup?.(server);
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
}

async function proxyTo(route: RouteFn, pools?: UpstreamPools) {
  const records: ExchangeRecord[] = [];
  const proxy = createHttp1Proxy({ route, pools, onExchange: (r) => records.push(r), drainTimeoutMs: 1000 });
  const addr = await proxy.listen(0);
  cleanup.push(() => proxy.close());
  return { proxy, port: addr.port, records };
}

const fixed = (port: number, pool?: EndpointPoolSettings): RouteFn => () => ({ kind: 'forward', address: '127.0.0.1', port, pool });

type Reply = { status: number; headers: Record<string, string | string[] | undefined>; body: string; trailers: Record<string, string> };

function get(port: number, path: string, opts: { agent?: Agent; method?: string; headers?: Record<string, string>; body?: string | string[] } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: opts.agent ?? false, headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, trailers: res.trailers as Record<string, string> }));
    });
    req.on('error', reject);
    if (Array.isArray(opts.body)) for (const b of opts.body) req.write(b);
    else if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Writes raw bytes and collects what comes back until `done(text)` or the socket closes. */
function raw(port: number, data: string, done: (text: string) => boolean = () => false): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d) => {
      text += d;
      if (done(text)) {
        s.destroy();
        resolve(text);
      }
    });
    s.on('close', () => resolve(text));
    s.on('error', reject);
    s.write(data, 'latin1');
  });
}

describe('HTTP/1.1 proxy listener', () => {
  it('reuses one upstream connection for sequential keep-alive requests', async () => {
    const up = await upstream((req, res) => res.end(`hello ${req.url}`));
    const { port, records } = await proxyTo(fixed(up.port));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    for (let i = 0; i < 5; i++) {
      const r = await get(port, `/r${i}`, { agent });
      expect(r.status).toBe(200);
      expect(r.body).toBe(`hello /r${i}`);
    }
    expect(up.connections()).toBe(1);
    expect(records.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(records[0].upstream).toMatchObject({ address: '127.0.0.1', port: up.port });
    expect(records[0]).toMatchObject({ protocol: 'HTTP/1.1', downstream: { remoteAddress: '127.0.0.1' }, requestBodyBytes: 0, responseBodyBytes: 'hello /r0'.length });
    expect(records[0].upstreamServiceTimeMs).toBeGreaterThan(0);
    expect(records[0].upstreamServiceTimeMs).toBeLessThanOrEqual(records[0].durationMs);
  });

  it('routes explicit-proxy absolute-form and Host-routed origin-form requests alike', async () => {
    const a = await upstream((req, res) => res.end(`a ${req.headers.host} ${req.url}`));
    const b = await upstream((req, res) => res.end(`b ${req.headers.host} ${req.url}`));
    const { port, records } = await proxyTo((req) => (req.authority.startsWith('reviews') ? { kind: 'forward', address: '127.0.0.1', port: a.port } : req.authority.startsWith('ratings') ? { kind: 'forward', address: '127.0.0.1', port: b.port } : { kind: 'local', status: 404, body: 'no route\n', flag: 'NR' }));
    const abs = await raw(port, 'GET http://reviews:9080/r/1?x=y HTTP/1.1\r\nHost: ignored\r\nProxy-Connection: keep-alive\r\n\r\n', (t) => t.endsWith('/r/1?x=y'));
    expect(abs).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(abs).toContain('a reviews:9080 /r/1?x=y');
    const origin = await get(port, '/s', { headers: { host: 'ratings:9080' } });
    expect(origin.body).toBe('b ratings:9080 /s');
    const nr = await get(port, '/', { headers: { host: 'unknown' } });
    expect(nr.status).toBe(404);
    expect(nr.body).toBe('no route\n');
    expect(records.map((r) => [r.status, r.flags, r.upstream?.port])).toEqual([
      [200, [], a.port],
      [200, [], b.port],
      [404, ['NR'], undefined],
    ]);
  });

  it('streams a chunked request and a chunked response with trailers', async () => {
    const up = await upstream((req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        res.writeHead(200, { trailer: 'x-sum' });
        res.write(`got ${req.headers['transfer-encoding']} `);
        res.write(body.toUpperCase());
        res.addTrailers({ 'x-sum': String(body.length) });
        res.end();
      });
    });
    const { port } = await proxyTo(fixed(up.port));
    const r = await get(port, '/echo', { method: 'POST', body: ['hello ', 'chunked ', 'world'] });
    expect(r.status).toBe(200);
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.body).toBe('got chunked HELLO CHUNKED WORLD');
    expect(r.trailers['x-sum']).toBe('19');
  });

  it('answers Expect: 100-continue before the body is sent', async () => {
    const up = await upstream((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => res.end(`expect=${req.headers.expect ?? 'none'} body=${body}`));
    });
    const { port } = await proxyTo(fixed(up.port));
    const reply = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/u', method: 'PUT', agent: false, headers: { expect: '100-continue', 'content-length': '5' } }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve(b));
      });
      req.on('continue', () => req.end('12345'));
      req.on('error', reject);
    });
    expect(reply).toBe('expect=none body=12345');
  });

  it('answers pipelined requests in order even when the first is slowest', async () => {
    const up = await upstream((req, res) => {
      const delay = req.url === '/1' ? 60 : 0;
      setTimeout(() => res.end(`resp${req.url}`), delay);
    });
    const { port } = await proxyTo(fixed(up.port));
    const text = await raw(port, 'GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    const bodies = [...text.matchAll(/\r\n\r\n(resp\/\d)/g)].map((m) => m[1]);
    expect(bodies).toEqual(['resp/1', 'resp/2', 'resp/3']);
    expect(text).toMatch(/connection: close\r\n/);
  });

  it('answers requests a client half-closed after sending them', async () => {
    const up = await upstream((req, res) => res.end(`r${req.url}`));
    const { port } = await proxyTo(fixed(up.port));
    const text = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let t = '';
      s.on('data', (d) => (t += d));
      s.on('close', () => resolve(t));
      s.end('GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n');
    });
    expect(text).toContain('r/a');
    expect(text).toContain('r/b');
  });

  it('passes a WebSocket upgrade through and splices the sockets', async () => {
    const up = await upstream((_req, res) => res.end('not upgraded'), (s) =>
      s.on('upgrade', (req, socket: Socket, head: Buffer) => {
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Key: ${req.headers['sec-websocket-key']}\r\n\r\n`);
        if (head.length > 0) socket.write(head);
        socket.pipe(socket);
      }),
    );
    const { port, records } = await proxyTo(fixed(up.port));
    const echoed = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/ws', agent: false, headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k1' } });
      req.on('upgrade', (res, socket: Socket, head) => {
        expect(res.statusCode).toBe(101);
        expect(res.headers['x-key']).toBe('k1');
        let got = head.toString();
        socket.on('data', (d) => {
          got += d;
          if (got === 'ping-1ping-2') {
            socket.destroy();
            resolve(got);
          }
        });
        socket.write('ping-1');
        setTimeout(() => socket.write('ping-2'), 10);
      });
      req.on('error', reject);
      req.end();
    });
    expect(echoed).toBe('ping-1ping-2');
    expect(records[0].status).toBe(101);
  });

  it('tunnels CONNECT to the routed endpoint', async () => {
    const echo: Server = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => echo.close(() => r())));
    const echoPort = (echo.address() as AddressInfo).port;
    const { port } = await proxyTo((req) => ({ kind: 'forward', address: '127.0.0.1', port: Number(req.authority.split(':')[1]) }));
    const text = await raw(port, `CONNECT db:${echoPort} HTTP/1.1\r\nHost: db:${echoPort}\r\n\r\nbytes-through`, (t) => t.endsWith('bytes-through'));
    expect(text).toBe('HTTP/1.1 200 Connection Established\r\n\r\nbytes-through');
  });

  it('answers 503 UC when the upstream resets before responding', async () => {
    const up = await upstream((req) => req.socket.destroy());
    const { port, records } = await proxyTo(fixed(up.port));
    const r = await get(port, '/reset');
    expect(r.status).toBe(503);
    expect(records[0]).toMatchObject({ status: 503, flags: ['UC'] });
  });

  it('closes the downstream (UC) when the upstream resets mid-response', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const { port, records } = await proxyTo(fixed(up.port));
    const text = await raw(port, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(text.endsWith('partial')).toBe(true); // cut short: the client sees fewer bytes than content-length
    await expect.poll(() => records[0]?.flags[0]).toBe('UC');
  });

  it('answers 503 UF when the upstream refuses the connection', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const dead = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const { port, records } = await proxyTo(fixed(dead));
    const r = await get(port, '/x');
    expect(r.status).toBe(503);
    expect(records[0]).toMatchObject({ status: 503, flags: ['UF'] });
    // the downstream connection stays usable after a local 503
    const text = await raw(port, 'GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(text.match(/HTTP\/1\.1 503/g)).toHaveLength(2);
  });

  it('retries a body-less request on a new connection when a reused one was closed under it', async () => {
    // A raw upstream that answers the first request of each connection and drops the connection on the second.
    let conns = 0;
    const srv = createServer((s) => {
      conns++;
      let n = 0;
      s.on('data', () => {
        if (++n === 1) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        else s.destroy();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
    const { port } = await proxyTo(fixed((srv.address() as AddressInfo).port));
    expect((await get(port, '/1')).body).toBe('ok');
    expect((await get(port, '/2')).body).toBe('ok');
    expect(conns).toBe(2);
  });

  it('rejects malformed requests with 400 and oversized heads with 431', async () => {
    const up = await upstream((_req, res) => res.end('x'));
    const { port } = await proxyTo(fixed(up.port));
    expect(await raw(port, 'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*connection: close/);
    expect(await raw(port, `GET / HTTP/1.1\r\nHost: h\r\nX: ${'a'.repeat(70_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    expect(await raw(port, 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('turns an until-close upstream body into chunks for HTTP/1.1 and keeps close for HTTP/1.0', async () => {
    const srv = createServer((s) => s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nstreamed until close')));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => srv.close(() => r())));
    const { port } = await proxyTo(fixed((srv.address() as AddressInfo).port));
    const r11 = await get(port, '/');
    expect(r11.headers['transfer-encoding']).toBe('chunked');
    expect(r11.body).toBe('streamed until close');
    // a keep-alive client gets the last chunk without the connection closing
    const ka = await raw(port, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n', (t) => t.endsWith('0\r\n\r\n'));
    expect(ka).toMatch(/transfer-encoding: chunked\r\n\r\n14\r\nstreamed until close\r\n0\r\n\r\n$/);
    const r10 = await raw(port, 'GET / HTTP/1.0\r\n\r\n');
    expect(r10).toMatch(/^HTTP\/1\.1 200 OK\r\ncontent-type: text\/plain\r\nconnection: close\r\n\r\nstreamed until close$/);
  });

  it('keeps an HTTP/1.0 keep-alive client alive and says so', async () => {
    const up = await upstream((_req, res) => res.end('k'));
    const { port } = await proxyTo(fixed(up.port));
    const text = await raw(port, 'GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', (t) => t.endsWith('\r\n\r\nk'));
    expect(text).toContain('connection: keep-alive\r\n');
  });

  it('honours cluster limits: a request beyond max connections and pending overflows with UO', async () => {
    const up = await upstream((_req, res) => setTimeout(() => res.end('slow'), 100));
    const limits = new CountingLimits(1, 0, 100);
    const settings: EndpointPoolSettings = { ...DEFAULT_POOL_SETTINGS, limits };
    const pools = new UpstreamPools();
    cleanup.push(() => pools.close());
    const { port, records } = await proxyTo(fixed(up.port, settings), pools);
    const [a, b] = await Promise.all([get(port, '/a'), new Promise<Reply>((r) => setTimeout(() => r(get(port, '/b')), 20))]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(503);
    expect(records.find((r) => r.status === 503)?.flags[0]).toBe('UO');
    await expect.poll(() => limits.active.requests).toBe(0);
  });

  it('queues a pending request until a connection slot frees up', async () => {
    const up = await upstream((req, res) => setTimeout(() => res.end(`done ${req.url}`), 30));
    const limits = new CountingLimits(1, 10, 100);
    const pools = new UpstreamPools();
    cleanup.push(() => pools.close());
    const { port } = await proxyTo(fixed(up.port, { ...DEFAULT_POOL_SETTINGS, limits }), pools);
    const replies = await Promise.all([get(port, '/a'), get(port, '/b'), get(port, '/c')]);
    expect(replies.map((r) => r.body).sort()).toEqual(['done /a', 'done /b', 'done /c']);
    expect(up.connections()).toBe(1);
    await expect.poll(() => limits.active.pending + limits.active.requests).toBe(0);
  });

  it('closes connections after maxRequestsPerConnection', async () => {
    const up = await upstream((_req, res) => res.end('m'));
    const pools = new UpstreamPools();
    cleanup.push(() => pools.close());
    const { port } = await proxyTo(fixed(up.port, { ...DEFAULT_POOL_SETTINGS, maxRequestsPerConnection: 2 }), pools);
    for (let i = 0; i < 6; i++) expect((await get(port, '/')).body).toBe('m');
    expect(up.connections()).toBe(3);
  });

  it('drains on close: an in-flight response completes with connection: close, new connections are refused', async () => {
    const up = await upstream((_req, res) => setTimeout(() => res.end('late'), 80));
    const { proxy, port } = await proxyTo(fixed(up.port));
    const inflight = raw(port, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await new Promise((r) => setTimeout(r, 20));
    const closing = (proxy as Http1Proxy).close();
    const text = await inflight;
    expect(text).toMatch(/connection: close\r\n/);
    expect(text.endsWith('late')).toBe(true);
    await closing;
    await expect(get(port, '/')).rejects.toThrow();
  });

  it('propagates backpressure on large bodies both ways', async () => {
    const big = 'x'.repeat(4 * 1024 * 1024);
    const up = await upstream((req, res) => {
      let n = 0;
      req.on('data', (d) => (n += d.length));
      req.on('end', () => res.end(`${n}:${big}`));
    });
    const { port } = await proxyTo(fixed(up.port));
    const r = await get(port, '/big', { method: 'POST', headers: { 'content-length': String(big.length) }, body: big });
    expect(r.body.length).toBe(String(big.length).length + 1 + big.length);
    expect(r.body.startsWith(`${big.length}:`)).toBe(true);
  });
});

/** A stand-in for the cluster's circuit breakers (upstream/limits.ts is built elsewhere). */
class CountingLimits implements ClusterLimits {
  active = { requests: 0, pending: 0, connections: 0, retries: 0 };
  constructor(
    private readonly maxConnections: number,
    private readonly maxPending: number,
    private readonly maxRequests: number,
  ) {}
  tryAcquireRequest(): boolean {
    if (this.active.requests >= this.maxRequests) return false;
    this.active.requests++;
    return true;
  }
  releaseRequest(): void {
    this.active.requests--;
  }
  tryAcquirePending(): boolean {
    if (this.active.pending >= this.maxPending) return false;
    this.active.pending++;
    return true;
  }
  releasePending(): void {
    this.active.pending--;
  }
  tryAcquireConnection(): boolean {
    if (this.active.connections >= this.maxConnections) return false;
    this.active.connections++;
    return true;
  }
  releaseConnection(): void {
    this.active.connections--;
  }
  tryAcquireRetry(): boolean {
    return true;
  }
  releaseRetry(): void {
    // retries are not limited here
  }
}

// ───────────── the engine: the forwarding half's semantics on HTTP/1.1 (as H2Proxy) ─────────────

const engineClock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

function staticCluster(name: string, ports: number[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, type: 'STATIC', connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: ports.map((p) => ({ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: p } } } })) }] }, ...extra };
}

/** A listener in engine mode over one route configuration `routes` and the given clusters (compiled as the sidecar does). */
async function engineProxy(routes: Record<string, unknown>[], clusterList: Record<string, unknown>[], opts: { filters?: HttpFilterStage[]; bufferLimitBytes?: number; vhost?: Record<string, unknown> } = {}) {
  const compiled = compileConfig({ listeners: [], routes: [{ name: 'routes', virtualHosts: [{ name: 'all', domains: ['*'], routes, ...opts.vhost }] }], clusters: clusterList, endpoints: [] });
  if (!compiled.ok) throw new Error(compiled.errors.join('; '));
  const clusters = new ClusterManager(engineClock);
  clusters.apply(compiled.value);
  const records: ModelExchangeRecord[] = [];
  const proxy = createHttp1Proxy({
    engine: { routeTable: () => compiled.value.routeTables.get('routes'), filters: () => opts.filters ?? [], cluster: (n) => clusters.get(n), clock: engineClock },
    onExchange: (r) => records.push(r),
    drainTimeoutMs: 1000,
    ...(opts.bufferLimitBytes !== undefined ? { bufferLimitBytes: opts.bufferLimitBytes } : {}),
  });
  const addr = await proxy.listen(0);
  cleanup.push(async () => {
    await proxy.close();
    clusters.close();
  });
  return { port: addr.port, records, clusters };
}

const r = (prefix: string, cluster: string, action: Record<string, unknown> = {}, level: Record<string, unknown> = {}): Record<string, unknown> => ({ name: prefix, match: { prefix }, route: { cluster, ...action }, ...level });

describe('HTTP/1.1 proxy listener: engine semantics', () => {
  it.each([
    // [name, failures before success, retry policy, expected status, expected attempts, expected flags]
    ['retries 5xx until success, replaying the body', 2, { retryOn: '5xx', numRetries: { value: 2 } }, 200, 3, []],
    ['gives up after numRetries with URX', 3, { retryOn: '5xx', numRetries: { value: 1 } }, 503, 2, ['URX']],
    ['does not retry what retryOn does not name', 1, { retryOn: 'connect-failure', numRetries: { value: 3 } }, 503, 1, []],
    ['retriable-status-codes', 1, { retryOn: 'retriable-status-codes', retriableStatusCodes: [503], numRetries: { value: 1 } }, 200, 2, []],
  ] as const)('%s', async (_name, failures, retryPolicy, status, attempts, flags) => {
    let calls = 0;
    const bodies: string[] = [];
    const up = await upstream((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        bodies.push(b);
        if (++calls <= failures) {
          res.statusCode = 503;
          res.end('busy');
        } else res.end(`ok ${b}`);
      });
    });
    const { port, records } = await engineProxy([r('/', 'app', { retryPolicy: { ...retryPolicy, retryBackOff: { baseInterval: { nanos: 1_000_000 } } } })], [staticCluster('app', [up.port])]);
    const res = await get(port, '/x', { method: 'POST', body: ['part1-', 'part2'] });
    expect(res.status).toBe(status);
    if (status === 200) expect(res.body).toBe('ok part1-part2');
    expect(bodies.every((b) => b === 'part1-part2')).toBe(true);
    expect(calls).toBe(attempts);
    expect(records[0]).toMatchObject({ status, attempts, flags, route: '/', cluster: 'app', protocol: 'HTTP/1.1' });
  });

  it.each([true, false])('x-envoy-attempt-count numbers each attempt when the virtual host includes it (%s), as Istio sets it', async (include) => {
    const seen: (string | undefined)[] = [];
    const up = await upstream((req, res) => {
      seen.push(req.headers['x-envoy-attempt-count'] as string | undefined);
      req.resume();
      res.statusCode = seen.length <= 2 ? 503 : 200;
      res.end();
    });
    const { port, records } = await engineProxy([r('/', 'app', { retryPolicy: { retryOn: '5xx', numRetries: { value: 2 }, retryBackOff: { baseInterval: { nanos: 1_000_000 } } } })], [staticCluster('app', [up.port])], { vhost: include ? { includeRequestAttemptCount: true } : {} });
    // A client's own value is replaced when the proxy numbers attempts, passed on untouched otherwise.
    expect((await get(port, '/x', { headers: { 'x-envoy-attempt-count': '7' } })).status).toBe(200);
    expect(records[0]).toMatchObject({ status: 200, attempts: 3 });
    expect(seen).toEqual(include ? ['1', '2', '3'] : ['7', '7', '7']);
  });

  it('does not retry a body larger than the retry buffer', async () => {
    let calls = 0;
    const up = await upstream((req, res) => {
      req.resume();
      req.on('end', () => {
        calls++;
        res.statusCode = 503;
        res.end();
      });
    });
    const { port, records } = await engineProxy([r('/', 'app', { retryPolicy: { retryOn: '5xx', numRetries: { value: 2 } } })], [staticCluster('app', [up.port])], { bufferLimitBytes: 10 });
    expect((await get(port, '/', { method: 'POST', body: 'x'.repeat(100) })).status).toBe(503);
    expect(calls).toBe(1);
    expect(records[0].attempts).toBe(1);
  });

  it('avoids previously tried hosts when the policy says so', async () => {
    const bad = await upstream((_q, res) => ((res.statusCode = 503), res.end('bad')));
    const good = await upstream((_q, res) => res.end('good'));
    const { port, records } = await engineProxy(
      [r('/', 'app', { retryPolicy: { retryOn: '5xx', numRetries: { value: 1 }, retryHostPredicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }], retryBackOff: { baseInterval: { nanos: 1_000_000 } } } })],
      [staticCluster('app', [bad.port, good.port])],
    );
    for (let i = 0; i < 8; i++) expect((await get(port, '/')).body).toBe('good');
    expect(records.every((x) => x.upstream?.port === good.port)).toBe(true);
  });

  it.each([
    // [name, route action, expected status, expected flags, attempts]
    ['route timeout → 504 UT', { timeout: { nanos: 150_000_000 } }, 504, ['UT'], 1],
    ['per-try timeout, then a retry that answers in time', { retryPolicy: { retryOn: '5xx', numRetries: { value: 1 }, perTryTimeout: { nanos: 150_000_000 }, retryBackOff: { baseInterval: { nanos: 1_000_000 } } } }, 200, [], 2],
    ['per-try timeout without retries left → 504 UT', { retryPolicy: { retryOn: 'connect-failure', numRetries: { value: 1 }, perTryTimeout: { nanos: 150_000_000 } } }, 504, ['UT'], 1],
  ] as const)('%s', async (_name, action, status, flags, attempts) => {
    let calls = 0;
    const up = await upstream((_q, res) => {
      if (++calls === 1) setTimeout(() => res.end('late'), 1500);
      else res.end('fast');
    });
    const { port, records } = await engineProxy([r('/', 'app', action)], [staticCluster('app', [up.port])]);
    const t0 = Date.now();
    const res = await get(port, '/');
    expect(res.status).toBe(status);
    expect(Date.now() - t0).toBeLessThan(1200);
    expect(records[0]).toMatchObject({ status, flags, attempts });
  });

  it('holds a request for an injected delay without holding other connections', async () => {
    const up = await upstream((_q, res) => res.end('ok'));
    const fault = { 'envoy.filters.http.fault': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault', delay: { fixedDelay: { nanos: 400_000_000 }, percentage: { numerator: 100 } } } };
    const { port, records } = await engineProxy([r('/slow', 'app', {}, { typedPerFilterConfig: fault }), r('/', 'app')], [staticCluster('app', [up.port])]);
    const t0 = Date.now();
    const slow = get(port, '/slow', { method: 'POST', body: 'waiting body' });
    const fast = await get(port, '/fast');
    expect(fast.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(300);
    expect((await slow).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    expect(records.find((x) => x.request.path === '/slow')?.flags).toEqual(['DI']);
  });

  it('applies response header operations, CORS response headers, the hash-policy cookie and the upstream service time', async () => {
    const up = await upstream((_q, res) => {
      res.setHeader('x-drop', '1');
      res.setHeader('x-keep', 'up');
      res.end('ok');
    });
    const cors = { 'envoy.filters.http.cors': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy', allowOriginStringMatch: [{ exact: 'https://web.example' }], exposeHeaders: 'x-keep' } };
    const { port } = await engineProxy(
      [r('/', 'app', { hashPolicy: [{ cookie: { name: 'sticky', ttl: { seconds: 60 } } }] }, { responseHeadersToAdd: [{ header: { key: 'x-route', value: 'r1' } }], responseHeadersToRemove: ['x-drop'], typedPerFilterConfig: cors })],
      [staticCluster('app', [up.port], { lbPolicy: 'RING_HASH' })],
    );
    const res = await get(port, '/', { headers: { origin: 'https://web.example' } });
    expect(res.status).toBe(200);
    expect(res.headers['x-route']).toBe('r1');
    expect(res.headers['x-drop']).toBeUndefined();
    expect(res.headers['x-keep']).toBe('up');
    expect(res.headers['access-control-allow-origin']).toBe('https://web.example');
    expect(res.headers['access-control-expose-headers']).toBe('x-keep');
    expect(String(res.headers['set-cookie'])).toMatch(/^sticky=/);
    expect(Number(res.headers['x-envoy-upstream-service-time'])).toBeGreaterThanOrEqual(0);
    const preflight = await get(port, '/', { method: 'OPTIONS', headers: { origin: 'https://web.example', 'access-control-request-method': 'PUT' } });
    expect(preflight.status).toBe(200);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://web.example');
  });

  it('forwards unchanged heads with the upstream service time spliced in: small, large, chunked and empty bodies on one keep-alive connection; a fresh x-request-id each', async () => {
    const big = 'b'.repeat(40_000);
    const ids: string[] = [];
    const up = await upstream((req, res) => {
      ids.push(String(req.headers['x-request-id']));
      res.setHeader('x-up', '1');
      if (req.url === '/small') res.end('hello');
      else if (req.url === '/big') res.end(big);
      else if (req.url === '/chunked') {
        res.write('one,');
        setTimeout(() => res.end('two'), 5);
      } else {
        res.statusCode = 204;
        res.end();
      }
    });
    const { port } = await engineProxy([r('/', 'app')], [staticCluster('app', [up.port])]);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    for (const [path, status, body] of [['/small', 200, 'hello'], ['/big', 200, big], ['/chunked', 200, 'one,two'], ['/empty', 204, ''], ['/small', 200, 'hello']] as const) {
      const res = await get(port, path, { agent });
      expect(res.status).toBe(status);
      expect(res.body).toBe(body);
      expect(res.headers['x-up']).toBe('1');
      expect(res.headers['x-envoy-upstream-service-time']).toMatch(/^\d+$/);
    }
    expect(up.connections()).toBe(1);
    expect(new Set(ids).size).toBe(5);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('mirrors a copy with the -shadow authority, not waiting for the mirror', async () => {
    const seen: { host?: string; body: string }[] = [];
    const mirror = await upstream((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        seen.push({ host: req.headers.host, body: b });
        setTimeout(() => res.end('mirror'), 1000); // a slow mirror must not slow the main request
      });
    });
    const up = await upstream((_q, res) => res.end('main'));
    const { port } = await engineProxy([r('/', 'app', { requestMirrorPolicies: [{ cluster: 'mirror' }] })], [staticCluster('app', [up.port]), staticCluster('mirror', [mirror.port])]);
    const t0 = Date.now();
    const res = await get(port, '/m', { method: 'POST', headers: { host: 'reviews:9080' }, body: 'copy me' });
    expect(res.body).toBe('main');
    expect(Date.now() - t0).toBeLessThan(500);
    await expect.poll(() => seen).toEqual([{ host: 'reviews-shadow:9080', body: 'copy me' }]);
  });

  it('records each attempt for outlier detection and counts active requests per host', async () => {
    let release: () => void = () => undefined;
    const bad = await upstream((req, res) => {
      if (req.url === '/hold') release = () => res.end('held');
      else {
        res.statusCode = 500;
        res.end('bad');
      }
    });
    const good = await upstream((req, res) => (req.url === '/hold' ? (release = () => res.end('held')) : res.end('good')));
    const { port, clusters } = await engineProxy(
      [r('/', 'app', {}, {})],
      [staticCluster('app', [bad.port, good.port], { outlierDetection: { consecutive_5xx: { value: 2 }, interval: { seconds: 10 }, baseEjectionTime: { seconds: 30 }, maxEjectionPercent: { value: 100 } } })],
    );
    const c = clusters.get('app');
    // Whichever host gets it holds the request: it counts as active there while it runs.
    const held = get(port, '/hold');
    await expect.poll(() => [...(c?.active.values() ?? [])]).toEqual([1]);
    release();
    await held;
    await expect.poll(() => c?.active.size).toBe(0);
    const bodies: string[] = [];
    for (let i = 0; i < 5 && bodies.filter((b) => b === 'bad').length < 2; i++) bodies.push((await get(port, '/e')).body);
    expect(bodies.filter((b) => b === 'bad').length).toBe(2);
    expect(c?.outlier?.ejected().map((e) => e.endpoint.port)).toEqual([bad.port]);
    for (let i = 0; i < 4; i++) expect((await get(port, '/e')).body).toBe('good');
  });

  it.each([
    ['no healthy upstream → 503 UH', [] as number[], 503, ['UH']],
    ['no cluster → 503 NC', null, 503, ['NC']],
  ] as const)('%s', async (_n, ports, status, flags) => {
    const { port, records } = await engineProxy([r('/', ports === null ? 'missing' : 'app')], [staticCluster('app', ports === null ? [1] : [...ports])]);
    expect((await get(port, '/')).status).toBe(status);
    expect(records[0]).toMatchObject({ status, flags });
  });

  it('overflows with 503 UO beyond the cluster request limit', async () => {
    let release: () => void = () => undefined;
    const up = await upstream((_q, res) => (release = () => res.end('ok')));
    const { port, records } = await engineProxy([r('/', 'app')], [staticCluster('app', [up.port], { circuitBreakers: { thresholds: [{ maxRequests: { value: 1 } }] } })]);
    const first = get(port, '/1');
    await new Promise((res) => setTimeout(res, 100));
    const second = await get(port, '/2');
    expect(second.status).toBe(503);
    release();
    expect((await first).status).toBe(200);
    expect(records.find((x) => x.request.path === '/2')?.flags).toEqual(['UO']);
  });

  it.each([
    ['synchronous', (ok: boolean) => (ok ? undefined : { status: 403, body: 'RBAC: access denied', details: 'x' })],
    ['asynchronous', async (ok: boolean) => (ok ? undefined : { status: 403, body: 'RBAC: access denied', details: 'x' })],
    ['throwing', (ok: boolean) => {
      if (ok) return undefined;
      throw new Error('broken filter');
    }],
  ] as const)('runs %s filters before routing in order, and answers a denial locally', async (kind, decideFn) => {
    const up = await upstream((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => res.end(`ok ${req.headers['x-seen'] ?? ''} ${b}`));
    });
    const order: string[] = [];
    const first: HttpFilterStage = { name: 'first', run: ({ req, state }) => (order.push('first'), state.set('k', 'v'), req.headers.set('x-seen', 'first'), undefined) };
    const deny: HttpFilterStage = { name: 'deny', run: ({ req, state }) => (order.push(String(state.get('k'))), decideFn(req.headers.get('x-ok') !== undefined)) };
    const { port, records } = await engineProxy([r('/', 'app')], [staticCluster('app', [up.port])], { filters: [first, deny] });
    const denied = await get(port, '/', { method: 'POST', body: 'b' });
    expect(denied.status).toBe(kind === 'throwing' ? 500 : 403);
    expect((await get(port, '/', { headers: { 'x-ok': '1' }, method: 'POST', body: 'body' })).body).toBe('ok first body');
    expect(order).toEqual(['first', 'v', 'first', 'v']);
    expect(records.map((x) => x.status)).toEqual([kind === 'throwing' ? 500 : 403, 200]);
  });
});

describe('HTTP/1.1 proxy listener: engine waits', () => {
  it('withdraws a request that timed out while queued for a connection slot; the next one on that connection is unaffected', async () => {
    let release: () => void = () => undefined;
    const up = await upstream((req, res) => (req.url === '/hold' ? (release = () => res.end('held')) : res.end(`ok ${req.url}`)));
    const { port, clusters } = await engineProxy(
      [r('/hold', 'app'), r('/', 'app', { timeout: { nanos: 150_000_000 } })],
      [staticCluster('app', [up.port], { circuitBreakers: { thresholds: [{ maxConnections: { value: 1 }, maxPendingRequests: { value: 5 } }] } })],
    );
    const held = get(port, '/hold');
    await new Promise((res) => setTimeout(res, 50));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    expect((await get(port, '/queued', { agent })).status).toBe(504);
    expect(clusters.get('app')?.limits.active.pending).toBe(0);
    release();
    expect((await held).body).toBe('held');
    // Same downstream connection: the slot freed by /hold must serve this request, not the withdrawn one.
    expect((await get(port, '/next', { agent })).body).toBe('ok /next');
  });

  it('answers 503 UO to a request that waited past the connect timeout for a connection slot, its held body read and dropped', async () => {
    let release: () => void = () => undefined;
    const up = await upstream((req, res) => (req.url === '/hold' ? (release = () => res.end('held')) : (req.resume(), req.on('end', () => res.end('ok')))));
    const { port, records } = await engineProxy([r('/', 'app')], [staticCluster('app', [up.port], { connectTimeout: { nanos: 200_000_000 }, circuitBreakers: { thresholds: [{ maxConnections: { value: 1 }, maxPendingRequests: { value: 5 } }] } })]);
    const held = get(port, '/hold');
    await new Promise((res) => setTimeout(res, 50));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    const big = Array.from({ length: 16 }, () => 'y'.repeat(16 * 1024));
    const queued = await get(port, '/queued', { method: 'POST', body: big, agent });
    expect(queued.status).toBe(503);
    await expect.poll(() => records.find((x) => x.request.path === '/queued')?.flags).toEqual(['UO']);
    release();
    expect((await held).body).toBe('held');
    expect((await get(port, '/after', { agent })).body).toBe('ok'); // the same downstream connection goes on
  });

  it('forwards, whole, a large body that streams in while the request waits out a fault delay', async () => {
    const up = await upstream((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`got ${n}`));
    });
    const fault = { 'envoy.filters.http.fault': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault', delay: { fixedDelay: { nanos: 200_000_000 }, percentage: { numerator: 100 } } } };
    const { port } = await engineProxy([r('/', 'app', {}, { typedPerFilterConfig: fault })], [staticCluster('app', [up.port])]);
    // 1 MiB in 16 KiB writes: most of it arrives while the request waits (reading pauses past 64 KiB).
    const chunks = Array.from({ length: 64 }, () => 'x'.repeat(16 * 1024));
    expect((await get(port, '/', { method: 'POST', body: chunks })).body).toBe(`got ${64 * 16 * 1024}`);
  });
});

describe('originalDestination (ORIGINAL_DST under explicit capture)', () => {
  it.each([
    ['reviews:9080', { host: 'reviews', port: 9080 }],
    ['example.com', { host: 'example.com', port: 80 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['[::1]', { host: '::1', port: 80 }],
    ['::1', undefined],
    ['host:abc', undefined],
    ['', undefined],
  ])('%j → %j', (authority, want) => {
    expect(originalDestination(authority)).toEqual(want);
  });
});
