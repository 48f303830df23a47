/**
 * JWT authentication against a real JWKS server (node:http on 127.0.0.1:0) with keys and tokens
 * from jose: what passes, what gets 401 with Envoy's texts, key rotation and outages of the key
 * server, token locations, header outputs and the filter state RBAC reads. The last block compiles
 * RequestAuthentication through translate → compileConfig and runs the stage that comes out.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER_TYPE, ENDPOINT_TYPE, generateAll, LISTENER_TYPE, ROUTE_TYPE } from '@meshwork/translate';
import { loadCase } from '@meshwork/translate/testing';
import { compileConfig } from '../config/compile.js';
import { compileJwtAuthn } from '../config/jwt.js';
import { Problems, type Obj } from '../config/fields.js';
import { ClusterManager } from '../engine/clusters.js';
import { ListenerManager } from '../engine/listeners.js';
import { Headers, type EngineClock, type FilterDenial, type HttpFilterContext, type HttpFilterStage } from '../model.js';
import { JwtAuthnStage, JWT_STATE, type JwtProviderPlan } from './jwt.js';
import { RemoteJwks } from './jwt-jwks.js';

const JWT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const ISS = 'https://issuer.example.com';

interface Key {
  readonly kid: string;
  readonly priv: CryptoKey;
  readonly jwk: JWK;
}

async function key(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

let k1: Key;
let k2: Key;
let k3: Key;
let evil: Key;
/** What the JWKS server answers per path, and how many requests each path got. */
const served = new Map<string, JWK[]>();
const hits = new Map<string, number>();
let server: http.Server;
let base = '';

beforeAll(async () => {
  [k1, k2, k3, evil] = await Promise.all([key('k1'), key('k2', 'ES256'), key('k3'), key('k1')]);
  server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const keys = served.get(path);
    if (!keys) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => {
  server?.close();
});

async function sign(k: Key, claims: JWTPayload, opts: { exp?: number | string; nbf?: number; alg?: string } = {}): Promise<string> {
  const t = new SignJWT({ iss: ISS, sub: 'alice', aud: 'bookinfo', ...claims }).setProtectedHeader({ alg: opts.alg ?? String(k.jwk.alg), kid: k.kid, typ: 'JWT' }).setIssuedAt();
  if (opts.exp !== undefined) t.setExpirationTime(opts.exp);
  else t.setExpirationTime('10m');
  if (opts.nbf !== undefined) t.setNotBefore(opts.nbf);
  return t.sign(k.priv);
}

function ctx(headers: [string, string][] = [], path = '/productpage'): HttpFilterContext {
  return {
    req: { method: 'GET', path, authority: 'productpage:9080', scheme: 'http', headers: new Headers(headers.flat()) },
    down: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 9080 },
    state: new Map(),
  };
}

/** Istio's config for one rule (authn.ts output shape), compiled by the real compiler. */
function istioConfig(provider: Obj, extraProviders: Record<string, Obj> = {}): Obj {
  const names = ['origins-0', ...Object.keys(extraProviders)];
  const inner = names.map((n) => ({ requiresAny: { requirements: [{ providerName: n }, { allowMissing: {} }] } }));
  const requires = names.length === 1 ? inner[0] : { requiresAny: { requirements: [...names.map((n) => ({ providerName: n })), { requiresAll: { requirements: inner } }] } };
  return { '@type': JWT_TYPE, providers: { 'origins-0': provider, ...extraProviders }, rules: [{ match: { prefix: '/' }, requires }], bypassCorsPreflight: true };
}

function compile(tc: Obj): HttpFilterStage {
  const errors: string[] = [];
  const stage = compileJwtAuthn(new Problems('jwt', errors), tc, 'typed_config');
  expect(errors).toEqual([]);
  if (!stage) throw new Error('no stage');
  return stage;
}

function inline(...keys: Key[]): Obj {
  return { localJwks: { inlineString: JSON.stringify({ keys: keys.map((k) => k.jwk) }) } };
}

let uriSeq = 0;
/** A fresh JWKS path on the server serving `keys` (each test its own URI: remote sets are shared by URI). */
function jwksUri(...keys: Key[]): { uri: string; path: string } {
  const path = `/jwks/${++uriSeq}`;
  served.set(
    path,
    keys.map((k) => k.jwk),
  );
  return { uri: `${base}${path}`, path };
}

async function run(stage: HttpFilterStage, c: HttpFilterContext): Promise<FilterDenial | undefined> {
  return await stage.run(c);
}

