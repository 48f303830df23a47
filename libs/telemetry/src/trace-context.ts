/**
 * Trace context for the proxy: W3C `traceparent`/`tracestate` and B3 (single `b3` and multi
 * `x-b3-*`) extracted and injected through the OpenTelemetry propagators over plain header
 * callbacks; `x-request-id` as Envoy generates it; a sampler that follows Istio's `sampling`
 * percentage; request spans with Envoy/Istio tag names; and an exporter that hands finished spans
 * to a callback (the apps publish them on `mesh.spans.*`).
 */
import { randomUUID } from 'node:crypto';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Attributes,
  type Context,
  type HrTime,
  type Span,
  type SpanContext,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, globalErrorHandler, hrTimeDuration, hrTimeToMicroseconds, millisToHrTime, type ExportResult } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import { ParentBasedSampler, SamplingDecision, type ReadableSpan, type Sampler, type SamplingResult, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { RequestRecord } from './request-record.js';

/** Reads one header (lower-case name) of the proxy's flat header list: the first value, or undefined. */
export type HeaderGetter = (name: string) => string | undefined;
/** Sets one header (lower-case name), replacing existing values. */
export type HeaderSetter = (name: string, value: string) => void;

// The carrier is the callback itself; OTel's TextMap interfaces only need get/keys/set on it.
const getter: TextMapGetter<HeaderGetter> = {
  get: (get, key) => get(key.toLowerCase()),
  // Only used by propagators that scan all headers (none of ours); the header list is not enumerable through a getter.
  keys: () => [],
};
const setter: TextMapSetter<HeaderSetter> = {
  set: (set, key, value) => set(key.toLowerCase(), value),
};

const w3c = new W3CTraceContextPropagator();
const b3 = new B3Propagator(); // extraction reads both single and multi headers
const b3Multi = new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER });
const b3Single = new B3Propagator({ injectEncoding: B3InjectEncoding.SINGLE_HEADER });

/** Which formats inject writes. Istio's Zipkin setup propagates B3 multi headers; OTel tracing uses W3C. */
export interface PropagationFormats {
  /** Write `traceparent` (and `tracestate` when present). Default true. */
  readonly w3c?: boolean;
  /** Write B3 `multi` (`x-b3-*`), `single` (`b3`), or nothing. Default `multi`. */
  readonly b3?: 'multi' | 'single' | false;
}

/**
 * extractTraceContext returns a Context carrying the remote parent found in the headers, or
 * ROOT_CONTEXT when there is none or it is invalid (malformed headers are ignored, as Envoy does).
 * When both W3C and B3 are present and valid, W3C wins.
 */
export function extractTraceContext(get: HeaderGetter, base: Context = ROOT_CONTEXT): Context {
  const fromB3 = b3.extract(base, get, getter);
  return w3c.extract(fromB3, get, getter);
}

/** remoteSpanContext returns the remote parent in the headers, or undefined. */
export function remoteSpanContext(get: HeaderGetter): SpanContext | undefined {
  return trace.getSpanContext(extractTraceContext(get));
}

/**
 * injectTraceContext writes the span context of `ctx` into headers in the chosen formats; writes
 * nothing when `ctx` carries no valid span context.
 */
export function injectTraceContext(ctx: Context, set: HeaderSetter, formats: PropagationFormats = {}): void {
  if (formats.w3c ?? true) w3c.inject(ctx, set, setter);
  const b = formats.b3 ?? 'multi';
  if (b === 'multi') b3Multi.inject(ctx, set, setter);
  else if (b === 'single') b3Single.inject(ctx, set, setter);
}

/** The headers injectTraceContext may write, for stripping stale values before injecting. */
export const TRACE_HEADERS: readonly string[] = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];

/**
 * ensureRequestId returns the request's `x-request-id`, generating a UUID v4 and setting the
 * header when it is absent or empty (Envoy's behaviour for edge and sidecar proxies).
 */
export function ensureRequestId(get: HeaderGetter, set: HeaderSetter, uuid: () => string = randomUUID): string {
  const id = get('x-request-id');
  if (id) return id;
  const fresh = uuid();
  set('x-request-id', fresh);
  return fresh;
}

// ───────────────────────────── sampling ─────────────────────────────

