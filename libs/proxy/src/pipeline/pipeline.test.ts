import { describe, expect, it } from 'vitest';
import { Headers, type CompiledRoute, type CompiledVirtualHost, type RequestHead, type RouteForward, type RouteTable } from '../model.js';
import { decide, httpToGrpc, pickCluster } from './pipeline.js';

const req = (path: string, headers: string[] = [], method = 'GET', authority = 'reviews:9080'): RequestHead => ({ method, path, authority, scheme: 'http', headers: new Headers([...headers]) });
const forward = (over: Partial<RouteForward> = {}): RouteForward => ({ kind: 'forward', clusters: [{ name: 'outbound|9080|v1|reviews', weight: 100 }], totalWeight: 100, mirrors: [], hashPolicy: [], ...over });
const prefixRoute = (prefix: string, r: Partial<CompiledRoute> & Pick<CompiledRoute, 'action'>): CompiledRoute => ({ name: `r${prefix}`, match: (q) => (q.path.startsWith(prefix) ? prefix : undefined), ...r });
function table(routes: CompiledRoute[], vh: Partial<CompiledVirtualHost> = {}, t: Partial<RouteTable> = {}): RouteTable {
  const vhost: CompiledVirtualHost = { name: 'reviews:9080', routes, ...vh };
  return { name: '9080', virtualHost: (a) => (a === 'reviews:9080' || a === 'reviews' ? vhost : undefined), ...t };
}
/** seq returns a random() that yields the given values in turn. */
const seq = (...v: number[]): (() => number) => {
  let i = 0;
  return () => v[i++ % v.length];
};

