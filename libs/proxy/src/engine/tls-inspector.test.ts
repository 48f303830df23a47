import { createServer, type AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { inspectClientHello } from './tls-inspector.js';

/** clientHello captures the first bytes a real node:tls client sends. */
async function clientHello(opts: { servername?: string; ALPNProtocols?: string[] }): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const got = new Promise<Buffer>((resolve) => server.once('connection', (s) => s.once('data', (d: Buffer) => (resolve(d), s.destroy()))));
  const c = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false, ...opts });
  c.on('error', () => undefined);
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

describe('inspectClientHello', () => {
  it('reads SNI (lower-cased) and ALPN from a real ClientHello', async () => {
    expect(inspectClientHello(await clientHello({ servername: 'Reviews.Default.svc', ALPNProtocols: ['istio-peer-exchange', 'h2', 'http/1.1'] }))).toEqual({ serverName: 'reviews.default.svc', alpn: ['istio-peer-exchange', 'h2', 'http/1.1'] });
    expect(inspectClientHello(await clientHello({}))).toEqual({ alpn: [] });
  });

  it('is undefined for anything that is not a ClientHello, and survives truncation', async () => {
    expect(inspectClientHello(Buffer.from('GET / HTTP/1.1\r\n'))).toBeUndefined();
    expect(inspectClientHello(Buffer.from('PRI * HTTP/2.0\r\n'))).toBeUndefined();
    const full = await clientHello({ servername: 'a.example' });
    for (let n = 9; n < full.length; n += 7) expect(() => inspectClientHello(full.subarray(0, n))).not.toThrow();
  });
});
