/**
 * Request authentication and authorization end to end (issue 6, "Done when"): pilot translates a
 * RequestAuthentication (JWKS from a local HTTP server) and AuthorizationPolicies into the reviews
 * sidecars' inbound filters; requests go productpage sidecar → reviews sidecar → app. A valid JWT
 * authenticates, a forged one gets 401, a request without a token passes authentication and is
 * then judged by the `requestPrincipals` policy, and a DENY on a claim wins over the ALLOW.
 */
import * as http from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startReviewsMesh, viaProxy, type ReviewsMesh } from './sidecar-support.js';
import { until } from './support.js';

const ISSUER = 'https://issuer.meshwork.test';
let mesh: ReviewsMesh;
let jwks: http.Server;
let jwksHits = 0;
let good: CryptoKey;
let forger: CryptoKey;

function token(key: CryptoKey, claims: Record<string, unknown>, kid = 'k1'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).setIssuer(ISSUER).setAudience('reviews').setIssuedAt().setExpirationTime('10m').sign(key);
}

const REVIEWS = 'http://reviews.default.svc.cluster.local:9080/reviews/1';

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  good = pair.privateKey;
  forger = (await generateKeyPair('RS256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwks = http.createServer((_req, res) => {
    jwksHits++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  const jwksUri = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks.json`;
  // Only reviews v1 serves (the route pins it), so every answer comes from the policed workload.
  mesh = await startReviewsMesh(
    'sidecar-jwt',
    `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http: [{route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: reviews-jwt, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  jwtRules:
  - issuer: ${ISSUER}
    jwksUri: ${jwksUri}
    audiences: [reviews]
    outputClaimToHeaders: [{header: x-jwt-group, claim: group}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-readers, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from: [{source: {requestPrincipals: ["${ISSUER}/alice", "${ISSUER}/mallory"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-no-interns, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules:
  - when: [{key: "request.auth.claims[group]", values: [interns]}]
`,
  );
  // Wait until the reviews sidecar enforces the policies (the first push may predate them).
  await until(async () => (await viaProxy(mesh.productpage, REVIEWS)).status === 403, 'the reviews sidecar to enforce the ALLOW policy');
}, 90_000);

afterAll(async () => {
  await mesh?.stop();
  jwks?.close();
});

it('a valid JWT authenticates and its principal is allowed', async () => {
  const r = await viaProxy(mesh.productpage, REVIEWS, { headers: { authorization: `Bearer ${await token(good, { sub: 'alice', group: 'staff' })}` } });
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body)).toMatchObject({ version: 'v1' });
  expect(jwksHits).toBeGreaterThan(0);
});

it('a forged JWT (signed by another key) gets 401 from the authentication filter', async () => {
  const r = await viaProxy(mesh.productpage, REVIEWS, { headers: { authorization: `Bearer ${await token(forger, { sub: 'alice' })}` } });
  expect(r.status).toBe(401);
  expect(r.body).toContain('Jwt verification fails');
});

it('an expired or wrong-audience JWT gets 401 too', async () => {
  const wrongAud = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISSUER).setAudience('ratings').setExpirationTime('10m').sign(good);
  expect((await viaProxy(mesh.productpage, REVIEWS, { headers: { authorization: `Bearer ${wrongAud}` } })).status).toBe(401);
  const expired = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISSUER).setAudience('reviews').setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(good);
  expect((await viaProxy(mesh.productpage, REVIEWS, { headers: { authorization: `Bearer ${expired}` } })).status).toBe(401);
});

it('no token passes authentication but the requestPrincipals ALLOW policy denies it (403 RBAC)', async () => {
  const r = await viaProxy(mesh.productpage, REVIEWS);
  expect(r.status).toBe(403);
  expect(r.body).toBe('RBAC: access denied');
});

it('a valid token for a principal the policy does not list is denied', async () => {
  const r = await viaProxy(mesh.productpage, REVIEWS, { headers: { authorization: `Bearer ${await token(good, { sub: 'bob' })}` } });
  expect(r.status).toBe(403);
});

it('a DENY on a claim wins over the ALLOW that matches the principal', async () => {
  const r = await viaProxy(mesh.productpage, REVIEWS, { headers: { authorization: `Bearer ${await token(good, { sub: 'mallory', group: 'interns' })}` } });
  expect(r.status).toBe(403);
  const ok = await viaProxy(mesh.productpage, REVIEWS, { headers: { authorization: `Bearer ${await token(good, { sub: 'mallory', group: 'staff' })}` } });
  expect(ok.status).toBe(200);
});
