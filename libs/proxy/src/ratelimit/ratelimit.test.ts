import { afterEach, describe, expect, test } from 'vitest';
import { validateText, type ProxyNode } from '@meshwork/api';
import { buildSnapshot, inboundRateLimitFilters } from '@meshwork/translate';
import { packAny, unpackAny } from '@meshwork/xds';
import { Problems, type Obj } from '../config/fields.js';
import { Headers, type HttpFilterContext } from '../model.js';
import { compileLocalRateLimit, compileTypedStructFilter, setRlsClientFactory } from './compile.js';
import type { RlsAnswer, RlsClient, RlsEntry } from './rls-client.js';
import { rlsTarget, configureRateLimitService } from './rls-client.js';
import { TokenBucket } from './token-bucket.js';

const PROXY: ProxyNode = { id: 'sidecar~10.0.0.5~pp-1.shop~shop.svc.cluster.local', type: 'sidecar', ipAddresses: ['10.0.0.5'], workloadName: 'pp-1', namespace: 'shop', labels: { app: 'pp' }, metadata: {} };

/** The filters translate builds for PROXY from `yaml`, through the same Any packing as ADS. */
function filtersFor(yaml: string): Obj[] {
  const v = validateText(yaml, 't.yaml');
  expect(v.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const snapshot = buildSnapshot({ configs: v.resources, services: [], endpoints: [] });
  return inboundRateLimitFilters(PROXY, snapshot, 9080).map((f) => {
    const packed = packAny(f.typedConfig as Record<string, unknown>);
    if (!packed.ok) throw new Error(packed.errors.join('; '));
    const back = unpackAny(packed.value);
    if (!back.ok) throw new Error(back.errors.join('; '));
    return back.value as Obj;
  });
}

function stageOf(tc: Obj) {
  const p = new Problems('test', []);
  const s = compileTypedStructFilter(p, tc, 'typed_config');
  expect(p.errors).toEqual([]);
  return s!;
}

function ctx(path: string, headers: Record<string, string> = {}, opts: { method?: string; remote?: string; peer?: string } = {}): HttpFilterContext {
  return {
    req: { method: opts.method ?? 'GET', path, authority: 'pp', scheme: 'http', headers: new Headers(Object.entries(headers).flat()) },
    down: { remoteAddress: opts.remote ?? '10.1.2.3', remotePort: 5555, localAddress: '10.0.0.5', localPort: 9080, ...(opts.peer ? { tls: { peerIdentities: [opts.peer] } } : {}) },
    state: new Map(),
  };
}

class FakeRls implements RlsClient {
  readonly calls: { domain: string; descriptors: (readonly RlsEntry[])[]; timeoutMs: number }[] = [];
  constructor(private readonly answer: (d: (readonly RlsEntry[])[]) => Promise<RlsAnswer>) {}
  shouldRateLimit(domain: string, descriptors: readonly (readonly RlsEntry[])[], timeoutMs: number): Promise<RlsAnswer> {
    this.calls.push({ domain, descriptors: [...descriptors], timeoutMs });
    return this.answer([...descriptors]);
  }
}

let restore: Parameters<typeof setRlsClientFactory>[0] | undefined;
afterEach(() => {
  if (restore) setRlsClientFactory(restore);
  restore = undefined;
  configureRateLimitService({});
});

const GLOBAL = `
apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: g, namespace: shop}
spec:
  mode: GLOBAL
  failureMode: DENY
  timeout: 75ms
  response: {rateLimitHeaders: DRAFT_VERSION_03, headers: {x-why: limited}}
  rules:
  - name: per-caller
    match:
    - paths: [/api/*]
    - headers: {x-force: {exact: 'yes'}}
    descriptors:
    - sourcePrincipal: {}
    - path: {}
    limit: {requestsPerUnit: 5, unit: MINUTE}
  - name: per-key
    match:
    - methods: [POST]
    descriptors:
    - requestHeader: {name: x-api-key}
    - remoteAddress: {v4PrefixLength: 24}
    limit: {requestsPerUnit: 5, unit: SECOND}
`;

describe('GLOBAL: descriptors from the translated actions, the call, the answer', () => {
  test('only requests a rule covers are sent; entries in Envoy form; duplicates from two match items sent once', async () => {
    const rls = new FakeRls(() => Promise.resolve({ overallCode: 'OK', statuses: [] }));
    restore = setRlsClientFactory(() => rls);
    const [tc] = filtersFor(GLOBAL);
    const s = stageOf(tc);
    // Not covered: GET /other, no x-force → no call at all.
    expect(await s.run(ctx('/other'))).toBeUndefined();
    expect(rls.calls).toHaveLength(0);
    // Plaintext: sourcePrincipal has no value → the per-caller descriptor is not produced.
    expect(await s.run(ctx('/api/x'))).toBeUndefined();
    expect(rls.calls).toHaveLength(0);
    await s.run(ctx('/api/x?q=1', { 'x-force': 'yes' }, { peer: 'spiffe://cluster.local/ns/shop/sa/web' }));
    expect(rls.calls).toEqual([
      {
        domain: 'meshwork',
        timeoutMs: 75,
        descriptors: [
          [
            { key: 'rule', value: 'shop/g/per-caller' },
            { key: 'source_principal', value: 'cluster.local/ns/shop/sa/web' },
            { key: 'path', value: '/api/x' },
          ],
        ],
      },
    ]);
    await s.run(ctx('/p', { 'x-api-key': 'k1' }, { method: 'POST', remote: '::ffff:10.9.8.7' }));
    expect(rls.calls[1].descriptors).toEqual([
      [
        { key: 'rule', value: 'shop/g/per-key' },
        { key: 'x-api-key', value: 'k1' },
        { key: 'masked_remote_address', value: '10.9.8.0/24' },
      ],
    ]);
    // Without the header the rule does not count the request.
    await s.run(ctx('/p', {}, { method: 'POST' }));
    expect(rls.calls).toHaveLength(2);
  });

  test('OVER_LIMIT → 429 with x-envoy-ratelimited, configured headers and draft-03 headers of the closest limit', async () => {
    restore = setRlsClientFactory(
      () =>
        new FakeRls(() =>
          Promise.resolve({
            overallCode: 'OVER_LIMIT',
            statuses: [
              { code: 'OK', currentLimit: { requestsPerUnit: 100, unit: 'HOUR' }, limitRemaining: 40, durationUntilResetMs: 100_000 },
              { code: 'OVER_LIMIT', currentLimit: { requestsPerUnit: 5, unit: 'SECOND' }, limitRemaining: 0, durationUntilResetMs: 300 },
            ],
          }),
        ),
    );
    const s = stageOf(filtersFor(GLOBAL)[0]);
    const d = await s.run(ctx('/p', { 'x-api-key': 'k' }, { method: 'POST' }));
    expect(d).toEqual({
      status: 429,
      body: '',
      details: 'request_rate_limited',
      headers: [
        ['x-envoy-ratelimited', 'true'],
        ['x-ratelimit-limit', '5, 5;w=1'],
        ['x-ratelimit-remaining', '0'],
        ['x-ratelimit-reset', '1'],
        ['x-why', 'limited'],
      ],
      flag: 'RL',
    });
  });

  test('service failure: DENY refuses with the configured status; ALLOW lets the request through', async () => {
    restore = setRlsClientFactory(() => new FakeRls(() => Promise.reject(new Error('deadline exceeded'))));
    const deny = stageOf(filtersFor(GLOBAL)[0]);
    expect(await deny.run(ctx('/p', { 'x-api-key': 'k' }, { method: 'POST' }))).toMatchObject({ status: 429, details: 'rate_limiter_error' });
    const allow = stageOf(filtersFor(GLOBAL.replace('failureMode: DENY', 'failureMode: ALLOW'))[0]);
    expect(await allow.run(ctx('/p', { 'x-api-key': 'k' }, { method: 'POST' }))).toBeUndefined();
  });
});

const LOCAL = `
apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: l, namespace: shop}
spec:
  response: {statusCode: 503, rateLimitHeaders: DRAFT_VERSION_03}
  rules:
  - name: per-user
    match:
    - paths: [/api/*]
    - paths: ['*.json']
    descriptors:
    - requestHeader: {name: x-user}
    limit: {requestsPerUnit: 2, unit: SECOND, burst: 3}
`;

describe('LOCAL: token buckets per rule and descriptor value', () => {
  test('burst up front, then requestsPerUnit per unit; one bucket per user; a request matching two items takes one token', () => {
    const now = { t: 1_000_000 };
    const p = new Problems('test', []);
    // A resource name of its own: buckets are shared per filter by stat prefix.
    const [tc] = filtersFor(LOCAL.replace('name: l,', `name: l${Math.random().toString(36).slice(2, 8)},`));
    const stage = compileLocalRateLimit(p, tc.value as Obj, 'value', () => now.t)!;
    expect(p.errors).toEqual([]);
    const alice = () => stage.run(ctx('/api/a.json', { 'x-user': 'alice' }));
    expect([alice(), alice(), alice()]).toEqual([undefined, undefined, undefined]);
    expect(alice()).toMatchObject({ status: 503, body: 'local_rate_limited', headers: [['x-ratelimit-limit', '2, 2;w=1'], ['x-ratelimit-remaining', '0'], ['x-ratelimit-reset', '1']] });
    expect(stage.run(ctx('/api/x', { 'x-user': 'bob' }))).toBeUndefined();
    // Not covered (no header, other path): never limited.
    for (let i = 0; i < 10; i++) expect(stage.run(ctx('/api/x'))).toBeUndefined();
    now.t += 500; // one token back (2 per second)
    expect(alice()).toBeUndefined();
    expect(alice()).toBeDefined();
    now.t += 10_000; // refilled to the burst, not beyond
    expect([alice(), alice(), alice(), alice()].map((x) => x === undefined)).toEqual([true, true, true, false]);
  });
});

describe('TokenBucket', () => {
  test('continuous refill capped at max_tokens', () => {
    const b = new TokenBucket({ maxTokens: 2, tokensPerFill: 1, fillIntervalMs: 1000 }, 0);
    expect([b.tryTake(0), b.tryTake(0), b.tryTake(0)]).toEqual([true, true, false]);
    expect(b.msUntilToken(250)).toBe(750);
    expect(b.tryTake(999)).toBe(false);
    expect(b.tryTake(1000)).toBe(true);
    expect(b.remaining(100_000)).toBe(2);
  });
});

describe('rlsTarget', () => {
  test('Istio cluster name → host:port, unless an address is configured', () => {
    expect(rlsTarget('outbound|8081||mixer.istio-system.svc.cluster.local')).toBe('mixer.istio-system.svc.cluster.local:8081');
    expect(rlsTarget('rate_limit_cluster')).toBeUndefined();
    configureRateLimitService({ address: '127.0.0.1:18081' });
    expect(rlsTarget('outbound|8081||mixer.istio-system.svc.cluster.local')).toBe('127.0.0.1:18081');
  });
});
