/**
 * Mixer's HTTP face on 15014: Prometheus /metrics, /healthz/ready, the topology graph
 * (graph-routes.ts), and the routes extensions
 * add (traces, logs, SLOs). Exported as buildMixerApp (STYLE.md 10); apps/mixer only listens.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { MixerContext, MixerExtension } from './extension.js';
import { graphRoutes } from './graph-routes.js';
import type { TopologyStore } from './topology.js';

/** Options of buildMixerApp. */
export interface MixerAppOptions {
  readonly registry: Registry;
  /** True once ingestion runs and every extension service is ready. */
  readonly ready: () => boolean;
  /** Extensions whose routes are registered (each as its own encapsulated plugin). */
  readonly extensions?: readonly MixerExtension[];
  /** Context handed to extension routes (absent: extension routes are not registered). */
  readonly ctx?: MixerContext;
  /** The topology graph served on /api/graph and /api/graph/stream. */
  readonly topology?: TopologyStore;
  readonly logger?: boolean | object;
}

/** buildMixerApp returns the fastify app (not listening). */
export async function buildMixerApp(opts: MixerAppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, forceCloseConnections: true });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', opts.registry.contentType);
    return opts.registry.metrics();
  });
  app.get('/healthz/ready', async (_req, reply) => (opts.ready() ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' })));
  const topology = opts.topology;
  if (topology) await app.register(async (scope) => graphRoutes(scope, topology));
  const ctx = opts.ctx;
  for (const ext of ctx ? (opts.extensions ?? []) : []) {
    const routes = ext.routes;
    if (routes && ctx) await app.register(async (scope) => routes(scope, ctx));
  }
  return app;
}
