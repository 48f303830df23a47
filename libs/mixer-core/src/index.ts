/**
 * @meshwork/mixer-core — mixer's logic: telemetry ingestion from JetStream, Istio metrics
 * aggregated from the records, the topology graph, and the extension point other parts of mixer
 * (traces, logs, SLOs, rate limits) plug into. This file is the library's only public door.
 */
export * from './errors.js';
export * from './extension.js';
export * from './mixer-metrics.js';
export * from './exposition.js';
export * from './http.js';
export * from './istio-aggregate.js';
export * from './dedupe.js';
export * from './topology.js';
export * from './graph-routes.js';
export * from './checkpoint.js';
export * from './ingest.js';
export * from './traces/index.js';
export * from './logs/index.js';
export * from './slo/index.js';
