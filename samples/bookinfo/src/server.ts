/**
 * The HTTP edge shared by the four services: a handler is a function from a parsed request to a
 * reply, and `serve` runs one on node:http with a JSON log line per request and a graceful close
 * (stop accepting, let in-flight requests finish, then close what is left).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

/** A request as the handlers see it. */
export interface BookinfoRequest {
  readonly method: string;
  /** The path without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** What a handler answers. */
export interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string | string[]>;
  readonly body: string;
}

/** A Bookinfo service: one function from request to reply. */
export type Handler = (req: BookinfoRequest) => Promise<Reply>;

/** json returns a JSON reply. */
export function json(status: number, value: unknown): Reply {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

/** A service listening on a port. */
export interface RunningServer {
  readonly port: number;
  readonly address: string;
  /** close stops accepting, waits up to `drainMs` for in-flight requests, then closes every connection. */
  close(drainMs?: number): Promise<void>;
}

/** Request bodies larger than this answer 413: the only body the sample takes is a login form or a ratings JSON. */
const MAX_BODY = 64 * 1024;

/** serve listens with `handler` on `address:port` (0 picks a free port) and resolves once it is bound. */
export async function serve(handler: Handler, opts: { port: number; address: string; log?: Logger }): Promise<RunningServer> {
  const { log } = opts;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    inFlight++;
    // 'close' comes once per request whether it was answered or the client went away mid-way.
    res.on('close', () => {
      if (--inFlight === 0) drained?.();
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const answer = tooLarge
        ? Promise.resolve(json(413, { error: 'request body too large' }))
        : handler({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }).catch((err: unknown) => {
            log?.error({ err: String(err), path: url.pathname }, 'handler failed');
            return json(500, { error: 'internal error' });
          });
      void answer.then((reply) => {
        if (!res.headersSent) {
          res.writeHead(reply.status, { 'content-length': Buffer.byteLength(reply.body), ...reply.headers });
          res.end(reply.body);
        }
        log?.info({ method: req.method, path: url.pathname, status: reply.status, ms: Number(process.hrtime.bigint() - started) / 1e6, requestId: req.headers['x-request-id'], traceparent: req.headers.traceparent, b3TraceId: req.headers['x-b3-traceid'], user: req.headers['end-user'] }, 'request');
      });
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    port: bound.port,
    address: bound.address,
    close: async (drainMs = 5000) => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await new Promise<void>((r) => {
          drained = r;
          setTimeout(r, drainMs).unref();
        });
      }
      server.closeAllConnections();
      await closed;
    },
  };
}
