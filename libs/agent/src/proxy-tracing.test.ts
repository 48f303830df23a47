import { describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { Headers, type ExchangeRecord, type FilterChainPlan, type ListenerPlanExt, type RequestHead } from '@meshwork/proxy';
import { CallbackSpanProcessor, createIstioSampler, extractTraceContext, injectTraceContext, ProxyTracer, type SpanRecord } from '@meshwork/telemetry';
import { IdPool, ProxyTracing } from './proxy-tracing.js';

const outbound = { name: 'virtualOutbound', trafficDirection: 'OUTBOUND' } as ListenerPlanExt;
const inbound = { name: 'virtualInbound', trafficDirection: 'INBOUND' } as ListenerPlanExt;
const down = { remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 15001 };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

function req(headers: string[] = []): RequestHead {
  return { method: 'GET', path: '/reviews/1', authority: 'reviews:9080', scheme: 'http', headers: new Headers(['x-request-id', 'rid-1', ...headers]) };
}
function record(r: RequestHead, status = 200): ExchangeRecord {
  return { request: r, downstream: down, protocol: 'HTTP/1.1', grpc: false, status, flags: [], cluster: 'outbound|9080||reviews', attempts: 1, requestBodyBytes: 0, responseBodyBytes: 10, startTime: Date.now() - 5, durationMs: 5 };
}
function tracing(samplingPercent: number): { t: ProxyTracing; spans: SpanRecord[] } {
  const spans: SpanRecord[] = [];
  const t = new ProxyTracing({ identity: { nodeId: 'sidecar~127.0.0.1~productpage-1.default~default.svc.cluster.local', namespace: 'default' }, samplingPercent, onSpans: (s) => void spans.push(...s), random: () => 0.5 });
  return { t, spans };
}

describe('ProxyTracing', () => {
  it('continues a sampled W3C trace: a client span child of the incoming one, propagated in W3C and B3', async () => {
    const { t, spans } = tracing(0);
    const r = req(['traceparent', `00-${TRACE}-${PARENT}-01`]);
    expect(await t.stage(outbound).run({ req: r, down, state: new Map() })).toBeUndefined();
    const tp = r.headers.get('traceparent') ?? '';
    expect(tp).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    const mySpan = tp.split('-')[2];
    expect(mySpan).not.toBe(PARENT);
    expect(r.headers.get('x-b3-traceid')).toBe(TRACE);
    expect(r.headers.get('x-b3-spanid')).toBe(mySpan);
    t.end(record(r, 503));
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ traceId: TRACE, spanId: mySpan, parentSpanId: PARENT, kind: 'client', name: 'reviews:9080/*', error: true });
    expect(spans[0].attributes).toMatchObject({ 'guid:x-request-id': 'rid-1', 'http.status_code': 503, upstream_cluster: 'outbound|9080||reviews' });
  });

  it('continues a B3 trace on an inbound listener as a server span', async () => {
    const { t, spans } = tracing(0);
    const r = req(['x-b3-traceid', TRACE, 'x-b3-spanid', PARENT, 'x-b3-sampled', '1']);
    await t.stage(inbound).run({ req: r, down, state: new Map() });
    t.end(record(r));
    expect(spans[0]).toMatchObject({ traceId: TRACE, parentSpanId: PARENT, kind: 'server', error: false });
  });

  it('samples new traces at the configured percentage and carries a not-sampled decision onward', async () => {
    const never = tracing(0);
    const r = req();
    await never.t.stage(outbound).run({ req: r, down, state: new Map() });
    never.t.end(record(r));
    expect(never.spans).toEqual([]);
    expect(r.headers.get('traceparent')).toMatch(/-00$/);
    const always = tracing(100);
    const r2 = req();
    await always.t.stage(outbound).run({ req: r2, down, state: new Map() });
    always.t.end(record(r2));
    expect(always.spans).toHaveLength(1);
    expect(always.spans[0].parentSpanId).toBeUndefined();
  });

  it("samples new traces at the chain's HCM random_sampling (Telemetry randomSamplingPercentage) over the proxy's percent, on both paths", async () => {
    const chain = (randomSamplingPercent?: number): FilterChainPlan =>
      ({ match: {}, handler: { kind: 'http', routeConfig: '9080', telemetry: { accessLogs: [], ...(randomSamplingPercent !== undefined ? { randomSamplingPercent } : {}) } } }) as unknown as FilterChainPlan;
    const { t, spans } = tracing(0);
    // random() is 0.5: 100 % samples, 40 % and the proxy's 0 % do not.
    const cases: [FilterChainPlan | undefined, boolean][] = [[chain(100), true], [chain(40), false], [chain(), false], [undefined, false], [chain(60), true]];
    for (const [c, sampled] of cases) {
      for (const headers of [[], ['traceparent', 'not-a-traceparent']]) {
        const r = req(headers);
        await t.stage(outbound, c).run({ req: r, down, state: new Map() });
        expect(r.headers.get('traceparent')).toMatch(sampled ? /-01$/ : /-00$/);
        const before = spans.length;
        t.end(record(r));
        expect(spans.length - before).toBe(sampled ? 1 : 0);
      }
    }
    // A parent's decision is kept whatever the chain's percent.
    const r = req(['traceparent', `00-${TRACE}-${PARENT}-01`]);
    await t.stage(outbound, chain(0)).run({ req: r, down, state: new Map() });
    expect(r.headers.get('traceparent')).toMatch(/-01$/);
    await t.close();
  });

  describe('unsampled requests (short path) carry the same headers as the OpenTelemetry path', () => {
    const B3_TRACE = '80f198ee56343ba864fe8b2a57d3eff7';
    const B3_SPAN = 'e457b5a2e4d86bd1';
    // [case, incoming headers, sampling percent, random draw]
    const cases: [string, string[], number, number][] = [
      ['no context, not drawn', [], 1, 0.5],
      ['no context, 0% sampling', [], 0, 0.5],
      ['no context, drawn (sampled)', [], 1, 0.001],
      ['B3 multi, not sampled', ['x-b3-traceid', B3_TRACE, 'x-b3-spanid', B3_SPAN, 'x-b3-sampled', '0'], 100, 0.5],
      ['B3 single, not sampled', ['b3', `${B3_TRACE}-${B3_SPAN}-0`], 100, 0.5],
      ['W3C not sampled with tracestate', ['traceparent', `00-${TRACE}-${PARENT}-00`, 'tracestate', 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'], 100, 0.5],
      ['W3C not sampled, B3 debug beside it', ['traceparent', `00-${TRACE}-${PARENT}-00`, 'x-b3-traceid', B3_TRACE, 'x-b3-spanid', B3_SPAN, 'x-b3-flags', '1'], 1, 0.5],
      ['W3C sampled', ['traceparent', `00-${TRACE}-${PARENT}-01`], 0, 0.5],
      ['W3C sampled, flags 03', ['traceparent', `00-${TRACE}-${PARENT}-03`], 0, 0.5],
      ['B3 multi sampled', ['x-b3-traceid', B3_TRACE, 'x-b3-spanid', B3_SPAN, 'x-b3-sampled', '1'], 0, 0.5],
      ['B3 multi 64-bit trace id, sampled', ['x-b3-traceid', B3_SPAN, 'x-b3-spanid', B3_SPAN, 'x-b3-sampled', '1'], 0, 0.5],
      ['W3C sampled as a Meshwork sidecar sends it with B3', ['traceparent', `00-${TRACE}-${PARENT}-01`, 'x-b3-traceid', TRACE, 'x-b3-spanid', PARENT, 'x-b3-sampled', '1'], 0, 0.5],
      ['W3C not sampled', ['traceparent', `00-${TRACE}-${PARENT}-00`], 100, 0.5],
      ['W3C not sampled, flags 02', ['traceparent', `00-${TRACE}-${PARENT}-02`], 100, 0.5],
      ['W3C and B3 as a Meshwork sidecar sends them, not sampled', ['traceparent', `00-${TRACE}-${PARENT}-00`, 'x-b3-traceid', TRACE, 'x-b3-spanid', PARENT, 'x-b3-sampled', '0'], 100, 0.5],
      ['W3C not sampled, B3 sampled beside it (W3C wins)', ['traceparent', `00-${TRACE}-${PARENT}-00`, 'x-b3-traceid', B3_TRACE, 'x-b3-spanid', B3_SPAN, 'x-b3-sampled', '1'], 100, 0.5],
      ['W3C upper-case ids', ['traceparent', `00-${TRACE.toUpperCase()}-${PARENT}-00`], 1, 0.5],
      ['W3C all-zero trace id', ['traceparent', `00-${'0'.repeat(32)}-${PARENT}-00`], 1, 0.5],
      ['W3C version ff', ['traceparent', `ff-${TRACE}-${PARENT}-00`], 1, 0.5],
      ['W3C with a leading space', ['traceparent', ` 00-${TRACE}-${PARENT}-00`], 1, 0.5],
      ['B3 multi 64-bit trace id, not sampled', ['x-b3-traceid', B3_SPAN, 'x-b3-spanid', B3_SPAN, 'x-b3-sampled', '0'], 100, 0.5],
      ['B3 multi without x-b3-sampled', ['x-b3-traceid', B3_TRACE, 'x-b3-spanid', B3_SPAN], 100, 0.5],
      ['B3 multi sampled false', ['x-b3-traceid', B3_TRACE, 'x-b3-spanid', B3_SPAN, 'x-b3-sampled', 'false'], 100, 0.5],
      ['B3 multi sampled True (sampled)', ['x-b3-traceid', B3_TRACE, 'x-b3-spanid', B3_SPAN, 'x-b3-sampled', 'True'], 0, 0.5],
      ['B3 multi 12-hex trace id', ['x-b3-traceid', 'abcdefabcdef', 'x-b3-spanid', B3_SPAN, 'x-b3-sampled', '0'], 100, 0.5],
      ['B3 multi upper-case trace id', ['x-b3-traceid', B3_TRACE.toUpperCase(), 'x-b3-spanid', B3_SPAN, 'x-b3-sampled', '0'], 100, 0.5],
      ['B3 multi all-zero span id', ['x-b3-traceid', B3_TRACE, 'x-b3-spanid', '0'.repeat(16), 'x-b3-sampled', '0'], 1, 0.5],
      ['B3 multi x-b3-flags 0', ['x-b3-traceid', B3_TRACE, 'x-b3-spanid', B3_SPAN, 'x-b3-sampled', '0', 'x-b3-flags', '0'], 100, 0.5],
      ['B3 multi with a parent span id', ['x-b3-traceid', B3_TRACE, 'x-b3-spanid', B3_SPAN, 'x-b3-parentspanid', PARENT, 'x-b3-sampled', '0'], 100, 0.5],
      ['malformed traceparent, not drawn', ['traceparent', '00-zz-yy-01', 'x-b3-sampled', '1'], 1, 0.5],
      ['malformed traceparent, drawn', ['traceparent', '00-zz-yy-01'], 1, 0.001],
    ];
    /** The headers and spans the OpenTelemetry path writes and exports, as the stage did before the short paths existed. */
    function reference(headers: string[], percent: number, draw: number, rec: (r: RequestHead) => ExchangeRecord): { list: string[]; sampled: boolean; spans: SpanRecord[] } {
      const r = req(headers);
      const h = r.headers;
      const spans: SpanRecord[] = [];
      const tracer = new ProxyTracer(new BasicTracerProvider({ sampler: createIstioSampler(percent, () => draw), spanProcessors: [new CallbackSpanProcessor((s) => void spans.push(...s))] }), { nodeId: 'n' });
      const parent = extractTraceContext((n) => h.get(n));
      const { span, context } = tracer.startRequestSpan({ kind: 'client', parent, method: 'GET', scheme: 'http', authority: 'reviews:9080', path: '/reviews/1', requestId: 'rid-1', downstreamRemoteAddress: down.remoteAddress });
      injectTraceContext(context, (n, v) => h.set(n, v));
      const sampled = span.isRecording();
      const x = rec(r);
      tracer.endRequestSpan(span, { reporter: 'source', protocol: 'http', startTime: x.startTime, source: {}, destination: {}, destinationService: {}, responseCode: x.status, responseFlags: '-', securityPolicy: 'unknown', durationMs: x.durationMs, bytesReceived: x.requestBodyBytes, bytesSent: x.responseBodyBytes, upstreamCluster: x.cluster, upstreamHost: '10.0.0.7:9080' });
      return { list: h.list, sampled, spans };
    }
    /** Ids the proxy made (not in the input) become placeholders, so two runs compare. */
    const normalize = (list: string[], input: string[]): string[] => list.map((v) => v.replace(/[0-9a-f]{32}|[0-9a-f]{16}/g, (id) => (input.some((x) => x.includes(id)) ? id : id.length === 32 ? 'NEW-TRACE' : 'NEW-SPAN')));
    /** A span with its new ids as placeholders and its times checked apart (two runs start at different instants). */
    const normalizeSpan = (s: SpanRecord, input: string[]) => {
      const id = (v: string | undefined) => (v === undefined ? v : normalize([v], input)[0]);
      expect(Math.abs(s.startUs - Date.now() * 1000)).toBeLessThan(5_000_000);
      expect(s.durationUs).toBeGreaterThanOrEqual(0);
      return { ...s, traceId: id(s.traceId), spanId: id(s.spanId), parentSpanId: id(s.parentSpanId), startUs: 0, durationUs: 0 };
    };
    it.each(cases)('%s', async (_name, headers, percent, draw) => {
      const spans: SpanRecord[] = [];
      let draws = 0;
      const t = new ProxyTracing({ identity: { nodeId: 'n' }, samplingPercent: percent, onSpans: (s) => void spans.push(...s), random: () => (draws++, draw) });
      const r = req(headers);
      expect(await t.stage(outbound).run({ req: r, down, state: new Map() })).toBeUndefined();
      const rec = (x: RequestHead): ExchangeRecord => ({ ...record(x, 503), upstream: { address: '10.0.0.7', port: 9080, weight: 1, healthy: true } });
      t.end(rec(r));
      const ref = reference(headers, percent, draw, rec);
      expect(normalize(r.headers.list, headers)).toEqual(normalize(ref.list, headers));
      expect(spans).toHaveLength(ref.sampled ? 1 : 0);
      // The same span record, tags in the same order, whichever path made it.
      expect(spans.map((s) => normalizeSpan(s, headers))).toEqual(ref.spans.map((s) => normalizeSpan(s, headers)));
      expect(spans.map((s) => Object.keys(s.attributes))).toEqual(ref.spans.map((s) => Object.keys(s.attributes)));
      if (spans.length === 1) {
        const tp = (r.headers.get('traceparent') ?? '').split('-');
        expect([spans[0].traceId, spans[0].spanId]).toEqual([tp[1], tp[2]]);
      }
      // One draw for a new trace when sampling is on, none when a (valid) parent decides.
      const hasParent = trace.getSpanContext(extractTraceContext((n) => new Headers([...headers]).get(n))) !== undefined;
      expect(draws).toBe(percent > 0 && !hasParent ? 1 : 0);
      const tp = r.headers.get('traceparent') ?? '';
      expect(r.headers.get('x-b3-traceid')).toBe(tp.split('-')[1]);
      expect(r.headers.get('x-b3-spanid')).toBe(tp.split('-')[2]);
    });

    it('makes new ids for every unsampled request', async () => {
      const t = new ProxyTracing({ identity: { nodeId: 'n' }, samplingPercent: 1, onSpans: () => undefined, random: () => 0.5 });
      const seen = new Set<string>();
      for (let i = 0; i < 100; i++) {
        const r = req(['x-b3-traceid', TRACE, 'x-b3-spanid', PARENT, 'x-b3-sampled', '0']);
        await t.stage(inbound).run({ req: r, down, state: new Map() });
        seen.add(r.headers.get('x-b3-spanid') ?? '');
        const fresh = req();
        await t.stage(outbound).run({ req: fresh, down, state: new Map() });
        seen.add(fresh.headers.get('x-b3-traceid') ?? '');
      }
      expect(seen.size).toBe(200);
    });
  });

  describe('IdPool', () => {
    it('hands out distinct lower-case hex ids of its size across blocks', () => {
      for (const [bytes, re] of [[8, /^[0-9a-f]{16}$/], [16, /^[0-9a-f]{32}$/]] as const) {
        const pool = new IdPool(bytes);
        const seen = new Set<string>();
        for (let i = 0; i < 1000; i++) {
          const id = pool.id();
          expect(id).toMatch(re);
          expect(id).not.toMatch(/^0+$/);
          seen.add(id);
        }
        expect(seen.size).toBe(1000);
      }
    });
  });
});
