/**
 * The traces extension of mixer: subscribes to finished spans (`mesh.spans.>`, in a queue group
 * so replicas share the stream), keeps recent traces in a TraceStore, serves the trace API and
 * exports to Zipkin / OTLP when their URLs are set.
 */
import { readFile } from 'node:fs/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import { SPANS_SUBJECTS } from '@meshwork/bus';
import { KvConfigStore } from '@meshwork/registry';
import type { SettingDef } from '@meshwork/settings';
import type { SpanRecord } from '@meshwork/telemetry';
import type { MixerContext, MixerExtension, MixerService } from '../extension.js';
import { CounterMirror } from './counter-mirror.js';
import { TraceExporters, type ExportCounts } from './export.js';
import { parseMeshConfigText } from '@meshwork/api';
import { tracingExportTargets, type ExportTarget, type MeshTracingConfig, type TelemetryTracingProviders } from './providers.js';
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
  { key: 'meshConfig', flag: 'mesh-config', env: 'MIXER_MESH_CONFIG', type: 'string', description: "Istio MeshConfig YAML (or the istio ConfigMap, or an IstioOperator): also export to the tracing providers the mesh-wide Telemetry (mesh-config KV bucket) or defaultProviders.tracing name from extensionProviders (zipkin, opentelemetry http)" },
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
  private current?: TraceExporters;
  /** Counts of exporters replaced since start, so the export counters keep growing across reconfiguration. */
  private readonly retired: Record<string, ExportCounts> = {};
  private invalid = 0;

  constructor(private readonly opts: TraceCollectorOptions) {
    this.store = opts.store;
    this.current = opts.exporters;
    if (opts.registry) this.registerMetrics(opts.registry);
  }

  /** The exporters in use (undefined: no export). */
  get exporters(): TraceExporters | undefined {
    return this.current;
  }

  /** setExporters replaces the exporters (new provider choice); the old ones flush and shut down. */
  async setExporters(next: TraceExporters | undefined): Promise<void> {
    const old = this.current;
    this.current = next;
    if (!old) return;
    await old.close();
    for (const [name, c] of Object.entries(old.counts())) {
      const r = (this.retired[name] ??= { exported: 0, failed: 0, dropped: 0 });
      r.exported += c.exported;
      r.failed += c.failed;
      r.dropped += c.dropped;
    }
  }

  /** exportCounts returns spans exported, failed and dropped per target since start. */
  exportCounts(): Record<string, ExportCounts> {
    const out: Record<string, ExportCounts> = {};
    for (const [name, c] of Object.entries(this.retired)) out[name] = { ...c };
    for (const [name, c] of Object.entries(this.current?.counts() ?? {})) {
      const o = (out[name] ??= { exported: 0, failed: 0, dropped: 0 });
      o.exported += c.exported;
      o.failed += c.failed;
      o.dropped += c.dropped;
    }
    return out;
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
    if (accepted.length > 0) this.current?.offer(accepted);
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
    new Counter({
      name: 'mixer_spans_exported_total',
      help: 'Spans sent to a trace backend, by target (zipkin, otlp, or the provider name) and result (success; failure: POST failed; dropped: export buffer full).',
      labelNames: ['target', 'result'],
      registers: [registry],
      collect() {
        for (const [target, c] of Object.entries(self().exportCounts())) {
          mirror.set(this, () => c.exported, { target, result: 'success' });
          mirror.set(this, () => c.failed, { target, result: 'failure' });
          mirror.set(this, () => c.dropped, { target, result: 'dropped' });
        }
      },
    });
  }
}

/** exportersFor returns the exporters of the flag URLs plus `targets` (undefined when there is none). */
function exportersFor(ctx: MixerContext, targets: readonly ExportTarget[]): TraceExporters | undefined {
  const s = ctx.settings as Record<string, unknown>;
  const zipkinUrl = (s.zipkinUrl as string | undefined) || undefined;
  const otlpUrl = (s.otlpTracesUrl as string | undefined) || undefined;
  if (!zipkinUrl && !otlpUrl && targets.length === 0) return undefined;
  return new TraceExporters({ zipkinUrl, otlpUrl, targets, onError: (target, err) => ctx.log.warn({ target, err: (err as Error)?.message }, 'span export failed') });
}

