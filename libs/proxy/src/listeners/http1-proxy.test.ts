// The HTTP/1.1 listener against real node:http upstreams and real client sockets on loopback.
import { createServer as createHttpServer, request, Agent, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterLimits } from '../model.js';
import { UpstreamPools, DEFAULT_POOL_SETTINGS, type EndpointPoolSettings } from '../upstream/pool.js';
import { createHttp1Proxy, type ExchangeRecord, type Http1Proxy, type RouteFn } from './http1-proxy.js';

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
    expect(records[0].upstream).toBe(`127.0.0.1:${up.port}`);
    expect(records[0]).toMatchObject({ protocol: 'HTTP/1.1', downstream: { remoteAddress: '127.0.0.1' }, requestBodyBytes: 0, responseBodyBytes: 'hello /r0'.length });
    expect(records[0].upstreamServiceTimeMs).toBeGreaterThan(0);
    expect(records[0].upstreamServiceTimeMs).toBeLessThanOrEqual(records[0].durationMs);
  });

  it('routes explicit-proxy absolute-form and Host-routed origin-form requests alike', async () => {
    const a = await upstream((req, res) => res.end(`a ${req.headers.host} ${req.url}`));
    const b = await upstream((req, res) => res.end(`b ${req.headers.host} ${req.url}`));
    const { port, records } = await proxyTo((req) => (req.authority.startsWith('reviews') ? { kind: 'forward', address: '127.0.0.1', port: a.port, context: 'to-a' } : req.authority.startsWith('ratings') ? { kind: 'forward', address: '127.0.0.1', port: b.port } : { kind: 'local', status: 404, body: 'no route\n', flag: 'NR', context: 'nr' }));
    const abs = await raw(port, 'GET http://reviews:9080/r/1?x=y HTTP/1.1\r\nHost: ignored\r\nProxy-Connection: keep-alive\r\n\r\n', (t) => t.endsWith('/r/1?x=y'));
    expect(abs).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(abs).toContain('a reviews:9080 /r/1?x=y');
    const origin = await get(port, '/s', { headers: { host: 'ratings:9080' } });
    expect(origin.body).toBe('b ratings:9080 /s');
    const nr = await get(port, '/', { headers: { host: 'unknown' } });
    expect(nr.status).toBe(404);
    expect(nr.body).toBe('no route\n');
    expect(records.map((r) => [r.status, r.flag, r.context])).toEqual([
      [200, undefined, 'to-a'],
      [200, undefined, undefined],
      [404, 'NR', 'nr'],
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
    expect(records[0]).toMatchObject({ status: 503, flag: 'UC' });
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
    await expect.poll(() => records[0]?.flag).toBe('UC');
  });

  it('answers 503 UF when the upstream refuses the connection', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const dead = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const { port, records } = await proxyTo(fixed(dead));
    const r = await get(port, '/x');
    expect(r.status).toBe(503);
    expect(records[0]).toMatchObject({ status: 503, flag: 'UF' });
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
    expect(records.find((r) => r.status === 503)?.flag).toBe('UO');
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
