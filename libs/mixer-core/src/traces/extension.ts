/**
 * The traces extension of mixer: subscribes to finished spans (`mesh.spans.>`, in a queue group
 * so replicas share the stream), keeps recent traces in a TraceStore, serves the trace API and
 * exports to Zipkin / OTLP when their URLs are set.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { SPANS_SUBJECTS } from '@meshwork/bus';
import type { SettingDef } from '@meshwork/settings';
import type { SpanRecord } from '@meshwork/telemetry';
import type { MixerContext, MixerExtension, MixerService } from '../extension.js';
import { CounterMirror } from './counter-mirror.js';
import { TraceExporters } from './export.js';
import { registerTraceRoutes } from './routes.js';
import { TraceStore, type SpanOrigin } from './trace-store.js';

/** Flags of the traces extension (joined to mixer's --help and docs/mixer.md). */
export const TRACE_SETTINGS = [
  { key: 'traceMaxTraces', flag: 'trace-max-traces', env: 'MIXER_TRACE_MAX_TRACES', type: 'int', default: '10000', description: 'most traces kept for the trace API (least recently updated evicted first)' },
  { key: 'traceMaxSpans', flag: 'trace-max-spans', env: 'MIXER_TRACE_MAX_SPANS', type: 'int', default: '200000', description: 'most spans kept in all (whole traces evicted, oldest first)' },
  { key: 'traceMaxSpansPerTrace', flag: 'trace-max-spans-per-trace', env: 'MIXER_TRACE_MAX_SPANS_PER_TRACE', type: 'int', default: '1000', description: 'most spans kept per trace (later ones dropped and counted)' },
  { key: 'traceMaxAge', flag: 'trace-max-age', env: 'MIXER_TRACE_MAX_AGE', type: 'duration', default: '1h', description: 'a trace with no new span for this long is forgotten' },
  { key: 'traceQueueGroup', flag: 'trace-queue-group', env: 'MIXER_TRACE_QUEUE_GROUP', type: 'string', default: 'mixer-traces', description: 'NATS queue group for mesh.spans.> (replicas share the spans; empty: every replica gets every span)' },
  { key: 'zipkinUrl', flag: 'zipkin-url', env: 'MIXER_ZIPKIN_URL', type: 'string', description: 'export spans to this Zipkin v2 endpoint (e.g. http://zipkin:9411/api/v2/spans)' },
  { key: 'otlpTracesUrl', flag: 'otlp-traces-url', env: 'MIXER_OTLP_TRACES_URL', type: 'string', description: 'export spans over OTLP/HTTP to this endpoint (e.g. http://otel-collector:4318/v1/traces)' },
] as const satisfies readonly SettingDef[];

/** The part of a NATS connection the span subscription uses (nats.js's NatsConnection fits). */
export interface SpanBus {
  subscribe(subject: string, opts: { queue?: string; callback: (err: Error | null, msg: { subject: string; data: Uint8Array }) => void }): { unsubscribe(): void };
}

/** originOf returns the namespace and workload from a `mesh.spans.<ns>.<workload>` subject. */
export function originOf(subject: string): SpanOrigin {
  const parts = subject.split('.');
  return parts.length >= 4 ? { namespace: parts[2], workload: parts.slice(3).join('.') } : {};
}

/** Options of TraceCollector. */
export interface TraceCollectorOptions {
  readonly store: TraceStore;
  readonly exporters?: TraceExporters;
  readonly registry?: Registry;
  readonly onError?: (err: unknown) => void;
}

/** TraceCollector turns span messages into the store (and the exporters), and counts them in mixer's metrics. */
export class TraceCollector {
  readonly store: TraceStore;
  readonly exporters?: TraceExporters;
  private invalid = 0;

  constructor(private readonly opts: TraceCollectorOptions) {
    this.store = opts.store;
    this.exporters = opts.exporters;
    if (opts.registry) this.registerMetrics(opts.registry);
  }

  /** handle takes one `mesh.spans.*` message (a JSON array of SpanRecords). */
  handle(subject: string, data: Uint8Array | string): void {
    let spans: unknown;
    try {
      spans = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
    } catch (err) {
      this.invalid++;
      this.opts.onError?.(err);
      return;
    }
    if (!Array.isArray(spans)) {
      this.invalid++;
      return;
    }
    const accepted = this.store.add(spans as SpanRecord[], originOf(subject));
    if (accepted.length > 0) this.exporters?.offer(accepted);
  }

