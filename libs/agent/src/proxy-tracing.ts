/**
 * Distributed tracing in the proxy, as Istio's sidecars do it: every HTTP request gets a span —
 * a client span on outbound listeners, a server span on inbound ones — whose parent is the trace
 * context the request carries (W3C `traceparent` or B3), and the request goes on carrying the new
 * span as its parent (both formats), so the application and the next proxy continue the trace.
 * Sampling follows the incoming decision, else the chain's HCM `tracing.random_sampling` (pilot's
 * translation of the Telemetry resource's `randomSamplingPercentage`), else `samplingPercent`
 * (the proxy's flag; Istio's default 1%). Finished sampled spans go to `onSpans` (NATS
 * `mesh.spans.*` for mixer, wired by the app).
 *
 * It runs as the first HTTP filter stage of each chain (before authentication and routing), and
 * the span ends when the exchange's record arrives.
 *
 * Most requests take a short path. Unsampled ones (99% at Istio's default 1%): what Envoy does
 * for them is only to carry the trace on — new ids, the not-sampled decision, no span recorded.
 * A request without any trace header, whether the sampler's draw picks it or not, and one whose
 * parent comes in the plain shapes proxies send (plainParent), sampled or not, get exactly the
 * headers the OpenTelemetry path writes (same names, order and formats); a sampled one gets a
 * SampledSpan whose record is the one the SDK's span would export (tests compare both paths),
 * without the SDK's span, context, propagator and processor objects. A valid parent in any other
 * shape that is not sampled is read by the propagators but needs no span; everything else
 * (sampled parents in other shapes, B3 debug, malformed headers) takes the OpenTelemetry path.
 * Short-path ids come from a pooled random source (IdPool), as Envoy draws them from its own
 * random generator; the OpenTelemetry path keeps the SDK's generator.
 */
import { randomFillSync } from 'node:crypto';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { createContextKey, isSpanContextValid, trace, TraceFlags, type Span } from '@opentelemetry/api';
import type { DownstreamInfo, ExchangeRecord, FilterChainPlan, Headers, HttpFilterStage, ListenerPlanExt, RequestHead } from '@meshwork/proxy';
import { CallbackSpanProcessor, createIstioSampler, extractTraceContext, injectTraceContext, ProxyTracer, responseFlagsOf, SampledSpan, TRACE_HEADERS, type ProxyIdentity, type RequestRecord, type RequestSpanStart, type SpanRecord } from '@meshwork/telemetry';

export interface ProxyTracingOptions {
  readonly identity: ProxyIdentity;
  /** Percent of new traces sampled (0–100) where the chain's HCM sets none; requests with a sampling decision keep it. */
  readonly samplingPercent: number;
  readonly onSpans: (spans: SpanRecord[]) => void;
  readonly random?: () => number;
}

/**
 * The context key OpenTelemetry's B3 propagator keeps the B3 debug flag under (not exported by
 * the package; context keys are `Symbol.for(description)`, so this is the same key). A request
 * whose context carries it takes the full path, where inject writes `x-b3-flags`.
 */
const B3_DEBUG = createContextKey('OpenTelemetry Context Key B3 Debug Flag');
const TRACE_HEADER_SET: ReadonlySet<string> = new Set(TRACE_HEADERS);

/** hasTraceHeader tells whether a flat header list carries any propagation header (valid or not). */
function hasTraceHeader(list: readonly string[]): boolean {
  for (let i = 0; i < list.length; i += 2) if (TRACE_HEADER_SET.has(list[i])) return true;
  return false;
}

const HEX16 = /^[0-9a-f]{16}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO16 = '0000000000000000';
const ZERO32 = ZERO16 + ZERO16;

/** A remote parent read from the plain header shapes (plainParent). */
interface PlainParent {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
}

