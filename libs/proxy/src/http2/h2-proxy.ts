/**
 * The HTTP/2 transport (h2c, and TLS with ALPN h2 once the listener hands such sockets in): each
 * downstream stream runs the pipeline's decisions (pipeline.ts), then the attempt loop
 * (forward.ts) against HTTP/2 or HTTP/1.1 upstreams, and streams the response back with its
 * trailers. gRPC is HTTP/2 with rules of its own, applied here: `grpc-timeout` bounds the request
 * when the route honours it, local replies are trailers-only with a grpc-status, and the gRPC
 * status in a trailers-only response decides retries.
 */
import type * as Http2 from 'node:http2';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { Headers, type DownstreamInfo, type EngineClock, type ExchangeRecord, type HttpFilterStage, type RequestHead, type ResponseFlag, type RouteTable } from '../model.js';
import { hashRequest } from '../lb/request-hash.js';
import { forward, type ClusterRuntime } from '../pipeline/forward.js';
import { applyHeaderLevels } from '../pipeline/headers.js';
import { decide, httpToGrpc, setAttemptCount, type LocalResponse } from '../pipeline/pipeline.js';
import { BodyBuffer } from './body-buffer.js';
import { effectiveTimeoutMs, grpcMessage, grpcTimeoutMs, isGrpc } from './grpc.js';
import { UpstreamClients, type UpstreamResponse } from './upstream.js';

// node:http2 is loaded on the first HTTP/2 connection or cluster: an HTTP/1.1-only proxy does not carry it (docs/proxy.md, RSS).
let http2Module: typeof Http2 | undefined;
function h2(): typeof Http2 {
  http2Module ??= createRequire(import.meta.url)('node:http2') as typeof Http2;
  return http2Module;
}

/** What the transport needs from the engine: the listener's route table and the clusters. */
export interface EngineView {
  routeTable(): RouteTable | undefined;
  /** The chain's filters that run before routing (authentication, RBAC), in order. */
  filters?(): readonly HttpFilterStage[];
  cluster(name: string): ClusterRuntime | undefined;
  readonly clock: EngineClock;
}

export interface H2ProxyOptions {
  readonly engine: EngineView;
  /** Retry buffer per request (Envoy's per-request buffer limit): bodies larger than this are not retried. */
  readonly bufferLimitBytes?: number;
  readonly onExchange?: (rec: ExchangeRecord) => void;
}

const DEFAULT_BUFFER_LIMIT = 1024 * 1024;
const GRPC_UNAVAILABLE = 14;

