/**
 * @meshwork/discovery — pilot's serving core: debouncing config events into pushes, and
 * (with the xDS layer) tracking what each proxy was sent. This file is the library's only
 * public door (test support: `@meshwork/discovery/testing`).
 */
export * from './clock.js';
export * from './debounce.js';
export * from './config-api.js';
export * from './k8s-status.js';
export * from './metrics.js';
export * from './http.js';
export * from './merged-source.js';
export * from './discovery-server.js';
export * from './identity.js';
