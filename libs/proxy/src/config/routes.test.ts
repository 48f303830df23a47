import { describe, expect, test } from 'vitest';
import { Headers, type RequestHead, type RouteForward, type RouteRedirect } from '../model.js';
import { Problems, type Obj } from './fields.js';
import { compileConfig } from './compile.js';
import { applyHeaderOps, compileRouteConfig, headerOps, retryPolicy, routeRequest, splitHostPort, type CompiledHeaderOps } from './routes.js';

const head = (authority: string, path = '/', extra: Partial<RequestHead> = {}): RequestHead => ({ method: 'GET', path, authority, scheme: 'http', headers: new Headers(), ...extra });

function compile(rc: Obj): { table: ReturnType<typeof compileRouteConfig>; errors: string[]; warnings: string[] } {
  const p = new Problems(`route_config ${String(rc.name)}`, [], []);
  return { table: compileRouteConfig(p, rc), errors: p.errors, warnings: p.warnings };
}

const route = (name: string, cluster: string, match: Obj = { prefix: '/' }, extra: Obj = {}): Obj => ({ name, match, route: { cluster, ...extra } });

function one(r: Obj, vh: Obj = {}): ReturnType<typeof compileRouteConfig> {
  const c = compile({ name: 'rc', virtualHosts: [{ name: 'vh', domains: ['*'], routes: [r], ...vh }] });
  expect(c.errors).toEqual([]);
  return c.table;
}

function forward(r: Obj, vh: Obj = {}): RouteForward {
  const t = one(r, vh);
  const a = t?.table.virtualHost('x')?.routes[0].action;
  expect(a?.kind).toBe('forward');
  return a as RouteForward;
}

describe('domain matching', () => {
  const rc = {
    name: 'rc',
    virtualHosts: [
      { name: 'exact', domains: ['reviews', 'reviews:9080', 'API.example.com'], routes: [route('r', 'c')] },
      { name: 'suffix-short', domains: ['*.com'], routes: [route('r', 'c')] },
      { name: 'suffix-long', domains: ['*.example.com'], routes: [route('r', 'c')] },
      { name: 'suffix-dash', domains: ['*-bar.example.com'], routes: [route('r', 'c')] },
      { name: 'prefix', domains: ['foo.*', 'foo.bar.*'], routes: [route('r', 'c')] },
      { name: 'any', domains: ['*'], routes: [route('r', 'c')] },
    ],
  };
  const { table, errors } = compile(rc);
  const cases: [string, string][] = [
    ['reviews', 'exact'],
    ['reviews:9080', 'exact'],
    ['reviews:1234', 'any'], // as Envoy: the authority with its port is matched first, and `*` takes it
    ['api.EXAMPLE.com', 'exact'], // case-insensitive
    ['a.example.com', 'suffix-long'], // longest suffix wins
    ['foo-bar.example.com', 'suffix-dash'],
    ['x.other.com', 'suffix-short'],
    ['example.com', 'suffix-short'], // `*.example.com` needs at least one character before
    ['foo.io', 'prefix'],
    ['foo.bar.io', 'prefix'],
    ['foo.example.com', 'suffix-long'], // suffix wildcards before prefix wildcards
    ['zzz', 'any'],
    ['a.example.com:8080', 'any'],
  ];
  test('compiles', () => expect(errors).toEqual([]));
  for (const [authority, want] of cases) test(`${authority} → ${want}`, () => expect(table?.table.virtualHost(authority)?.name).toBe(want));
  test('repeated and alternating authorities (the last lookup is remembered) get the same answers', () => {
    for (const [authority, want] of [...cases, ...cases.slice().reverse(), ...cases.flatMap((c) => [c, c])]) expect(table?.table.virtualHost(`${authority}`)?.name, authority).toBe(want);
    expect(table?.table.virtualHost('zzz:1')?.name).toBe('any');
  });

  test('no * means no match (NR); without any match the authority is tried again without its port', () => {
    const t = compile({ name: 'rc', virtualHosts: [{ name: 'v', domains: ['a', '*.b.com'], routes: [] }] });
    expect(t.table?.table.virtualHost('b')).toBeUndefined();
    expect(t.table?.table.virtualHost('a:1234')?.name).toBe('v');
    expect(t.table?.table.virtualHost('x.b.com:8080')?.name).toBe('v');
    expect(t.table?.table.virtualHost('b:1234')).toBeUndefined();
  });
  test('a domain in two virtual hosts is an error', () => {
    const t = compile({ name: 'rc', virtualHosts: [{ name: 'a', domains: ['x', 'Y'] }, { name: 'b', domains: ['y'] }] });
    expect(t.errors).toEqual(['route_config rc: virtual_hosts[1].domains[0]: domain y is in more than one virtual host']);
  });
  test('splitHostPort', () => {
    expect(splitHostPort('a:80')).toEqual(['a', '80']);
    expect(splitHostPort('a')).toEqual(['a', '']);
    expect(splitHostPort('[::1]:80')).toEqual(['[::1]', '80']);
    expect(splitHostPort('[::1]')).toEqual(['[::1]', '']);
  });
});