/** replaying returns a duplex over `socket` that first yields `head` (bytes already read from it). */
function replaying(socket: Socket, head: Buffer): Duplex {
  const d = new Duplex({
    read: () => socket.resume(),
    write: (chunk: Buffer, _enc, cb) => socket.write(chunk, cb),
    final: (cb) => socket.end(cb),
    destroy: (err, cb) => {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  d.push(head);
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.once('end', () => d.push(null));
  socket.once('close', () => d.destroy());
  socket.on('error', (e) => d.destroy(e));
  return d;
}

/** requestHeadOf maps an incoming HTTP/2 header block to a RequestHead. */
export function requestHeadOf(h: Http2.IncomingHttpHeaders): RequestHead {
  const list: string[] = [];
  for (const [n, v] of Object.entries(h)) {
    if (n.startsWith(':') || n === 'host' || v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) list.push(n, x);
    else list.push(n, v);
  }
  return {
    method: String(h[':method'] ?? 'GET'),
    path: String(h[':path'] ?? '/'),
    authority: String(h[':authority'] ?? h.host ?? ''),
    scheme: h[':scheme'] === 'https' ? 'https' : 'http',
    headers: new Headers(list),
  };
}

/** The HTTP/2 proxy: an h2c server whose sockets may also be handed in (protocol sniffing, TLS). */
export class H2Proxy {
  readonly server: Http2.Http2Server;
  readonly upstreams = new UpstreamClients();
  private readonly sessions = new Set<Http2.ServerHttp2Session>();
  /** Downstream addresses of sessions on wrapped sockets (their socket cannot tell). */
  private readonly sessionInfo = new WeakMap<Http2.Http2Session, DownstreamInfo>();
  private pendingInfo: DownstreamInfo | undefined;

  constructor(private readonly opts: H2ProxyOptions) {
    this.server = h2().createServer();
    this.server.on('session', (s) => {
      this.sessions.add(s);
      if (this.pendingInfo) this.sessionInfo.set(s, this.pendingInfo);
      s.once('close', () => this.sessions.delete(s));
    });
    this.server.on('stream', (stream, headers) => void this.onStream(stream, headers));
  }

  /** listen binds an h2c listener (port 0: ephemeral). */
  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /**
   * handle serves an accepted socket speaking HTTP/2. `head`: bytes already read from it (the
   * listener peeked at the preface): node's HTTP/2 session reads the socket's handle directly and
   * would never see them, so the socket is then wrapped in a stream that replays them first.
   * `down`: the connection's facts when the listener knows more than the socket tells (a
   * terminated TLS connection: SNI, peer identities, ALPN).
   */
  handle(socket: Socket, head?: Buffer, down?: DownstreamInfo): void {
    const info: DownstreamInfo = down ?? { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, localAddress: socket.localAddress ?? '', localPort: socket.localPort ?? 0 };
    this.pendingInfo = info;
    try {
      this.server.emit('connection', head ? replaying(socket, head) : socket);
    } finally {
      this.pendingInfo = undefined;
    }
  }

  /** close stops accepting, lets open streams finish (GOAWAY), then closes upstream sessions. */
  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sessions) s.close();
    await closed;
    this.upstreams.close();
  }

  private async onStream(stream: Http2.ServerHttp2Stream, headers: Http2.IncomingHttpHeaders): Promise<void> {
    const { engine } = this.opts;
    const start = engine.clock.now();
    const req = requestHeadOf(headers);
    const grpc = isGrpc(req.headers.get('content-type'));
    const sock = stream.session?.socket;
    const down: DownstreamInfo = (stream.session && this.sessionInfo.get(stream.session)) ?? { remoteAddress: sock?.remoteAddress ?? '', remotePort: sock?.remotePort ?? 0, localAddress: sock?.localAddress ?? '', localPort: sock?.localPort ?? 0 };
    const body = new BodyBuffer(this.opts.bufferLimitBytes ?? DEFAULT_BUFFER_LIMIT, { pause: () => stream.pause(), resume: () => stream.resume() });
    stream.on('data', (c: Buffer) => body.push(c));
    stream.once('end', () => body.end());
    stream.on('error', () => undefined); // a downstream reset surfaces as 'close'; nothing to do here
    let downstreamGone = false;
    stream.once('close', () => (downstreamGone = !stream.writableEnded || stream.rstCode !== h2().constants.NGHTTP2_NO_ERROR));

    const startTime = Date.now();
    const record = (r: Omit<ExchangeRecord, 'request' | 'downstream' | 'protocol' | 'grpc' | 'durationMs' | 'requestBodyBytes' | 'startTime'>): void =>
      this.opts.onExchange?.({ request: req, downstream: down, protocol: 'HTTP/2', grpc, requestBodyBytes: body.received, startTime, durationMs: engine.clock.now() - start, ...r });

    // Filters before routing (authentication, RBAC), in order; a denial is answered here.
    const stages = engine.filters?.() ?? [];
    if (stages.length > 0) {
      const state = (req.filterState ??= new Map<string, unknown>());
      for (const f of stages) {
        const denial = await f.run({ req, down, state });
        if (denial) {
          this.sendLocal(stream, grpc, { status: denial.status, headers: denial.headers ?? [], body: denial.body, ...(grpc ? { grpcStatus: httpToGrpc(denial.status) } : {}) });
          record({ status: denial.status, ...(grpc ? { grpcStatus: httpToGrpc(denial.status) } : {}), flags: denial.flag ? [denial.flag] : [], attempts: 0, responseBodyBytes: Buffer.byteLength(denial.body) });
          return;
        }
      }
    }
    const table = engine.routeTable();
    if (!table) {
      this.sendLocal(stream, grpc, { status: 404, headers: [], body: '', ...(grpc ? { grpcStatus: 12 } : {}) });
      record({ status: 404, flags: ['NR'], attempts: 0, responseBodyBytes: 0 });
      return;
    }
    const d = decide({ table, req, grpc, random: engine.clock.random });
    if (d.delayMs > 0) await new Promise<void>((r) => engine.clock.setTimeout(r, d.delayMs));
    if (d.kind === 'local') {
      this.sendLocal(stream, grpc, d.response);
      record({ status: d.response.status, ...(d.response.grpcStatus !== undefined ? { grpcStatus: d.response.grpcStatus } : {}), flags: d.flags, route: d.route?.name, attempts: 0, responseBodyBytes: Buffer.byteLength(d.response.body) });
      return;
    }
    const cluster = engine.cluster(d.cluster);
    if (!cluster) {
      this.sendLocal(stream, grpc, { status: 503, headers: [], body: 'no cluster found', ...(grpc ? { grpcStatus: GRPC_UNAVAILABLE } : {}) });
      record({ status: 503, flags: [...d.flags, 'NC'], route: d.route.name, cluster: d.cluster, attempts: 0, responseBodyBytes: 0 });
      return;
    }
    const hash = hashRequest(d.hashPolicy, req, down);
    const timeoutMs = grpc ? effectiveTimeoutMs(d.timeoutMs, grpcTimeoutMs(req.headers.get('grpc-timeout')), d.grpcTimeoutHeaderMax) : d.timeoutMs;
    const plan = cluster.plan;
    const result = await forward<UpstreamResponse>({
      cluster,
      timeoutMs,
      retry: d.retry,
      hash: hash.hash,
      replayable: () => body.replayable,
      attempt: (endpoint, signal, attempt) => {
        // A retry carries its attempt number (x-envoy-attempt-count) when the virtual host asks.
        if (attempt > 1) setAttemptCount(d, req, attempt);
        return this.upstreams.attempt(endpoint, req, body, signal, { connectTimeoutMs: plan.connectTimeoutMs, http2: plan.http2 });
      },
      discard: (r) => r.abort(),
      clock: engine.clock,
    });
    this.mirror(d.mirrors, req, body);
    const flags = [...d.flags, ...result.flags];
    if (downstreamGone) {
      if (result.kind === 'response') result.response.abort();
      record({ status: 0, flags: [...flags, 'DC'], route: d.route.name, cluster: d.cluster, attempts: result.attempts, responseBodyBytes: 0 });
      return;
    }
    if (result.kind === 'local') {
      this.sendLocal(stream, grpc, { status: result.status, headers: [], body: result.body, ...(grpc ? { grpcStatus: httpToGrpc(result.status) } : {}) });
      record({ status: result.status, ...(grpc ? { grpcStatus: httpToGrpc(result.status) } : {}), flags, route: d.route.name, cluster: d.cluster, upstream: result.endpoint, attempts: result.attempts, responseBodyBytes: Buffer.byteLength(result.body) });
      return;
    }
    const up = result.response;
    applyHeaderLevels(up.head.headers, d.responseHeaderLevels);
    for (const [n, v] of d.responseHeaders) up.head.headers.set(n, v);
    if (hash.setCookie) up.head.headers.add('set-cookie', hash.setCookie);
    const out: Http2.OutgoingHttpHeaders = { ':status': up.head.status };
    const l = up.head.headers.list;
    for (let i = 0; i < l.length; i += 2) {
      const prev = out[l[i]];
      out[l[i]] = prev === undefined ? l[i + 1] : Array.isArray(prev) ? [...prev, l[i + 1]] : [String(prev), l[i + 1]];
    }
    const trailersOnly = up.head.headers.has('grpc-status');
    let responseBytes = 0;
    let grpcStatus = trailersOnly ? Number(up.head.headers.get('grpc-status')) : undefined;
    const finish = (extra: ResponseFlag[] = []): void =>
      record({ status: up.head.status, ...(grpcStatus !== undefined ? { grpcStatus } : {}), flags: [...flags, ...extra], route: d.route.name, cluster: d.cluster, upstream: result.endpoint, attempts: result.attempts, responseBodyBytes: responseBytes });
    try {
      if (trailersOnly) {
        // A trailers-only gRPC response (status without messages) stays one HEADERS frame with END_STREAM.
        stream.respond(out, { endStream: true });
        up.body.resume();
        finish();
        return;
      }
      // gRPC responses end with trailers; plain HTTP/2 responses end with the body.
      stream.respond(out, { waitForTrailers: grpc });
    } catch {
      up.abort();
      finish(['DC']);
      return;
    }
    if (grpc) {
      stream.once('wantTrailers', () => {
        void up.trailers.then((t) => {
          const tr: Http2.OutgoingHttpHeaders = {};
          for (const [n, v] of Object.entries(t ?? {})) if (!n.startsWith(':') && v !== undefined) tr[n] = v;
          if (tr['grpc-status'] === undefined) tr['grpc-status'] = String(2); // UNKNOWN: the upstream ended without a status
          grpcStatus = Number(tr['grpc-status']);
          try {
            stream.sendTrailers(tr);
          } catch {
            // downstream went away meanwhile
          }
          finish();
        });
      });
    }
    up.body.on('data', (c: Buffer) => {
      responseBytes += c.length;
      if (!stream.write(c)) {
        up.body.pause();
        stream.once('drain', () => up.body.resume());
      }
    });
    up.body.once('end', () => {
      stream.end();
      if (!grpc) finish(); // gRPC: recorded once the trailers (and their status) went out
    });
    up.body.once('error', () => {
      // The upstream broke mid-response: reset the downstream stream (Envoy: UC).
      stream.close(h2().constants.NGHTTP2_INTERNAL_ERROR);
      finish(['UC']);
    });
    stream.once('close', () => {
      if (!up.body.readableEnded) up.abort();
    });
  }

  /** sendLocal answers a stream from the proxy itself; gRPC requests get a trailers-only reply. */
  private sendLocal(stream: Http2.ServerHttp2Stream, grpc: boolean, r: LocalResponse): void {
    if (stream.closed || stream.destroyed) return;
    try {
      if (grpc && r.grpcStatus !== undefined) {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(r.grpcStatus), 'grpc-message': grpcMessage(r.body) }, { endStream: true });
        return;
      }
      const h: Http2.OutgoingHttpHeaders = { ':status': r.status };
      for (const [n, v] of r.headers) h[n] = v;
      stream.respond(h, { endStream: r.body === '' });
      if (r.body !== '') stream.end(r.body);
    } catch {
      // the downstream went away
    }
  }

  /** mirror sends a copy of a fully buffered request to each mirror cluster drawn by its fraction; nobody waits for it. */
  private mirror(mirrors: readonly { cluster: string; fraction: number }[], req: RequestHead, body: BodyBuffer): void {
    if (mirrors.length === 0) return;
    const full = body.body();
    if (!full) return;
    for (const m of mirrors) {
      if (!(m.fraction >= 1 || this.opts.engine.clock.random() < m.fraction)) continue;
      const cluster = this.opts.engine.cluster(m.cluster);
      const endpoint = cluster?.lb.pick({});
      if (!cluster || !endpoint) continue;
      // Envoy marks shadowed requests by suffixing the authority with -shadow.
      const host = req.authority.replace(/^([^:]+)/, '$1-shadow');
      const copy: RequestHead = { ...req, authority: host, headers: req.headers.clone() };
      const copyBody = new BodyBuffer(full.length + 1, { pause: () => undefined, resume: () => undefined });
      copyBody.push(full);
      copyBody.end();
      const ctl = new AbortController();
      const timer = this.opts.engine.clock.setTimeout(() => ctl.abort(), 10_000);
      void this.upstreams
        .attempt(endpoint, copy, copyBody, ctl.signal, { connectTimeoutMs: cluster.plan.connectTimeoutMs, http2: cluster.plan.http2 })
        .then((end) => {
          end.response?.body.resume();
          end.response?.body.on('end', () => this.opts.engine.clock.clearTimeout(timer));
        })
        .catch(() => undefined);
    }
  }
}
