import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TraceExporters } from './export.js';
import type { StoredSpan } from './trace-store.js';

/** A tiny real collector: records every POST body by path, answers 200 (or 500 when told). */
let server: Server;
let base = '';
const received: { path: string; contentType: string; body: string }[] = [];
let failNext = false;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = failNext ? 500 : req.url === '/api/v2/spans' ? 202 : 200;
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const spans: StoredSpan[] = [
  {
    traceId: TRACE,
    spanId: 'b7ad6b7169203331',
    name: 'reviews:9080/*',
    kind: 'client',
    startUs: 1_764_115_200_000_000,
    durationUs: 12_345,
    error: false,
    attributes: { 'http.status_code': 200, 'istio.canonical_service': 'productpage', component: 'proxy' },
    service: 'productpage.default',
  },
  {
    traceId: TRACE,
    spanId: '00f067aa0ba902b7',
    parentSpanId: 'b7ad6b7169203331',
    name: 'reviews:9080/*',
    kind: 'server',
    startUs: 1_764_115_200_001_000,
    durationUs: 10_000,
    error: true,
    attributes: { 'http.status_code': 503, error: true },
    service: 'reviews.default',
  },
];

describe('TraceExporters against a real HTTP collector', () => {
  test('Zipkin v2 JSON: ids, parent, kind, µs times, service per span, tags as strings', async () => {
    received.length = 0;
    const ex = new TraceExporters({ zipkinUrl: `${base}/api/v2/spans`, flushIntervalMs: 20 });
    ex.offer(spans);
    await ex.close();
    const posts = received.filter((r) => r.path === '/api/v2/spans');
    expect(posts).toHaveLength(1);
    expect(posts[0].contentType).toMatch(/application\/json/);
    const body = JSON.parse(posts[0].body) as Record<string, unknown>[];
    const byId = Object.fromEntries(body.map((s) => [s.id, s]));
    expect(byId.b7ad6b7169203331).toMatchObject({ traceId: TRACE, name: 'reviews:9080/*', kind: 'CLIENT', timestamp: 1_764_115_200_000_000, duration: 12_345, localEndpoint: { serviceName: 'productpage.default' } });
    expect((byId.b7ad6b7169203331.tags as Record<string, string>)['http.status_code']).toBe('200');
    expect(byId['00f067aa0ba902b7']).toMatchObject({ parentId: 'b7ad6b7169203331', kind: 'SERVER', localEndpoint: { serviceName: 'reviews.default' } });
    expect((byId['00f067aa0ba902b7'].tags as Record<string, string>)['otel.status_code']).toBe('ERROR');
    expect(ex.counts()).toEqual({ zipkin: { exported: 2, failed: 0, dropped: 0 } });
  });

  test('OTLP/HTTP JSON: one resourceSpans per service with service.name, times in ns', async () => {
    received.length = 0;
    const ex = new TraceExporters({ otlpUrl: `${base}/v1/traces`, flushIntervalMs: 20 });
    ex.offer(spans);
    await ex.close();
    const posts = received.filter((r) => r.path === '/v1/traces');
    expect(posts).toHaveLength(1);
    const body = JSON.parse(posts[0].body) as { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: Record<string, unknown>[] }[] }[] };
    const services = body.resourceSpans.map((r) => r.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue).sort();
    expect(services).toEqual(['productpage.default', 'reviews.default']);
    const all = body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    const server = all.find((s) => s.kind === 2);
    expect(server).toBeDefined();
    // OTLP JSON ids are hex strings; times are nanoseconds.
    expect(server).toMatchObject({ traceId: TRACE, spanId: '00f067aa0ba902b7', parentSpanId: 'b7ad6b7169203331', status: { code: 2 } });
    expect(String(server?.startTimeUnixNano)).toBe('1764115200001000000');
    expect(String(server?.endTimeUnixNano)).toBe('1764115200011000000');
    expect(ex.counts().otlp.exported).toBe(2);
  });

  test('a collector that fails: the spans are counted as failed, not retried', async () => {
    received.length = 0;
    failNext = true;
    const ex = new TraceExporters({ zipkinUrl: `${base}/api/v2/spans`, flushIntervalMs: 20, onError: () => undefined });
    ex.offer(spans);
    await ex.close();
    failNext = false;
    expect(received).toHaveLength(1);
    expect(ex.counts().zipkin).toEqual({ exported: 0, failed: 2, dropped: 0 });
  });

  test('a full export buffer drops and counts instead of waiting', async () => {
    const ex = new TraceExporters({ zipkinUrl: `${base}/api/v2/spans`, maxBuffered: 1, maxBatch: 10, flushIntervalMs: 10_000 });
    ex.offer(spans);
    expect(ex.counts().zipkin.dropped).toBe(1);
    await ex.close();
  });
});
