/**
 * Mixer's Prometheus registry: Istio's standard metrics aggregated from every sidecar's records
 * (the same names and labels a per-pod scrape would give, for deployments without one) and
 * mixer's own ingestion metrics.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { IstioMetrics } from '@meshwork/telemetry';

/** MixerMetrics returns the registry served on /metrics and the counters ingestion updates. */
export class MixerMetrics {
  readonly registry = new Registry();
  /** istio_requests_total, istio_request_duration_milliseconds, … from the records. */
  readonly istio: IstioMetrics;
  readonly ingested = new Counter({ name: 'mixer_records_ingested_total', help: 'Request/TCP records applied (each record once: redelivered duplicates are not counted).', registers: [this.registry] });
  readonly dropped = new Counter({
    name: 'mixer_records_dropped_total',
    help: 'Records sidecars dropped before publishing (buffer full, NATS slow or away), as their batch headers report them.',
    labelNames: ['source_workload_namespace', 'source_workload'],
    registers: [this.registry],
  });
  readonly redelivered = new Counter({ name: 'mixer_batches_redelivered_total', help: 'Batches JetStream delivered more than once (after a crash or an ack timeout).', registers: [this.registry] });
  readonly duplicates = new Counter({ name: 'mixer_batches_duplicate_total', help: 'Batches skipped because their (sender, seq) was already applied.', registers: [this.registry] });
  readonly invalid = new Counter({ name: 'mixer_records_invalid_total', help: 'Records or batches that could not be decoded (skipped and acknowledged).', registers: [this.registry] });
  readonly batches = new Counter({ name: 'mixer_batches_ingested_total', help: 'Batches applied.', registers: [this.registry] });
  readonly lag = new Gauge({ name: 'mixer_consumer_pending_messages', help: 'Telemetry batches in the stream not yet delivered to the mixer consumer (JetStream num_pending): the ingestion lag.', registers: [this.registry] });
  readonly ackPending = new Gauge({ name: 'mixer_consumer_ack_pending_messages', help: 'Batches delivered to a mixer replica and not yet acknowledged (JetStream num_ack_pending).', registers: [this.registry] });

  constructor(opts: { maxSeries?: number } = {}) {
    this.istio = new IstioMetrics({ registry: this.registry, ...(opts.maxSeries ? { maxSeries: opts.maxSeries } : {}) });
  }
}
