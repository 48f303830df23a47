/**
 * Mixer's Prometheus registry: Istio's standard metrics aggregated from every sidecar's records
 * (the same names and labels a per-pod scrape gives, for deployments without one) and mixer's
 * own ingestion metrics. Counters are plain numbers read at scrape time, so the whole state can
 * be checkpointed and restored (a restarted replica continues its counters, it does not reset).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ExpositionRegistry } from './exposition.js';
import { IstioAggregate, type IstioAggregateSnapshot } from './istio-aggregate.js';

/** Mixer's own counters. */
export interface MixerCounts {
  /** Records applied (each once). */
  ingested: number;
  /** Batches applied. */
  batches: number;
  /** Deliveries JetStream marked as redelivered. */
  redelivered: number;
  /** Batches skipped as already applied. */
  duplicates: number;
  /** Records or batches that could not be decoded. */
  invalid: number;
}

/** The JSON form of MixerMetrics' state. */
export interface MixerMetricsSnapshot {
  readonly counts: MixerCounts;
  /** [namespace, workload, dropped] of every sender workload that reported drops. */
  readonly dropped: [string, string, number][];
  readonly istio: IstioAggregateSnapshot;
}

/** MixerMetrics returns the registry served on /metrics and the numbers ingestion updates. */
export class MixerMetrics {
  /** Istio's families render their own exposition here (formatted once per series, see exposition.ts). */
  readonly registry: Registry = new ExpositionRegistry();
  /** istio_requests_total, istio_request_duration_milliseconds, … from the records. */
  readonly istio: IstioAggregate;
  readonly counts: MixerCounts = { ingested: 0, batches: 0, redelivered: 0, duplicates: 0, invalid: 0 };
  /** Records sidecars dropped, by `<ns>\x1f<workload>`. */
  private readonly droppedBy = new Map<string, number>();
  /** Stream lag, updated from the consumer's info. */
  readonly pending: Gauge;
  readonly ackPending: Gauge;
  /** Seconds from a batch's publication to its application. */
  readonly lagSeconds: Histogram;

  constructor(opts: { maxSeries?: number } = {}) {
    const registers = [this.registry];
    this.istio = new IstioAggregate({ registry: this.registry, ...(opts.maxSeries ? { maxSeries: opts.maxSeries } : {}) });
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    counter('mixer_records_ingested_total', 'Request/TCP records applied to the metrics and the graph (each record once: redelivered duplicates are not counted).', () => this.counts.ingested);
    counter('mixer_batches_ingested_total', 'Telemetry batches applied.', () => this.counts.batches);
    counter('mixer_batches_redelivered_total', 'Batch deliveries JetStream marked as redelivered (after a replica crash or an ack timeout).', () => this.counts.redelivered);
    counter('mixer_batches_duplicate_total', 'Batches skipped because their (sender, seq) was already applied.', () => this.counts.duplicates);
    counter('mixer_records_invalid_total', 'Records (or whole batches) that could not be decoded; skipped and acknowledged.', () => this.counts.invalid);
    const droppedBy = this.droppedBy;
    new Counter({
      name: 'mixer_records_dropped_total',
      help: 'Records sidecars dropped before publishing (buffer full, NATS slow or away), as their batch headers report them.',
      labelNames: ['source_workload_namespace', 'source_workload'],
      registers,
      collect() {
        this.reset();
        for (const [k, n] of droppedBy) {
          const [ns, workload] = k.split('\x1f');
          this.inc({ source_workload_namespace: ns, source_workload: workload }, n);
        }
      },
    });
    this.pending = new Gauge({ name: 'mixer_consumer_pending_messages', help: 'Telemetry batches in the stream not yet delivered to the mixer consumer (JetStream num_pending): the ingestion lag.', registers });
    this.ackPending = new Gauge({ name: 'mixer_consumer_ack_pending_messages', help: 'Batches delivered to mixer replicas and not yet acknowledged (JetStream num_ack_pending).', registers });
    this.lagSeconds = new Histogram({ name: 'mixer_ingest_lag_seconds', help: 'Time from a sidecar publishing a batch to mixer applying it.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
  }

  /** addDropped adds drops reported by a sender workload. */
  addDropped(namespace: string, workload: string, n: number): void {
    if (n <= 0) return;
    const k = `${namespace || 'unknown'}\x1f${workload || 'unknown'}`;
    this.droppedBy.set(k, (this.droppedBy.get(k) ?? 0) + n);
  }

  /** Total drops reported by every sender. */
  get droppedTotal(): number {
    let n = 0;
    for (const v of this.droppedBy.values()) n += v;
    return n;
  }

  /** snapshot returns the counters and the Istio series as JSON data. */
  snapshot(): MixerMetricsSnapshot {
    return { counts: { ...this.counts }, dropped: [...this.droppedBy].map(([k, n]) => [...(k.split('\x1f') as [string, string]), n]), istio: this.istio.snapshot() };
  }

  /** restore replaces the counters and Istio series with a snapshot's. */
  restore(s: MixerMetricsSnapshot): void {
    Object.assign(this.counts, s.counts);
    this.droppedBy.clear();
    for (const [ns, w, n] of s.dropped) this.droppedBy.set(`${ns}\x1f${w}`, n);
    this.istio.restore(s.istio);
  }
}
