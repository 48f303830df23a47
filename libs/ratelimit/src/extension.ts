/**
 * Mixer's rate-limit extension: the RateLimitService on --ratelimit-port (8081, as the resource
 * docs and Istio's reference deployments of envoyproxy/ratelimit use), limits from the RateLimit
 * resources in NATS KV `mesh-config` (the store pilot reads in local mode) or in
 * --ratelimit-config-dir, counters in memory or, with --redis-url, in Redis shared by all
 * replicas. Metrics: mixer_ratelimit_decisions_total{rule,code}, mixer_ratelimit_errors_total.
 */
import { Counter } from 'prom-client';
import type { MixerExtension, MixerService } from '@meshwork/mixer-core';
import { KvConfigStore, startDirectorySource, type ConfigSource } from '@meshwork/registry';
import type { SettingDef } from '@meshwork/settings';
import { MemoryCounterStore, type CounterStore } from './counters.js';
import { ConfigSourceLimits } from './limits.js';
import { RedisCounterStore } from './redis-counters.js';
import { startRateLimitServer } from './server.js';
import { RateLimitService } from './service.js';

/** The extension's flags (they join mixer's --help and docs/mixer.md). */
export const RATELIMIT_SETTINGS = [
  { key: 'ratelimitPort', flag: 'ratelimit-port', env: 'MIXER_RATELIMIT_PORT', type: 'port', default: '8081', description: 'gRPC port of envoy.service.ratelimit.v3.RateLimitService (GLOBAL RateLimit resources); binds --address' },
  { key: 'redisUrl', flag: 'redis-url', env: 'MIXER_REDIS_URL', type: 'string', default: '', description: 'redis://[:password@]host:port[/db] to count global rate limits in Redis, shared by every mixer replica (empty: in memory, this replica only)' },
  { key: 'redisTimeout', flag: 'redis-timeout', env: 'MIXER_REDIS_TIMEOUT', type: 'duration', default: '200ms', description: 'how long one Redis command may take before the rate-limit call fails (the proxy then applies failureMode)' },
  { key: 'ratelimitConfigDir', flag: 'ratelimit-config-dir', env: 'MIXER_RATELIMIT_CONFIG_DIR', type: 'string', default: '', description: 'read RateLimit resources from this YAML directory (watched) instead of the NATS KV bucket mesh-config' },
] as const satisfies readonly SettingDef[];

/** rateLimitExtension is the MixerExtension apps/mixer lists (see the file comment). */
export const rateLimitExtension: MixerExtension = {
  name: 'ratelimit',
  settings: RATELIMIT_SETTINGS,
  start: async (ctx): Promise<MixerService> => {
    const s = ctx.settings as { address?: string; ratelimitPort: number; redisUrl: string; redisTimeout: number; ratelimitConfigDir: string };
    const source: ConfigSource = s.ratelimitConfigDir ? await startDirectorySource({ path: s.ratelimitConfigDir, log: ctx.log }) : await KvConfigStore.open({ nc: ctx.nc, log: ctx.log });
    await source.ready();
    const limits = new ConfigSourceLimits(source);
    let counters: CounterStore;
    if (s.redisUrl) {
      const redis = new RedisCounterStore({ url: s.redisUrl, commandTimeoutMs: s.redisTimeout });
      // Not fatal: Redis may come up later; until then calls fail and the proxies' failureMode applies.
      await redis.ping().catch((err: Error) => ctx.log.warn({ redis: s.redisUrl, err: err.message }, 'Redis not reachable yet; rate-limit calls fail until it is'));
      counters = redis;
    } else counters = new MemoryCounterStore();
    const decisions = new Counter({ name: 'mixer_ratelimit_decisions_total', help: 'Rate-limit descriptors answered, by rule (<ns>/<name>/<rule>) and code (OK, OVER_LIMIT).', labelNames: ['rule', 'code'], registers: [ctx.registry] });
    const errors = new Counter({ name: 'mixer_ratelimit_errors_total', help: 'ShouldRateLimit calls that failed (Redis unreachable or slow, malformed request).', registers: [ctx.registry] });
    const service = new RateLimitService({ limits, counters, onDecision: (rule, code) => decisions.inc({ rule, code }) });
    const server = await startRateLimitServer({
      service,
      host: s.address ?? '127.0.0.1',
      port: s.ratelimitPort,
      onError: (err) => {
        errors.inc();
        ctx.log.debug({ err: err.message }, 'rate-limit call failed');
      },
    });
    ctx.log.info({ port: server.port, counters: s.redisUrl ? 'redis' : 'memory', config: s.ratelimitConfigDir || 'nats-kv mesh-config', limits: limits.size() }, 'rate-limit service listening');
    return {
      close: async () => {
        await server.close();
        limits.close();
        await counters.close();
        await source.close();
      },
    };
  },
};
