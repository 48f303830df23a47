import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '@meshwork/bus/testing';
import { CounterBackendError } from './errors.js';
import { parseRedisUrl, RedisCounterStore } from './redis-counters.js';
import { startRedisServer, type RedisServerHandle } from './testing.js';

describe('parseRedisUrl', () => {
  test('host, port, password, db', () => {
    expect(parseRedisUrl('redis://:s%40cret@10.0.0.1:6380/2')).toEqual({ host: '10.0.0.1', port: 6380, password: 's@cret', db: 2 });
    expect(parseRedisUrl('redis://localhost')).toEqual({ host: 'localhost', port: 6379, db: 0 });
    expect(() => parseRedisUrl('http://x')).toThrow(CounterBackendError);
  });
});

describe('RedisCounterStore against a real redis-server', () => {
  let redis: RedisServerHandle;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  test('two stores (two mixer replicas) adding concurrently see exact shared totals, and keys expire', async () => {
    const a = new RedisCounterStore({ url: redis.url, commandTimeoutMs: 5000 });
    const b = new RedisCounterStore({ url: redis.url, commandTimeoutMs: 5000 });
    try {
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).incr('k1', 1, 60)));
      expect(results.slice().sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(await a.incr('k1', 5, 60)).toBe(205);
      const ttl = await a.command(['TTL', 'k1']);
      expect(typeof ttl === 'number' && ttl > 0 && ttl <= 60).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('Redis down: calls fail with CounterBackendError; after a restart they count again', async () => {
    const s = new RedisCounterStore({ url: redis.url, commandTimeoutMs: 2000, retryAfterMs: 0 });
    try {
      expect(await s.incr('k2', 1, 60)).toBe(1);
      await redis.stop();
      await expect(s.incr('k2', 1, 60)).rejects.toBeInstanceOf(CounterBackendError);
      await expect(s.incr('k2', 1, 60)).rejects.toBeInstanceOf(CounterBackendError);
      await redis.restart();
      // The client reconnects in the background and fails calls at once until it has (no offline
      // queue, by design): calls fail with CounterBackendError, never hang, until it is back.
      let first: number | undefined;
      for (const until = Date.now() + 10_000; first === undefined && Date.now() < until; ) {
        try {
          first = await s.incr('k2', 1, 60);
        } catch (err) {
          expect(err).toBeInstanceOf(CounterBackendError);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      // No persistence: the restarted server starts empty, and failed calls counted nothing.
      expect(first).toBe(1);
    } finally {
      await s.close();
    }
  });

  test('nothing listening: the call fails rather than hanging', async () => {
    const s = new RedisCounterStore({ url: `redis://127.0.0.1:${await freePort()}` });
    await expect(s.incr('k', 1, 1)).rejects.toBeInstanceOf(CounterBackendError);
    await s.close();
  });
});