function denied(status: string): FilterDenial {
  return { status: 401, body: status, details: `jwt_authn_access_denied{${status.replace(/ /g, '_')}}`, headers: [['www-authenticate', 'Bearer realm="http://productpage:9080/productpage", error="invalid_token"']] };
}

describe('verification (inline JWKS)', () => {
  let stage: HttpFilterStage;
  beforeAll(() => {
    stage = compile(istioConfig({ issuer: ISS, audiences: ['bookinfo', 'other'], ...inline(k1, k2), payloadInMetadata: 'payload', normalizePayloadInMetadata: { spaceDelimitedClaims: ['permission', 'scope'] } }));
  });

  it('accepts a valid token and leaves the payload and request.auth.* in the filter state; the token is removed (no forward)', async () => {
    const c = ctx([['authorization', `Bearer ${await sign(k1, { azp: 'web', aud: ['bookinfo', 'x'], groups: ['a'], scope: 'read write' })}`]]);
    expect(await run(stage, c)).toBeUndefined();
    expect(c.state.get(JWT_STATE.principal)).toBe(`${ISS}/alice`);
    expect(c.state.get(JWT_STATE.audiences)).toEqual(['bookinfo', 'x']);
    expect(c.state.get(JWT_STATE.presenter)).toBe('web');
    expect((c.state.get(JWT_STATE.claims) as JWTPayload).groups).toEqual(['a']);
    expect((c.state.get(`jwt_authn:${ISS}`) as JWTPayload).scope).toBe('read write');
    // The metadata copy and request.auth.claims carry space-delimited claims as lists (Istio's RBAC matches items).
    expect((c.state.get(JWT_STATE.claims) as JWTPayload).scope).toEqual(['read', 'write']);
    expect((c.state.get(JWT_STATE.metadata) as Record<string, JWTPayload>).payload.sub).toBe('alice');
    expect(c.req.headers.has('authorization')).toBe(false);
  });

  it('verifies with the key the kid names, whatever its algorithm (ES256 key k2)', async () => {
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k2, {})}`]]))).toBeUndefined();
  });

  it('lets a request without a token through, with no principal (authorization decides)', async () => {
    const c = ctx([['x-other', '1']]);
    expect(stage.run(c)).toBeUndefined(); // decided synchronously
    expect(c.state.size).toBe(0);
  });

  it.each([
    ['an expired token', () => sign(k1, {}, { exp: Math.floor(Date.now() / 1000) - 3600 }), 'Jwt is expired'],
    ['a token not valid yet', () => sign(k1, {}, { nbf: Math.floor(Date.now() / 1000) + 3600 }), 'Jwt not yet valid'],
    ['a token of another issuer', () => sign(k1, { iss: 'https://evil.example.com' }), 'Jwt issuer is not configured'],
    ['a token for another audience', () => sign(k1, { aud: 'payments' }), 'Audiences in Jwt are not allowed'],
    ['a forged signature (another key under the same kid)', () => sign(evil, {}), 'Jwt verification fails'],
    ['a kid the JWKS does not have', () => sign(k3, {}), "Jwks doesn't have key to match kid or alg from Jwt"],
    ['a token that is not a JWT', () => Promise.resolve('abc.def'), 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
  ])('refuses %s with 401 and Envoy\'s text', async (_name, token, status) => {
    const c = ctx([['authorization', `Bearer ${await token()}`]]);
    expect(await run(stage, c)).toEqual(denied(status));
    expect(c.state.size).toBe(0);
  });

  it('accepts an expired token within the 60 s clock skew', async () => {
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {}, { exp: Math.floor(Date.now() / 1000) - 30 })}`]]))).toBeUndefined();
  });

  it('skips CORS preflight requests (bypass_cors_preflight)', async () => {
    const c = ctx([['authorization', 'Bearer garbage.garbage.garbage'], ['origin', 'http://x'], ['access-control-request-method', 'GET']]);
    c.req.method = 'OPTIONS';
    expect(await run(stage, c)).toBeUndefined();
  });
});