describe('decide (route → fault → cors → router → headers → cluster)', () => {
  it('answers 404 NR for an unknown authority or when no route matches; gRPC gets UNIMPLEMENTED', () => {
    const t = table([prefixRoute('/api', { action: forward() })]);
    for (const r of [req('/x', [], 'GET', 'ratings:9080'), req('/x')]) {
      const d = decide({ table: t, req: r, grpc: false, random: Math.random });
      expect(d).toMatchObject({ kind: 'local', response: { status: 404 }, flags: ['NR'] });
    }
    expect(decide({ table: t, req: req('/x'), grpc: true, random: Math.random })).toMatchObject({ kind: 'local', response: { status: 404, grpcStatus: 12 } });
  });

  it('takes the first matching route in order and forwards with its policies', () => {
    const retry = { numRetries: 2, retryOn: new Set(['5xx']), retriableStatusCodes: new Set<number>(), backoffBaseMs: 25, backoffMaxMs: 250, avoidPreviousHosts: true, hostSelectionRetryMaxAttempts: 5 };
    const t = table([prefixRoute('/a', { action: forward({ timeoutMs: 0, retry }) }), prefixRoute('/', { action: forward({ clusters: [{ name: 'other', weight: 1 }], totalWeight: 1 }) })]);
    const d = decide({ table: t, req: req('/a/b'), grpc: false, random: Math.random });
    expect(d).toMatchObject({ kind: 'forward', cluster: 'outbound|9080|v1|reviews', timeoutMs: 0, route: { name: 'r/a' } });
    expect(d.kind === 'forward' && d.retry).toBe(retry);
    expect(decide({ table: t, req: req('/z'), grpc: false, random: Math.random })).toMatchObject({ kind: 'forward', cluster: 'other' });
  });

  it('falls back to the virtual host retry policy when the route has none', () => {
    const retry = { numRetries: 2, retryOn: new Set(['connect-failure']), retriableStatusCodes: new Set<number>(), backoffBaseMs: 25, backoffMaxMs: 250, avoidPreviousHosts: false, hostSelectionRetryMaxAttempts: 1 };
    const d = decide({ table: table([prefixRoute('/', { action: forward() })], { retry }), req: req('/'), grpc: false, random: Math.random });
    expect(d.kind === 'forward' && d.retry).toBe(retry);
  });

  it('answers redirects and direct responses locally', () => {
    const t = table([
      prefixRoute('/old', { action: { kind: 'redirect', status: 301, location: (r) => `http://reviews:9080/new${r.path.slice(4)}` } }),
      prefixRoute('/health', { action: { kind: 'direct', status: 200, body: 'ok' } }),
    ]);
    expect(decide({ table: t, req: req('/old/1'), grpc: false, random: Math.random })).toMatchObject({ kind: 'local', response: { status: 301, headers: [['location', 'http://reviews:9080/new/1']] } });
    expect(decide({ table: t, req: req('/health'), grpc: false, random: Math.random })).toMatchObject({ kind: 'local', response: { status: 200, body: 'ok' } });
  });

  it('injects delays and aborts by percentage (DI, FI), the delay before the abort; gRPC aborts carry a grpc-status', () => {
    const t = table([prefixRoute('/', { action: forward(), fault: { delay: { fixedDelayMs: 500, fraction: 0.5 }, abort: { httpStatus: 503, fraction: 0.1 } } })]);
    // random draws: delay, then abort.
    expect(decide({ table: t, req: req('/'), grpc: false, random: seq(0.4, 0.5) })).toMatchObject({ kind: 'forward', delayMs: 500, flags: ['DI'] });
    expect(decide({ table: t, req: req('/'), grpc: false, random: seq(0.6, 0.5) })).toMatchObject({ kind: 'forward', delayMs: 0, flags: [] });
    expect(decide({ table: t, req: req('/'), grpc: false, random: seq(0.4, 0.05) })).toMatchObject({ kind: 'local', delayMs: 500, flags: ['DI', 'FI'], response: { status: 503 } });
    expect(decide({ table: t, req: req('/'), grpc: true, random: seq(0.9, 0.05) })).toMatchObject({ kind: 'local', flags: ['FI'], response: { status: 503, grpcStatus: 14 } });
    const g = table([prefixRoute('/', { action: forward(), fault: { abort: { grpcStatus: 4, fraction: 1 } } })]);
    expect(decide({ table: g, req: req('/'), grpc: true, random: seq(0) })).toMatchObject({ kind: 'local', response: { grpcStatus: 4 } });
  });

  it('answers a CORS preflight from an allowed origin, decorates actual requests, ignores other origins', () => {
    const cors = { allowOrigin: (o: string) => o === 'https://app.example', allowMethods: 'GET,POST', allowHeaders: 'x-a', exposeHeaders: 'x-b', maxAge: '86400', allowCredentials: true };
    const t = table([prefixRoute('/', { action: forward(), cors })]);
    const pre = decide({ table: t, req: req('/', ['origin', 'https://app.example', 'access-control-request-method', 'POST'], 'OPTIONS'), grpc: false, random: Math.random });
    expect(pre).toMatchObject({ kind: 'local', response: { status: 200 } });
    expect(pre.kind === 'local' && Object.fromEntries(pre.response.headers)).toEqual({
      'access-control-allow-origin': 'https://app.example',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET,POST',
      'access-control-allow-headers': 'x-a',
      'access-control-max-age': '86400',
    });
    const actual = decide({ table: t, req: req('/', ['origin', 'https://app.example']), grpc: false, random: Math.random });
    expect(actual.kind === 'forward' && Object.fromEntries(actual.responseHeaders)).toEqual({ 'access-control-allow-origin': 'https://app.example', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-b' });
    const other = decide({ table: t, req: req('/', ['origin', 'https://evil.example', 'access-control-request-method', 'POST'], 'OPTIONS'), grpc: false, random: Math.random });
    expect(other).toMatchObject({ kind: 'forward', responseHeaders: [] });
  });

  it('applies header operations from the weighted cluster outwards, so outer sets win, then rewrites', () => {
    const ops = (k: string): { set: [string, string][]; add: [string, string][]; remove: string[] } => ({ set: [['x-level', k]], add: [['x-trail', k]], remove: [] });
    const action = forward({ clusters: [{ name: 'c', weight: 1, requestHeaders: ops('cluster') }], totalWeight: 1, rewrite: (r, p) => (r.path = `/v2${r.path.slice(p?.length ?? 0)}`) });
    const t = table([prefixRoute('/v1', { action, requestHeaders: ops('route') })], { requestHeaders: ops('vhost') }, { requestHeaders: { set: [['x-level', 'table']], add: [], remove: ['x-secret'] } });
    const r = req('/v1/items', ['x-secret', 's', 'x-level', 'client']);
    decide({ table: t, req: r, grpc: false, random: Math.random });
    expect(r.headers.getAll('x-level')).toEqual(['table']);
    expect(r.headers.getAll('x-trail')).toEqual(['cluster', 'route', 'vhost']);
    expect(r.headers.has('x-secret')).toBe(false);
    expect(r.path).toBe('/v2/items');
  });

  it('gives a request without x-request-id one (UUID v4) and keeps an existing one', () => {
    const t = table([prefixRoute('/', { action: forward() })]);
    const r = req('/');
    decide({ table: t, req: r, grpc: false, random: Math.random });
    expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const kept = req('/', ['x-request-id', 'abc']);
    decide({ table: t, req: kept, grpc: false, random: Math.random });
    expect(kept.headers.getAll('x-request-id')).toEqual(['abc']);
  });

  it('shares one read-only forward decision per route and weighted cluster, but not when a delay or CORS headers apply', () => {
    const cors = { allowOrigin: (o: string) => o === 'https://app.example' };
    const resp = { set: [['x-r', '1']] as [string, string][], add: [], remove: [] };
    const action = forward({ clusters: [{ name: 'a', weight: 1, responseHeaders: resp }, { name: 'b', weight: 1 }], totalWeight: 2 });
    const route = prefixRoute('/', { action, cors, fault: { delay: { fixedDelayMs: 10, fraction: 0.5 } } });
    const t = table([route]);
    // random draws: fault delay, then the weighted pick
    const d1 = decide({ table: t, req: req('/'), grpc: false, random: seq(0.9, 0.1) });
    const d2 = decide({ table: t, req: req('/'), grpc: false, random: seq(0.9, 0.2) });
    expect(d2).toBe(d1);
    expect(Object.isFrozen(d1)).toBe(true);
    expect(d1).toMatchObject({ kind: 'forward', cluster: 'a', delayMs: 0, flags: [], responseHeaders: [], responseHeaderLevels: [resp, undefined, undefined, undefined] });
    const other = decide({ table: t, req: req('/'), grpc: false, random: seq(0.9, 0.7) });
    expect(other).toMatchObject({ cluster: 'b' });
    expect(other).not.toBe(d1);
    const delayed = decide({ table: t, req: req('/'), grpc: false, random: seq(0.1, 0.1) });
    expect(delayed).toMatchObject({ cluster: 'a', delayMs: 10, flags: ['DI'] });
    expect(delayed).not.toBe(d1);
    const withCors = decide({ table: t, req: req('/', ['origin', 'https://app.example']), grpc: false, random: seq(0.9, 0.1) });
    expect(withCors).toMatchObject({ cluster: 'a', responseHeaders: [['access-control-allow-origin', 'https://app.example']] });
    expect(decide({ table: t, req: req('/'), grpc: false, random: seq(0.9, 0.1) })).toBe(d1);
    // The same route under another table (another RouteConfiguration version): its own levels.
    const tableOps = { set: [['x-t', '2']] as [string, string][], add: [], remove: [] };
    const t2 = table([route], {}, { responseHeaders: tableOps });
    const d3 = decide({ table: t2, req: req('/'), grpc: false, random: seq(0.9, 0.1) });
    expect(d3).not.toBe(d1);
    expect(d3).toMatchObject({ responseHeaderLevels: [resp, undefined, undefined, tableOps] });
  });

  it('splits by weight', () => {
    const a = forward({ clusters: [{ name: 'v1', weight: 80 }, { name: 'v2', weight: 20 }], totalWeight: 100 });
    expect(pickCluster(a, seq(0.79)).name).toBe('v1');
    expect(pickCluster(a, seq(0.8)).name).toBe('v2');
    let n = 0;
    for (let i = 0; i < 1000; i++) if (pickCluster(a, seq(i / 1000)).name === 'v1') n++;
    expect(n).toBe(800);
  });

  it('maps HTTP statuses to gRPC statuses as gRPC does', () => {
    expect([400, 401, 403, 404, 429, 502, 503, 504, 500].map(httpToGrpc)).toEqual([13, 16, 7, 12, 14, 14, 14, 14, 2]);
  });
});
