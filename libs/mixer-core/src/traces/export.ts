/**
 * Export of the spans mixer receives to Zipkin (v2 JSON, `POST /api/v2/spans`) and to an
 * OpenTelemetry collector (OTLP/HTTP JSON, `POST /v1/traces`) with the OpenTelemetry SDK's own
 * exporters, so the wire format is theirs. Sidecars' compact SpanRecords are turned back into
 * the SDK's ReadableSpan, with one Resource per service (`service.name` is Istio's
 * `<canonical service>.<namespace>`), which is what both exporters take the service from.
 *
 * Exporting never blocks ingestion: spans go through a bounded BufferedPublisher (batching by
 * size and time); a full buffer or a failed POST drops and counts, nothing is retried (as the
 * SDK's BatchSpanProcessor).
 */
import { SpanKind, SpanStatusCode, TraceFlags, type HrTime } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BufferedPublisher } from '@meshwork/telemetry';
import type { ExportTarget } from './providers.js';
import type { StoredSpan } from './trace-store.js';

const KINDS: Record<StoredSpan['kind'], SpanKind> = {
  client: SpanKind.CLIENT,
  server: SpanKind.SERVER,
  internal: SpanKind.INTERNAL,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

function hrTime(us: number): HrTime {
  const s = Math.floor(us / 1e6);
  return [s, Math.round((us - s * 1e6) * 1000)];
}

/** ResourceCache keeps one Resource per service name, so OTLP groups a service's spans together. */
class ResourceCache {
  private readonly m = new Map<string, Resource>();
  get(service: string): Resource {
    let r = this.m.get(service);
    if (!r) {
      r = resourceFromAttributes({ 'service.name': service });
      if (this.m.size > 10_000) this.m.clear(); // a bound against hostile span streams
      this.m.set(service, r);
    }
    return r;
  }
}

/** toReadableSpan returns the SDK's view of a stored span (what SpanExporters take). */
export function toReadableSpan(s: StoredSpan, resource: Resource): ReadableSpan {
  const ctx = { traceId: s.traceId, spanId: s.spanId, traceFlags: TraceFlags.SAMPLED };
  return {
    name: s.name,
    kind: KINDS[s.kind] ?? SpanKind.INTERNAL,
    spanContext: () => ctx,
    parentSpanContext: s.parentSpanId ? { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true } : undefined,
    startTime: hrTime(s.startUs),
    endTime: hrTime(s.startUs + s.durationUs),
    duration: hrTime(s.durationUs),
    status: { code: s.error ? SpanStatusCode.ERROR : SpanStatusCode.UNSET },
    attributes: { ...s.attributes },
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: { name: 'meshwork-proxy' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** Where to export; each is off when its URL is absent. */
export interface TraceExportOptions {
  /** Zipkin collector, e.g. `http://zipkin:9411/api/v2/spans`. */
  readonly zipkinUrl?: string;
  /** OTLP/HTTP traces endpoint, e.g. `http://otel-collector:4318/v1/traces`. */
  readonly otlpUrl?: string;
  /** More targets, e.g. from MeshConfig extensionProviders (tracingExportTargets); named by provider. */
  readonly targets?: readonly ExportTarget[];
  /** Spans per export call (default 500). */
  readonly maxBatch?: number;
  /** Spans waiting at most (default 10,000; beyond, dropped and counted). */
  readonly maxBuffered?: number;
  /** Longest wait before a partial batch is sent, ms (default 1,000). */
  readonly flushIntervalMs?: number;
  /** Called with each failed export (the spans are dropped). */
  readonly onError?: (target: string, err: unknown) => void;
  /** Exporters to use instead of the SDK's (tests). */
  readonly exporters?: readonly { name: string; exporter: SpanExporter }[];
}

/** Per-target counts of spans exported, failed and dropped. */
export interface ExportCounts {
  exported: number;
  failed: number;
  dropped: number;
}

function exportOnce(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  return new Promise((resolve, reject) => {
    exporter.export(spans, (r: ExportResult) => (r.code === ExportResultCode.SUCCESS ? resolve() : reject(r.error ?? new Error('export failed'))));
  });
}

/** TraceExporters sends spans to every configured target, each through its own bounded buffer. */
export class TraceExporters {
  private readonly targets: { name: string; exporter: SpanExporter; buffer: BufferedPublisher<StoredSpan>; counts: ExportCounts }[] = [];
  private readonly resources = new ResourceCache();

  constructor(opts: TraceExportOptions) {
    const exporters: { name: string; exporter: SpanExporter }[] = [...(opts.exporters ?? [])];
    if (opts.zipkinUrl) exporters.push({ name: 'zipkin', exporter: new ZipkinExporter({ url: opts.zipkinUrl }) });
    if (opts.otlpUrl) exporters.push({ name: 'otlp', exporter: new OTLPTraceExporter({ url: opts.otlpUrl }) });
    for (const t of opts.targets ?? []) {
      exporters.push({ name: t.name, exporter: t.kind === 'zipkin' ? new ZipkinExporter({ url: t.url }) : new OTLPTraceExporter({ url: t.url }) });
    }
    for (const { name, exporter } of exporters) {
      const counts: ExportCounts = { exported: 0, failed: 0, dropped: 0 };
      const buffer = new BufferedPublisher<StoredSpan>({
        maxBatch: opts.maxBatch ?? 500,
        maxBuffered: opts.maxBuffered ?? 10_000,
        flushIntervalMs: opts.flushIntervalMs ?? 1_000,
        sink: async (batch) => {
          try {
            await exportOnce(exporter, batch.map((s) => toReadableSpan(s, this.resources.get(s.service))));
            counts.exported += batch.length;
          } catch (err) {
            counts.failed += batch.length;
            opts.onError?.(name, err);
            throw err;
          }
        },
      });
      this.targets.push({ name, exporter, buffer, counts });
    }
  }

  /** Names of the configured targets (`zipkin`, `otlp`). */
  get names(): string[] {
    return this.targets.map((t) => t.name);
  }

  /** offer queues spans for every target; never waits. */
  offer(spans: readonly StoredSpan[]): void {
    for (const t of this.targets) {
      for (const s of spans) if (!t.buffer.offer(s)) t.counts.dropped++;
    }
  }

  /** counts returns what each target exported, failed to export and dropped. */
  counts(): Record<string, ExportCounts> {
    return Object.fromEntries(this.targets.map((t) => [t.name, { ...t.counts }]));
  }

  /** close flushes what is buffered and shuts the exporters down. */
  async close(): Promise<void> {
    for (const t of this.targets) {
      await t.buffer.close().catch(() => undefined);
      await t.exporter.shutdown().catch(() => undefined);
    }
  }
}