describe('token locations and outputs', () => {
  it('reads a header with a prefix, a query parameter and a cookie, and not the default Authorization header', async () => {
    const stage = compile(istioConfig({ issuer: ISS, ...inline(k1), fromHeaders: [{ name: 'X-Jwt-Assertion', valuePrefix: 'Token ' }], fromParams: ['jwt'], fromCookies: ['session'] }));
    const good = await sign(k1, {});
    const bad = await sign(evil, {});
    for (const c of [ctx([['x-jwt-assertion', `Token ${good}`]]), ctx([], `/p?a=1&jwt=${good}`), ctx([['cookie', `theme=dark; session=${good}`]])]) {
      expect(await run(stage, c)).toBeUndefined();
      expect(c.state.get(JWT_STATE.principal)).toBe(`${ISS}/alice`);
    }
    for (const c of [ctx([['x-jwt-assertion', `Token ${bad}`]]), ctx([], `/p?jwt=${bad}`), ctx([['cookie', `session=${bad}`]])]) {
      expect((await run(stage, c))?.body).toBe('Jwt verification fails');
    }
    // Without the prefix the header holds no token; Authorization is not a location of this provider.
    expect(await run(stage, ctx([['x-jwt-assertion', bad]]))).toBeUndefined();
    expect(await run(stage, ctx([['authorization', `Bearer ${bad}`]]))).toBeUndefined();
  });

  it('reads Envoy\'s default locations when none are given: Authorization Bearer (any case) and access_token', async () => {
    const stage = compile(istioConfig({ issuer: ISS, ...inline(k1) }));
    const bad = await sign(evil, {});
    expect((await run(stage, ctx([['authorization', `bearer ${bad}`]])))?.status).toBe(401);
    expect((await run(stage, ctx([], `/p?access_token=${bad}`)))?.status).toBe(401);
  });

  it('writes the payload (base64url, as sent) and claims to headers, and keeps the token with forward', async () => {
    const stage = compile(
      istioConfig({
        issuer: ISS,
        ...inline(k1),
        forward: true,
        forwardPayloadHeader: 'x-jwt-payload',
        claimToHeaders: [
          { headerName: 'x-jwt-sub', claimName: 'sub' },
          { headerName: 'x-jwt-team', claimName: 'org.team' },
          { headerName: 'x-jwt-groups', claimName: 'groups' },
          { headerName: 'x-jwt-admin', claimName: 'admin' },
          { headerName: 'x-jwt-none', claimName: 'absent' },
        ],
      }),
    );
    const token = await sign(k1, { org: { team: 'blue' }, groups: ['a', 'b'], admin: true });
    const c = ctx([['authorization', `Bearer ${token}`], ['x-jwt-sub', 'spoofed']]);
    expect(await run(stage, c)).toBeUndefined();
    expect(c.req.headers.get('x-jwt-payload')).toBe(token.split('.')[1]);
    expect(JSON.parse(Buffer.from(c.req.headers.get('x-jwt-payload') ?? '', 'base64url').toString()).sub).toBe('alice');
    expect(c.req.headers.getAll('x-jwt-sub')).toEqual(['alice']);
    expect(c.req.headers.get('x-jwt-team')).toBe('blue');
    expect(c.req.headers.get('x-jwt-groups')).toBe('a,b');
    expect(c.req.headers.get('x-jwt-admin')).toBe('true');
    expect(c.req.headers.has('x-jwt-none')).toBe(false);
    expect(c.req.headers.get('authorization')).toBe(`Bearer ${token}`);
  });

  it('with several providers on one location (Istio\'s requirement), a token of either issuer passes and a bad one fails', async () => {
    const stage = compile(istioConfig({ issuer: ISS, ...inline(k1) }, { 'origins-1': { issuer: 'https://other.example.com', ...inline(k3) } }));
    const c = ctx([['authorization', `Bearer ${await sign(k3, { iss: 'https://other.example.com', sub: 'bob' })}`]]);
    expect(await run(stage, c)).toBeUndefined();
    expect(c.state.get(JWT_STATE.principal)).toBe('https://other.example.com/bob');
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {})}`]]))).toBeUndefined();
    // A token claiming the other issuer is checked with that issuer's keys only.
    expect((await run(stage, ctx([['authorization', `Bearer ${await sign(k1, { iss: 'https://other.example.com' })}`]])))?.body).toBe("Jwks doesn't have key to match kid or alg from Jwt");
    expect((await run(stage, ctx([['authorization', `Bearer ${await sign(k1, { iss: 'https://third.example.com' })}`]])))?.body).toBe('Jwt issuer is not configured');
    expect(await run(stage, ctx())).toBeUndefined();
  });

  it('a provider requirement without allow_missing refuses a request without a token: "Jwt is missing"', async () => {
    const stage = compile({ '@type': JWT_TYPE, providers: { p: { issuer: ISS, ...inline(k1) } }, rules: [{ match: { prefix: '/api' }, requires: { providerName: 'p' } }] });
    const c = ctx([], '/api/x');
    expect(await run(stage, c)).toEqual({ status: 401, body: 'Jwt is missing', details: 'jwt_authn_access_denied{Jwt_is_missing}', headers: [['www-authenticate', 'Bearer realm="http://productpage:9080/api/x"']] });
    // No rule matches /productpage: nothing is checked.
    expect(await run(stage, ctx([['authorization', 'Bearer x.y.z']]))).toBeUndefined();
  });
});

describe('remote JWKS', () => {
  it('fetches the keys from jwksUri once and caches them', async () => {
    const { uri, path } = jwksUri(k1);
    const stage = compile(istioConfig({ issuer: ISS, remoteJwks: { httpUri: { uri, cluster: 'outbound|80||x', timeout: { seconds: 2 } }, cacheDuration: { seconds: 300 } } }));
    for (let i = 0; i < 3; i++) expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {})}`]]))).toBeUndefined();
    expect(hits.get(path)).toBe(1);
    expect((await run(stage, ctx([['authorization', `Bearer ${await sign(evil, {})}`]])))?.body).toBe('Jwt verification fails');
  });

  function remoteStage(jwks: RemoteJwks): JwtAuthnStage {
    const p: JwtProviderPlan = { name: 'p', issuer: ISS, audiences: [], forward: false, claimToHeaders: [], fromHeaders: [], fromParams: [], fromCookies: [], jwks };
    return new JwtAuthnStage({ providers: new Map([['p', p]]), rules: [{ prefix: '/', requires: { kind: 'any', of: [{ kind: 'provider', name: 'p' }, { kind: 'allowMissing' }] } }], bypassCorsPreflight: true });
  }

  it('fetches again on an unknown kid (key rotation), at most once per cooldown', async () => {
    const { uri, path } = jwksUri(k1);
    let now = 1_000_000;
    const stage = remoteStage(new RemoteJwks({ uri, timeoutMs: 2000, cacheMs: 300_000, cooldownMs: 30_000, now: () => now }));
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {})}`]]))).toBeUndefined();
    expect(hits.get(path)).toBe(1);
    // The issuer rotates to k2: the first token with kid k2 makes the stage fetch the set again.
    served.set(path, [k1.jwk, k2.jwk]);
    now += 1000;
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k2, {})}`]]))).toBeUndefined();
    expect(hits.get(path)).toBe(2);
    // Another unknown kid within the cooldown: no fetch, refused.
    served.set(path, [k1.jwk, k2.jwk, k3.jwk]);
    now += 1000;
    expect((await run(stage, ctx([['authorization', `Bearer ${await sign(k3, {})}`]])))?.body).toBe("Jwks doesn't have key to match kid or alg from Jwt");
    expect(hits.get(path)).toBe(2);
    // After the cooldown it fetches again and finds k3.
    now += 30_000;
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k3, {})}`]]))).toBeUndefined();
    expect(hits.get(path)).toBe(3);
  });

  it('refreshes a stale set in the background: the request that finds it stale uses the cached keys, later ones the new set', async () => {
    const { uri, path } = jwksUri(k1);
    let now = 1_000_000;
    const stage = remoteStage(new RemoteJwks({ uri, timeoutMs: 2000, cacheMs: 60_000, cooldownMs: 1000, now: () => now }));
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {})}`]]))).toBeUndefined();
    served.set(path, [k2.jwk]); // k1 revoked, k2 published
    now += 61_000;
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {})}`]]))).toBeUndefined();
    for (let i = 0; i < 100 && hits.get(path) !== 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(hits.get(path)).toBe(2);
    await new Promise((r) => setTimeout(r, 10));
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k2, {})}`]]))).toBeUndefined();
    expect(hits.get(path)).toBe(2); // k2 came with the background refresh, not a kid-triggered fetch
    expect((await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {})}`]])))?.body).toBe("Jwks doesn't have key to match kid or alg from Jwt");
  });

  it('keeps verifying tokens signed with cached keys while the JWKS server is down, past the cache duration', async () => {
    const down = http.createServer((_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [k1.jwk] })));
    await new Promise<void>((r) => down.listen(0, '127.0.0.1', () => r()));
    const uri = `http://127.0.0.1:${(down.address() as { port: number }).port}/jwks`;
    let now = 1_000_000;
    const jwks = new RemoteJwks({ uri, timeoutMs: 500, cacheMs: 1000, cooldownMs: 0, now: () => now });
    const stage = remoteStage(jwks);
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {})}`]]))).toBeUndefined();
    await new Promise<void>((r) => down.close(() => r()));
    now += 60_000; // stale: the background refresh fails, the cached k1 still verifies
    for (let i = 0; i < 2; i++) expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {})}`]]))).toBeUndefined();
    // An unknown kid tries the (down) server and is refused; a forged token is still refused.
    expect((await run(stage, ctx([['authorization', `Bearer ${await sign(k3, {})}`]])))?.body).toBe("Jwks doesn't have key to match kid or alg from Jwt");
    expect((await run(stage, ctx([['authorization', `Bearer ${await sign(evil, {})}`]])))?.body).toBe('Jwt verification fails');
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {})}`]]))).toBeUndefined();
  });

  it('refuses tokens when the keys were never fetched ("Jwks remote fetch is failed") and recovers when the server answers', async () => {
    const path = `/jwks/never-${++uriSeq}`;
    let now = 1_000_000;
    const stage = remoteStage(new RemoteJwks({ uri: `${base}${path}`, timeoutMs: 1000, cacheMs: 300_000, retryMs: 1000, now: () => now }));
    const token = await sign(k1, {});
    expect((await run(stage, ctx([['authorization', `Bearer ${token}`]])))?.body).toBe('Jwks remote fetch is failed');
    expect(await run(stage, ctx())).toBeUndefined(); // no token: still passes
    served.set(path, [k1.jwk]);
    expect((await run(stage, ctx([['authorization', `Bearer ${token}`]])))?.body).toBe('Jwks remote fetch is failed'); // within retryMs: no new fetch
    expect(hits.get(path)).toBe(1);
    now += 1000;
    expect(await run(stage, ctx([['authorization', `Bearer ${token}`]]))).toBeUndefined();
    expect(hits.get(path)).toBe(2);
  });
});

describe('compiled from RequestAuthentication (translate → compileConfig → stage)', () => {
  /** The jwt_authn stage on the inbound chain of `port`, from a translation case. */
  function inboundStage(yaml: string, port: number): HttpFilterStage | undefined {
    const c = loadCase(yaml);
    const out = generateAll(c.proxy, c.snapshot) as Record<string, Obj[]>;
    const r = compileConfig({ listeners: out[LISTENER_TYPE], routes: out[ROUTE_TYPE], clusters: out[CLUSTER_TYPE], endpoints: out[ENDPOINT_TYPE] });
    if (!r.ok) throw new Error(r.errors.join('; '));
    const chain = r.value.listeners.get('virtualInbound')?.filterChains.find((f) => f.match.destinationPort === port && f.handler.kind === 'http');
    return chain?.httpFilters?.find((f) => f.name === 'envoy.filters.http.jwt_authn');
  }

  function caseYaml(rules: string, selector = 'app: productpage'): string {
    return `
