/**
 * @meshwork/proxy — the data-plane engine shared by sidecar and gateway: compiles Envoy resources
 * into lookup structures once per update, then runs each request through an ordered pipeline of
 * stages (see docs/proxy.md). This file is the library's only public door.
 */
export * from './model.js';
export * from './errors.js';
export * from './pipeline/index.js';
