/**
 * The topology API on 15014: `GET /api/graph?type=workload|app|versionedApp|service&window=1m|5m|1h&namespace=a,b`
 * answers one graph (Kiali's JSON shape); `GET /api/graph/stream` (same parameters, plus
 * `interval=<seconds>`, default 5) sends the graph as Server-Sent Events, one `graph` event now
 * and one per interval.
 */
import type { FastifyInstance } from 'fastify';
import { BadGraphQueryError } from './errors.js';
import { parseGraphQuery, type TopologyStore } from './topology.js';

/** graphRoutes adds the graph routes for a store to a fastify scope. */
export function graphRoutes(app: FastifyInstance, topology: TopologyStore): void {
  app.setErrorHandler((err, _req, reply) => {
    // Named errors become HTTP statuses here, at the edge (STYLE.md 11).
    if (err instanceof BadGraphQueryError) return reply.code(400).send({ error: err.message, code: err.code });
    return reply.send(err);
  });
  app.get('/api/graph', async (req) => topology.graph(parseGraphQuery(req.query as Record<string, unknown>)));
  app.get('/api/graph/stream', (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const query = parseGraphQuery(q);
    const seconds = Number(q.interval ?? 5);
    if (!Number.isFinite(seconds) || seconds < 1 || seconds > 300) throw new BadGraphQueryError(`interval: "${String(q.interval)}" is not a number of seconds between 1 and 300`);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let id = 0;
    const send = (): void => {
      res.write(`id: ${++id}\nevent: graph\ndata: ${JSON.stringify(topology.graph(query))}\n\n`);
    };
    send();
    const timer = setInterval(send, seconds * 1000);
    req.raw.on('close', () => clearInterval(timer));
  });
}