proxy:
  id: sidecar~10.1.0.20~productpage-v1-abc.default~default.svc.cluster.local
  labels: {app: productpage, version: v1}
services:
- host: productpage.default.svc.cluster.local
  ports:
  - {name: http, port: 9080, protocol: HTTP}
  workloads:
  - address: 10.1.0.20
    serviceAccount: bookinfo-productpage
configs:
- apiVersion: security.istio.io/v1
  kind: RequestAuthentication
  metadata: {name: jwt, namespace: default}
  spec:
    selector:
      matchLabels: {${selector}}
    jwtRules:
${rules}
`;
  }

  it('a jwksUri rule: valid token passes with outputs, forged and expired get 401, no token passes', async () => {
    const { uri, path } = jwksUri(k1);
    const stage = inboundStage(
      caseYaml(`    - issuer: ${ISS}
      audiences: [bookinfo]
      jwksUri: ${uri}
      fromHeaders: [{name: x-token, prefix: 'Bearer '}]
      outputPayloadToHeader: x-jwt-payload
      outputClaimToHeaders: [{header: x-jwt-sub, claim: sub}]`),
      9080,
    );
    expect(stage).toBeDefined();
    const s = stage as HttpFilterStage;
    const c = ctx([['x-token', `Bearer ${await sign(k1, {})}`]]);
    expect(await run(s, c)).toBeUndefined();
    expect(c.state.get(JWT_STATE.principal)).toBe(`${ISS}/alice`);
    expect(c.req.headers.get('x-jwt-sub')).toBe('alice');
    expect(c.req.headers.has('x-jwt-payload')).toBe(true);
    expect(c.req.headers.has('x-token')).toBe(false);
    expect((await run(s, ctx([['x-token', `Bearer ${await sign(evil, {})}`]])))?.details).toBe('jwt_authn_access_denied{Jwt_verification_fails}');
    expect((await run(s, ctx([['x-token', `Bearer ${await sign(k1, {}, { exp: 1000 })}`]])))?.body).toBe('Jwt is expired');
    expect(await run(s, ctx())).toBeUndefined();
    expect(hits.get(path)).toBe(1);
  });

  it('inline jwks and two issuers: either issuer\'s token passes, a third issuer\'s is refused', async () => {
    const jwks1 = JSON.stringify({ keys: [k1.jwk] });
    const jwks3 = JSON.stringify({ keys: [k3.jwk] });
    const stage = inboundStage(
      caseYaml(`    - issuer: ${ISS}
      jwks: '${jwks1}'
    - issuer: https://other.example.com
      jwks: '${jwks3}'`),
      9080,
    ) as HttpFilterStage;
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k1, {})}`]]))).toBeUndefined();
    expect(await run(stage, ctx([['authorization', `Bearer ${await sign(k3, { iss: 'https://other.example.com' })}`]]))).toBeUndefined();
    expect((await run(stage, ctx([['authorization', `Bearer ${await sign(k1, { iss: 'https://x.example.com' })}`]])))?.status).toBe(401);
  });

  it('a policy that does not select the workload adds no stage', () => {
    expect(inboundStage(caseYaml(`    - issuer: ${ISS}\n      jwksUri: https://keys.example.com/jwks`, 'app: reviews'), 9080)).toBeUndefined();
  });
});