/**
 * watchMeshProviders (with --mesh-config) exports to the tracing providers Istio's configuration
 * names: the mesh-wide Telemetry in the mesh-config KV bucket, else defaultProviders.tracing.
 * A Telemetry change re-resolves them; exporters are replaced only when the targets change.
 */
async function watchMeshProviders(ctx: MixerContext, c: TraceCollector): Promise<() => Promise<void>> {
  const path = (ctx.settings as Record<string, unknown>).meshConfig as string | undefined;
  if (!path) return async () => undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`--mesh-config ${path}: ${(err as Error).message}`, { cause: err });
  }
  // libs/api's reader: the bare MeshConfig, the istio ConfigMap or an IstioOperator, with errors by field path.
  const parsed = parseMeshConfigText(text);
  if (!parsed.ok) throw new Error(`--mesh-config ${path}: ${parsed.errors.join('; ')}`);
  for (const w of parsed.warnings) ctx.log.warn({ meshConfig: path }, w);
  const mesh = parsed.value as MeshTracingConfig;
  const rootNs = parsed.value.rootNamespace ?? 'istio-system';
  const log = { info: (o: object, m?: string) => ctx.log.info(o, m ?? ''), warn: (o: object, m?: string) => ctx.log.warn(o, m ?? ''), debug: (o: object, m?: string) => ctx.log.debug(o, m ?? '') };
  const store = await KvConfigStore.open({ nc: ctx.nc, log });
  let applied = '';
  const apply = async (): Promise<void> => {
    const meshWide = store
      .list({ kind: 'Telemetry', namespace: rootNs })
      .map((r) => (r.body as { spec?: TelemetryTracingProviders & { selector?: { matchLabels?: object }; targetRefs?: unknown[] } }).spec ?? {})
      .filter((spec) => Object.keys(spec.selector?.matchLabels ?? {}).length === 0 && !(spec.targetRefs?.length));
    const { targets, warnings } = tracingExportTargets(mesh, meshWide);
    for (const w of warnings) ctx.log.warn({ meshConfig: path }, w);
    const key = JSON.stringify(targets);
    if (key === applied) return;
    applied = key;
    await c.setExporters(exportersFor(ctx, targets));
    ctx.log.info({ providers: targets.map((t) => `${t.name} ${t.url}`) }, 'traces: export targets');
  };
  await apply();
  let chain = Promise.resolve();
  const unwatch = store.watch((e) => {
    if (e.resource.kind === 'Telemetry') chain = chain.then(apply).catch((err: Error) => ctx.log.warn({ err: err.message }, 'traces: cannot apply tracing providers'));
  });
  return async () => {
    unwatch();
    await chain;
    await store.close();
  };
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
    collector = new TraceCollector({ store, exporters: exportersFor(ctx, []), registry: ctx.registry, onError: (err) => ctx.log.debug({ err: (err as Error)?.message }, 'bad span message') });
    return collector;
  };
  return {
    name: 'traces',
    settings: TRACE_SETTINGS,
    routes: (app, ctx) => registerTraceRoutes(app, ensure(ctx).store),
    start: async (ctx): Promise<MixerService> => {
      const c = ensure(ctx);
      const stopProviders = await watchMeshProviders(ctx, c);
      const stop = c.subscribe(ctx.nc as unknown as SpanBus, (ctx.settings as Record<string, unknown>).traceQueueGroup as string);
      ctx.log.info({ exporters: c.exporters?.names ?? [] }, 'traces: receiving spans');
      return {
        close: async () => {
          stop();
          await stopProviders();
          await c.exporters?.close();
        },
      };
    },
  };
})();
