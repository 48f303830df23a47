/**
 * Citadel's HTTP surfaces: the admin API (HTTPS, bearer admin credential) that issues join tokens and
 * rotates the root, and the monitoring port (plain HTTP) with /metrics, /healthz/ready and the trust
 * bundle at /ca/roots (roots are public).
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { CaStateError, PkiError, SpiffeIdError } from '@meshwork/pki';
import type { CaState } from './ca-state.js';
import type { JoinTokens } from './join-token.js';
import type { CitadelMetrics } from './metrics.js';

export interface AdminAppOptions {
  readonly state: CaState;
  readonly joinTokens: JoinTokens;
  /** The admin credential (contents of <state-dir>/admin-token). */
  readonly adminToken: string;
  readonly joinTokenMaxTtlMs: number;
  readonly rootOverlapMs: number;
  readonly https?: { key: string; cert: string };
  readonly logger: FastifyBaseLogger;
}

function bearerMatches(header: string | undefined, secret: string): boolean {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** buildAdminApp returns the admin API (not listening): POST /v1/join-tokens, POST /v1/ca/rotate-root, GET /v1/ca/roots. */
export function buildAdminApp(opts: AdminAppOptions): FastifyInstance {
  const app = Fastify({ loggerInstance: opts.logger.child({ component: 'citadel-admin' }), ...(opts.https ? { https: opts.https } : {}) }) as unknown as FastifyInstance;
  app.addHook('onRequest', async (req, reply) => {
    if (req.method === 'GET' && req.url.startsWith('/v1/ca/roots')) return;
    if (!bearerMatches(req.headers.authorization, opts.adminToken)) {
      req.log.warn({ url: req.url }, 'admin request refused: bad or missing admin credential');
      await reply.code(401).send({ error: 'admin credential required: Authorization: Bearer <contents of <state-dir>/admin-token>' });
    }
  });
  app.post<{ Body: { namespace?: unknown; serviceAccount?: unknown; ttlSeconds?: unknown } }>('/v1/join-tokens', async (req, reply) => {
    const { namespace, serviceAccount, ttlSeconds } = req.body ?? {};
    if (typeof namespace !== 'string' || typeof serviceAccount !== 'string') return reply.code(400).send({ error: 'namespace and serviceAccount (strings) are required' });
    const ttl = ttlSeconds === undefined ? 3600 : ttlSeconds;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0) return reply.code(400).send({ error: 'ttlSeconds must be a positive whole number' });
    if (ttl * 1000 > opts.joinTokenMaxTtlMs) return reply.code(400).send({ error: `ttlSeconds ${ttl} is above the maximum ${opts.joinTokenMaxTtlMs / 1000}` });
    try {
      const t = await opts.joinTokens.issue(namespace, serviceAccount, ttl * 1000);
      req.log.info({ identity: t.spiffeId, expiresAt: t.expiresAt }, 'join token issued');
      return reply.code(201).send({ token: t.token, spiffeId: t.spiffeId, expiresAt: t.expiresAt.toISOString() });
    } catch (e) {
      if (e instanceof SpiffeIdError) return reply.code(400).send({ error: e.message });
      throw e;
    }
  });
  app.post('/v1/ca/rotate-root', async (req, reply) => {
    try {
      const r = await opts.state.rotateRoot(opts.rootOverlapMs);
      req.log.info({ removeAfter: r.removeAfter }, 'root rotated');
      return reply.send({ rootPem: r.rootPem, oldRootsRemovedAfter: r.removeAfter, roots: opts.state.roots() });
    } catch (e) {
      if (e instanceof CaStateError) return reply.code(409).send({ error: e.message });
      throw e;
    }
  });
  app.get('/v1/ca/roots', async () => ({ roots: opts.state.roots(), anchors: opts.state.trustAnchors() }));
  app.setErrorHandler(async (err, req, reply) => {
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status < 500) return reply.code(status).send({ error: err instanceof Error ? err.message : String(err) });
    req.log.error({ err, code: err instanceof PkiError ? err.code : undefined }, 'admin request failed');
    return reply.code(500).send({ error: 'internal error' });
  });
  return app;
}

export interface MonitoringAppOptions {
  readonly metrics: CitadelMetrics;
  readonly ready: () => boolean;
  readonly roots: () => string[];
  /** A logger to derive from, or the level of a new pino logger (the monitoring app then owns citadel's root logger). */
  readonly logger: FastifyBaseLogger | { level: string };
}

/** buildMonitoringApp returns the monitoring HTTP app (not listening): /metrics, /healthz/ready, /ca/roots. */
export function buildMonitoringApp(opts: MonitoringAppOptions): FastifyInstance {
  const logger = 'child' in opts.logger ? { loggerInstance: opts.logger.child({ component: 'citadel-monitoring' }) } : { logger: { level: opts.logger.level, base: undefined } };
  const app = Fastify({ ...logger }) as unknown as FastifyInstance;
  app.get('/metrics', async (_req, reply) => reply.type(opts.metrics.registry.contentType).send(await opts.metrics.registry.metrics()));
  app.get('/healthz/ready', async (_req, reply) => (opts.ready() ? reply.send('ok\n') : reply.code(503).send('not ready\n')));
  app.get('/ca/roots', async (_req, reply) => reply.type('application/x-pem-file').send(opts.roots().join('')));
  return app;
}
