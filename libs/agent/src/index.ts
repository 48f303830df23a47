/**
 * @meshwork/agent — the duties a sidecar or gateway has besides proxying (Istio's pilot-agent):
 * running the application it fronts, and (as they land) its xDS subscription, certificate and
 * registration. This file is the library's only public door.
 */
export * from './errors.js';
export * from './app-process.js';
export * from './xds-agent.js';
export * from './admin.js';
export * from './proxy-compiler.js';
export * from './sidecar.js';
export * from './proxy-telemetry.js';
export * from './proxy-tracing.js';
export * from './workload-secrets.js';
export * from './record-publisher.js';
export * from './gateway.js';
export * from './gateway-secrets.js';
export * from './metadata-exchange.js';
export * from './workload-identity.js';
