/**
 * @meshwork/telemetry — Istio's standard metrics (prom-client), Envoy-format access logs, and
 * trace-context propagation (W3C traceparent and B3) with spans through @opentelemetry/api. Shared
 * by the proxy engine (sidecar, gateway) and mixer. This file is the library's only public door.
 */
export * from './request-record.js';
export * from './istio-metrics.js';
export * from './access-log.js';
export * from './trace-context.js';
export * from './buffered-publisher.js';
export * from './record-wire.js';