/**
 * plainParent returns the request's parent when its headers have one of the two plain shapes
 * proxies send — `traceparent: 00-T-S-FF`, or B3 multi `x-b3-traceid` (16 or 32 hex) and
 * `x-b3-spanid` with `x-b3-sampled` absent, `0`, `false` (not sampled) or `1` (sampled) — and no
 * `tracestate`, `b3` or `x-b3-flags`. It decides as extractTraceContext (OpenTelemetry's
 * propagators) does for those shapes: W3C over B3, ids lower-case hex and not all zeros, sampled
 * from the flags' low bit. Undefined: any other case, left to the propagators.
 */
function plainParent(h: Headers): PlainParent | undefined {
  if (h.get('tracestate') !== undefined || h.get('b3') !== undefined || h.get('x-b3-flags') !== undefined) return undefined;
  const tp = h.get('traceparent');
  if (tp !== undefined) {
    const m = TRACEPARENT.exec(tp);
    if (m === null || m[1] === ZERO32 || m[2] === ZERO16) return undefined;
    return { traceId: m[1], spanId: m[2], sampled: (parseInt(m[3], 16) & TraceFlags.SAMPLED) !== 0 };
  }
  const t = h.get('x-b3-traceid');
  const sp = h.get('x-b3-spanid');
  const sampled = h.get('x-b3-sampled');
  if (t === undefined || sp === undefined) return undefined;
  const on = sampled === '1';
  if (!on && !(sampled === undefined || sampled === '0' || sampled === 'false')) return undefined;
  const trace = t.length === 16 && HEX16.test(t) ? ZERO16 + t : t.length === 32 && HEX32.test(t) ? t : undefined;
  if (trace === undefined || trace === ZERO32 || !HEX16.test(sp) || sp === ZERO16) return undefined;
  return { traceId: trace, spanId: sp, sampled: on };
}

/**
 * setPropagation writes what inject writes for a child span — `traceparent`, `tracestate` when
 * given, `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled` (`1` or `0`) — as that sequence of
 * Headers.set calls leaves the list (every earlier value of these names removed, the new ones
 * appended in that order), in one pass over the list instead of one per header.
 */
function setPropagation(h: Headers, traceparent: string, tracestate: string | undefined, traceId: string, spanId: string, sampled: '1' | '0'): void {
  const l = h.list;
  let w = 0;
  for (let r = 0; r < l.length; r += 2) {
    const n = l[r];
    if (n === 'traceparent' || n === 'x-b3-traceid' || n === 'x-b3-spanid' || n === 'x-b3-sampled' || (n === 'tracestate' && tracestate !== undefined)) continue;
    l[w++] = n;
    l[w++] = l[r + 1];
  }
  l.length = w;
  l.push('traceparent', traceparent);
  if (tracestate !== undefined) l.push('tracestate', tracestate);
  l.push('x-b3-traceid', traceId, 'x-b3-spanid', spanId, 'x-b3-sampled', sampled);
}

/**
 * IdPool hands out random lower-case hex ids of `bytes` bytes (8: span ids, 16: trace ids), cut
 * from one hex string made per block of 512 ids (randomFillSync costs microseconds a call),
 * instead of a Buffer, Math.random draws and a hex conversion per id as the SDK's
 * RandomIdGenerator does (one span and one trace id: ~0.3 µs → ~0.07 µs in a micro-benchmark).
 * The bytes come from the CSPRNG; an all-zero id, invalid in W3C and B3, gets its last byte set
 * to 1 as the SDK's generator does.
 */
export class IdPool {
  private readonly buf: Buffer;
  private hex = '';
  /** Where the next id starts in `hex`; at its end, a new block is drawn. */
  private next = 0;

  constructor(private readonly bytes: number) {
    this.buf = Buffer.allocUnsafe(bytes * 512);
  }

  /** id returns a fresh id: 2 × bytes hex digits, not all zeros. */
  id(): string {
    const w = this.bytes * 2;
    if (this.next === this.hex.length) this.fill();
    const at = this.next;
    this.next = at + w;
    return this.hex.substring(at, at + w);
  }