/** Istio's default `sampling` (meshConfig.defaultConfig.tracing.sampling): 1%. */
export const DEFAULT_SAMPLING_PERCENT = 1;

/**
 * PercentSampler samples new traces with probability `percent`/100, drawing from an injected
 * random source (Envoy draws per request, not from the trace id; tests seed it).
 */
export class PercentSampler implements Sampler {
  private readonly fraction: number;

  constructor(
    percent: number = DEFAULT_SAMPLING_PERCENT,
    private readonly random: () => number = Math.random,
  ) {
    this.fraction = Math.min(100, Math.max(0, Number.isFinite(percent) ? percent : 0)) / 100;
  }

  shouldSample(): SamplingResult {
    return { decision: this.fraction > 0 && this.random() < this.fraction ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  }

  toString(): string {
    return `PercentSampler{${this.fraction * 100}%}`;
  }
}

/**
 * createIstioSampler returns the sampler for a proxy's TracerProvider: a remote parent's sampled
 * flag is honoured (x-b3-sampled / traceparent flags), and new traces are sampled at `percent`.
 */
export function createIstioSampler(percent: number = DEFAULT_SAMPLING_PERCENT, random: () => number = Math.random): Sampler {
  return new ParentBasedSampler({ root: new PercentSampler(percent, random) });
}

// ───────────────────────────── request spans ─────────────────────────────

/** Facts about the proxy that every span carries (Envoy's node and Istio's peer metadata). */
export interface ProxyIdentity {
  /** Envoy node id, e.g. `sidecar~10.0.0.5~reviews-v1-abc.default~default.svc.cluster.local`. */
  readonly nodeId: string;
  /** Local cluster name (Envoy's downstream_cluster), e.g. `reviews.default`. */
  readonly cluster?: string;
  readonly zone?: string;
  readonly canonicalService?: string;
  readonly canonicalRevision?: string;
  readonly namespace?: string;
  readonly meshId?: string;
}

/** What a span needs to know when the request starts. */
export interface RequestSpanStart {
  /** `client` for the outbound (source) side, `server` for the inbound (destination) side. */
  readonly kind: 'client' | 'server';
  /** The remote parent (extractTraceContext), or ROOT_CONTEXT. */
  readonly parent: Context;
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
  readonly requestId?: string;
  readonly userAgent?: string;
  readonly httpProtocol?: string;
  readonly downstreamRemoteAddress?: string;
  /** Span name; default Istio's route decorator shape `<authority>/*`. */
  readonly operation?: string;
  /** Start time, epoch ms (default now). */
  readonly startTime?: number;
}

/**
 * ProxyTracer returns request spans from an injected TracerProvider (whose sampler decides;
 * see createIstioSampler), tagged with Envoy's and Istio's span tag names.
 */
export class ProxyTracer {
  private readonly tracer: Tracer;

  constructor(
    provider: TracerProvider,
    private readonly identity: ProxyIdentity,
  ) {
    this.tracer = provider.getTracer('meshwork-proxy');
  }

  /**
   * startRequestSpan returns the span for one request and the Context to inject upstream (the
   * span as parent). A span the sampler dropped is non-recording but still carries ids and the
   * not-sampled flag, so the decision travels with the request.
   */
  startRequestSpan(s: RequestSpanStart): { span: Span; context: Context } {
    const attributes: Attributes = requestSpanAttributes(this.identity, s);
    const span = this.tracer.startSpan(
      s.operation ?? `${s.authority}/*`,
      { kind: s.kind === 'client' ? SpanKind.CLIENT : SpanKind.SERVER, attributes, startTime: s.startTime },
      s.parent,
    );
    return { span, context: trace.setSpan(s.parent, span) };
  }

  /**
   * endRequestSpan tags the outcome from the request record and ends the span at
   * startTime + duration. Error as Envoy marks it: a 5xx or no response, or a non-OK gRPC status.
   */
  endRequestSpan(span: Span, r: RequestRecord): void {
    if (!span.isRecording()) return;
    const attrs: Record<string, string | number | boolean> = {};
    if (outcomeAttributes(r, attrs)) span.setStatus({ code: SpanStatusCode.ERROR });
    span.setAttributes(attrs);
    span.end(r.startTime + r.durationMs);
  }

