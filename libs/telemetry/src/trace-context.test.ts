import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { loggingErrorHandler, setGlobalErrorHandler } from '@opentelemetry/core';
import {
  CallbackSpanExporter,
  CallbackSpanProcessor,
  PercentSampler,
  ProxyTracer,
  TRACE_HEADERS,
  createIstioSampler,
  ensureRequestId,
  extractTraceContext,
  injectTraceContext,
  remoteSpanContext,
  type SpanRecord,
} from './trace-context.js';
import { sampleHttpRecord, seededRandom } from './testing.js';

/** A flat `[name, value, …]` header list like the proxy's, with get/set callbacks over it. */
function headers(init: Record<string, string> = {}) {
  const list: string[] = Object.entries(init).flat();
  const get = (name: string) => {
    for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
    return undefined;
  };
  const set = (name: string, value: string) => {
    for (let i = list.length - 2; i >= 0; i -= 2) if (list[i] === name) list.splice(i, 2);
    list.push(name, value);
  };
  return { list, get, set, obj: () => Object.fromEntries(Array.from({ length: list.length / 2 }, (_, i) => [list[2 * i], list[2 * i + 1]])) };
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('extract / inject', () => {
  it('W3C traceparent and tracestate round-trip', () => {
    const h = headers({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'congo=t61rcWkgMzE' });
    const sc = remoteSpanContext(h.get);
    expect(sc).toMatchObject({ traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const out = headers();
    injectTraceContext(extractTraceContext(h.get), out.set, { b3: false });
    expect(out.obj()).toEqual({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'congo=t61rcWkgMzE' });
  });

  it('B3 multi headers round-trip (incl. not sampled)', () => {
    const h = headers({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-parentspanid': '05e3ac9a4f6e3b90', 'x-b3-sampled': '0' });
    const sc = remoteSpanContext(h.get);
    expect(sc).toMatchObject({ traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.NONE });
    const out = headers();
    injectTraceContext(extractTraceContext(h.get), out.set, { w3c: false, b3: 'multi' });
    expect(out.obj()).toEqual({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '0' });
  });

  it('B3 64-bit trace ids are widened; debug flag means sampled', () => {
    const h = headers({ 'x-b3-traceid': 'a3ce929d0e0e4736', 'x-b3-spanid': SPAN, 'x-b3-flags': '1' });
    expect(remoteSpanContext(h.get)).toMatchObject({ traceId: '0000000000000000a3ce929d0e0e4736', traceFlags: TraceFlags.SAMPLED });
  });

  it('B3 single header round-trips', () => {
    const h = headers({ b3: `${TRACE}-${SPAN}-1` });
    expect(remoteSpanContext(h.get)).toMatchObject({ traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED });
    const out = headers();
    injectTraceContext(extractTraceContext(h.get), out.set, { w3c: false, b3: 'single' });
    expect(out.obj()).toEqual({ b3: `${TRACE}-${SPAN}-1` });
  });

  it('W3C wins over B3 when both are valid; B3 is used when W3C is malformed', () => {
    const other = 'a'.repeat(32);
    const both = headers({ traceparent: `00-${TRACE}-${SPAN}-01`, 'x-b3-traceid': other, 'x-b3-spanid': SPAN, 'x-b3-sampled': '1' });
    expect(remoteSpanContext(both.get)?.traceId).toBe(TRACE);
    const badW3c = headers({ traceparent: `00-${TRACE}-zz-01`, 'x-b3-traceid': other, 'x-b3-spanid': SPAN });
    expect(remoteSpanContext(badW3c.get)?.traceId).toBe(other);
  });

  const invalid: [string, Record<string, string>][] = [
    ['traceparent with all-zero trace id', { traceparent: `00-${'0'.repeat(32)}-${SPAN}-01` }],
    ['traceparent with all-zero span id', { traceparent: `00-${TRACE}-${'0'.repeat(16)}-01` }],
    ['traceparent version ff', { traceparent: `ff-${TRACE}-${SPAN}-01` }],
    ['traceparent too short', { traceparent: `00-${TRACE.slice(1)}-${SPAN}-01` }],
    ['b3 trace id not hex', { 'x-b3-traceid': 'x'.repeat(32), 'x-b3-spanid': SPAN }],
    ['b3 span id missing', { 'x-b3-traceid': TRACE }],
    ['b3 single garbage', { b3: 'not-a-b3-header' }],
  ];
  for (const [name, init] of invalid) {
    it(`ignores ${name}`, () => {
      const h = headers(init);
      expect(remoteSpanContext(h.get)).toBeUndefined();
      const out = headers();
      injectTraceContext(extractTraceContext(h.get), out.set);
      expect(out.list).toEqual([]);
    });
  }

  it('lists every header it may write', () => {
    const out = headers();
    const ctx = extractTraceContext(headers({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'a=b' }).get);
    injectTraceContext(ctx, out.set, { b3: 'multi' });
    injectTraceContext(ctx, out.set, { w3c: false, b3: 'single' });
    for (const k of Object.keys(out.obj())) expect(TRACE_HEADERS).toContain(k);
  });
});

describe('x-request-id', () => {
  it('keeps an existing id', () => {
    const h = headers({ 'x-request-id': 'abc' });
    expect(ensureRequestId(h.get, h.set)).toBe('abc');
    expect(h.list).toEqual(['x-request-id', 'abc']);
  });
  it('generates a UUID v4 when absent or empty', () => {
    for (const init of [{}, { 'x-request-id': '' }]) {
      const h = headers(init);
      const id = ensureRequestId(h.get, h.set);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(h.get('x-request-id')).toBe(id);
    }
  });
});

describe('sampling', () => {
  const ctx = ROOT_CONTEXT;
  const sampled = (s: PercentSampler | ReturnType<typeof createIstioSampler>, n: number, c = ctx) => {
    let k = 0;
    for (let i = 0; i < n; i++) if (s.shouldSample(c, TRACE, 'x', SpanKind.SERVER, {}, []).decision === 2) k++;
    return k;
  };

  it('honours the percentage with a seeded random', () => {
    // 10,000 draws at 10%: binomial sd = 30, so ±150 is 5 sd.
    expect(Math.abs(sampled(new PercentSampler(10, seededRandom(42)), 10_000) - 1000)).toBeLessThan(150);
    expect(Math.abs(sampled(new PercentSampler(1, seededRandom(7)), 10_000) - 100)).toBeLessThan(50);
    expect(sampled(new PercentSampler(0, seededRandom(1)), 1000)).toBe(0);
    expect(sampled(new PercentSampler(100, seededRandom(1)), 1000)).toBe(1000);
  });

  it('is deterministic for a seed and defaults to 1%', () => {
    expect(sampled(new PercentSampler(25, seededRandom(3)), 500)).toBe(sampled(new PercentSampler(25, seededRandom(3)), 500));
    expect(new PercentSampler().toString()).toBe('PercentSampler{1%}');
  });

  it('follows a remote parent decision over the percentage', () => {
    const s = createIstioSampler(0, seededRandom(1));
    const parentSampled = extractTraceContext(headers({ traceparent: `00-${TRACE}-${SPAN}-01` }).get);
    const parentDropped = extractTraceContext(headers({ traceparent: `00-${TRACE}-${SPAN}-00` }).get);
    expect(sampled(s, 100, parentSampled)).toBe(100);
    expect(sampled(createIstioSampler(100), 100, parentDropped)).toBe(0);
    expect(sampled(s, 100)).toBe(0);
  });
});

describe('request spans', () => {
  function setup(percent = 100) {
    const exported: SpanRecord[] = [];
    const provider = new BasicTracerProvider({
      sampler: createIstioSampler(percent, seededRandom(5)),
      spanProcessors: [new SimpleSpanProcessor(new CallbackSpanExporter((spans) => void exported.push(...spans)))],
    });
    const tracer = new ProxyTracer(provider, { nodeId: 'sidecar~10.1.2.3~reviews-v2-1.default~default.svc.cluster.local', cluster: 'reviews.default', canonicalService: 'reviews', canonicalRevision: 'v2', namespace: 'default' });
    return { exported, tracer, provider };
  }

  it('a server span is a child of the remote parent, carries Envoy/Istio tags, and is exported', async () => {
    const { exported, tracer, provider } = setup();
    const inbound = headers({ traceparent: `00-${TRACE}-${SPAN}-01`, 'x-request-id': 'rid-1' });
    const rec = sampleHttpRecord({ responseCode: 503, responseFlags: 'UH', durationMs: 12 });
    const { span, context } = tracer.startRequestSpan({
      kind: 'server',
      parent: extractTraceContext(inbound.get),
      method: 'GET',
      scheme: 'http',
      authority: 'reviews:9080',
      path: '/reviews/0',
      requestId: 'rid-1',
      startTime: rec.startTime,
    });
    // The upstream request carries the new span as parent.
    const upstream = headers();
    injectTraceContext(context, upstream.set);
    expect(upstream.get('traceparent')).toBe(`00-${TRACE}-${span.spanContext().spanId}-01`);
    expect(upstream.get('x-b3-parentspanid')).toBeUndefined();
    expect(upstream.get('x-b3-spanid')).toBe(span.spanContext().spanId);

    tracer.endRequestSpan(span, rec);
    await provider.forceFlush();
    expect(exported).toHaveLength(1);
    const s = exported[0];
    expect(s).toMatchObject({ traceId: TRACE, parentSpanId: SPAN, name: 'reviews:9080/*', kind: 'server', error: true, durationUs: 12_000, startUs: rec.startTime * 1000 });
    expect(s.attributes).toMatchObject({
      component: 'proxy',
      node_id: 'sidecar~10.1.2.3~reviews-v2-1.default~default.svc.cluster.local',
      'guid:x-request-id': 'rid-1',
      'http.method': 'GET',
      'http.url': 'http://reviews:9080/reviews/0',
      'http.status_code': 503,
      response_flags: 'UH',
      upstream_cluster: 'inbound|9080||',
      downstream_cluster: 'reviews.default',
      'istio.canonical_service': 'reviews',
      error: true,
    });
  });

  it('a new trace at 0% is not recorded but still propagates ids with sampled=0', async () => {
    const { exported, tracer, provider } = setup(0);
    const { span, context } = tracer.startRequestSpan({ kind: 'client', parent: ROOT_CONTEXT, method: 'GET', scheme: 'http', authority: 'ratings:9080', path: '/' });
    expect(span.isRecording()).toBe(false);
    const out = headers();
    injectTraceContext(context, out.set);
    expect(out.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(out.get('x-b3-sampled')).toBe('0');
    expect(trace.getSpanContext(context)?.traceId).toBe(span.spanContext().traceId);
    tracer.endRequestSpan(span, sampleHttpRecord());
    await provider.forceFlush();
    expect(exported).toEqual([]);
  });

  it('gRPC errors are errors even with HTTP 200; a 200 OK is not', async () => {
    const { exported, tracer, provider } = setup();
    for (const rec of [sampleHttpRecord({ protocol: 'grpc', grpcStatus: 14 }), sampleHttpRecord()]) {
      const { span } = tracer.startRequestSpan({ kind: 'client', parent: ROOT_CONTEXT, method: 'POST', scheme: 'http', authority: 'a', path: '/' });
      tracer.endRequestSpan(span, rec);
    }
    await provider.forceFlush();
    expect(exported.map((s) => s.error)).toEqual([true, false]);
    expect(exported[0].attributes['grpc.status_code']).toBe(14);
    expect(exported[0].parentSpanId).toBeUndefined();
  });

  it('the exporter reports a failing callback and refuses after shutdown', async () => {
    const results: number[] = [];
    const bad = new CallbackSpanExporter(() => Promise.reject(new Error('nats down')));
    bad.export([], (r) => results.push(r.code));
    await new Promise((r) => setImmediate(r));
    const throwing = new CallbackSpanExporter(() => {
      throw new Error('boom');
    });
    throwing.export([], (r) => results.push(r.code));
    const ok = new CallbackSpanExporter(() => undefined);
    ok.export([], (r) => results.push(r.code));
    await ok.shutdown();
    ok.export([], (r) => results.push(r.code));
    expect(results).toEqual([1, 1, 0, 1]);
  });

  it('the processor hands each sampled span over when it ends, as the exporter through SimpleSpanProcessor does', async () => {
    const viaExporter: SpanRecord[] = [];
    const viaProcessor: SpanRecord[] = [];
    const run = (processor: SimpleSpanProcessor | CallbackSpanProcessor) => {
      const tracer = new ProxyTracer(new BasicTracerProvider({ sampler: createIstioSampler(50, seededRandom(7)), spanProcessors: [processor] }), { nodeId: 'n', namespace: 'default' });
      for (let i = 0; i < 20; i++) {
        const { span } = tracer.startRequestSpan({ kind: 'client', parent: ROOT_CONTEXT, method: 'GET', scheme: 'http', authority: 'reviews:9080', path: `/r/${i}`, startTime: 1_700_000_000_000 + i });
        tracer.endRequestSpan(span, sampleHttpRecord({ startTime: 1_700_000_000_000 + i, durationMs: 3, responseCode: i % 4 === 0 ? 503 : 200 }));
      }
    };
    run(new SimpleSpanProcessor(new CallbackSpanExporter((spans) => void viaExporter.push(...spans))));
    run(new CallbackSpanProcessor((spans) => void viaProcessor.push(...spans)));
    await new Promise((r) => setImmediate(r));
    const shape = (r: SpanRecord) => ({ ...r, traceId: r.traceId.length, spanId: r.spanId.length });
    expect(viaProcessor.length).toBeGreaterThan(0);
    expect(viaProcessor.map(shape)).toEqual(viaExporter.map(shape));
  });

  it('the processor reports a failing callback to the global error handler and stops after shutdown', async () => {
    const errors: string[] = [];
    setGlobalErrorHandler((e) => void errors.push(String((e as Error).message)));
    try {
      const tracer = (p: CallbackSpanProcessor) => new ProxyTracer(new BasicTracerProvider({ sampler: createIstioSampler(100), spanProcessors: [p] }), { nodeId: 'n' });
      const span = (t: ProxyTracer) => {
        const { span: s } = t.startRequestSpan({ kind: 'client', parent: ROOT_CONTEXT, method: 'GET', scheme: 'http', authority: 'a', path: '/' });
        t.endRequestSpan(s, sampleHttpRecord());
      };
      span(tracer(new CallbackSpanProcessor(() => Promise.reject(new Error('nats down')))));
      span(
        tracer(
          new CallbackSpanProcessor(() => {
            throw new Error('boom');
          }),
        ),
      );
      let delivered = 0;
      const ok = new CallbackSpanProcessor((s) => void (delivered += s.length));
      const t = tracer(ok);
      span(t);
      await ok.shutdown();
      span(t);
      await new Promise((r) => setImmediate(r));
      expect(errors.sort()).toEqual(['boom', 'nats down']);
      expect(delivered).toBe(1);
    } finally {
      setGlobalErrorHandler(loggingErrorHandler());
    }
  });

  it('a SampledSpan records what the SDK span exports for the same request: tags, error, a negative duration made 0', () => {
    const sdk: SpanRecord[] = [];
    const id = { nodeId: 'n', cluster: 'reviews.default', zone: 'z1', namespace: 'default', canonicalService: 'reviews', canonicalRevision: 'v2' };
    const tracer = new ProxyTracer(new BasicTracerProvider({ sampler: createIstioSampler(100), spanProcessors: [new CallbackSpanProcessor((s) => void sdk.push(...s))] }), id);
    const start = { kind: 'server' as const, method: 'POST', scheme: 'http', authority: 'reviews:9080', path: '/r', requestId: 'rid', userAgent: 'curl', downstreamRemoteAddress: '10.0.0.1' };
    for (const rec of [sampleHttpRecord({ responseCode: 503, responseFlags: 'UH', startTime: Date.now(), durationMs: 12.5 }), sampleHttpRecord({ responseCode: 200, startTime: Date.now() - 60_000, durationMs: 1 })]) {
      sdk.length = 0;
      const { span } = tracer.startRequestSpan({ ...start, parent: ROOT_CONTEXT });
      const light = tracer.startSampledSpan(start, TRACE, SPAN, undefined);
      tracer.endRequestSpan(span, rec);
      const got = light.end(rec);
      const [want] = sdk;
      expect({ ...got, traceId: 'T', spanId: 'S', startUs: 0, durationUs: 0 }).toEqual({ ...want, traceId: 'T', spanId: 'S', startUs: 0, durationUs: 0 });
      expect(Object.keys(got.attributes)).toEqual(Object.keys(want.attributes));
      expect(Math.abs(got.startUs - want.startUs)).toBeLessThan(50_000);
      expect(Math.abs(got.durationUs - want.durationUs)).toBeLessThan(50_000);
    }
    expect(tracer.startSampledSpan(start, TRACE, SPAN, 'ffffffffffffffff').end(sampleHttpRecord()).parentSpanId).toBe('ffffffffffffffff');
  });
});