  private fill(): void {
    const b = this.buf;
    randomFillSync(b);
    for (let at = 0; at < b.length; at += this.bytes) {
      let zero = true;
      for (let i = at; i < at + this.bytes && zero; i++) zero = b[i] === 0;
      if (zero) b[at + this.bytes - 1] = 1;
    }
    this.hex = b.toString('hex');
    this.next = 0;
  }
}

/** spanStart returns what a request's span starts with, from its head and connection. */
function spanStart(req: RequestHead, down: DownstreamInfo, kind: 'client' | 'server'): Omit<RequestSpanStart, 'parent'> {
  const h = req.headers;
  const requestId = h.get('x-request-id');
  const userAgent = h.get('user-agent');
  return {
    kind,
    method: req.method,
    scheme: req.scheme,
    authority: req.authority,
    path: req.path,
    ...(requestId !== undefined ? { requestId } : {}),
    ...(userAgent !== undefined ? { userAgent } : {}),
    ...(down.remoteAddress ? { downstreamRemoteAddress: down.remoteAddress } : {}),
  };
}

/** The fraction of new traces a percent samples, as createIstioSampler computes it. */
const fractionOf = (percent: number): number => Math.min(100, Math.max(0, Number.isFinite(percent) ? percent : 0)) / 100;

/** How new traces are sampled on one chain: the short path's fraction and the OpenTelemetry path's tracer (its provider's sampler draws at the same percent). */
interface Sampling {
  readonly fraction: number;
  readonly tracer: ProxyTracer;
}

/** ProxyTracing starts a span per request (as a filter stage) and ends it from the exchange record. */
export class ProxyTracing {
  /** One provider and tracer per sampling percent in use (the flag's, and each distinct HCM random_sampling); all share one span processor. */
  private readonly samplings = new Map<number, Sampling & { readonly provider: BasicTracerProvider }>();
  private readonly defaults: Sampling;
  private readonly open = new WeakMap<RequestHead, Span | SampledSpan>();
  /** Spans started and not yet ended: while none is, end() has nothing to look up (most of the time at 1%). */
  private opened = 0;
  private readonly random: () => number;
  private readonly identity: ProxyIdentity;
  /** Ids of the short path's spans and new traces. */
  private readonly spanIds = new IdPool(8);
  private readonly traceIds = new IdPool(16);
  private readonly processor: CallbackSpanProcessor;

  constructor(opts: ProxyTracingOptions) {
    this.random = opts.random ?? Math.random;
    this.identity = opts.identity;
    this.processor = new CallbackSpanProcessor(opts.onSpans);
    this.defaults = this.sampling(opts.samplingPercent);
  }

  /** sampling returns the sampling of a percent, making its provider on first use. */
  private sampling(percent: number): Sampling {
    let s = this.samplings.get(percent);
    if (!s) {
      const provider = new BasicTracerProvider({ sampler: createIstioSampler(percent, this.random), spanProcessors: [this.processor] });
      s = { fraction: fractionOf(percent), tracer: new ProxyTracer(provider, this.identity), provider };
      this.samplings.set(percent, s);
    }
    return s;
  }

