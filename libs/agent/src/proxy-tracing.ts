/**
 * Distributed tracing in the proxy, as Istio's sidecars do it: every HTTP request gets a span —
 * a client span on outbound listeners, a server span on inbound ones — whose parent is the trace
 * context the request carries (W3C `traceparent` or B3), and the request goes on carrying the new
 * span as its parent (both formats), so the application and the next proxy continue the trace.
 * Sampling follows the incoming decision, else `samplingPercent` (Istio's default 1%). Finished
 * sampled spans go to `onSpans` (NATS `mesh.spans.*` for mixer, wired by the app).
 *
 * It runs as the first HTTP filter stage of each chain (before authentication and routing), and
 * the span ends when the exchange's record arrives.
 *
 * Unsampled requests take a short path (99% of requests at Istio's default 1%): what Envoy does
 * for them is only to carry the trace on — new ids, the not-sampled decision, no span recorded.
 * A request without any trace header that the sampler's draw does not pick, and one whose
 * (valid, remote) parent is not sampled, get exactly the headers the OpenTelemetry path writes
 * (same names, order and formats) without a span, context or
 * attribute object; everything else (sampled, B3 debug, malformed headers) takes that path.
 * Their ids come from a pooled random source (IdPool), as Envoy draws them from its own random
 * generator; sampled spans keep the SDK's generator.
 */
import { randomFillSync } from 'node:crypto';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { createContextKey, isSpanContextValid, trace, TraceFlags, type Span } from '@opentelemetry/api';
import type { ExchangeRecord, Headers, HttpFilterStage, ListenerPlanExt, RequestHead } from '@meshwork/proxy';
import { CallbackSpanProcessor, createIstioSampler, extractTraceContext, injectTraceContext, ProxyTracer, responseFlagsOf, TRACE_HEADERS, type ProxyIdentity, type SpanRecord } from '@meshwork/telemetry';

