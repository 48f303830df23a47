/** Load balancing (docs/proxy.md, `src/lb/`): the per-cluster balancer, request hashing and the pieces they are built from. */
export { createLoadBalancer, panicThresholdFor, DEFAULT_MAX_RING_SIZE, DEFAULT_MIN_RING_SIZE, type LoadBalancerOptions, type VersionedHostStats } from './load-balancer.js';
export { hashRequest, cookieValue, type RequestHash } from './request-hash.js';
export { hashString, hostHashKey, xxhash32 } from './hash.js';
export { priorityLoad, choosePriority, OVERPROVISIONING_FACTOR, DEFAULT_PANIC_THRESHOLD, type LevelHealth, type PriorityLoad } from './priority.js';
export { buildRing, ringIndex, type NormalizedHost, type Ring } from './ring-hash.js';
export { buildMaglevTable, maglevTableSize, DEFAULT_MAGLEV_TABLE_SIZE } from './maglev.js';
export { EdfScheduler } from './edf.js';