  /**
   * startSampledSpan returns a sampled request span kept without OpenTelemetry, for a request
   * whose ids and sampling the caller decided (a new trace its draw picked, or a plain sampled
   * parent): its record is the one spanRecordOf makes of the SDK's span for the same request.
   */
  startSampledSpan(s: Omit<RequestSpanStart, 'parent' | 'startTime'>, traceId: string, spanId: string, parentSpanId: string | undefined): SampledSpan {
    return new SampledSpan(traceId, spanId, parentSpanId, s.operation ?? `${s.authority}/*`, s.kind, requestSpanAttributes(this.identity, s));
  }
}

/**
 * requestSpanAttributes returns a request span's tags when it starts: Envoy's (`component`,
 * `node_id`, `http.*`, `guid:x-request-id`, …) and Istio's (`istio.*`), in the order the span has them.
 */
export function requestSpanAttributes(id: ProxyIdentity, s: Omit<RequestSpanStart, 'parent'>): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {
    component: 'proxy',
    node_id: id.nodeId,
    'http.method': s.method,
    'http.url': `${s.scheme}://${s.authority}${s.path}`,
  };
  if (id.zone) attributes.zone = id.zone;
  if (id.cluster) attributes.downstream_cluster = id.cluster;
  if (s.requestId) attributes['guid:x-request-id'] = s.requestId;
  if (s.userAgent) attributes.user_agent = s.userAgent;
  if (s.httpProtocol) attributes['http.protocol'] = s.httpProtocol;
  if (s.downstreamRemoteAddress) attributes['peer.address'] = s.downstreamRemoteAddress;
  if (id.canonicalService) attributes['istio.canonical_service'] = id.canonicalService;
  if (id.canonicalRevision) attributes['istio.canonical_revision'] = id.canonicalRevision;
  if (id.namespace) attributes['istio.namespace'] = id.namespace;
  if (id.meshId) attributes['istio.mesh_id'] = id.meshId;
  return attributes;
}

/**
 * outcomeAttributes adds a request span's tags from its record to `attrs` and returns whether the
 * span is an error as Envoy marks it: a 5xx or no response, or a non-OK gRPC status.
 */
function outcomeAttributes(r: RequestRecord, attrs: Record<string, string | number | boolean>): boolean {
  attrs['http.status_code'] = r.responseCode;
  attrs.response_flags = r.responseFlags || '-';
  attrs.request_size = r.bytesReceived;
  attrs.response_size = r.bytesSent;
  if (r.upstreamCluster) {
    attrs.upstream_cluster = r.upstreamCluster;
    attrs['upstream_cluster.name'] = r.upstreamCluster;
  }
  if (r.upstreamHost) attrs.upstream_address = r.upstreamHost;
  if (r.grpcStatus !== undefined) attrs['grpc.status_code'] = r.grpcStatus;
  const isError = r.responseCode === 0 || r.responseCode >= 500 || (r.protocol === 'grpc' && r.grpcStatus !== undefined && r.grpcStatus !== 0);
  if (isError) attrs.error = true;
  return isError;
}

/**
 * SampledSpan is a sampled request span without the SDK's span, context and processor objects
 * (ProxyTracer.startSampledSpan): the same times (the start read from Date.now() in milliseconds,
 * the end at the record's start + duration, a negative duration made 0, as the SDK's span does)
 * and tags, so end() returns the SpanRecord the SDK path would export.
 */
export class SampledSpan {
  private readonly start: HrTime = millisToHrTime(Date.now());

  constructor(
    readonly traceId: string,
    readonly spanId: string,
    readonly parentSpanId: string | undefined,
    private readonly name: string,
    private readonly kind: 'client' | 'server',
    private readonly attributes: Record<string, string | number | boolean>,
  ) {}

  /** end returns the finished span's record, tagged with the request's outcome. */
  end(r: RequestRecord): SpanRecord {
    const error = outcomeAttributes(r, this.attributes);
    let duration = hrTimeDuration(this.start, millisToHrTime(r.startTime + r.durationMs));
    if (duration[0] < 0) duration = [0, 0];
    return makeSpanRecord(this.traceId, this.spanId, this.parentSpanId, this.name, this.kind, Math.round(hrTimeToMicroseconds(this.start)), Math.round(hrTimeToMicroseconds(duration)), error, this.attributes);
  }
}

