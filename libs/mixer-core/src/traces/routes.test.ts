import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import type { SpanRecord } from '@meshwork/telemetry';
import { originOf, TraceCollector } from './extension.js';
import { parseTraceQuery, registerTraceRoutes } from './routes.js';
import { TraceStore } from './trace-store.js';

const T1 = '0af7651916cd43dd8448eb211c80319c';
const T2 = '1af7651916cd43dd8448eb211c80319c';
const spanOf = (traceId: string, spanId: string, over: Partial<SpanRecord> = {}): SpanRecord => ({
  traceId,
  spanId,
  name: 'reviews:9080/*',
  kind: 'server',
  startUs: 1_000_000,
  durationUs: 2_000,
  error: false,
  attributes: { 'http.status_code': 200 },
  ...over,
});

async function app() {
  const registry = new Registry();
  const collector = new TraceCollector({ store: new TraceStore(), registry });
  const f = Fastify();
  registerTraceRoutes(f, collector.store);
  await f.ready();
  return { f, collector, registry };
}

describe('trace API', () => {
  test('spans arrive as NATS messages, are searched and fetched', async () => {
    const { f, collector, registry } = await app();
    collector.handle('mesh.spans.default.reviews-v1', JSON.stringify([spanOf(T1, 'b7ad6b7169203331'), spanOf(T1, '00f067aa0ba902b7', { parentSpanId: 'b7ad6b7169203331', startUs: 1_000_500 })]));
    collector.handle('mesh.spans.default.ratings-v1', Buffer.from(JSON.stringify([spanOf(T2, 'aaaaaaaaaaaaaaaa', { error: true, durationUs: 90_000, attributes: { 'http.status_code': 503 } })])));
    collector.handle('mesh.spans.default.ratings-v1', 'not json');

    const all = (await f.inject('/api/traces')).json() as { traces: { traceId: string; services: string[] }[] };
    expect(all.traces.map((t) => t.traceId).sort()).toEqual([T1, T2]);
    expect(all.traces.find((t) => t.traceId === T1)?.services).toEqual(['reviews-v1.default']);

    const q = (await f.inject('/api/traces?service=ratings-v1&error=true&minDuration=50ms&tag=http.status_code:503&limit=5')).json() as { traces: { traceId: string }[] };
    expect(q.traces.map((t) => t.traceId)).toEqual([T2]);
    expect(((await f.inject('/api/traces?tag=http.status_code:503&tag=http.status_code:200')).json() as { traces: unknown[] }).traces).toHaveLength(0);

    const one = await f.inject(`/api/traces/${T1}`);
    expect(one.statusCode).toBe(200);
    expect((one.json() as { spans: { spanId: string }[] }).spans.map((s) => s.spanId)).toEqual(['b7ad6b7169203331', '00f067aa0ba902b7']);
    const zipkin = (await f.inject(`/api/traces/${T1}?format=zipkin`)).json() as Record<string, unknown>[];
    expect(zipkin[1]).toMatchObject({ traceId: T1, id: '00f067aa0ba902b7', parentId: 'b7ad6b7169203331', kind: 'SERVER', localEndpoint: { serviceName: 'reviews-v1.default' }, tags: { 'http.status_code': '200' } });

    expect((await f.inject('/api/traces/ffffffffffffffffffffffffffffffff')).statusCode).toBe(404);
    expect((await f.inject('/api/traces?minDuration=soon')).statusCode).toBe(400);
    expect((await f.inject('/api/traces?error=maybe')).statusCode).toBe(400);
    expect((await f.inject('/api/traces?limit=0')).statusCode).toBe(400);

    const metrics = await registry.metrics();
    expect(metrics).toMatch(/^mixer_spans_received_total 3$/m);
    expect(metrics).toMatch(/^mixer_spans_dropped_total 1$/m);
    expect(metrics).toMatch(/^mixer_traces 2$/m);
    await f.close();
  });

  test('subject tokens give the origin', () => {
    expect(originOf('mesh.spans.bookinfo.reviews-v1')).toEqual({ namespace: 'bookinfo', workload: 'reviews-v1' });
    expect(originOf('mesh.spans')).toEqual({});
  });

  test('query parsing', () => {
    expect(parseTraceQuery({ service: 'a', tag: ['k:v:w', 'x'] })).toEqual({ ok: true, value: { service: 'a', tags: [{ key: 'k', value: 'v:w' }, { key: 'x' }] } });
  });
});

describe('exporter replacement', () => {
  test('export counters keep their totals when the exporters are replaced', async () => {
    const { TraceExporters } = await import('./export.js');
    const registry = new Registry();
    const sent: number[] = [];
    const fake = (name: string) => ({
      name,
      exporter: {
        export: (spans: unknown[], cb: (r: { code: number }) => void) => {
          sent.push(spans.length);
          cb({ code: 0 });
        },
        shutdown: async () => undefined,
      },
    });
    const collector = new TraceCollector({ store: new TraceStore(), registry, exporters: new TraceExporters({ exporters: [fake('zipkin')], flushIntervalMs: 10 }) });
    collector.handle('mesh.spans.default.a', JSON.stringify([spanOf(T1, 'b7ad6b7169203331')]));
    await collector.setExporters(new TraceExporters({ exporters: [fake('zipkin')], flushIntervalMs: 10 }));
    collector.handle('mesh.spans.default.a', JSON.stringify([spanOf(T2, 'b7ad6b7169203332')]));
    await collector.setExporters(undefined);
    expect(sent).toEqual([1, 1]);
    expect(collector.exportCounts()).toEqual({ zipkin: { exported: 2, failed: 0, dropped: 0 } });
    expect(await registry.metrics()).toMatch(/^mixer_spans_exported_total\{target="zipkin",result="success"\} 2$/m);
  });
});
