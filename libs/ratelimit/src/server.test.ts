import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { validateText } from '@meshwork/api';
import { MemoryCounterStore } from './counters.js';
import { StaticLimits } from './limits.js';
import { RedisCounterStore } from './redis-counters.js';
import { startRateLimitServer, type RateLimitServer } from './server.js';
import { RateLimitService } from './service.js';
import { startRedisServer, TestRlsClient, type RedisServerHandle } from './testing.js';

const YAML = `
apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: api, namespace: shop}
spec:
  mode: GLOBAL
  rules:
  - name: all
    limit: {requestsPerUnit: 10, unit: HOUR}
`;
const limits = new StaticLimits(validateText(YAML, 't.yaml').resources);
const req = { domain: 'meshwork', descriptors: [{ entries: [{ key: 'rule', value: 'shop/api/all' }] }], hitsAddend: 0 };

describe('RateLimitService over gRPC', () => {
  let redis: RedisServerHandle;
  const servers: RateLimitServer[] = [];
  const stores: RedisCounterStore[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const s of stores) await s.close();
    await redis?.stop();
  });

  test('answers ShouldRateLimit with statuses (memory counters)', async () => {
    const srv = await startRateLimitServer({ service: new RateLimitService({ limits, counters: new MemoryCounterStore() }), port: 0 });
    servers.push(srv);
    const c = new TestRlsClient(`127.0.0.1:${srv.port}`);
    const r = await c.shouldRateLimit(req);
    expect(r.overallCode).toBe('OK');
    expect(r.statuses[0]).toMatchObject({ code: 'OK', currentLimit: { name: 'shop/api/all', requestsPerUnit: 10, unit: 'HOUR' }, limitRemaining: 9 });
    expect(r.statuses[0].durationUntilResetMs).toBeGreaterThan(0);
    c.close();
  });

  test('two servers sharing Redis: 25 calls spread over both allow exactly 10 in the window', async () => {
    const mk = async () => {
      const store = new RedisCounterStore({ url: redis.url, commandTimeoutMs: 5000 });
      stores.push(store);
      const srv = await startRateLimitServer({ service: new RateLimitService({ limits, counters: store, keyPrefix: 'two-servers' }), port: 0 });
      servers.push(srv);
      return new TestRlsClient(`127.0.0.1:${srv.port}`);
    };
    const [a, b] = [await mk(), await mk()];
    const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => (i % 2 ? a : b).shouldRateLimit(req)));
    expect(answers.filter((r) => r.overallCode === 'OK')).toHaveLength(10);
    expect(answers.filter((r) => r.overallCode === 'OVER_LIMIT')).toHaveLength(15);
    a.close();
    b.close();
  });

  test('Redis down: the call fails with UNAVAILABLE (the proxy applies failureMode)', async () => {
    const store = new RedisCounterStore({ url: redis.url, commandTimeoutMs: 1000, retryAfterMs: 0 });
    stores.push(store);
    const srv = await startRateLimitServer({ service: new RateLimitService({ limits, counters: store }), port: 0 });
    servers.push(srv);
    const c = new TestRlsClient(`127.0.0.1:${srv.port}`);
    await redis.stop();
    await expect(c.shouldRateLimit(req)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    c.close();
  });

  test('a taken port is one clear error', async () => {
    const srv = await startRateLimitServer({ service: new RateLimitService({ limits, counters: new MemoryCounterStore() }), port: 0 });
    servers.push(srv);
    await expect(startRateLimitServer({ service: new RateLimitService({ limits, counters: new MemoryCounterStore() }), port: srv.port })).rejects.toThrow(/address already in use|cannot listen/);
  });
});