// ───────────────────────────── export ─────────────────────────────

/** A finished span in a compact, JSON-ready form for NATS (`mesh.spans.*`) and mixer. */
export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: 'client' | 'server' | 'internal' | 'producer' | 'consumer';
  /** Start, epoch microseconds (Zipkin's unit). */
  readonly startUs: number;
  readonly durationUs: number;
  readonly error: boolean;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
}

const KIND_NAMES: Record<number, SpanRecord['kind']> = {
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
};

/** spanRecordOf returns the compact record of a finished span. */
export function spanRecordOf(s: ReadableSpan): SpanRecord {
  const ctx = s.spanContext();
  const attributes: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(s.attributes)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') attributes[k] = v;
    else if (Array.isArray(v)) attributes[k] = v.join(',');
  }
  return makeSpanRecord(
    ctx.traceId,
    ctx.spanId,
    s.parentSpanContext?.spanId,
    s.name,
    KIND_NAMES[s.kind] ?? 'internal',
    Math.round(hrTimeToMicroseconds(s.startTime)),
    Math.round(hrTimeToMicroseconds(s.duration)),
    s.status.code === SpanStatusCode.ERROR,
    attributes,
  );
}

function makeSpanRecord(traceId: string, spanId: string, parentSpanId: string | undefined, name: string, kind: SpanRecord['kind'], startUs: number, durationUs: number, error: boolean, attributes: Record<string, string | number | boolean>): SpanRecord {
  const rec: SpanRecord = { traceId, spanId, name, kind, startUs, durationUs, error, attributes };
  return parentSpanId !== undefined ? { ...rec, parentSpanId } : rec;
}

/**
 * CallbackSpanExporter returns a SpanExporter that hands each batch of finished spans to a
 * callback as SpanRecords (wire it to a BufferedPublisher whose sink publishes on NATS). A
 * callback that throws or rejects makes the export FAILED; nothing is retried here.
 */
export class CallbackSpanExporter implements SpanExporter {
  private stopped = false;

  constructor(private readonly onSpans: (spans: SpanRecord[]) => void | Promise<void>) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.stopped) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('exporter shut down') });
      return;
    }
    let out: void | Promise<void>;
    try {
      out = this.onSpans(spans.map(spanRecordOf));
    } catch (error) {
      resultCallback({ code: ExportResultCode.FAILED, error: error as Error });
      return;
    }
    if (out instanceof Promise) {
      out.then(
        () => resultCallback({ code: ExportResultCode.SUCCESS }),
        (error: unknown) => resultCallback({ code: ExportResultCode.FAILED, error: error as Error }),
      );
    } else resultCallback({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
  }

  /** Nothing to flush: every export hands its spans over immediately. */
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * CallbackSpanProcessor returns a SpanProcessor that hands each finished sampled span to a
 * callback as a SpanRecord, synchronously, when the span ends: what SimpleSpanProcessor with a
 * CallbackSpanExporter delivers, without its per-span export machinery (an async export, a
 * context switch to suppress tracing, a promise and a pending-export set per span), which made a
 * sampled request's span cost several times its request's other tracing work. A callback that
 * throws or rejects goes to OpenTelemetry's global error handler, as SimpleSpanProcessor reports
 * a failed export; nothing is retried.
 */
export class CallbackSpanProcessor implements SpanProcessor {
  private stopped = false;

  constructor(private readonly onSpans: (spans: SpanRecord[]) => void | Promise<void>) {}

  /** Spans are read when they end. */
  onStart(): void {
    return undefined;
  }

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    this.handOver(spanRecordOf(span));
  }

  /** handOver gives one finished span's record to the callback (until shutdown): also for spans kept without the SDK (SampledSpan). */
  handOver(rec: SpanRecord): void {
    if (this.stopped) return;
    try {
      const out = this.onSpans([rec]);
      if (out instanceof Promise) out.catch((err: unknown) => globalErrorHandler(err as Error));
    } catch (err) {
      globalErrorHandler(err as Error);
    }
  }

  /** Nothing to flush: every span is handed over when it ends. */
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
  }
}

