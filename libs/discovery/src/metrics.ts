/**
 * Pilot's own Prometheus metrics, with Istio's names so existing dashboards and alerts keep
 * working (pilot_xds_pushes, pilot_proxy_convergence_time, pilot_xds, pilot_total_xds_rejects,
 * pilot_proxy_queue_time, pilot_push_triggers).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** PilotMetrics holds pilot's metrics in their own registry (never the global one). */
export class PilotMetrics {
  readonly registry = new Registry();
  /** Pushes sent, by xDS type (`cds`, `eds`, `lds`, `rds`). */
  readonly xdsPushes = new Counter({ name: 'pilot_xds_pushes', help: 'Pilot build and send errors for lds, rds, cds and eds.', labelNames: ['type'], registers: [this.registry] });
  /** Connected xDS clients. */
  readonly xdsConnections = new Gauge({ name: 'pilot_xds', help: 'Number of endpoints connected to this pilot using XDS.', labelNames: ['version'], registers: [this.registry] });
  /** NACKs received, by type. */
  readonly xdsRejects = new Counter({ name: 'pilot_total_xds_rejects', help: 'Total number of XDS responses from pilot rejected by proxy.', labelNames: ['type'], registers: [this.registry] });
  /** From the config change to the proxy's ACK (seconds). */
  readonly convergence = new Histogram({
    name: 'pilot_proxy_convergence_time',
    help: 'Delay in seconds between config change and a proxy receiving all required configuration.',
    buckets: [0.1, 0.5, 1, 3, 5, 10, 20, 30],
    registers: [this.registry],
  });
  /** From the first merged event to the push starting (seconds). */
  readonly queueTime = new Histogram({ name: 'pilot_proxy_queue_time', help: 'Time in seconds, a proxy is in the push queue before being dequeued.', buckets: [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30], registers: [this.registry] });
  /** Push triggers by reason (`config`, `endpoint`, `proxy`). */
  readonly pushTriggers = new Counter({ name: 'pilot_push_triggers', help: 'Total number of times a push was triggered, labeled by reason for the push.', labelNames: ['type'], registers: [this.registry] });
  /** Invalid configuration refused by a source (directory, Kubernetes, NATS), by source. */
  readonly rejectedConfigs = new Gauge({ name: 'pilot_total_rejected_configs', help: 'Total number of configs that pilot had to reject or ignore.', labelNames: ['source'], registers: [this.registry] });
}
