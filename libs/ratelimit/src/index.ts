/**
 * @meshwork/ratelimit — mixer's global rate limiting: Envoy's RateLimitService over gRPC, limits
 * from RateLimit resources, fixed windows, counters in memory or Redis. This file is the
 * library's only public door; test helpers are in `@meshwork/ratelimit/testing`.
 */
export * from './errors.js';
export { RLS_SERVICE_NAME, rlsServiceDefinition, encodeRequest, decodeRequest, encodeResponse, decodeResponse, type RlsRequest, type RlsResponse, type RlsEntry, type RlsCode, type RlsUnit, type RlsDescriptorStatus } from './rls-proto.js';
export { UNIT_SECONDS, windowOf, type Window } from './window.js';
export { limitTable, StaticLimits, ConfigSourceLimits, type LimitSource, type RuleLimit } from './limits.js';
export { MemoryCounterStore, type CounterStore } from './counters.js';
export { RedisCounterStore, parseRedisUrl, type RedisCounterOptions } from './redis-counters.js';
export { RateLimitService, counterKey, type RateLimitServiceOptions } from './service.js';
export { startRateLimitServer, grpcStatusOf, type RateLimitServer, type RateLimitServerOptions } from './server.js';
export { rateLimitExtension, RATELIMIT_SETTINGS } from './extension.js';
