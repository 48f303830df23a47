/**
 * @meshwork/bus — NATS names and helpers. The one place that knows subject strings.
 * This file is the library's only public door (test support: `@meshwork/bus/testing`).
 */
export * from './subjects.js';
export * from './ca-roots.js';
