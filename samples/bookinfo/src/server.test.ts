import * as http from 'node:http';
import { describe, expect, it } from 'vitest';
import { json, serve } from './server.js';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('serve', () => {
  it('lets an in-flight request finish on close, then refuses new connections', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let entered: () => void = () => undefined;
    const arrived = new Promise<void>((r) => (entered = r));
    const s = await serve(async (req) => {
      entered();
      if (req.path === '/slow') await gate;
      return json(200, { path: req.path });
    }, { port: 0, address: '127.0.0.1' });
    const inFlight = get(s.port, '/slow');
    await arrived;
    const closed = s.close(10_000);
    setTimeout(release, 200);
    expect(await inFlight).toEqual({ status: 200, body: '{"path":"/slow"}' });
    await closed;
    await expect(get(s.port, '/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('does not wait on a request whose client went away before sending its whole body', { timeout: 20_000 }, async () => {
    let arrived: () => void = () => undefined;
    const started = new Promise<void>((r) => (arrived = r));
    const s = await serve(async () => json(200, {}), { port: 0, address: '127.0.0.1' });
    const req = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/login', headers: { 'content-length': '1000' }, agent: false });
    req.on('error', () => undefined);
    req.on('socket', (sock) => sock.on('connect', () => setTimeout(arrived, 100)));
    req.write('username=ja');
    await started;
    req.destroy();
    // A drain of two minutes would outlast the test's 20 s if the abandoned request still counted.
    await s.close(120_000);
  });

  it('answers 500 when a handler throws, 413 for an oversized body', async () => {
    const s = await serve(async () => {
      throw new Error('boom');
    }, { port: 0, address: '127.0.0.1' });
    expect((await get(s.port, '/x')).status).toBe(500);
    const big = await fetch(`http://127.0.0.1:${s.port}/login`, { method: 'POST', body: 'x'.repeat(70 * 1024) });
    expect(big.status).toBe(413);
    await s.close(100);
  });
});