  /**
   * short writes the propagation headers of a request without trace context or with a plain
   * parent, starting a SampledSpan when the request is sampled, and returns true; or returns false
   * when the request needs the OpenTelemetry path.
   */
  private short(req: RequestHead, down: DownstreamInfo, kind: 'client' | 'server', fraction: number): boolean {
    const h = req.headers;
    if (!hasTraceHeader(h.list)) {
      // A new trace: the PercentSampler's draw (one per root span, none at 0%).
      const sampled = fraction > 0 && this.random() < fraction;
      // The tracer makes the span id first, then the trace id; inject writes W3C, then B3 multi.
      // None of these headers is present: add is set without the scan.
      const spanId = this.spanIds.id();
      const traceId = this.traceIds.id();
      h.add('traceparent', `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`);
      h.add('x-b3-traceid', traceId);
      h.add('x-b3-spanid', spanId);
      h.add('x-b3-sampled', sampled ? '1' : '0');
      if (sampled) this.keep(req, this.defaults.tracer.startSampledSpan(spanStart(req, down, kind), traceId, spanId, undefined));
      return true;
    }
    const known = plainParent(h);
    if (known !== undefined) {
      // A remote parent decides (ParentBasedSampler: AlwaysOn when sampled, AlwaysOff when not), no draw.
      const spanId = this.spanIds.id();
      const on = known.sampled;
      if (on) this.keep(req, this.defaults.tracer.startSampledSpan(spanStart(req, down, kind), known.traceId, spanId, known.spanId));
      setPropagation(h, `00-${known.traceId}-${spanId}-${on ? '01' : '00'}`, undefined, known.traceId, spanId, on ? '1' : '0');
      return true;
    }
    const ctx = extractTraceContext((n) => h.get(n));
    const parent = trace.getSpanContext(ctx);
    // A remote parent that is not sampled: ParentBasedSampler's remoteParentNotSampled (AlwaysOff), no draw.
    if (parent === undefined || !isSpanContextValid(parent) || (parent.traceFlags & TraceFlags.SAMPLED) !== 0 || ctx.getValue(B3_DEBUG) !== undefined) return false;
    const spanId = this.spanIds.id();
    setPropagation(h, `00-${parent.traceId}-${spanId}-00`, parent.traceState ? parent.traceState.serialize() : undefined, parent.traceId, spanId, '0');
    return true;
  }

  /**
   * stage returns the filter stage for one HTTP chain of a listener (client spans outbound, server
   * spans inbound); new traces are sampled at the chain's HCM `tracing.random_sampling` when it
   * sets one, else at the proxy's percent.
   */
  stage(listener: ListenerPlanExt, chain?: FilterChainPlan): HttpFilterStage {
    const kind = listener.trafficDirection === 'INBOUND' ? 'server' : 'client';
    const percent = chain?.handler.kind === 'http' ? chain.handler.telemetry?.randomSamplingPercent : undefined;
    const { fraction, tracer } = percent === undefined ? this.defaults : this.sampling(percent);
    return {
      name: 'meshwork.tracing',
      run: ({ req, down }) => {
        if (this.short(req, down, kind, fraction)) return undefined;
        const h = req.headers;
        const parent = extractTraceContext((n) => h.get(n));
        const { span, context } = tracer.startRequestSpan({ ...spanStart(req, down, kind), parent });
        // The request continues with this span as its parent, in both propagation formats.
        injectTraceContext(context, (n, v) => h.set(n, v));
        this.keep(req, span);
        return undefined;
      },
    };
  }

  private keep(req: RequestHead, span: Span | SampledSpan): void {
    if (!this.open.has(req)) this.opened++;
    this.open.set(req, span);
  }

  /** end finishes the request's span with its outcome. */
  end(rec: ExchangeRecord): void {
    if (this.opened === 0) return;
    const span = this.open.get(rec.request);
    if (!span) return;
    this.open.delete(rec.request);
    this.opened--;
    const r: RequestRecord = {
      reporter: 'source',
      protocol: rec.grpc ? 'grpc' : 'http',
      startTime: rec.startTime,
      source: {},
      destination: {},
      destinationService: {},
      responseCode: rec.status,
      ...(rec.grpcStatus !== undefined ? { grpcStatus: rec.grpcStatus } : {}),
      responseFlags: responseFlagsOf(rec.flags),
      securityPolicy: 'unknown',
      durationMs: rec.durationMs,
      bytesReceived: rec.requestBodyBytes,
      bytesSent: rec.responseBodyBytes,
      ...(rec.cluster ? { upstreamCluster: rec.cluster } : {}),
      ...(rec.upstream ? { upstreamHost: `${rec.upstream.address}:${rec.upstream.port}` } : {}),
    };
    if (span instanceof SampledSpan) this.processor.handOver(span.end(r));
    else this.defaults.tracer.endRequestSpan(span, r);
  }

  async close(): Promise<void> {
    await Promise.all([...this.samplings.values()].map((s) => s.provider.shutdown()));
  }
}
