import { describe, expect, test } from 'vitest';
import type { SpanRecord } from '@meshwork/telemetry';
import { parseMinDuration, serviceOf, TraceStore } from './trace-store.js';

const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0');
const tid = (n: number): string => hex(n, 32);
const sid = (n: number): string => hex(n, 16);

function span(trace: number, id: number, over: Partial<SpanRecord> = {}): SpanRecord {
  return {
    traceId: tid(trace),
    spanId: sid(id),
    name: 'reviews:9080/*',
    kind: 'server',
    startUs: 1_000_000 * trace + id,
    durationUs: 1000,
    error: false,
    attributes: { 'istio.canonical_service': 'reviews', 'istio.namespace': 'default', 'http.status_code': 200 },
    ...over,
  };
}

describe('TraceStore', () => {
  test('groups spans by trace id and orders them by start; root is the span without a held parent', () => {
    const store = new TraceStore();
    store.add([span(1, 2, { parentSpanId: sid(1), startUs: 1_000_100, kind: 'server' })], { namespace: 'default', workload: 'reviews-v1' });
    store.add([span(1, 1, { startUs: 1_000_000, durationUs: 5_000, kind: 'client', attributes: { 'istio.canonical_service': 'productpage', 'istio.namespace': 'default' } })]);
    const t = store.get(tid(1));
    expect(t?.spans.map((s) => s.spanId)).toEqual([sid(1), sid(2)]);
    expect(t?.rootService).toBe('productpage.default');
    expect(t?.services).toEqual(['productpage.default', 'reviews.default']);
    expect(t?.durationUs).toBe(5_000);
    expect(store.get(tid(2))).toBeUndefined();
  });

  test('service name: canonical service and namespace, else the subject workload', () => {
    expect(serviceOf(span(1, 1))).toBe('reviews.default');
    expect(serviceOf(span(1, 1, { attributes: {} }), { namespace: 'bookinfo', workload: 'ratings-v1' })).toBe('ratings-v1.bookinfo');
  });

  test('the least recently updated trace is evicted past maxTraces, and counted', () => {
    const store = new TraceStore({ maxTraces: 3 });
    for (const t of [1, 2, 3]) store.add([span(t, 1)]);
    store.add([span(1, 2)]); // trace 1 is now the most recently updated
    store.add([span(4, 1)]);
    expect(store.get(tid(2))).toBeUndefined();
    expect(store.get(tid(1))?.spanCount).toBe(2);
    expect(store.stats()).toMatchObject({ traces: 3, spans: 4, evictedTraces: 1 });
  });

  test('after many touches (queue compaction) the held traces are exactly the most recently updated ones', () => {
    const store = new TraceStore({ maxTraces: 100, maxSpansPerTrace: 100_000 });
    // 5,000 traces, each touched again later in a shuffled order
    for (let t = 1; t <= 5000; t++) store.add([span(t, 1)]);
    const order: number[] = [];
    for (let k = 0; k < 5000; k++) order.push(((k * 7919) % 5000) + 1);
    let id = 2;
    for (const t of order) store.add([span(t, id++)]);
    const want = order.slice(-100).sort((a, b) => a - b);
    const held = store.search({ limit: 1000 }).map((x) => Number.parseInt(x.traceId, 16)).sort((a, b) => a - b);
    expect(held).toEqual(want);
    expect(store.stats().traces).toBe(100);
  });

  test('the total span cap evicts whole traces, oldest first', () => {
    const store = new TraceStore({ maxSpans: 5 });
    store.add([span(1, 1), span(1, 2), span(1, 3)]);
    store.add([span(2, 1), span(2, 2)]);
    store.add([span(3, 1)]);
    expect(store.get(tid(1))).toBeUndefined();
    expect(store.stats()).toMatchObject({ traces: 2, spans: 3, evictedTraces: 1 });
  });

  test('spans past maxSpansPerTrace are dropped and counted on the trace; duplicates kept once', () => {
    const store = new TraceStore({ maxSpansPerTrace: 2 });
    const accepted = store.add([span(1, 1), span(1, 1), span(1, 2), span(1, 3)]);
    expect(accepted.map((s) => s.spanId)).toEqual([sid(1), sid(2)]);
    expect(store.get(tid(1))).toMatchObject({ spanCount: 2, droppedSpans: 1 });
    expect(store.stats()).toMatchObject({ received: 4, droppedSpans: 1 });
  });

  test('a trace idle past maxAgeMs expires', () => {
    let now = 0;
    const store = new TraceStore({ maxAgeMs: 1000, now: () => now });
    store.add([span(1, 1)]);
    now = 600;
    store.add([span(2, 1)]);
    now = 1100;
    expect(store.search().map((s) => s.traceId)).toEqual([tid(2)]);
    expect(store.stats().expiredTraces).toBe(1);
  });

  test('malformed spans are dropped', () => {
    const store = new TraceStore();
    store.add([span(1, 1, { traceId: 'xyz' }), { nope: 1 } as unknown as SpanRecord, span(1, 1, { durationUs: Number.NaN })]);
    expect(store.stats()).toMatchObject({ traces: 0, droppedSpans: 3 });
  });

  describe('search', () => {
    const store = new TraceStore();
    store.add([span(1, 1, { durationUs: 10_000 })]);
    store.add([span(2, 1, { error: true, attributes: { 'istio.canonical_service': 'ratings', 'istio.namespace': 'default', 'http.status_code': 503 } })]);
    store.add([span(3, 1, { durationUs: 500, attributes: { 'istio.canonical_service': 'reviews', 'istio.namespace': 'default', 'http.status_code': 200, 'guid:x-request-id': 'abc' } })]);
    const ids = (q: Parameters<TraceStore['search']>[0]) => store.search(q).map((t) => Number.parseInt(t.traceId, 16));

    test.each([
      ['everything, newest first', {}, [3, 2, 1]],
      ['by canonical service', { service: 'reviews' }, [3, 1]],
      ['by full service name', { service: 'ratings.default' }, [2]],
      ['unknown service', { service: 'details' }, []],
      ['errors', { error: true }, [2]],
      ['no errors', { error: false }, [3, 1]],
      ['min duration', { minDurationUs: 2_000 }, [1]],
      ['tag with value', { tags: [{ key: 'http.status_code', value: '503' }] }, [2]],
      ['tag present', { tags: [{ key: 'guid:x-request-id' }] }, [3]],
      ['two criteria', { service: 'reviews', minDurationUs: 1000 }, [1]],
      ['limit', { limit: 2 }, [3, 2]],
    ] as const)('%s', (_name, q, want) => {
      expect(ids(q)).toEqual(want);
    });
  });

  test.each([
    ['250ms', 250_000],
    ['1.5s', 1_500_000],
    ['1200', 1200],
    ['abc', undefined],
  ])('minDuration %s → %s µs', (text, us) => {
    expect(parseMinDuration(text)).toBe(us);
  });
});