describe('routes in order', () => {
  test('first match wins; no match is undefined', () => {
    const { table } = compile({
      name: 'rc',
      virtualHosts: [{ name: 'v', domains: ['*'], routes: [route('exact', 'a', { path: '/x' }), route('api', 'b', { prefix: '/api' }), route('catch', 'c', { prefix: '/c' })] }],
    });
    const t = table?.table;
    if (!t) throw new Error('no table');
    expect(routeRequest(t, head('h', '/x')).route?.name).toBe('exact');
    expect(routeRequest(t, head('h', '/api/1')).route?.name).toBe('api');
    const miss = routeRequest(t, head('h', '/zzz'));
    expect(miss.route).toBeUndefined();
    expect(miss.virtualHost?.name).toBe('v');
  });
});

describe('forward action', () => {
  test('single cluster', () => {
    const a = forward(route('r', 'c1'));
    expect(a.clusters).toEqual([{ name: 'c1', weight: 1 }]);
    expect(a.totalWeight).toBe(1);
    expect(a.timeoutMs).toBeUndefined();
    expect(a.mirrors).toEqual([]);
  });
  test('weighted clusters with total and per-cluster headers', () => {
    const a = forward({
      name: 'w',
      match: { prefix: '/' },
      route: { weightedClusters: { clusters: [{ name: 'v1', weight: { value: 80 } }, { name: 'v2', weight: { value: 20 }, requestHeadersToAdd: [{ header: { key: 'x-subset', value: 'v2' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' }] }] } },
    });
    expect(a.totalWeight).toBe(100);
    expect(a.clusters.map((c) => [c.name, c.weight])).toEqual([
      ['v1', 80],
      ['v2', 20],
    ]);
    expect(a.clusters[1].requestHeaders?.set).toEqual([['x-subset', 'v2']]);
  });
  test('prefix rewrite replaces the matched prefix and keeps the query', () => {
    const a = forward(route('r', 'c', { prefix: '/old' }, { prefixRewrite: '/new' }));
    const req = head('h', '/old/x?q=1');
    a.rewrite?.(req, '/old');
    expect(req.path).toBe('/new/x?q=1');
  });
  test('prefix rewrite of a path match replaces the whole path', () => {
    const a = forward(route('r', 'c', { path: '/exact' }, { prefixRewrite: '/other' }));
    const req = head('h', '/exact?q=1');
    a.rewrite?.(req, '');
    expect(req.path).toBe('/other?q=1');
  });
  test('regex rewrite applies to the path only; host rewrite', () => {
    const a = forward(route('r', 'c', { prefix: '/' }, { regexRewrite: { pattern: { regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' }, hostRewriteLiteral: 'backend.local' }));
    const req = head('h', '/service/foo/v1/api?x=/service/y/z');
    a.rewrite?.(req, '/');
    expect(req.path).toBe('/v1/api/instance/foo?x=/service/y/z');
    expect(req.authority).toBe('backend.local');
  });
  test('timeouts: route timeout, max_stream_duration, grpc header max', () => {
    expect(forward(route('r', 'c', undefined, { timeout: { seconds: 0, nanos: 0 } })).timeoutMs).toBe(0);
    expect(forward(route('r', 'c', undefined, { timeout: { seconds: 2, nanos: 500_000_000 } })).timeoutMs).toBe(2500);
    expect(forward(route('r', 'c', undefined, { timeout: { seconds: 0 }, maxStreamDuration: { maxStreamDuration: { seconds: 3 } } })).timeoutMs).toBe(3000);
    expect(forward(route('r', 'c', undefined, { maxStreamDuration: { maxStreamDuration: { seconds: 30 } } })).timeoutMs).toBe(15000);
    expect(forward(route('r', 'c', undefined, { maxStreamDuration: { grpcTimeoutHeaderMax: { seconds: 5 } } })).grpcTimeoutHeaderMax).toBe(5000);
    expect(forward(route('r', 'c', undefined, { maxGrpcTimeout: { seconds: 0 } })).grpcTimeoutHeaderMax).toBe(0);
  });
  test('mirrors with runtime fraction (unset = all requests)', () => {
    const a = forward(route('r', 'c', undefined, { requestMirrorPolicies: [{ cluster: 'm1', runtimeFraction: { defaultValue: { numerator: 50, denominator: 'HUNDRED' } } }, { cluster: 'm2' }, { cluster: 'm3', runtimeFraction: { defaultValue: { numerator: 250000, denominator: 'MILLION' } } }] }));
    expect(a.mirrors).toEqual([
      { cluster: 'm1', fraction: 0.5 },
      { cluster: 'm2', fraction: 1 },
      { cluster: 'm3', fraction: 0.25 },
    ]);
  });
  test('hash policies', () => {
    const a = forward(
      route('r', 'c', undefined, {
        hashPolicy: [{ header: { headerName: 'X-User' } }, { cookie: { name: 'sid', ttl: { seconds: 10 }, path: '/' }, terminal: true }, { connectionProperties: { sourceIp: true } }, { queryParameter: { name: 'u' } }],
      }),
    );
    expect(a.hashPolicy).toEqual([
      { kind: 'header', name: 'x-user', terminal: false },
      { kind: 'cookie', name: 'sid', ttlMs: 10000, path: '/', terminal: true },
      { kind: 'source-ip', terminal: false },
      { kind: 'query', name: 'u', terminal: false },
    ]);
  });
});

describe('retry policy', () => {
  const p = () => new Problems('route_config rc', [], []);
  test('Envoy defaults', () => {
    const r = retryPolicy(p(), {}, 'retry_policy');
    expect(r.numRetries).toBe(1);
    expect(r.backoffBaseMs).toBe(25);
    expect(r.backoffMaxMs).toBe(250);
    expect(r.avoidPreviousHosts).toBe(false);
    expect(r.hostSelectionRetryMaxAttempts).toBe(1);
    expect(r.perTryTimeoutMs).toBeUndefined();
  });
  test("Istio's default policy", () => {
    const r = retryPolicy(
      p(),
      {
        retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
        numRetries: { value: 2 },
        retriableStatusCodes: [503],
        retryHostPredicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }],
        hostSelectionRetryMaxAttempts: '5',
        perTryTimeout: { seconds: 1 },
      },
      'retry_policy',
    );
    expect([...r.retryOn]).toEqual(['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes']);
    expect(r.numRetries).toBe(2);
    expect([...r.retriableStatusCodes]).toEqual([503]);
    expect(r.avoidPreviousHosts).toBe(true);
    expect(r.hostSelectionRetryMaxAttempts).toBe(5);
    expect(r.perTryTimeoutMs).toBe(1000);
  });
  test('back-off: max defaults to 10 × base; max below base is an error', () => {
    expect(retryPolicy(p(), { retryBackOff: { baseInterval: { nanos: 100_000_000 } } }, 'rp').backoffMaxMs).toBe(1000);
    const q = p();
    retryPolicy(q, { retryBackOff: { baseInterval: { seconds: 1 }, maxInterval: { nanos: 5_000_000 } } }, 'rp');
    retryPolicy(q, { retryBackOff: {}, retriableStatusCodes: [99] }, 'rp');
    expect(q.errors).toEqual([
      'route_config rc: rp.retry_back_off.max_interval: 5 ms is less than base_interval 1000 ms',
      'route_config rc: rp.retry_back_off.base_interval: is required and must be greater than 0',
      'route_config rc: rp.retriable_status_codes[0]: 99 is not an HTTP status code',
    ]);
  });
  test('route policy overrides the virtual host one; otherwise inherited', () => {
    const vh = { retryPolicy: { numRetries: { value: 7 } } };
    expect(forward(route('r', 'c'), vh).retry?.numRetries).toBe(7);
    expect(forward(route('r', 'c', undefined, { retryPolicy: { numRetries: { value: 0 } } }), vh).retry?.numRetries).toBe(0);
  });
});

describe('redirect', () => {
  function location(redirect: Obj, req: RequestHead, match: Obj = { prefix: '/' }): { status: number; location: string } {
    const t = one({ name: 'r', match, redirect });
    const a = t?.table.virtualHost('x')?.routes[0].action as RouteRedirect;
    expect(a.kind).toBe('redirect');
    return { status: a.status, location: a.location(req) };
  }
  const cases: [string, Obj, RequestHead, Obj | undefined, string, number][] = [
    ['https redirect drops the default port', { httpsRedirect: true }, head('a.com:80', '/p?q=1'), undefined, 'https://a.com/p?q=1', 301],
    ['scheme redirect keeps a non-default port', { schemeRedirect: 'https' }, head('a.com:8080', '/p'), undefined, 'https://a.com:8080/p', 301],
    ['host redirect', { hostRedirect: 'b.com', responseCode: 'FOUND' }, head('a.com', '/p'), undefined, 'http://b.com/p', 302],
    ['port redirect', { portRedirect: 8443, responseCode: 'TEMPORARY_REDIRECT' }, head('a.com:80', '/p'), undefined, 'http://a.com:8443/p', 307],
    ['port redirect is always explicit (Envoy)', { portRedirect: 80 }, head('a.com:9000', '/p'), undefined, 'http://a.com:80/p', 301],
    ['the request port stays when the scheme does not change', { pathRedirect: '/q' }, head('a.com:80', '/p'), undefined, 'http://a.com:80/q', 301],
    ['https redirect keeps a non-default port', { httpsRedirect: true }, head('a.com:8080', '/p'), undefined, 'https://a.com:8080/p', 301],
    ['host redirect verbatim plus port redirect', { hostRedirect: 'b.com', portRedirect: 8443 }, head('a.com:80', '/p'), undefined, 'http://b.com:8443/p', 301],
    ['a path_redirect query is not stripped', { pathRedirect: '/n?k=v', stripQuery: true }, head('a', '/o?x=1'), undefined, 'http://a/n?k=v', 301],
    ['path redirect keeps the query', { pathRedirect: '/new', responseCode: 'SEE_OTHER' }, head('a', '/old?x=1'), undefined, 'http://a/new?x=1', 303],
    ['path redirect with its own query', { pathRedirect: '/new?y=2' }, head('a', '/old?x=1'), undefined, 'http://a/new?y=2', 301],
    ['strip query', { pathRedirect: '/new', stripQuery: true, responseCode: 'PERMANENT_REDIRECT' }, head('a', '/old?x=1'), undefined, 'http://a/new', 308],
    ['prefix rewrite', { prefixRewrite: '/v2' }, head('a', '/v1/items?x=1'), { prefix: '/v1' }, 'http://a/v2/items?x=1', 301],
    ['regex rewrite', { regexRewrite: { pattern: { regex: '/v([0-9])/(.*)' }, substitution: '/\\2/v\\1' } }, head('a', '/v1/items'), undefined, 'http://a/items/v1', 301],
  ];
  for (const [name, r, req, match, want, status] of cases) test(name, () => expect(location(r, req, match)).toEqual({ status, location: want }));
});

describe('direct response', () => {
  test('inline string and bytes', () => {
    const t = one({ name: 'd', match: { prefix: '/' }, directResponse: { status: 418, body: { inlineString: 'teapot' } } });
    expect(t?.table.virtualHost('x')?.routes[0].action).toEqual({ kind: 'direct', status: 418, body: 'teapot' });
    const b = one({ name: 'd', match: { prefix: '/' }, directResponse: { status: 200, body: { inlineBytes: 'aGVsbG8=' } } });
    expect(b?.table.virtualHost('x')?.routes[0].action).toEqual({ kind: 'direct', status: 200, body: 'hello' });
  });
});

describe('header operations', () => {
  const p = () => new Problems('route_config rc', [], []);
  test('append actions, removal first, empty values skipped unless kept', () => {
    const q = p();
    const ops = headerOps(
      q,
      {
        requestHeadersToAdd: [
          { header: { key: 'X-Set', value: 's' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' },
          { header: { key: 'x-add', value: 'a' } },
          { header: { key: 'x-absent', value: 'n' }, appendAction: 'ADD_IF_ABSENT' },
          { header: { key: 'x-over', value: 'o' }, appendAction: 'OVERWRITE_IF_EXISTS' },
          { header: { key: 'x-legacy', value: 'l' }, append: { value: false } },
          { header: { key: 'x-empty', value: '' } },
          { header: { key: 'x-kept', value: '' }, keepEmptyValue: true },
        ],
        requestHeadersToRemove: ['X-Gone'],
      },
      '',
      'request',
    ) as CompiledHeaderOps;
    expect(q.errors).toEqual([]);
    const h = new Headers(['x-set', 'old', 'x-add', 'first', 'x-absent', 'there', 'x-gone', 'g', 'x-legacy', 'old']);
    applyHeaderOps(h, ops);
    expect(h.getAll('x-set')).toEqual(['s']);
    expect(h.getAll('x-add')).toEqual(['first', 'a']);
    expect(h.getAll('x-absent')).toEqual(['there']);
    expect(h.has('x-over')).toBe(false);
    expect(h.getAll('x-legacy')).toEqual(['l']);
    expect(h.has('x-gone')).toBe(false);
    expect(h.has('x-empty')).toBe(false);
    expect(h.getAll('x-kept')).toEqual(['']);
  });
  test('pseudo-headers and host may not be touched', () => {
    const q = p();
    headerOps(q, { responseHeadersToAdd: [{ header: { key: ':status', value: '200' } }, { header: { value: 'x' } }], responseHeadersToRemove: ['Host'] }, 'virtual_hosts[0]', 'response');
    expect(q.errors).toEqual([
      'route_config rc: virtual_hosts[0].response_headers_to_add[0].header.key: :status may not be modified',
      'route_config rc: virtual_hosts[0].response_headers_to_add[1].header.key: is required',
      'route_config rc: virtual_hosts[0].response_headers_to_remove[0]: "Host" may not be removed',
    ]);
  });
  test('ops at route, virtual host and table level are kept apart', () => {
    const { table } = compile({
      name: 'rc',
      requestHeadersToAdd: [{ header: { key: 'x-t', value: '1' } }],
      virtualHosts: [{ name: 'v', domains: ['*'], responseHeadersToRemove: ['x-v'], routes: [{ ...route('r', 'c'), requestHeadersToRemove: ['x-r'] }] }],
    });
    expect(table?.table.requestHeaders?.add).toEqual([['x-t', '1']]);
    const vh = table?.table.virtualHost('a');
    expect(vh?.responseHeaders?.remove).toEqual(['x-v']);
    expect(vh?.routes[0].requestHeaders?.remove).toEqual(['x-r']);
  });
});

describe('per-filter configs', () => {
  const FAULT = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
  const CORS = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
  test('fault delay and abort with percentages', () => {
    const t = one({
      ...route('r', 'c'),
      typedPerFilterConfig: {
        'envoy.filters.http.fault': {
          '@type': FAULT,
          delay: { fixedDelay: { nanos: 300_000_000 }, percentage: { numerator: 1_000_000, denominator: 'MILLION' } },
          abort: { httpStatus: 503, percentage: { numerator: 10 } },
        },
      },
    });
    expect(t?.table.virtualHost('x')?.routes[0].fault).toEqual({ delay: { fixedDelayMs: 300, fraction: 1 }, abort: { httpStatus: 503, fraction: 0.1 } });
  });
  test('grpc abort; unset percentage is 0; FilterConfig wrapper', () => {
    const t = one({
      ...route('r', 'c'),
      typedPerFilterConfig: { 'envoy.filters.http.fault': { '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig', config: { '@type': FAULT, abort: { grpcStatus: 14 } } } },
    });
    expect(t?.table.virtualHost('x')?.routes[0].fault).toEqual({ abort: { grpcStatus: 14, fraction: 0 } });
  });
  test('CORS: origins by string matcher; route overrides virtual host', () => {
    const cors = (origin: string) => ({ '@type': CORS, allowOriginStringMatch: [{ exact: origin }, { safeRegex: { regex: 'https://.*\\.example\\.org' } }], allowMethods: 'GET,POST', allowCredentials: { value: true }, maxAge: '60', filterEnabled: { defaultValue: { numerator: 100 } } });
    const { table, errors } = compile({
      name: 'rc',
      virtualHosts: [
        {
          name: 'v',
          domains: ['*'],
          typedPerFilterConfig: { 'envoy.filters.http.cors': cors('https://vh.com') },
          routes: [route('own', 'c', { prefix: '/own' }), { ...route('route', 'c', { prefix: '/' }), typedPerFilterConfig: { 'envoy.filters.http.cors': cors('https://route.com') } }],
        },
      ],
    });
    expect(errors).toEqual([]);
    const vh = table?.table.virtualHost('x');
    expect(vh?.cors?.allowOrigin('https://vh.com')).toBe(true);
    expect(vh?.routes[0].cors?.allowOrigin('https://vh.com')).toBe(true);
    const rc = vh?.routes[1].cors;
    expect(rc?.allowOrigin('https://vh.com')).toBe(false);
    expect(rc?.allowOrigin('https://route.com')).toBe(true);
    expect(rc?.allowOrigin('https://a.example.org')).toBe(true);
    expect(rc?.allowOrigin('https://a.example.org.evil')).toBe(false);
    expect([rc?.allowMethods, rc?.allowCredentials, rc?.maxAge]).toEqual(['GET,POST', true, '60']);
  });
  test('bad fault config', () => {
    const c = compile({
      name: 'rc',
      virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ ...route('r', 'c'), typedPerFilterConfig: { 'envoy.filters.http.fault': { '@type': FAULT, abort: { httpStatus: 700 }, delay: { headerDelay: {} } } } }] }],
    });
    expect(c.errors).toEqual([
      'route_config rc: virtual_hosts[0].routes[0].typed_per_filter_config[envoy.filters.http.fault].delay.header_delay: header-controlled delays are not supported',
      'route_config rc: virtual_hosts[0].routes[0].typed_per_filter_config[envoy.filters.http.fault].abort.http_status: 700 is out of range [200, 599]',
    ]);
  });
});

describe('require_tls', () => {
  test('plain HTTP gets a 301 to https; https passes to the routes', () => {
    const { table } = compile({ name: 'rc', virtualHosts: [{ name: 'v', domains: ['*'], requireTls: 'ALL', routes: [route('r', 'c')] }] });
    const t = table?.table;
    if (!t) throw new Error('no table');
    const plain = routeRequest(t, head('a.com', '/x?y=1'));
    expect(plain.route?.action.kind).toBe('redirect');
    expect((plain.route?.action as RouteRedirect).location(head('a.com', '/x?y=1'))).toBe('https://a.com/x?y=1');
    expect(routeRequest(t, head('a.com', '/x', { scheme: 'https' })).route?.name).toBe('r');
  });
});

describe('errors carry resource and field paths', () => {
  test('the brief example and friends, all at once', () => {
    const { table, errors } = compile({
      name: 'outbound|9080||reviews',
      virtualHosts: [
        {
          name: 'reviews',
          domains: ['reviews'],
          routes: [
            route('a', 'c'),
            { name: 'no-match', route: { cluster: 'c' } },
            { name: 'zero', match: { prefix: '/' }, route: { weightedClusters: { clusters: [{ name: 'a', weight: { value: 0 } }, { name: 'b' }] } } },
            { name: 'no-action', match: { prefix: '/' } },
            { name: 'two', match: { prefix: '/' }, route: { cluster: 'c' }, redirect: {} },
            { name: 'bad-rewrite', match: { safeRegex: { regex: '/x' } }, route: { cluster: 'c', prefixRewrite: '/y' } },
            { name: 'status', match: { prefix: '/' }, directResponse: { status: 42 } },
            { name: 'empty', match: { prefix: '/' }, route: { cluster: '' } },
            { name: 'bad-total', match: { prefix: '/' }, route: { weightedClusters: { clusters: [{ name: 'a', weight: { value: 1 } }], totalWeight: { value: 100 } } } },
            { name: 'types', match: { prefix: 7 }, route: { cluster: 'c', timeout: { seconds: -1 } } },
            { name: 'group', match: { prefix: '/' }, route: { cluster: 'c', regexRewrite: { pattern: { regex: '/(a)' }, substitution: '\\2' } } },
          ],
        },
        { domains: 'reviews' },
      ],
    });
    expect(table).toBeUndefined();
    expect(errors).toEqual([
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[1].match: is required',
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[2].route.weighted_clusters: weights sum to 0',
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[3]: one of route, redirect, direct_response, filter_action, non_forwarding_action is required (action)',
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[4]: only one of route, redirect may be set',
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[5].route.prefix_rewrite: cannot be used with a safe_regex match',
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[6].direct_response.status: 42 is out of range [100, 599]',
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[7].route.cluster: must not be empty',
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[8].route.weighted_clusters.total_weight: is 100 but the weights sum to 1',
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[9].match.prefix: expected a string, got number 7',
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[9].route.timeout: must not be negative',
      'route_config outbound|9080||reviews: virtual_hosts[0].routes[10].route.regex_rewrite.substitution: \\2 names a group the pattern does not have (it has 1)',
      'route_config outbound|9080||reviews: virtual_hosts[1].domains: expected a list, got "reviews"',
      'route_config outbound|9080||reviews: virtual_hosts[1].domains: must have at least one domain',
    ]);
  });
});

describe('header operations refuse values that could split a message head', () => {
  test.each([
    ['a CR/LF in a value', { key: 'x-a', value: 'ok\r\nx-injected: 1' }, 'must not contain CR, LF or NUL'],
    ['a NUL in a value', { key: 'x-a', value: 'a\u0000b' }, 'must not contain CR, LF or NUL'],
    ['a separator in a name', { key: 'x a:', value: 'v' }, 'is not a valid header name'],
  ])('%s', (_what, header, reason) => {
    const r = compileConfig({ listeners: [], clusters: [], endpoints: [], routes: [{ name: 'r', virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, directResponse: { status: 200 }, requestHeadersToAdd: [{ header }] }] }] }] });
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.errors.join('\n')).toContain(reason);
  });
});
