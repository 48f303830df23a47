/**
 * The hooks security filters plug into: an HTTP filter compiled from the HCM's http_filters runs
 * before routing on HTTP/1.1 and HTTP/2 alike and its denial is answered locally; a network filter closes the connection before the TCP proxy sees it.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_FILTERS, NETWORK_FILTERS } from '../config/filter-registry.js';
import { startFilterEngine, type FilterEngine } from './test-filter-engine.js';

const DENY_HTTP = 'meshwork.test.DenyUnlessHeader';
const DENY_NET = 'meshwork.test.DenyAll';
let engine: FilterEngine;
let httpPort = 0;
let tcpPort = 0;

beforeAll(async () => {
  HTTP_FILTERS[DENY_HTTP] = (_p, tc) => ({ name: 'deny-unless-header', run: ({ req }) => (req.headers.get(String(tc.header)) ? undefined : { status: 403, body: 'RBAC: access denied', details: 'rbac_access_denied_matched_policy[none]' }) });
  NETWORK_FILTERS[DENY_NET] = () => ({ name: 'deny-all', run: () => 'rbac_access_denied' });
  engine = await startFilterEngine([{ name: 'deny', typedConfig: { '@type': `type.googleapis.com/${DENY_HTTP}`, header: 'x-allowed' } }], [{ name: 'rbac', typedConfig: { '@type': `type.googleapis.com/${DENY_NET}` } }]);
  ({ httpPort, tcpPort } = engine);
});

afterAll(async () => {
  await engine?.close();
  delete HTTP_FILTERS[DENY_HTTP];
  delete NETWORK_FILTERS[DENY_NET];
});

function h2get(headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${httpPort}`);
    s.on('error', reject);
    const q = s.request({ ':path': '/', ':authority': 'x', ...headers });
    let body = '';
    let status = 0;
    q.on('response', (h) => (status = Number(h[':status'])));
    q.on('data', (c: Buffer) => (body += c.toString()));
    q.on('end', () => {
      s.close();
      resolve({ status, body });
    });
    q.end();
  });
}

describe('filters before routing', () => {
  it('runs HTTP filters on HTTP/2: a denial is answered locally, an allowed request is routed', async () => {
    expect(await h2get({})).toEqual({ status: 403, body: 'RBAC: access denied' });
    expect(await h2get({ 'x-allowed': '1' })).toEqual({ status: 200, body: 'upstream' });
  });

  it('runs the same HTTP filters on HTTP/1.1: a denial is answered locally, an allowed request (with a body) is routed', async () => {
    const h1 = (headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const q = http.request({ host: '127.0.0.1', port: httpPort, path: '/', method: body === undefined ? 'GET' : 'POST', headers, agent: false }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
        });
        q.on('error', reject);
        q.end(body);
      });
    expect(await h1({})).toEqual({ status: 403, body: 'RBAC: access denied' });
    expect(await h1({ 'x-allowed': '1' })).toEqual({ status: 200, body: 'upstream' });
    expect(await h1({ 'x-allowed': '1' }, 'a body that waits for the filters')).toEqual({ status: 200, body: 'upstream' });
  });

  it('closes a connection a network filter refuses before it reaches the upstream', async () => {
    const got = await new Promise<string>((resolve) => {
      const s = netConnect(tcpPort, '127.0.0.1', () => s.write('hi'));
      let b = '';
      s.on('data', (d: Buffer) => (b += d.toString()));
      s.on('error', () => undefined);
      s.on('close', () => resolve(b));
    });
    expect(got).toBe('');
  });
});
