/**
 * Global rate limits against the real mixer binary: the RateLimitService on its rate-limit port,
 * limits from a RateLimit resource in a watched config directory, counters in memory (one mixer)
 * or in a real redis-server shared by two mixers. Calls are made with a plain gRPC client (what a
 * sidecar's filter sends); e2e/ratelimit-sidecar.test.ts covers the path through sidecars.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { parse } from 'yaml';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { KvConfigStore } from '@meshwork/registry';
import { startRedisServer, TestRlsClient, type RedisServerHandle } from '@meshwork/ratelimit/testing';
import type { RlsRequest } from '@meshwork/ratelimit';
import { metricSum, scrape, startMixer, type RunningMixer } from './mixer-support.js';

const LIMIT = 20;
const CONFIG = `apiVersion: meshwork.io/v1alpha1
kind: RateLimit
metadata: {name: api, namespace: shop}
spec:
  mode: GLOBAL
  rules:
  - name: per-user
    descriptors:
    - requestHeader: {name: x-user}
    limit: {requestsPerUnit: ${LIMIT}, unit: MINUTE}
`;

const call = (user: string): RlsRequest => ({ domain: 'meshwork', descriptors: [{ entries: [{ key: 'rule', value: 'shop/api/per-user' }, { key: 'x-user', value: user }] }], hitsAddend: 0 });

/** The rate-limit port a mixer logged. */
function rlsPort(m: RunningMixer): number {
  const line = m.logs().split('\n').find((l) => l.includes('"rate-limit service listening"'));
  if (!line) throw new Error(`mixer did not start its rate-limit service: ${m.logs()}`);
  return (JSON.parse(line) as { port: number }).port;
}

/** Waits until the current minute has at least `needMs` left, so a burst stays in one window. */
async function roomInWindow(needMs: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 50));
}

describe('mixer RateLimitService (real mixer binaries, real NATS and Redis)', () => {
  let nats: NatsServerHandle;
  let redis: RedisServerHandle;
  let dir: string;
  const mixers: RunningMixer[] = [];
  const clients: TestRlsClient[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    redis = await startRedisServer();
    dir = mkdtempSync(join(tmpdir(), 'rl-e2e-'));
    writeFileSync(join(dir, 'ratelimit.yaml'), CONFIG);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const m of mixers) await m.stop();
    await redis?.stop();
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  async function mixer(extra: string[] = []): Promise<TestRlsClient> {
    const m = await startMixer(nats.url, ['--ratelimit-config-dir', dir, ...extra]);
    mixers.push(m);
    const c = new TestRlsClient(`127.0.0.1:${rlsPort(m)}`);
    clients.push(c);
    return c;
  }

  test('one mixer, memory counters: exactly the limit per user in a window, with limit, remaining and reset', async () => {
    const c = await mixer();
    await roomInWindow(15_000);
    const answers = [];
    for (let i = 0; i < LIMIT + 10; i++) answers.push(await c.shouldRateLimit(call('alice')));
    expect(answers.filter((a) => a.overallCode === 'OK')).toHaveLength(LIMIT);
    expect(answers.slice(LIMIT).every((a) => a.overallCode === 'OVER_LIMIT')).toBe(true);
    expect(answers[0].statuses[0]).toMatchObject({ code: 'OK', currentLimit: { name: 'shop/api/per-user', requestsPerUnit: LIMIT, unit: 'MINUTE' }, limitRemaining: LIMIT - 1 });
    expect(answers[0].statuses[0].durationUntilResetMs).toBeGreaterThan(0);
    expect(answers[0].statuses[0].durationUntilResetMs).toBeLessThanOrEqual(60_000);
    // Another user has a bucket of their own.
    expect((await c.shouldRateLimit(call('bob'))).overallCode).toBe('OK');
    const metrics = await scrape(mixers[0]);
    expect(metricSum(metrics, 'mixer_ratelimit_decisions_total', { rule: 'shop/api/per-user', code: 'OVER_LIMIT' })).toBe(10);
  });

  test('two mixers sharing Redis: the total over both is the limit, not twice the limit', async () => {
    const a = await mixer(['--redis-url', redis.url]);
    const b = await mixer(['--redis-url', redis.url]);
    await roomInWindow(15_000);
    const user = `carol-${Date.now()}`;
    // Concurrent calls alternating between the replicas.
    const answers = await Promise.all(Array.from({ length: 3 * LIMIT }, (_, i) => (i % 2 === 0 ? a : b).shouldRateLimit(call(user))));
    expect(answers.filter((x) => x.overallCode === 'OK')).toHaveLength(LIMIT);
    expect(answers.filter((x) => x.overallCode === 'OVER_LIMIT')).toHaveLength(2 * LIMIT);
    // The totals live in Redis: a replica started now sees the window's count, not a fresh one.
    const c = await mixer(['--redis-url', redis.url]);
    const r = await c.shouldRateLimit(call(user));
    expect(r.overallCode).toBe('OVER_LIMIT');
    expect(r.statuses[0].limitRemaining).toBe(0);
  });

  test('limits from NATS KV mesh-config (no config dir): a RateLimit created after start applies to the next call', async () => {
    const m = await startMixer(nats.url, []);
    mixers.push(m);
    const c = new TestRlsClient(`127.0.0.1:${rlsPort(m)}`);
    clients.push(c);
    // No resource yet: the descriptor has no limit (OK, not counted).
    expect((await c.shouldRateLimit(call('erin'))).statuses[0].currentLimit).toBeUndefined();
    const nc = await connect({ servers: nats.url });
    try {
      const store = await KvConfigStore.open({ nc });
      await store.create(parse(CONFIG.replace('requestsPerUnit: 20', 'requestsPerUnit: 2')));
      await store.close();
    } finally {
      await nc.close();
    }
    let limited = false;
    for (let i = 0; i < 100 && !limited; i++) {
      limited = (await c.shouldRateLimit(call('erin'))).statuses[0].currentLimit?.requestsPerUnit === 2;
      if (!limited) await new Promise((r) => setTimeout(r, 50));
    }
    expect(limited).toBe(true);
  });

  test('Redis down: calls fail UNAVAILABLE (the sidecar applies failureMode); Redis back: counting resumes', async () => {
    const c = await mixer(['--redis-url', redis.url, '--redis-timeout', '300ms']);
    expect((await c.shouldRateLimit(call('dave'))).overallCode).toBe('OK');
    await redis.stop();
    await expect(c.shouldRateLimit(call('dave'))).rejects.toMatchObject({ code: 14 /* UNAVAILABLE */ });
    await redis.restart();
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = await c.shouldRateLimit(call('dave')).then(
        (r) => r.overallCode === 'OK',
        () => false,
      );
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ok).toBe(true);
  });
});
