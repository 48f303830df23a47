import Fastify from 'fastify';
import { describe, expect, test } from 'vitest';
import type { RequestRecord } from '@meshwork/telemetry';
import { parseLogQuery, registerLogRoutes } from './extension.js';
import { codeMatcher, RecentLogs } from './recent-logs.js';

function rec(i: number, over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    reporter: 'destination',
    protocol: 'http',
    startTime: Date.UTC(2026, 10, 26) + i,
    source: { workload: 'productpage-v1', namespace: 'default' },
    destination: { workload: 'reviews-v1', namespace: 'default' },
    destinationService: { host: 'reviews.default.svc.cluster.local' },
    method: 'GET',
    path: `/reviews/${i}`,
    responseCode: 200,
    responseFlags: '-',
    securityPolicy: 'mutual_tls',
    durationMs: 3,
    bytesReceived: 0,
    bytesSent: 10,
    ...over,
  };
}

describe('RecentLogs', () => {
  test('keeps the newest records, newest first, overwriting the oldest', () => {
    const logs = new RecentLogs(3);
    for (let i = 1; i <= 5; i++) logs.add(rec(i));
    expect(logs.query().map((e) => e.path)).toEqual(['/reviews/5', '/reviews/4', '/reviews/3']);
    expect(logs.size).toBe(3);
    expect(logs.added).toBe(5);
  });

  test('filters: logging workload, reporter, codes, limit; entries use Istio access-log keys', () => {
    const logs = new RecentLogs(100);
    logs.addAll([
      rec(1),
      rec(2, { responseCode: 503, responseFlags: 'UH' }),
      rec(3, { reporter: 'source', responseCode: 503 }),
      rec(4, { responseCode: 404 }),
      rec(5, { destination: { workload: 'reviews-v2', namespace: 'default' }, responseCode: 500, traceId: '0af7651916cd43dd8448eb211c80319c' }),
    ]);
    const paths = (q: Parameters<RecentLogs['query']>[0]) => logs.query(q).map((e) => e.path);
    expect(paths({ workload: 'reviews-v1' })).toEqual(['/reviews/4', '/reviews/2', '/reviews/1']);
    expect(paths({ workload: 'productpage-v1' })).toEqual(['/reviews/3']);
    expect(paths({ codes: ['5xx'] })).toEqual(['/reviews/5', '/reviews/3', '/reviews/2']);
    expect(paths({ codes: ['503'], reporter: 'destination' })).toEqual(['/reviews/2']);
    expect(paths({ codes: ['404', '500'] })).toEqual(['/reviews/5', '/reviews/4']);
    expect(paths({ limit: 2 })).toEqual(['/reviews/5', '/reviews/4']);
    const [e] = logs.query({ workload: 'reviews-v2' });
    expect(e).toMatchObject({ response_code: 500, method: 'GET', reporter: 'destination', workload: 'reviews-v2', source_workload: 'productpage-v1', destination_service: 'reviews.default.svc.cluster.local', trace_id: '0af7651916cd43dd8448eb211c80319c' });
    expect(e.start_time).toBe('2026-11-26T00:00:00.005Z');
  });

  test.each([
    [['5xx'], 503, true],
    [['5xx'], 404, false],
    [['0'], 0, true],
    [['429', '5xx'], 429, true],
  ])('codes %j match %s: %s', (codes, code, want) => {
    expect(codeMatcher(codes)(code)).toBe(want);
  });
});

describe('GET /api/logs', () => {
  test('query parameters and errors', async () => {
    const logs = new RecentLogs(10);
    logs.addAll([rec(1), rec(2, { responseCode: 503 })]);
    const app = Fastify();
    registerLogRoutes(app, logs);
    const r = await app.inject('/api/logs?workload=reviews-v1&code=5xx&limit=10');
    expect(r.statusCode).toBe(200);
    expect((r.json() as { logs: { path: string }[] }).logs.map((l) => l.path)).toEqual(['/reviews/2']);
    expect((await app.inject('/api/logs?code=abc')).statusCode).toBe(400);
    expect((await app.inject('/api/logs?reporter=both')).statusCode).toBe(400);
    expect(parseLogQuery({ code: ['503,504', '4xx'] })).toEqual({ ok: true, value: { codes: ['503', '504', '4xx'] } });
    await app.close();
  });
});
