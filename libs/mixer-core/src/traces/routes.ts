/**
 * Trace API on mixer's 15014 app:
 *
 * - `GET /api/traces?service=&minDuration=&error=&tag=k:v&limit=`: newest matching traces
 *   (summaries). `minDuration` is a Go duration (`250ms`) or microseconds; `tag` may repeat.
 * - `GET /api/traces/:id`: the whole trace (`?format=zipkin` gives Zipkin v2 JSON, as Zipkin's
 *   `/api/v2/trace/{id}`, so Zipkin's UI JSON upload reads it).
 */
import type { FastifyInstance } from 'fastify';
import { parseMinDuration, type StoredSpan, type TraceQuery, type TraceStore } from './trace-store.js';

type Query = Record<string, string | string[] | undefined>;

/** parseTraceQuery returns the search criteria from query parameters, or the reason they are invalid. */
export function parseTraceQuery(q: Query): { ok: true; value: TraceQuery } | { ok: false; error: string } {
  const one = (k: string): string | undefined => {
    const v = q[k];
    return Array.isArray(v) ? v[v.length - 1] : v;
  };
  const out: { -readonly [K in keyof TraceQuery]: TraceQuery[K] } = {};
  const service = one('service');
  if (service) out.service = service;
  const minDuration = one('minDuration');
  if (minDuration) {
    const us = parseMinDuration(minDuration);
    if (us === undefined) return { ok: false, error: `minDuration: "${minDuration}" is not a duration (250ms, 1.5s) or a number of microseconds` };
    out.minDurationUs = us;
  }
  const error = one('error');
  if (error !== undefined && error !== '') {
    if (error !== 'true' && error !== 'false') return { ok: false, error: `error: "${error}" must be true or false` };
    out.error = error === 'true';
  }
  const tags = q.tag === undefined ? [] : Array.isArray(q.tag) ? q.tag : [q.tag];
  if (tags.length > 0) {
    out.tags = tags.map((t) => {
      const i = t.indexOf(':');
      return i < 0 ? { key: t } : { key: t.slice(0, i), value: t.slice(i + 1) };
    });
  }
  const limit = one('limit');
  if (limit !== undefined && limit !== '') {
    if (!/^\d+$/.test(limit) || Number(limit) < 1) return { ok: false, error: `limit: "${limit}" must be a positive integer` };
    out.limit = Number(limit);
  }
  return { ok: true, value: out };
}

/** toZipkinJson returns a span in Zipkin's v2 JSON model (tags as strings, as Zipkin stores them). */
export function toZipkinJson(s: StoredSpan): Record<string, unknown> {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.attributes)) tags[k] = String(v);
  if (s.error) tags.error = tags.error ?? 'true';
  return {
    traceId: s.traceId,
    id: s.spanId,
    ...(s.parentSpanId ? { parentId: s.parentSpanId } : {}),
    name: s.name,
    ...(s.kind === 'client' || s.kind === 'server' || s.kind === 'producer' || s.kind === 'consumer' ? { kind: s.kind.toUpperCase() } : {}),
    timestamp: s.startUs,
    duration: s.durationUs,
    localEndpoint: { serviceName: s.service },
    tags,
  };
}

/** registerTraceRoutes adds the trace API to a fastify scope. */
export function registerTraceRoutes(app: FastifyInstance, store: TraceStore): void {
  app.get('/api/traces', async (req, reply) => {
    const q = parseTraceQuery(req.query as Query);
    if (!q.ok) return reply.code(400).send({ error: q.error });
    return { traces: store.search(q.value) };
  });
  app.get<{ Params: { id: string }; Querystring: { format?: string } }>('/api/traces/:id', async (req, reply) => {
    const t = store.get(req.params.id);
    if (!t) return reply.code(404).send({ error: `trace ${req.params.id} is not held (never received, or evicted)` });
    if (req.query.format === 'zipkin') return t.spans.map(toZipkinJson);
    return t;
  });
}
