/**
 * The access-log extension of mixer: every request record the ingestion applies goes into a
 * RecentLogs ring, queried with `GET /api/logs?workload=&namespace=&reporter=&code=&limit=`.
 */
import type { FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import type { SettingDef } from '@meshwork/settings';
import type { MixerContext, MixerExtension, MixerService } from '../extension.js';
import { RecentLogs, type LogQuery } from './recent-logs.js';

/** Flags of the logs extension. */
export const LOG_SETTINGS = [
  { key: 'accessLogCapacity', flag: 'access-log-capacity', env: 'MIXER_ACCESS_LOG_CAPACITY', type: 'int', default: '10000', description: 'most recent request records kept for GET /api/logs (oldest overwritten)' },
] as const satisfies readonly SettingDef[];

type Query = Record<string, string | string[] | undefined>;

/** parseLogQuery returns the filters from query parameters, or why they are invalid. */
export function parseLogQuery(q: Query): { ok: true; value: LogQuery } | { ok: false; error: string } {
  const one = (k: string): string | undefined => {
    const v = q[k];
    const s = Array.isArray(v) ? v[v.length - 1] : v;
    return s === '' ? undefined : s;
  };
  const out: { -readonly [K in keyof LogQuery]: LogQuery[K] } = {};
  const workload = one('workload');
  if (workload) out.workload = workload;
  const namespace = one('namespace');
  if (namespace) out.namespace = namespace;
  const reporter = one('reporter');
  if (reporter) {
    if (reporter !== 'source' && reporter !== 'destination') return { ok: false, error: `reporter: "${reporter}" must be source or destination` };
    out.reporter = reporter;
  }
  const codes = (Array.isArray(q.code) ? q.code : q.code ? [q.code] : []).flatMap((c) => c.split(',')).filter((c) => c !== '');
  for (const c of codes) if (!/^([0-9]{1,3}|[0-9]xx)$/i.test(c)) return { ok: false, error: `code: "${c}" must be a status (503) or class (5xx)` };
  if (codes.length > 0) out.codes = codes;
  const limit = one('limit');
  if (limit !== undefined) {
    if (!/^\d+$/.test(limit) || Number(limit) < 1) return { ok: false, error: `limit: "${limit}" must be a positive integer` };
    out.limit = Number(limit);
  }
  return { ok: true, value: out };
}

/** registerLogRoutes adds `GET /api/logs` to a fastify scope. */
export function registerLogRoutes(app: FastifyInstance, logs: RecentLogs): void {
  app.get('/api/logs', async (req, reply) => {
    const q = parseLogQuery(req.query as Query);
    if (!q.ok) return reply.code(400).send({ error: q.error });
    return { held: logs.size, logs: logs.query(q.value) };
  });
}

/** logsExtension returns mixer's recent access-log extension (one line in apps/mixer/src/extensions.ts). */
export const logsExtension: MixerExtension = (() => {
  let logs: RecentLogs | undefined;
  const ensure = (ctx: MixerContext): RecentLogs => {
    if (logs) return logs;
    const recent = new RecentLogs((ctx.settings as Record<string, unknown>).accessLogCapacity as number);
    new Gauge({
      name: 'mixer_access_logs',
      help: 'Request records held for GET /api/logs.',
      registers: [ctx.registry],
      collect() {
        this.set(recent.size);
      },
    });
    logs = recent;
    return recent;
  };
  return {
    name: 'logs',
    settings: LOG_SETTINGS,
    routes: (app, ctx) => registerLogRoutes(app, ensure(ctx)),
    start: async (ctx): Promise<MixerService> => {
      const l = ensure(ctx);
      const stop = ctx.records.subscribe((records) => l.addAll(records));
      return { close: async () => void stop() };
    },
  };
})();