export interface ProxyTracingOptions {
  readonly identity: ProxyIdentity;
  /** Percent of new traces sampled (0–100); requests with a sampling decision keep it. */
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

/**
 * unsampledParentTrace returns the trace id of the request's parent when its headers have one of
 * the two plain shapes proxies send and the parent is not sampled — `traceparent: 00-T-S-0x`
 * (even flags), or B3 multi `x-b3-traceid` (16 or 32 hex) and `x-b3-spanid` with `x-b3-sampled`
 * absent, `0` or `false` — and no `tracestate`, `b3` or `x-b3-flags`. It decides as
 * extractTraceContext (OpenTelemetry's propagators) does for those shapes: W3C over B3, ids
 * lower-case hex and not all zeros. Undefined: any other case, left to the propagators.
 */
function unsampledParentTrace(h: Headers): string | undefined {
  if (h.get('tracestate') !== undefined || h.get('b3') !== undefined || h.get('x-b3-flags') !== undefined) return undefined;
  const tp = h.get('traceparent');
  if (tp !== undefined) {
    const m = TRACEPARENT.exec(tp);
    if (m === null || m[1] === ZERO32 || m[2] === ZERO16 || (parseInt(m[3], 16) & TraceFlags.SAMPLED) !== 0) return undefined;
    return m[1];
  }
  const t = h.get('x-b3-traceid');
  const sp = h.get('x-b3-spanid');
  const sampled = h.get('x-b3-sampled');
  if (t === undefined || sp === undefined || !(sampled === undefined || sampled === '0' || sampled === 'false')) return undefined;
  const trace = t.length === 16 && HEX16.test(t) ? ZERO16 + t : t.length === 32 && HEX32.test(t) ? t : undefined;
  if (trace === undefined || trace === ZERO32 || !HEX16.test(sp) || sp === ZERO16) return undefined;
  return trace;
}

/**
 * setUnsampled writes what inject writes for an unsampled child — `traceparent`, `tracestate`
 * when given, `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled: 0` — as that sequence of Headers.set
 * calls leaves the list (every earlier value of these names removed, the new ones appended in
 * that order), in one pass over the list instead of one per header.
 */
function setUnsampled(h: Headers, traceparent: string, tracestate: string | undefined, traceId: string, spanId: string): void {
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
  l.push('x-b3-traceid', traceId, 'x-b3-spanid', spanId, 'x-b3-sampled', '0');
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

/** ProxyTracing starts a span per request (as a filter stage) and ends it from the exchange record. */
export class ProxyTracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: ProxyTracer;
  private readonly open = new WeakMap<RequestHead, Span>();
  /** The sampler's fraction of new traces, as createIstioSampler computes it from the percent. */
  private readonly fraction: number;
  private readonly random: () => number;
  /** A draw the short path made and found sampled: the sampler takes it instead of drawing again. */
  private drawn: number | undefined = undefined;
  /** Ids of the short path's spans and new traces. */
  private readonly spanIds = new IdPool(8);
  private readonly traceIds = new IdPool(16);

  constructor(opts: ProxyTracingOptions) {
    const random = opts.random ?? Math.random;
    this.random = random;
    const p = opts.samplingPercent;
    this.fraction = Math.min(100, Math.max(0, Number.isFinite(p) ? p : 0)) / 100;
    const samplerRandom = (): number => {
      const d = this.drawn;
      if (d === undefined) return random();
      this.drawn = undefined;
      return d;
    };
    this.provider = new BasicTracerProvider({ sampler: createIstioSampler(p, samplerRandom), spanProcessors: [new CallbackSpanProcessor(opts.onSpans)] });
    this.tracer = new ProxyTracer(this.provider, opts.identity);
  }

  /**
   * unsampled writes the propagation headers of an unsampled request and returns true, or returns
   * false when the request needs the full path (and then leaves any sampling draw for the sampler).
   */
  private unsampled(h: Headers): boolean {
    if (!hasTraceHeader(h.list)) {
      // A new trace: the PercentSampler's draw (one per root span, none at 0%).
      if (this.fraction > 0) {
        const r = this.random();
        if (r < this.fraction) {
          this.drawn = r;
          return false;
        }
      }
      // The tracer makes the span id first, then the trace id; inject writes W3C, then B3 multi.
      // None of these headers is present: add is set without the scan.
      const spanId = this.spanIds.id();
      const traceId = this.traceIds.id();
      h.add('traceparent', `00-${traceId}-${spanId}-00`);
      h.add('x-b3-traceid', traceId);
      h.add('x-b3-spanid', spanId);
      h.add('x-b3-sampled', '0');
      return true;
    }
    const known = unsampledParentTrace(h);
    if (known !== undefined) {
      const spanId = this.spanIds.id();
      setUnsampled(h, `00-${known}-${spanId}-00`, undefined, known, spanId);
      return true;
    }
    const ctx = extractTraceContext((n) => h.get(n));
    const parent = trace.getSpanContext(ctx);
    // A remote parent that is not sampled: ParentBasedSampler's remoteParentNotSampled (AlwaysOff), no draw.
    if (parent === undefined || !isSpanContextValid(parent) || (parent.traceFlags & TraceFlags.SAMPLED) !== 0 || ctx.getValue(B3_DEBUG) !== undefined) return false;
    const spanId = this.spanIds.id();
    setUnsampled(h, `00-${parent.traceId}-${spanId}-00`, parent.traceState ? parent.traceState.serialize() : undefined, parent.traceId, spanId);
    return true;
  }

  /** stage returns the filter stage for a listener's HTTP chains (client spans outbound, server spans inbound). */
  stage(listener: ListenerPlanExt): HttpFilterStage {
    const kind = listener.trafficDirection === 'INBOUND' ? 'server' : 'client';
    return {
      name: 'meshwork.tracing',
      run: ({ req, down }) => {
        const h = req.headers;
        if (this.unsampled(h)) return undefined;
        const parent = extractTraceContext((n) => h.get(n));
        const { span, context } = this.tracer.startRequestSpan({
          kind,
          parent,
          method: req.method,
          scheme: req.scheme,
          authority: req.authority,
          path: req.path,
          ...(h.get('x-request-id') !== undefined ? { requestId: h.get('x-request-id') } : {}),
          ...(h.get('user-agent') !== undefined ? { userAgent: h.get('user-agent') } : {}),
          ...(down.remoteAddress ? { downstreamRemoteAddress: down.remoteAddress } : {}),
        });
        // The request continues with this span as its parent, in both propagation formats.
        injectTraceContext(context, (n, v) => h.set(n, v));
        this.open.set(req, span);
        return undefined;
      },
    };
  }

  /** end finishes the request's span with its outcome. */
  end(rec: ExchangeRecord): void {
    const span = this.open.get(rec.request);
    if (!span) return;
    this.open.delete(rec.request);
    this.tracer.endRequestSpan(span, {
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
    });
  }

  async close(): Promise<void> {
    await this.provider.shutdown();
  }
}
