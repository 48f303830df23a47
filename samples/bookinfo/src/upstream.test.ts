import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bypassesProxy, httpUpstream } from './upstream.js';

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** A server recording the request line and headers it gets; answers after `delayMs`. */
async function recorder(delayMs = 0): Promise<{ port: number; seen: { url: string; headers: http.IncomingHttpHeaders }[] }> {
  const seen: { url: string; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    setTimeout(() => res.end(JSON.stringify({ ok: true })), delayMs);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, seen };
}

describe('httpUpstream', () => {
  it('connects directly without a proxy (origin-form request line, Host of the URL)', async () => {
    const srv = await recorder();
    const c = httpUpstream();
    const res = await c.get(`http://127.0.0.1:${srv.port}/reviews/0`, { 'x-request-id': 'r1' }, 5000);
    c.close();
    expect(res).toEqual({ status: 200, body: '{"ok":true}' });
    expect(srv.seen[0].url).toBe('/reviews/0');
    expect(srv.seen[0].headers['x-request-id']).toBe('r1');
  });

  it('sends absolute-form requests to the proxy, with the service name as Host', async () => {
    const proxy = await recorder();
    const c = httpUpstream(`http://127.0.0.1:${proxy.port}`);
    await c.get('http://reviews:9080/reviews/0', {}, 5000);
    c.close();
    expect(proxy.seen[0].url).toBe('http://reviews:9080/reviews/0');
    expect(proxy.seen[0].headers.host).toBe('reviews:9080');
  });

  it('rejects with a timeout error when no answer comes in time', async () => {
    const slow = await recorder(2000);
    const c = httpUpstream();
    await expect(c.get(`http://127.0.0.1:${slow.port}/x`, {}, 100)).rejects.toMatchObject({ code: 'MESH_ERR_BOOKINFO_UPSTREAM_TIMEOUT' });
    c.close();
  });

  it('rejects with an upstream error when the connection is refused', async () => {
    const srv = await recorder();
    const port = srv.port;
    servers[0].close();
    servers.length = 0;
    await new Promise((r) => setTimeout(r, 50));
    const c = httpUpstream();
    await expect(c.get(`http://127.0.0.1:${port}/x`, {}, 2000)).rejects.toMatchObject({ code: 'MESH_ERR_BOOKINFO_UPSTREAM' });
    c.close();
  });

  it('sends a GET again on a new connection when a kept-alive one is closed as it is reused', async () => {
    // The server drops a connection when a second request arrives on it, unanswered: what a
    // client sees when the other side closed an idle connection just as it was reused.
    const perSocket = new WeakMap<object, number>();
    let answered = 0;
    const server = http.createServer((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      if (n > 1) req.socket.destroy();
      else res.end(`{"n":${++answered}}`);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const c = httpUpstream();
    expect((await c.get(`http://127.0.0.1:${port}/a`, {}, 5000)).body).toBe('{"n":1}');
    expect((await c.get(`http://127.0.0.1:${port}/b`, {}, 5000)).body).toBe('{"n":2}');
    c.close();
  });

  it('calls hosts NO_PROXY lists directly even with a proxy', async () => {
    const proxy = await recorder();
    const direct = await recorder();
    const c = httpUpstream(`http://127.0.0.1:${proxy.port}`, ['localhost', '127.0.0.1']);
    await c.get(`http://127.0.0.1:${direct.port}/details/0`, {}, 5000);
    c.close();
    expect(proxy.seen).toHaveLength(0);
    expect(direct.seen.map((x) => x.url)).toEqual(['/details/0']);
  });

  it.each([
    ['reviews', ['reviews'], true],
    ['reviews.default.svc', ['.svc'], true],
    ['reviews.default.svc', ['default.svc:9080'], true],
    ['reviews', ['*'], true],
    ['reviews', ['views'], false],
    ['reviews', [], false],
    ['127.0.0.1', ['localhost', '127.0.0.1'], true],
  ])('bypassesProxy(%s, %j) is %s', (host, list, want) => {
    expect(bypassesProxy(host, list)).toBe(want);
  });

  it('refuses a proxy that is not http://', () => {
    expect(() => httpUpstream('https://127.0.0.1:15001')).toThrow(/only http:\/\/ proxies/);
  });
});
