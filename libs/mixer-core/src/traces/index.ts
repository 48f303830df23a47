/** Traces: span collection from NATS, the bounded trace store and its API, Zipkin/OTLP export. */
export * from './trace-store.js';
export * from './export.js';
export * from './routes.js';
export * from './extension.js';
export * from './counter-mirror.js';
