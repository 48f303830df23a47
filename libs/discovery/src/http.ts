/**
 * Pilot's HTTP face on the monitoring port (15014): Prometheus /metrics, readiness, /version, the
 * config REST API and the debug pages (/debug/configz, /debug/registryz, /debug/syncz).
 * Exported as buildPilotHttp (STYLE.md 10); pilot's main.ts only listens.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { ConfigSource, ConfigStore, ServiceRegistry } from '@meshwork/registry';
import { configApi } from './config-api.js';
import type { PilotMetrics } from './metrics.js';

/** One proxy's sync state per xDS type, for /debug/syncz and `meshctl proxy-status`. */
export interface SyncStatus {
  readonly proxy: string;
  readonly namespace?: string;
  /** SPIFFE identity proven by the proxy's certificate (mTLS port only). */
  readonly identity?: string;
  readonly connectedAt: string;
  readonly types: Record<string, { sent?: string; acked?: string; nacked?: string; error?: string }>;
}

export interface PilotHttpOptions {
  readonly metrics: PilotMetrics;
  /** The writable store behind the config API (absent: the API is not served). */
  readonly store?: ConfigStore;
  /** Every config source, for /debug/configz. */
  readonly sources: readonly ConfigSource[];
  readonly registry: ServiceRegistry;
  /** Current sync state of every connected proxy. */
  readonly syncz: () => readonly SyncStatus[];
  /** Resources last sent to a proxy, by type, for `meshctl proxy-config`. */
  readonly proxyConfig?: (proxyId: string) => Record<string, unknown[]> | undefined;
  /** Pilot's version, served at /version (`meshctl version`'s control plane part). */
  readonly version?: string;
  /** True once every source has synced. */
  readonly ready: () => boolean;
  readonly logger?: boolean | object;
}

/** buildPilotHttp returns the fastify app (not listening). */
export async function buildPilotHttp(opts: PilotHttpOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, forceCloseConnections: true });
  app.get('/metrics', async (_req, reply) => {
    for (const s of opts.sources) opts.metrics.rejectedConfigs.set({ source: s.name }, s.rejectedTotal);
    reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
  app.get('/healthz/ready', async (_req, reply) => (opts.ready() ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' })));
  app.get('/debug/configz', async () =>
    opts.sources.map((s) => ({
      source: s.name,
      resources: s.list().map((r) => r.raw),
      rejected: s.rejected().map((x) => ({ origin: x.origin, errors: x.diagnostics.map((d) => (d.path ? `${d.path}: ${d.reason}` : d.reason)) })),
    })),
  );
  // Like an API server's /version: what `meshctl version` reports as the control plane.
  app.get('/version', async () => ({ component: 'pilot', version: opts.version ?? 'unknown', node: process.version }));
  app.get('/debug/registryz', async () => ({ services: opts.registry.services(), endpoints: opts.registry.endpoints() }));
  app.get('/debug/syncz', async () => opts.syncz());
  app.get('/debug/config_dump', async (req, reply) => {
    const id = (req.query as { proxyID?: string }).proxyID;
    const dump = id && opts.proxyConfig ? opts.proxyConfig(id) : undefined;
    if (!dump) return reply.code(404).send({ error: `proxy "${id ?? ''}" is not connected (see /debug/syncz)` });
    return dump;
  });
  if (opts.store) await app.register(configApi, { store: opts.store });
  return app;
}