  /** subscribe starts receiving spans from the bus; the returned function stops. */
  subscribe(bus: SpanBus, queue?: string): () => void {
    const sub = bus.subscribe(SPANS_SUBJECTS, {
      ...(queue ? { queue } : {}),
      callback: (err, msg) => {
        if (err) this.opts.onError?.(err);
        else this.handle(msg.subject, msg.data);
      },
    });
    return () => sub.unsubscribe();
  }

  private registerMetrics(registry: Registry): void {
    // Counters mirror the store's own totals at scrape time (the store stays free of prom-client).
    const mirror = new CounterMirror();
    const store = this.store;
    const self = (): TraceCollector => this;
    new Counter({
      name: 'mixer_spans_received_total',
      help: 'Spans received on mesh.spans.> (accepted or not).',
      registers: [registry],
      collect() {
        mirror.set(this, () => store.stats().received);
      },
    });
    new Counter({
      name: 'mixer_spans_dropped_total',
      help: 'Spans not kept: past --trace-max-spans-per-trace, malformed, or in a message that was not a JSON array.',
      registers: [registry],
      collect() {
        mirror.set(this, () => store.stats().droppedSpans + self().invalid);
      },
    });
    new Counter({
      name: 'mixer_traces_evicted_total',
      help: 'Traces forgotten, by reason: capacity (--trace-max-traces, --trace-max-spans) or age (--trace-max-age).',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        mirror.set(this, () => store.stats().evictedTraces, { reason: 'capacity' });
        mirror.set(this, () => store.stats().expiredTraces, { reason: 'age' });
      },
    });
    new Gauge({
      name: 'mixer_traces',
      help: 'Traces held for the trace API.',
      registers: [registry],
      collect() {
        this.set(store.stats().traces);
      },
    });
    new Gauge({
      name: 'mixer_trace_spans',
      help: 'Spans held for the trace API.',
      registers: [registry],
      collect() {
        this.set(store.stats().spans);
      },
    });
    const exporters = this.exporters;
    if (exporters && exporters.names.length > 0) {
      new Counter({
        name: 'mixer_spans_exported_total',
        help: 'Spans sent to a trace backend, by target (zipkin, otlp) and result (success, failure: POST failed; dropped: export buffer full).',
        labelNames: ['target', 'result'],
        registers: [registry],
        collect() {
          for (const [target, c] of Object.entries(exporters.counts())) {
            mirror.set(this, () => c.exported, { target, result: 'success' });
            mirror.set(this, () => c.failed, { target, result: 'failure' });
            mirror.set(this, () => c.dropped, { target, result: 'dropped' });
          }
        },
      });
    }
  }
}

/** tracesExtension returns mixer's traces extension (one line in apps/mixer/src/extensions.ts). */
export const tracesExtension: MixerExtension = (() => {
  let collector: TraceCollector | undefined;
  const ensure = (ctx: MixerContext): TraceCollector => {
    if (collector) return collector;
    const s = ctx.settings as Record<string, unknown>;
    const store = new TraceStore({
      maxTraces: s.traceMaxTraces as number,
      maxSpans: s.traceMaxSpans as number,
      maxSpansPerTrace: s.traceMaxSpansPerTrace as number,
      maxAgeMs: s.traceMaxAge as number,
    });
    const zipkinUrl = (s.zipkinUrl as string | undefined) || undefined;
    const otlpUrl = (s.otlpTracesUrl as string | undefined) || undefined;
    const exporters = zipkinUrl || otlpUrl ? new TraceExporters({ zipkinUrl, otlpUrl, onError: (target, err) => ctx.log.warn({ target, err: (err as Error)?.message }, 'span export failed') }) : undefined;
    collector = new TraceCollector({ store, exporters, registry: ctx.registry, onError: (err) => ctx.log.debug({ err: (err as Error)?.message }, 'bad span message') });
    return collector;
  };
  return {
    name: 'traces',
    settings: TRACE_SETTINGS,
    routes: (app, ctx) => registerTraceRoutes(app, ensure(ctx).store),
    start: async (ctx): Promise<MixerService> => {
      const c = ensure(ctx);
      const stop = c.subscribe(ctx.nc as unknown as SpanBus, (ctx.settings as Record<string, unknown>).traceQueueGroup as string);
      ctx.log.info({ exporters: c.exporters?.names ?? [] }, 'traces: receiving spans');
      return {
        close: async () => {
          stop();
          await c.exporters?.close();
        },
      };
    },
  };
})();