describe('through an HTTP/2 listener', () => {
  const clock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
  let lm: ListenerManager | undefined;
  let clusters: ClusterManager | undefined;
  let up: http.Server | undefined;
  let port = 0;

  beforeAll(async () => {
    // The upstream answers with the request headers it received, to see what the stage changed.
    up = http.createServer((q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(q.headers)));
    await new Promise<void>((r) => up?.listen(0, '127.0.0.1', () => r()));
    const upPort = (up.address() as { port: number }).port;
    const jwt = istioConfig({ issuer: ISS, ...inline(k1), forwardPayloadHeader: 'x-jwt-payload', payloadInMetadata: 'payload' });
    const r = compileConfig({
      listeners: [
        {
          name: 'in',
          address: { socketAddress: { address: '127.0.0.1', portValue: 1 } },
          filterChains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typedConfig: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    statPrefix: 'in',
                    routeConfig: { name: 'r', virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] },
                    httpFilters: [
                      { name: 'envoy.filters.http.jwt_authn', typedConfig: jwt },
                      { name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      routes: [],
      clusters: [{ name: 'up', type: 'STATIC', connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: 'up', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: upPort } } } }] }] } }],
      endpoints: [],
    });
    if (!r.ok) throw new Error(r.errors.join('; '));
    clusters = new ClusterManager(clock);
    clusters.apply(r.value);
    lm = new ListenerManager({ clusters, clock, bind: () => ({ host: '127.0.0.1', port: 0 }) });
    await lm.apply(r.value);
    port = lm.ports().get('in') ?? 0;
  });

  afterAll(async () => {
    await lm?.close();
    clusters?.close();
    up?.close();
  });

  function h2get(headers: Record<string, string>): Promise<{ status: number; body: string; headers: http2.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const s = http2.connect(`http://127.0.0.1:${port}`);
      s.on('error', reject);
      const q = s.request({ ':path': '/productpage', ':authority': 'productpage:9080', ...headers });
      let body = '';
      let head: http2.IncomingHttpHeaders = {};
      q.on('response', (h) => (head = h));
      q.on('data', (c: Buffer) => (body += c.toString()));
      q.on('end', () => {
        s.close();
        resolve({ status: Number(head[':status']), body, headers: head });
      });
      q.on('error', reject);
      q.end();
    });
  }

  it('routes a request with a valid token (token removed, payload header added), answers 401 to a forged one, passes one without a token', async () => {
    const token = await sign(k1, {});
    const ok = await h2get({ authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    const seen = JSON.parse(ok.body) as Record<string, string>;
    expect(seen.authorization).toBeUndefined();
    expect(seen['x-jwt-payload']).toBe(token.split('.')[1]);
    const bad = await h2get({ authorization: `Bearer ${await sign(evil, {})}` });
    expect(bad.status).toBe(401);
    expect(bad.body).toBe('Jwt verification fails');
    expect(bad.headers['www-authenticate']).toContain('error="invalid_token"');
    expect((await h2get({})).status).toBe(200);
  });
});
