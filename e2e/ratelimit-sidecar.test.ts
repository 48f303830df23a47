/**
 * Rate limits through real sidecars: pilot translates a RateLimit into the inbound filter of the
 * reviews v1 sidecar, productpage's sidecar sends to it. LOCAL: the reviews sidecar's own token
 * buckets answer 429 with the draft-03 headers once a user's burst is spent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReviewsMesh, viaProxy, type ProxiedResponse, type ReviewsMesh } from './sidecar-support.js';
import { until } from './support.js';

const URL_ = 'http://reviews.default.svc.cluster.local:9080';
const LIMIT = 5;

const CONFIG = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1}
---
apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: reviews-local, namespace: default}
spec:
  selector:
    matchLabels: {app: reviews, version: v1}
  response:
    rateLimitHeaders: DRAFT_VERSION_03
    headers: {x-meshwork-ratelimited: 'true'}
  rules:
  - name: per-user
    match:
    - paths: [/api/*]
    descriptors:
    - requestHeader: {name: x-user}
    limit: {requestsPerUnit: ${LIMIT}, unit: MINUTE}
`;

let mesh: ReviewsMesh;
const get = (path: string, user?: string): Promise<ProxiedResponse> => viaProxy(mesh.productpage, `${URL_}${path}`, { headers: user ? { 'x-user': user } : {} });

beforeAll(async () => {
  mesh = await startReviewsMesh('ratelimit-sidecar', CONFIG);
  // The limit is in force once a probe user is refused (at most LIMIT + 1 requests after the config lands).
  await until(async () => (await get('/api/probe', 'probe')).status === 429, 'the RateLimit to reach the reviews sidecar');
}, 90_000);

afterAll(async () => {
  await mesh?.stop();
}, 30_000);

describe('LOCAL RateLimit in the reviews sidecar', () => {
  it('allows the burst per user, then 429 with x-ratelimit-* and the configured header; other users and uncovered requests pass', async () => {
    const statuses: number[] = [];
    let refused: ProxiedResponse | undefined;
    for (let i = 0; i < LIMIT + 5; i++) {
      const r = await get('/api/items', 'alice');
      statuses.push(r.status);
      if (r.status === 429) refused = r;
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.slice(LIMIT).every((s) => s === 429)).toBe(true);
    expect(refused?.body).toBe('local_rate_limited');
    expect(refused?.headers['x-meshwork-ratelimited']).toBe('true');
    expect(refused?.headers['x-ratelimit-limit']).toBe(`${LIMIT}, ${LIMIT};w=60`);
    expect(refused?.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(refused?.headers['x-ratelimit-reset'])).toBeGreaterThan(0);
    // Another user has a bucket of their own; requests without the header or off /api are not counted.
    expect((await get('/api/items', 'bob')).status).toBe(200);
    for (let i = 0; i < LIMIT + 2; i++) {
      expect((await get('/api/items')).status).toBe(200);
      expect((await get('/other', 'alice')).status).toBe(200);
    }
  });

  it('follows config changes: a higher limit gives a new bucket shape (fresh budget), removing the RateLimit removes the filter', async () => {
    expect((await get('/api/items', 'alice')).status).toBe(429);
    mesh.write(CONFIG.replace(`requestsPerUnit: ${LIMIT}`, `requestsPerUnit: ${LIMIT * 4}`));
    await until(async () => (await get('/api/items', 'alice')).status === 200, 'the raised limit to reach the sidecar');
    mesh.write(CONFIG.split('---\napiVersion: meshwork.io')[0]);
    await until(async () => {
      for (let i = 0; i < LIMIT * 4 + 1; i++) if ((await get('/api/items', 'frank')).status !== 200) return false;
      return true;
    }, 'the RateLimit removal to reach the sidecar');
  });
});
