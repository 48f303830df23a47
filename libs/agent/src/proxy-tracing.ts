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
 */
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Span } from '@opentelemetry/api';
import type { ExchangeRecord, HttpFilterStage, ListenerPlanExt, RequestHead } from '@meshwork/proxy';
import { CallbackSpanExporter, createIstioSampler, extractTraceContext, injectTraceContext, ProxyTracer, responseFlagsOf, type ProxyIdentity, type SpanRecord } from '@meshwork/telemetry';

export interface ProxyTracingOptions {
  readonly identity: ProxyIdentity;
  /** Percent of new traces sampled (0–100); requests with a sampling decision keep it. */
  readonly samplingPercent: number;
  readonly onSpans: (spans: SpanRecord[]) => void;
  readonly random?: () => number;
}

/** ProxyTracing starts a span per request (as a filter stage) and ends it from the exchange record. */
export class ProxyTracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: ProxyTracer;
  private readonly open = new WeakMap<RequestHead, Span>();

  constructor(opts: ProxyTracingOptions) {
    this.provider = new BasicTracerProvider({ sampler: createIstioSampler(opts.samplingPercent, opts.random), spanProcessors: [new SimpleSpanProcessor(new CallbackSpanExporter(opts.onSpans))] });
    this.tracer = new ProxyTracer(this.provider, opts.identity);
  }

  /** stage returns the filter stage for a listener's HTTP chains (client spans outbound, server spans inbound). */
  stage(listener: ListenerPlanExt): HttpFilterStage {
    const kind = listener.trafficDirection === 'INBOUND' ? 'server' : 'client';
    return {
      name: 'meshwork.tracing',
      run: ({ req, down }) => {
        const h = req.headers;
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
