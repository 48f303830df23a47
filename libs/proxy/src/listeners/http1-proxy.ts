/**
 * The HTTP/1.1 proxy listener on raw `node:net` sockets: parses requests, asks the injected
 * `route` function where each goes, forwards the head and streams the body over a pooled
 * keep-alive upstream connection, streams the response back, and keeps both sides alive.
 * Pipelined requests are answered in order (the next one is parsed only after the previous
 * response ended). Upgrade (WebSocket) and CONNECT become a byte tunnel once the upstream agrees.
 *
 * Works as an explicit proxy (absolute-form targets, `HTTP_PROXY=http://127.0.0.1:15001`) and
 * Host-routed (origin-form): both reach `route` as the same RequestHead. Sockets can also be
 * handed in (`handle`), e.g. by a transparent or TLS listener.
 *
 * Errors answered here follow Envoy: 503 with UF when no connection could be made to the
 * upstream, 503 with UC when it closed before a complete response head; a connection that
 * breaks after the response head was sent is closed downstream (UC), and a downstream that goes
 * away mid-exchange is DC.
 */
import { splitHostPort } from '../config/routes.js';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { AttemptOutcome, ClusterLimits, DownstreamInfo, FilterDenial, HttpFilterContext, PickContext, EngineClock, Endpoint, ExchangeRecord, Headers as HeadersT, HttpFilterStage, RequestHead, ResponseFlag, RetryPolicy, RouteTable } from '../model.js';
import { Headers } from '../model.js';
import type { ManagedCluster } from '../engine/clusters.js';
import { hashRequest } from '../lb/request-hash.js';
import { DEFAULT_ROUTE_TIMEOUT_MS, outcomeOf } from '../pipeline/forward.js';
import { applyHeaderLevels } from '../pipeline/headers.js';
import { decideRequest, setAttemptCount, type Decision } from '../pipeline/pipeline.js';
import { backoffMs, retriable, type AttemptResult } from '../pipeline/retry.js';
import { Http1Error } from '../http1/errors.js';
import { DEFAULT_HTTP1_LIMITS, Http1Parser, type BodyFraming, type Http1Handler, type Http1Limits, type Http1Request, type Http1Response } from '../http1/parser.js';
import { chunkHeader, lastChunk, serializeRequestHead, serializeResponseHead } from '../http1/serializer.js';
import { UpstreamPools, type ConnectionUser, type EndpointPool, type EndpointPoolSettings, type UpstreamConnection } from '../upstream/pool.js';

/** Send the request to this upstream endpoint. */
export interface ForwardDecision {
  readonly kind: 'forward';
  readonly address: string;
  readonly port: number;
  /** The cluster's pool settings (connect timeout, limits…); one object per cluster. Defaults when absent. */
  readonly pool?: EndpointPoolSettings;
}

/** Answer the request here (no route, redirect, direct response, fault abort…). */
export interface LocalDecision {
  readonly kind: 'local';
  readonly status: number;
  readonly headers?: readonly (readonly [name: string, value: string])[];
  readonly body?: string;
  /** Response flag recorded for this exchange (NR, FI, …). */
  readonly flag?: ResponseFlag;
}

export type RouteDecision = ForwardDecision | LocalDecision;

/** The engine's pipeline entry as the listener sees it: a synchronous decision per request. */
export type RouteFn = (req: RequestHead, down: DownstreamInfo) => RouteDecision;

/**
 * What the listener needs from the engine (as H2Proxy's EngineView): the route table, the
 * chain's filters and the clusters in force, read per request.
 */
export interface Http1EngineView {
  routeTable(): RouteTable | undefined;
  /** The chain's filters that run before routing (authentication, RBAC), in order. */
  filters?(): readonly HttpFilterStage[];
  cluster(name: string): ManagedCluster | undefined;
  readonly clock: EngineClock;
}

export interface Http1ProxyOptions {
  /**
   * The engine: filters, the pipeline's decisions and the attempt loop (retries, timeouts,
   * outlier detection, response header operations, mirrors). Takes precedence over `route`.
   */
  readonly engine?: Http1EngineView;
  /** A fixed synchronous routing function (tests, the bench's baseline): one attempt, no engine semantics. */
  readonly route?: RouteFn;
  /** Retry buffer per request (Envoy's per-request buffer limit): bodies larger than this are not retried. */
  readonly bufferLimitBytes?: number;
  /** Upstream pools; the proxy makes (and closes) its own when absent. */
  readonly pools?: UpstreamPools;
  readonly limits?: Http1Limits;
  /** Called once per finished exchange; absent = no per-request bookkeeping at all. */
  readonly onExchange?: (rec: ExchangeRecord) => void;
  /** How long `close()` lets in-flight exchanges finish before closing their connections. */
  readonly drainTimeoutMs?: number;
  /** Hold writes until the end of the event-loop turn (default true; see `hold`). */
  readonly batchWrites?: boolean;
}

const CONTINUE_100 = 'HTTP/1.1 100 Continue\r\n\r\n';
const DEFAULT_BUFFER_LIMIT = 1024 * 1024;
const NO_FILTERS: readonly HttpFilterStage[] = [];

/**
 * What every filter stage of one request is given: one object for all the stages, and the
 * request's filter state map made only when a stage reads or writes it (JWT, RBAC on
 * `request.auth.*`, inbound metadata exchange), not per request (the sidecar's tracing and
 * outbound metadata-exchange stages run on every request and never do).
 */
class FilterContext implements HttpFilterContext {
  constructor(
    readonly req: RequestHead,
    readonly down: DownstreamInfo,
  ) {}

  get state(): Map<string, unknown> {
    return (this.req.filterState ??= new Map());
  }
}
const NO_FLAGS: ResponseFlag[] = [];
/** Request bytes held while no upstream connection is attached, before reading pauses. */
const PENDING_LIMIT = 64 * 1024;
const ANY_HOST: PickContext = {};
const FILTER_FAILED: FilterDenial = { status: 500, body: 'filter failed\n', details: 'filter_failed' };
/** Bodies up to this size are copied next to their response head for a single write. */
const SMALL_BODY = 16 * 1024;

/** originalDestination returns host and port of an authority (port 80 when absent), or undefined. */
export function originalDestination(authority: string): { host: string; port: number } | undefined {
  const [h, port] = splitHostPort(authority);
  const bracketed = h.startsWith('[') && h.endsWith(']') && h.length > 2;
  // A bare IPv6 literal (or any other colon) without brackets is not an authority.
  if (h === '' || (!bracketed && (h.includes(':') || h.includes('[') || h.includes(']')))) return undefined;
  return { host: bracketed ? h.slice(1, -1) : h, port: port ? Number(port) : 80 };
}

const poolCache = new WeakMap<ManagedCluster, EndpointPoolSettings>();
/** poolSettingsOf returns the (shared, per cluster) upstream pool settings of a cluster. */
export function poolSettingsOf(c: ManagedCluster): EndpointPoolSettings {
  let s = poolCache.get(c);
  if (!s) {
    s = { connectTimeoutMs: c.plan.connectTimeoutMs, maxRequestsPerConnection: c.plan.maxRequestsPerConnection ?? 0, idleTimeoutMs: c.plan.idleTimeoutMs ?? 60_000, maxIdle: 256, limits: c.limits };
    poolCache.set(c, s);
  }
  return s;
}

/**
 * The engine's state of one forwarded exchange: the decision, the attempts made, and the
 * request bytes kept for a retry or a mirror (forward.ts's loop, kept as fields instead of an
 * async function so that a request allocates one object and no promise).
 */
class EngineExchange {
  route: string | undefined = undefined;
  cluster: string | undefined = undefined;
  managed: ManagedCluster | undefined = undefined;
  decision: Extract<Decision, { kind: 'forward' }> | undefined = undefined;
  /** The decision's flags (shared, never mutated: a flag added copies it). */
  flags: ResponseFlag[] = NO_FLAGS;
  retry: RetryPolicy | undefined = undefined;
  hash: number | undefined = undefined;
  setCookie: string | undefined = undefined;
  tried: Set<Endpoint> | null = null;
  attempts = 0;
  deadline = Infinity;
  timer: unknown = undefined;
  timerIsRoute = false;
  /** ORIGINAL_DST: the endpoint the request addresses. */
  passthrough: Endpoint | undefined = undefined;
  endpoint: Endpoint | undefined = undefined;
  /** An attempt is running (its host counts as active; its timer is armed). */
  inAttempt = false;
  retryHeld = false;
  urx = false;
  /** Request bytes as sent upstream after the head (framing included), while within the buffer limit; null: not kept. */
  replay: (string | Buffer)[] | null = null;
  replayBytes = 0;
  /** The request outgrew the buffer: no further attempt (nor mirror) can carry it. */
  overflowed = false;
  mirrored = false;
  /** The next attempt is scheduled (retry backoff). */
  waiting = false;

  /** reset makes a finished exchange new again (one per connection, reused request after request). */
  reset(): void {
    this.route = undefined;
    this.cluster = undefined;
    this.managed = undefined;
    this.decision = undefined;
    this.flags = NO_FLAGS;
    this.retry = undefined;
    this.hash = undefined;
    this.setCookie = undefined;
    this.tried = null;
    this.attempts = 0;
    this.deadline = Infinity;
    this.timer = undefined;
    this.timerIsRoute = false;
    this.passthrough = undefined;
    this.endpoint = undefined;
    this.inAttempt = false;
    this.retryHeld = false;
    this.urx = false;
    this.replay = null;
    this.replayBytes = 0;
    this.overflowed = false;
    this.mirrored = false;
    this.waiting = false;
  }
}

/**
 * Sockets written to during this event-loop turn, corked until every I/O callback of the turn
 * has run (setImmediate runs right after the poll phase). A peer serving many connections (the
 * load generator, an upstream) then gets the turn's requests or responses in one wake-up instead
 * of one wake-up per write: the wake-ups, not the writes, were most of the kernel's share.
 */
const held = new Set<Socket>();
let flushQueued = false;
function flushHeld(): void {
  flushQueued = false;
  for (const s of held) s.uncork();
  held.clear();
}
function hold(s: Socket): void {
  if (held.has(s)) return;
  s.cork();
  held.add(s);
  if (!flushQueued) {
    flushQueued = true;
    setImmediate(flushHeld);
  }
}
const CONNECT_OK = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/** The HTTP/1.1 proxy listener. */
export class Http1Proxy {
  readonly server: Server;
  readonly pools: UpstreamPools;
  /** @internal */
  readonly conns = new Set<DownstreamConnection>();
  /** @internal */
  closing = false;
  private readonly ownPools: boolean;

  constructor(readonly options: Http1ProxyOptions) {
    this.ownPools = options.pools === undefined;
    this.pools = options.pools ?? new UpstreamPools();
    // allowHalfOpen: a client that half-closes after its request still gets its response.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.handle(s));
  }

  /** listen binds the listener and returns its address (port 0: an ephemeral port). */
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
   * handle serves an accepted connection (made with allowHalfOpen; a TLS socket's TCP socket
   * accepted with noDelay, as the engine's listeners do). `down`: the connection's
   * facts when the listener knows more than the socket tells (terminated TLS: peer identities).
   */
  handle(socket: Socket, down?: DownstreamInfo): void {
    const c = new DownstreamConnection(this, socket, down);
    this.conns.add(c);
    if (this.closing) c.drain();
  }

  /**
   * close stops accepting, closes idle keep-alive connections, lets in-flight exchanges finish
   * (their responses carry `connection: close`) for up to the drain timeout, then closes the rest.
   */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.conns) c.drain();
    const deadline = Date.now() + (this.options.drainTimeoutMs ?? 5_000);
    while (this.conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const c of this.conns) c.socket.destroy();
    await closed;
    if (this.ownPools) this.pools.close();
  }
}

/** createHttp1Proxy returns a listener that proxies with `options.route` (call `listen`). */
export function createHttp1Proxy(options: Http1ProxyOptions): Http1Proxy {
  return new Http1Proxy(options);
}

/** Response side of an exchange: receives the upstream parser's events. */
class ResponseHandler implements Http1Handler<Http1Response> {
  constructor(private readonly d: DownstreamConnection) {}
  onHead(res: Http1Response): void {
    this.d.onResponseHead(res);
  }
  onBody(data: Buffer): void {
    this.d.onResponseBody(data);
  }
  onEnd(trailers: HeadersT | undefined): boolean {
    this.d.onResponseEnd(trailers);
    return true;
  }
}

/** One downstream connection and, at any time, at most one exchange on it. */
class DownstreamConnection implements Http1Handler<Http1Request>, ConnectionUser {
  readonly info: DownstreamInfo;
  private readonly parser: Http1Parser<Http1Request>;
  private resParser: Http1Parser<Http1Response> | null = null;
  private backlog: Buffer | null = null;
  private closed = false;
  private draining = false;
  /** The client half-closed: answer what it sent, then close. */
  private downEnded = false;
  /** The downstream connection stays open after this exchange. */
  private keepAlive = true;
  private tunnel = false;
  /** Bytes of a tunnel-to-be that arrived before the tunnel was up. */
  private pendingUp: (string | Buffer)[] | null = null;

  // ── the current exchange ──
  private req: Http1Request | null = null;
  private reqEnded = false;
  private local = false;
  private responded = false;
  private exchangeDone = false;
  private pool: EndpointPool | null = null;
  /** The cluster limits whose request slot this exchange holds. */
  private heldLimits: ClusterLimits | null = null;
  /** Engine mode: the exchange's forwarding state. */
  private ex: EngineExchange | null = null;
  /** The connection's one EngineExchange, reset for each request (exchanges on a connection never overlap). */
  private spareEx: EngineExchange | null = null;
  /** The current upstream response is being thrown away (a retried attempt's). */
  private discard = false;
  /** Bytes in pendingUp (the request waits for filters, a delay or a connection slot). */
  private pendingBytes = 0;
  /** Engine: the upstream service time (ms) to add to an otherwise unchanged response head; -1: none. */
  private serviceTime = -1;
  private up: UpstreamConnection | null = null;
  private head = '';
  private retried = false;
  private resHeadSent = false;
  private resFraming: BodyFraming = 'none';
  private resUpKeepAlive = false;
  private resDone = false;
  private upPaused = false;
  private downPaused = false;
  private corked: Socket | null = null;
  /** Response head not yet written: it goes out with the first body bytes (one write when contiguous). */
  private pendingHead: Buffer | string | null = null;
  /**
   * Engine: `x-envoy-upstream-service-time: <ms>\r\n\r\n`, to go in place of the final CRLF of
   * pendingHead (the upstream's raw head); spliced when the head is written, together with a
   * small body when one follows (one copy of head and body, one buffer).
   */
  private pendingLine: string | null = null;
  private downCorked = false;
  /** The last pool used, with the route decision fields it was looked up by (most connections go to one place). */
  private lastPool: EndpointPool | null = null;
  private readonly batch: boolean;
  private status = 0;
  private flag: ResponseFlag | undefined = undefined;
  private start = 0;
  private startTime = 0;
  private sentAt = 0;
  private serviceMs: number | undefined = undefined;
  private reqBytes = 0;
  private resBytes = 0;

  constructor(
    private readonly proxy: Http1Proxy,
    readonly socket: Socket,
    down?: DownstreamInfo,
  ) {
    this.info = down ?? { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, localAddress: socket.localAddress ?? '', localPort: socket.localPort ?? 0 };
    this.parser = new Http1Parser<Http1Request>('request', this, proxy.options.limits ?? DEFAULT_HTTP1_LIMITS);
    this.batch = proxy.options.batchWrites !== false;
    // A TLS socket forwards setNoDelay to the TCP socket it wraps, which the listener accepted
    // with noDelay already: one setsockopt per connection saved. (A plain socket skips a repeated
    // setNoDelay by itself.)
    if ((socket as Socket & { encrypted?: boolean }).encrypted !== true) socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('end', this.onDownEnd);
    socket.on('drain', this.onDownDrain);
    socket.on('error', noop);
    socket.on('close', this.onDownClose);
  }

  /** Graceful close: an idle connection closes now, a busy one after its current response. */
  drain(): void {
    this.draining = true;
    this.keepAlive = false; // a response not yet started says connection: close
    if (this.req === null && this.parser.idle && this.backlog === null && !this.tunnel) this.socket.end();
  }

  // ───────────── downstream bytes ─────────────

  private onData = (buf: Buffer): void => {
    if (this.closed) return;
    if (this.tunnel) {
      const up = this.up;
      if (up === null) (this.pendingUp ??= []).push(buf);
      else {
        if (this.batch) hold(up.socket);
        if (!up.socket.write(buf)) this.pauseDown();
      }
      return;
    }
    if (this.backlog !== null || (this.req !== null && this.reqEnded) || (this.pendingUp !== null && this.req?.upgrade === 'connect')) {
      // A pipelined request while one is being answered, or bytes after CONNECT: keep for later.
      // (A body arriving while the request waits — filters, a delay, a connection slot — is parsed on into pendingUp.)
      this.backlog = this.backlog === null ? buf : Buffer.concat([this.backlog, buf]);
      this.socket.pause();
      return;
    }
    this.feed(buf);
  };

  private feed(buf: Buffer): void {
    for (;;) {
      let n: number;
      try {
        n = this.parser.execute(buf);
      } catch (e) {
        this.uncorkUp();
        this.requestError(e);
        return;
      }
      this.uncorkUp();
      if (this.closed) return;
      if (this.exchangeDone) {
        this.exchangeDone = false;
        if (!this.finishExchange()) return;
        this.parser.resume();
        if (n === buf.length) return;
        buf = buf.subarray(n);
        continue;
      }
      if (n < buf.length) {
        this.backlog = buf.subarray(n);
        this.socket.pause();
      }
      return;
    }
  }

  private uncorkUp(): void {
    const c = this.corked;
    if (c !== null) {
      this.corked = null;
      c.uncork();
    }
  }

  /** Malformed request bytes: 400/431/501/505 when nothing was answered yet, else close. */
  private requestError(e: unknown): void {
    const status = e instanceof Http1Error ? e.status : 400;
    this.keepAlive = false;
    if (this.up !== null) this.dropUpstream();
    if (this.req === null || (!this.resHeadSent && !this.responded)) {
      this.status = status;
      const body = e instanceof Error ? `${e.message}\n` : 'bad request\n';
      this.socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 501 ? 'Not Implemented' : status === 505 ? 'HTTP Version Not Supported' : 'Bad Request'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      this.closed = true;
      this.log();
    } else this.socket.destroy();
  }

  private onDownEnd = (): void => {
    if (this.tunnel) {
      if (this.up !== null) this.up.socket.end();
      else this.socket.destroy();
      return;
    }
    // The client will send nothing more: answer what it sent (pipelined ones too), then close.
    this.downEnded = true;
    if (this.req === null && this.backlog === null) this.endIfDone();
    else if (this.req !== null && !this.reqEnded && !this.responded) {
      this.flag = 'DC';
      this.abort();
    }
  };

  private endIfDone(): void {
    if (this.closed) return;
    try {
      this.parser.finish();
    } catch {
      // a partial request: nothing to answer
    }
    this.closed = true;
    this.socket.end();
  }

  private onDownDrain = (): void => {
    if (this.upPaused) {
      this.upPaused = false;
      this.up?.socket.resume();
    }
  };

  private onDownClose = (): void => {
    this.closed = true;
    this.proxy.conns.delete(this);
    if (this.up !== null) {
      if (this.req !== null && !this.resDone && this.flag === undefined) this.flag = 'DC';
      this.dropUpstream();
    } else if (this.ex !== null) {
      // Waiting on filters, a fault delay or a retry backoff: give the request slot back.
      if (this.req !== null && !this.responded && this.flag === undefined) this.flag = 'DC';
      this.releaseRequest();
    }
    if (this.req !== null && !this.responded) this.log();
  };

  private pauseDown(): void {
    if (!this.downPaused) {
      this.downPaused = true;
      this.socket.pause();
    }
  }

  // ───────────── request events (parser) ─────────────

  onHead(req: Http1Request): void {
    this.req = req;
    this.reqEnded = false;
    this.local = false;
    this.responded = false;
    this.resHeadSent = false;
    this.resDone = false;
    this.retried = false;
    this.status = 0;
    this.flag = undefined;
    this.reqBytes = 0;
    this.resBytes = 0;
    this.pool = null;
    this.serviceMs = undefined;
    this.ex = null;
    this.discard = false;
    this.pendingBytes = 0;
    if (this.proxy.options.onExchange !== undefined) {
      this.start = performance.now();
      this.startTime = Date.now();
    }
    this.keepAlive = req.keepAlive && !this.draining && !this.proxy.closing;
    const engine = this.proxy.options.engine;
    if (engine !== undefined) {
      this.engineHead(req, engine);
      return;
    }
    let d: RouteDecision;
    try {
      d = (this.proxy.options.route as RouteFn)(req, this.info);
    } catch {
      d = { kind: 'local', status: 500, body: 'internal error in routing\n' };
    }
    if (d.kind === 'local') {
      this.localReply(d.status, d.body ?? '', d.headers, d.flag);
      return;
    }
    let pool = this.lastPool;
    if (pool === null || pool.port !== d.port || pool.address !== d.address || pool.settings !== (d.pool ?? this.proxy.pools.defaults)) {
      pool = this.proxy.pools.get(d.address, d.port, d.pool);
      this.lastPool = pool;
    }
    this.pool = pool;
    const limits = pool.settings.limits;
    if (limits !== undefined) {
      if (!limits.tryAcquireRequest()) {
        this.localReply(503, 'upstream overflow\n', undefined, 'UO');
        return;
      }
      this.heldLimits = limits;
    }
    if (req.upgrade === 'connect') {
      this.head = '';
      this.attach(pool.acquire(this, true));
      return;
    }
    this.head = serializeRequestHead(req, req.framing, req.upgrade);
    this.attach(pool.acquire(this));
    if (req.expectContinue && !this.local) this.socket.write(CONTINUE_100);
  }

  private attach(r: UpstreamConnection | 'queued' | 'overflow'): void {
    if (r === 'overflow') {
      if (this.ex !== null) {
        // The cluster's pending-request breaker (http1MaxPendingRequests): Envoy's UO, not an outlier outcome.
        this.endAttempt(undefined);
        this.engineLocal(503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow\n', undefined, 'UO');
        return;
      }
      this.releaseRequest();
      this.localReply(503, 'upstream overflow\n', undefined, 'UO');
      return;
    }
    if (r === 'queued') {
      this.pendingUp = [];
      return;
    }
    this.up = r;
    this.startUpstream(r);
  }

  /** Sends the head on a newly obtained connection (CONNECT: waits for the TCP connection). */
  private startUpstream(c: UpstreamConnection): void {
    const req = this.req as Http1Request;
    if (req.upgrade === 'connect') {
      (this.pool as EndpointPool).detach(c);
      if (c.connected) this.onUpstreamConnect();
      else c.socket.once('connect', this.onUpstreamConnect);
      return;
    }
    const s = c.socket;
    const rp = (this.resParser ??= new Http1Parser<Http1Response>('response', new ResponseHandler(this), this.proxy.options.limits ?? DEFAULT_HTTP1_LIMITS));
    rp.reset(req.method);
    if (this.corked === null && !this.reqEnded && req.framing !== 'none') {
      s.cork();
      this.corked = s;
    }
    if (this.batch) hold(s);
    s.write(this.head, 'latin1');
    if (this.proxy.options.onExchange !== undefined || this.ex !== null) this.sentAt = performance.now();
    const ex = this.ex;
    if (ex !== null && ex.attempts > 1) {
      // A retry: the request bytes so far from the replay buffer (they include what was pending).
      this.pendingUp = null;
      this.pendingBytes = 0;
      let ok = true;
      if (ex.replay !== null) for (const p of ex.replay) ok = s.write(p);
      if (ok && this.downPaused) this.onUpstreamDrain();
      return;
    }
    const pending = this.pendingUp;
    if (pending !== null) {
      this.pendingUp = null;
      this.pendingBytes = 0;
      let ok = true;
      for (const p of pending) ok = s.write(p);
      if (ok && this.downPaused) this.onUpstreamDrain();
    }
  }

  private onUpstreamConnect = (): void => {
    if (this.closed || this.up === null) return;
    this.endAttempt('success');
    this.status = 200;
    this.responded = true;
    this.socket.write(CONNECT_OK);
    this.startTunnel(undefined);
  };

  onBody(data: Buffer): void {
    if (this.local) return;
    this.reqBytes += data.length;
    if ((this.req as Http1Request).framing === 'chunked') {
      this.upWrite(chunkHeader(data.length));
      this.upWrite(data);
      this.upWrite('\r\n');
    } else this.upWrite(data);
  }

  private upWrite(data: string | Buffer): void {
    const ex = this.ex;
    if (ex !== null && ex.replay !== null) this.keep(ex, data);
    const up = this.up;
    if (up === null) {
      const pending = this.pendingUp;
      if (pending !== null) {
        pending.push(data);
        // Waiting (filters, a fault delay, a connection slot): stop reading past a bound.
        if ((this.pendingBytes += data.length) > PENDING_LIMIT) this.pauseDown();
      }
      return;
    }
    if (this.batch) hold(up.socket);
    if (!(typeof data === 'string' ? up.socket.write(data, 'latin1') : up.socket.write(data))) this.pauseDown();
  }

  onEnd(trailers: HeadersT | undefined): boolean {
    this.reqEnded = true;
    if (this.local) {
      if (this.responded) this.exchangeDone = true;
      return true;
    }
    if ((this.req as Http1Request).framing === 'chunked') this.upWrite(lastChunk(trailers));
    if (this.ex !== null) this.mirror();
    if (this.resDone) this.exchangeDone = true;
    return true;
  }


  // ───────────── engine: filters, decisions and the attempt loop ─────────────

  /** Runs the chain's filters, then routes. */
  private engineHead(req: Http1Request, engine: Http1EngineView): void {
    let ex = this.spareEx;
    if (ex === null) ex = this.spareEx = new EngineExchange();
    else ex.reset();
    this.ex = ex;
    const stages = engine.filters?.() ?? NO_FILTERS;
    if (stages.length > 0) this.runFilters(req, stages, engine, 0, new FilterContext(req, this.info));
    else this.engineRoute(req, engine);
  }

  /**
   * runFilters runs the stages from `from` on, synchronously while they answer synchronously (a
   * span, an RBAC decision: no promise per request); at the first pending answer the request
   * waits, its body kept in pendingUp, and goes on from the next stage when it settles.
   */
  private runFilters(req: Http1Request, stages: readonly HttpFilterStage[], engine: Http1EngineView, from: number, ctx: FilterContext): void {
    for (let i = from; i < stages.length; i++) {
      let r: ReturnType<HttpFilterStage['run']>;
      try {
        r = stages[i].run(ctx);
      } catch {
        r = FILTER_FAILED;
      }
      if (r instanceof Promise) {
        this.pendingUp ??= [];
        r.then(
          (denial) => {
            if (this.closed || this.req !== req) return;
            if (denial !== undefined) this.filterDenied(denial);
            else this.runFilters(req, stages, engine, i + 1, ctx);
          },
          () => {
            if (!this.closed && this.req === req) this.filterDenied(FILTER_FAILED);
          },
        );
        return;
      }
      if (r !== undefined) {
        this.filterDenied(r);
        return;
      }
    }
    this.engineRoute(req, engine);
  }

  private filterDenied(denial: FilterDenial): void {
    this.pendingUp = null;
    this.engineLocal(denial.status, denial.body, denial.headers, denial.flag);
  }

  /** The pipeline's decisions, then the fault delay (a timer: other connections go on meanwhile). */
  private engineRoute(req: Http1Request, engine: Http1EngineView): void {
    const ex = this.ex as EngineExchange;
    const table = engine.routeTable();
    if (table === undefined) {
      this.pendingUp = null;
      this.engineLocal(404, '', undefined, 'NR');
      return;
    }
    let d: Decision;
    try {
      d = decideRequest(table, req, false, engine.clock.random);
    } catch {
      this.pendingUp = null;
      this.engineLocal(500, 'internal error in routing\n', undefined, undefined);
      return;
    }
    ex.route = d.route?.name;
    if (d.flags.length > 0) ex.flags = [...d.flags];
    if (d.delayMs > 0) {
      this.pendingUp ??= [];
      engine.clock.setTimeout(() => {
        if (!this.closed && this.req === req) this.engineDecided(req, engine, d);
      }, d.delayMs);
      return;
    }
    this.engineDecided(req, engine, d);
  }

  private engineDecided(req: Http1Request, engine: Http1EngineView, d: Decision): void {
    const ex = this.ex as EngineExchange;
    if (d.kind === 'local') {
      this.pendingUp = null;
      this.engineLocal(d.response.status, d.response.body, d.response.headers, undefined);
      return;
    }
    ex.cluster = d.cluster;
    const cluster = engine.cluster(d.cluster);
    if (cluster === undefined) {
      this.pendingUp = null;
      this.engineLocal(503, 'no cluster found\n', undefined, 'NC');
      return;
    }
    ex.managed = cluster;
    ex.decision = d;
    if (cluster.plan.lb.kind === 'cluster-provided') {
      // ORIGINAL_DST (Istio's PassthroughCluster under ALLOW_ANY): with explicit capture the
      // original destination is what the request addresses, so the proxy forwards like a plain HTTP proxy.
      const to = originalDestination(req.authority);
      if (to === undefined) {
        this.pendingUp = null;
        this.engineLocal(503, 'no original destination\n', undefined, 'UH');
        return;
      }
      ex.passthrough = { address: to.host, port: to.port, weight: 1, healthy: true };
    }
    // The cluster's request circuit breaker, held over all attempts (forward.ts).
    if (!cluster.limits.tryAcquireRequest()) {
      this.pendingUp = null;
      this.engineLocal(503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow\n', undefined, 'UO');
      return;
    }
    this.heldLimits = cluster.limits;
    if (d.hashPolicy.length > 0) {
      const h = hashRequest(d.hashPolicy, req, this.info);
      ex.hash = h.hash;
      ex.setCookie = h.setCookie;
    }
    const timeoutMs = d.timeoutMs ?? DEFAULT_ROUTE_TIMEOUT_MS;
    if (timeoutMs > 0) ex.deadline = engine.clock.now() + timeoutMs;
    if (d.retry !== undefined && d.retry.numRetries > 0 && req.upgrade === undefined) ex.retry = d.retry;
    // Request bytes are kept while they fit the buffer: a retry replays them, a mirror copies them.
    if (ex.retry !== undefined || d.mirrors.length > 0) {
      ex.replay = [];
      const pending = this.pendingUp;
      if (pending !== null) for (const p of pending) this.keep(ex, p);
    }
    this.head = req.upgrade === 'connect' ? '' : serializeRequestHead(req, req.framing, req.upgrade);
    if (req.expectContinue && !this.reqEnded) this.socket.write(CONTINUE_100);
    if (this.reqEnded) this.mirror();
    this.engineAttempt();
  }

  private keep(ex: EngineExchange, data: string | Buffer): void {
    const r = ex.replay;
    if (r === null) return;
    ex.replayBytes += data.length;
    if (ex.replayBytes > (this.proxy.options.bufferLimitBytes ?? DEFAULT_BUFFER_LIMIT)) {
      ex.replay = null;
      ex.overflowed = true;
    } else r.push(data);
  }

  /** One attempt: pick a host (avoiding tried ones when the policy says so), arm the timer, get a connection. */
  private engineAttempt(): void {
    const ex = this.ex as EngineExchange;
    ex.waiting = false;
    ex.timer = undefined;
    if (this.closed || this.req === null) return;
    if (ex.attempts > 0 && ex.replay === null) {
      // The body outgrew the retry buffer while the retry waited: it cannot be sent again.
      ex.urx = true;
      this.engineLocal(503, 'upstream request could not be retried: body exceeds the retry buffer\n', undefined, undefined);
      return;
    }
    const cluster = ex.managed as ManagedCluster;
    const clock = (this.proxy.options.engine as Http1EngineView).clock;
    const retry = ex.retry;
    let e: Endpoint | undefined = ex.passthrough;
    if (e === undefined) {
      // The hosts tried so far: made on the first retry (ex.endpoint is the last attempt's), not per request.
      const tried = retry?.avoidPreviousHosts === true && ex.attempts > 0 && ex.endpoint !== undefined ? (ex.tried ??= new Set()).add(ex.endpoint) : null;
      e = cluster.lb.pick(tried !== null ? { hash: ex.hash, exclude: tried } : ex.hash !== undefined ? { hash: ex.hash } : ANY_HOST);
    }
    if (e === undefined) {
      this.engineLocal(503, 'no healthy upstream\n', undefined, 'UH');
      return;
    }
    ex.attempts++;
    ex.endpoint = e;
    // A retry's head carries its attempt number (x-envoy-attempt-count) when the virtual host asks.
    const req = this.req as Http1Request;
    if (ex.attempts > 1 && ex.decision !== undefined && setAttemptCount(ex.decision, req, ex.attempts)) this.head = serializeRequestHead(req, req.framing, req.upgrade);
    const remaining = ex.deadline === Infinity ? Infinity : ex.deadline - clock.now();
    if (remaining <= 0) {
      this.engineLocal(504, 'upstream request timeout\n', undefined, 'UT');
      return;
    }
    const perTry = retry?.perTryTimeoutMs ?? ex.decision?.retry?.perTryTimeoutMs;
    const limit = perTry !== undefined && perTry > 0 && perTry < remaining ? perTry : remaining;
    ex.timerIsRoute = limit === remaining;
    if (Number.isFinite(limit)) ex.timer = clock.setTimeout(this.onAttemptTimeout, limit);
    ex.inAttempt = true;
    if (ex.passthrough === undefined) cluster.active.set(e, (cluster.active.get(e) ?? 0) + 1);
    const settings = poolSettingsOf(cluster);
    let pool = this.lastPool;
    if (pool === null || pool.port !== e.port || pool.address !== e.address || pool.settings !== settings) {
      pool = this.proxy.pools.get(e.address, e.port, settings);
      this.lastPool = pool;
    }
    this.pool = pool;
    this.discard = false;
    if (ex.attempts > 1) this.pendingUp = null;
    this.attach(pool.acquire(this, (this.req as Http1Request).upgrade === 'connect'));
    this.uncorkUp();
  }

  /** Ends the running attempt: timer off, host no longer active, and what outlier detection hears (`outcome`). */
  private endAttempt(outcome: AttemptOutcome | undefined): void {
    const ex = this.ex;
    if (ex === null) return;
    if (ex.timer !== undefined) {
      (this.proxy.options.engine as Http1EngineView).clock.clearTimeout(ex.timer);
      ex.timer = undefined;
    }
    if (!ex.inAttempt) return;
    ex.inAttempt = false;
    const cluster = ex.managed as ManagedCluster;
    const e = ex.endpoint as Endpoint;
    if (ex.passthrough === undefined) {
      const n = (cluster.active.get(e) ?? 1) - 1;
      if (n <= 0) cluster.active.delete(e);
      else cluster.active.set(e, n);
      if (outcome !== undefined) cluster.outlier?.record(e, outcome);
    }
  }

  private onAttemptTimeout = (): void => {
    const ex = this.ex;
    if (ex === null || !ex.inAttempt) return;
    ex.timer = undefined;
    const route = ex.timerIsRoute;
    this.endAttempt('local-origin-failure');
    this.dropConnection();
    if (!route && this.retryAfter({ kind: 'per-try-timeout' })) return;
    this.engineLocal(504, 'upstream request timeout\n', undefined, 'UT');
  };

  /** Gives the attempt's connection up (closed: whatever it was doing cannot be resumed). */
  private dropConnection(): void {
    const c = this.up;
    this.up = null;
    this.pendingUp = null;
    this.upPaused = false;
    if (c !== null) c.pool.release(c, false);
    else this.pool?.cancel(this); // still queued for a connection slot: withdraw

    if (this.downPaused) {
      this.downPaused = false;
      this.socket.resume();
    }
  }

  /**
   * retryAfter schedules another attempt when the policy retries `r` and one is allowed (attempts
   * left, the request still replayable, the retry breaker); false: answer with what we have.
   */
  private retryAfter(r: AttemptResult): boolean {
    const ex = this.ex as EngineExchange;
    const retry = ex.retry;
    if (retry === undefined || this.closed || !retriable(r, retry)) return false;
    const last = ex.attempts >= 1 + retry.numRetries || ex.overflowed || ex.replay === null;
    if (last) {
      ex.urx = ex.attempts > 1;
      return false;
    }
    if (!ex.retryHeld) {
      if (!(ex.managed as ManagedCluster).limits.tryAcquireRetry()) {
        ex.urx = true;
        return false;
      }
      ex.retryHeld = true;
    }
    const clock = (this.proxy.options.engine as Http1EngineView).clock;
    const wait = Math.min(backoffMs(ex.attempts, retry, clock.random), Math.max(0, ex.deadline - clock.now()));
    ex.waiting = true;
    // Never within the caller's parser callbacks: the next attempt starts from a timer.
    ex.timer = clock.setTimeout(this.onRetryDue, wait);
    return true;
  }

  private onRetryDue = (): void => {
    const ex = this.ex;
    if (ex === null || !ex.waiting) return;
    this.engineAttempt();
  };

  /** A local reply of the engine (flag added to the decision's), after which the next request may be read. */
  private engineLocal(status: number, body: string, headers: LocalDecision['headers'], flag: ResponseFlag | undefined): void {
    const ex = this.ex as EngineExchange;
    if (ex.urx) (ex.flags = [...ex.flags]).push('URX');
    this.releaseRequest();
    if (this.closed) return;
    this.pendingUp = null;
    this.pendingBytes = 0;
    if (this.downPaused) this.onUpstreamDrain(); // read (and drop) the rest of the body
    this.localReply(status, body, headers, flag);
    if (this.reqEnded && !this.closed) this.afterLocal();
  }

  /** Fire-and-forget copies of a fully buffered request to the mirror clusters (h2-proxy's mirror()). */
  private mirror(): void {
    const ex = this.ex;
    const d = ex?.decision;
    if (ex === null || d === undefined || d.mirrors.length === 0 || ex.mirrored || ex.replay === null || this.req === null) return;
    ex.mirrored = true;
    const engine = this.proxy.options.engine as Http1EngineView;
    const req = this.req as Http1Request;
    for (const m of d.mirrors) {
      if (!(m.fraction >= 1 || engine.clock.random() < m.fraction)) continue;
      const cluster = engine.cluster(m.cluster);
      const e = cluster?.lb.pick({});
      if (cluster === undefined || e === undefined) continue;
      // Envoy marks shadowed requests by suffixing the authority with -shadow.
      const copy: RequestHead = { method: req.method, path: req.path, scheme: req.scheme, authority: req.authority.replace(/^([^:]+)/, '$1-shadow'), headers: req.headers };
      const s = connect({ host: e.address, port: e.port });
      s.setTimeout(10_000, () => s.destroy());
      s.on('error', noop);
      s.on('data', noop);
      s.on('end', () => s.destroy());
      s.write(serializeRequestHead(copy, req.framing, undefined, true), 'latin1');
      for (const p of ex.replay) s.write(p);
    }
  }

  /** The response head of an engine attempt: retried (thrown away) or sent on with the response-side operations. */
  private engineResponseHead(res: Http1Response, ex: EngineExchange): boolean {
    const result: AttemptResult = { kind: 'response', status: res.status };
    this.endAttempt(outcomeOf(result));
    if (res.upgrade === undefined && this.retryAfter(result)) {
      this.discard = true;
      this.dropConnection();
      return false;
    }
    if (ex.urx) (ex.flags = [...ex.flags]).push('URX');
    const d = ex.decision as Extract<Decision, { kind: 'forward' }>;
    const service = performance.now() - this.sentAt;
    this.serviceMs = service;
    const ms = Math.round(service);
    const levels = d.responseHeaderLevels;
    let changed = d.responseHeaders.length > 0 || ex.setCookie !== undefined;
    for (let i = 0; i < levels.length && !changed; i++) changed = levels[i] !== undefined;
    if (!changed) {
      // Nothing to change but the service time: the head may still go out as received, with that line added.
      this.serviceTime = ms;
      return true;
    }
    const h = res.headers;
    applyHeaderLevels(h, levels);
    for (const [n, v] of d.responseHeaders) h.set(n, v);
    if (ex.setCookie !== undefined) h.add('set-cookie', ex.setCookie);
    h.set('x-envoy-upstream-service-time', String(ms));
    res.raw = undefined;
    return true;
  }

  // ───────────── upstream events (pool) ─────────────

  onUpstreamData(data: Buffer): void {
    if (this.tunnel) {
      if (this.batch) hold(this.socket);
      if (!this.socket.write(data)) this.pauseUp();
      return;
    }
    const rp = this.resParser as Http1Parser<Http1Response>;
    let n: number;
    try {
      n = rp.execute(data);
    } catch {
      this.flushDown();
      this.upstreamFailed('UC');
      return;
    }
    this.flushDown();
    if (rp.upgraded) {
      this.startTunnel(n < data.length ? data.subarray(n) : undefined);
      return;
    }
    if (this.resDone) this.afterResponse(n === data.length);
  }

  onUpstreamEnd(): void {
    if (this.tunnel) {
      this.socket.end();
      return;
    }
    this.upstreamGone();
  }

  onUpstreamClose(conn: UpstreamConnection): void {
    if (conn !== this.up) return;
    if (this.tunnel) {
      this.up = null;
      this.releaseRequest();
      if (!this.closed) this.socket.destroy();
      return;
    }
    this.upstreamGone();
  }

  onUpstreamDrain(): void {
    if (this.downPaused) {
      this.downPaused = false;
      this.socket.resume();
    }
  }

  onUpstreamReady(conn: UpstreamConnection): void {
    if (this.closed || this.req === null) {
      conn.pool.release(conn, conn.connected);
      return;
    }
    this.up = conn;
    this.startUpstream(conn);
    this.uncorkUp();
  }

  onUpstreamOverflow(): void {
    this.pendingUp = null;
    this.pendingBytes = 0;
    if (this.closed || this.req === null) return;
    if (this.ex !== null) {
      // Waited longer than the connect timeout for a connection slot: Envoy's UO, not an outlier outcome.
      this.endAttempt(undefined);
      this.engineLocal(503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow\n', undefined, 'UO');
      return;
    }
    this.releaseRequest();
    if (this.downPaused) this.onUpstreamDrain(); // read (and drop) the rest of a body held while queued
    this.localReply(503, 'upstream overflow\n', undefined, 'UO');
    if (this.reqEnded) this.afterLocal();
  }

  private pauseUp(): void {
    if (!this.upPaused && this.up !== null) {
      this.upPaused = true;
      this.up.socket.pause();
    }
  }

  /** The upstream finished sending (FIN or close) before or during the response. */
  private upstreamGone(): void {
    const c = this.up;
    if (c === null || this.req === null) return;
    const rp = this.resParser;
    if (this.resHeadSent && rp !== null) {
      // A body delimited by close ends here; any other cut is a broken response.
      try {
        rp.finish();
      } catch {
        this.flushDown();
        this.upstreamFailed('UC');
        return;
      }
      this.flushDown();
      if (this.resDone) this.afterResponse(true);
      else this.upstreamFailed('UC');
      return;
    }
    if (!c.connected) {
      this.upstreamFailed('UF');
      return;
    }
    // A reused keep-alive connection closed by the upstream just as we sent on it: nothing was
    // received and a body-less request can safely go again on a new connection.
    if (c.reused && !this.retried && this.req.framing === 'none' && (rp === null || rp.idle) && this.req.upgrade === undefined) {
      this.retried = true;
      (this.pool as EndpointPool).release(c, false);
      this.up = null;
      this.attach((this.pool as EndpointPool).acquire(this, true));
      this.uncorkUp();
      return;
    }
    this.upstreamFailed('UC');
  }

  /** The exchange with the upstream failed: 503 when nothing was answered yet, else close downstream. */
  private upstreamFailed(flag: ResponseFlag): void {
    const ex = this.ex;
    if (ex !== null && !this.resHeadSent && ex.inAttempt) {
      const r: AttemptResult = flag === 'UF' ? { kind: 'connect-failure' } : { kind: 'reset' };
      this.endAttempt(outcomeOf(r));
      this.dropConnection();
      if (this.retryAfter(r)) return;
      this.keepAlive = this.keepAlive && this.reqEnded;
      this.engineLocal(503, flag === 'UF' ? 'upstream connect error or disconnect/reset before headers. reset reason: connection failure\n' : 'upstream connect error or disconnect/reset before headers. reset reason: connection termination\n', undefined, flag);
      return;
    }
    this.flag = flag;
    this.dropUpstream();
    if (this.resHeadSent) {
      this.socket.destroy();
      return;
    }
    this.keepAlive = this.keepAlive && this.reqEnded;
    this.localReply(503, flag === 'UF' ? 'upstream connect error (UF)\n' : 'upstream reset before response (UC)\n', undefined, flag);
    if (this.reqEnded) this.afterLocal();
  }

  /** Local response finished outside the parser's callbacks: move on to the next request. */
  private afterLocal(): void {
    if (!this.finishExchange()) return;
    this.resumeParsing();
  }

  private dropUpstream(): void {
    const c = this.up;
    this.up = null;
    this.pendingUp = null;
    if (c !== null) {
      if (this.upPaused) this.upPaused = false;
      c.pool.release(c, false);
    }
    this.releaseRequest();
  }

  private releaseRequest(): void {
    const l = this.heldLimits;
    if (l !== null) {
      this.heldLimits = null;
      l.releaseRequest();
    }
    const ex = this.ex;
    if (ex !== null) {
      this.endAttempt(undefined);
      if (ex.retryHeld) {
        ex.retryHeld = false;
        (ex.managed as ManagedCluster).limits.releaseRetry();
      }
    }
  }

  // ───────────── response events (upstream parser) ─────────────

  onResponseHead(res: Http1Response): void {
    if (res.status < 200 && res.status !== 101) return; // 100 Continue was answered by us; other 1xx are dropped (Envoy's default)
    const req = this.req as Http1Request;
    const ex = this.ex;
    this.serviceTime = -1;
    if (ex !== null && !this.engineResponseHead(res, ex)) return;
    this.status = res.status;
    // (the engine took its clock reading in engineResponseHead)
    if (ex === null && this.proxy.options.onExchange !== undefined) this.serviceMs = performance.now() - this.sentAt;
    if (res.upgrade !== undefined) {
      this.resHeadSent = true;
      this.socket.write(serializeResponseHead(res.status, res.reason, res.headers, 'none', true, 1, res.upgrade), 'latin1');
      return;
    }
    this.resUpKeepAlive = res.keepAlive;
    let framing: BodyFraming = res.framing;
    if (framing === 'chunked' || framing === 'close') framing = req.versionMinor === 1 ? 'chunked' : 'close';
    this.resFraming = framing;
    if (framing === 'close') this.keepAlive = false;
    if (!this.reqEnded) this.keepAlive = false; // an early response: the rest of the request cannot be resynchronised
    this.resHeadSent = true;
    // Unchanged heads go out as received; written with the first body bytes (flushDown otherwise).
    const raw = res.raw;
    if (raw !== undefined && framing === res.framing && this.keepAlive && req.versionMinor === 1) {
      this.pendingHead = raw;
      // Envoy's x-envoy-upstream-service-time, spliced in before the head's final CRLF when the head is written (no re-serialisation).
      this.pendingLine = this.serviceTime >= 0 ? 'x-envoy-upstream-service-time: ' + this.serviceTime + '\r\n\r\n' : null;
    } else {
      if (this.serviceTime >= 0) res.headers.set('x-envoy-upstream-service-time', String(this.serviceTime));
      this.pendingLine = null;
      this.pendingHead = serializeResponseHead(res.status, res.reason, res.headers, framing, this.keepAlive, req.versionMinor);
    }
  }

  onResponseBody(data: Buffer): void {
    if (this.discard) return;
    this.resBytes += data.length;
    if (this.batch) hold(this.socket);
    const line = this.pendingLine;
    if (line !== null && this.resFraming !== 'chunked' && data.length <= SMALL_BODY) {
      // Head (its final CRLF replaced by the service-time line) and a small body: one copy, one write.
      const raw = this.pendingHead as Buffer;
      this.pendingHead = null;
      this.pendingLine = null;
      const at = raw.length - 2;
      const one = Buffer.allocUnsafe(at + line.length + data.length);
      raw.copy(one, 0, 0, at);
      one.write(line, at, 'latin1');
      data.copy(one, at + line.length);
      if (!this.socket.write(one)) this.pauseUp();
      return;
    }
    const h = this.takeHead();
    if (h !== null) {
      if (typeof h !== 'string' && this.resFraming !== 'chunked' && h.buffer === data.buffer && h.byteOffset + h.length === data.byteOffset) {
        // Head and body are adjacent in the upstream's read: one write of both, no writev.
        if (!this.socket.write(Buffer.from(h.buffer, h.byteOffset, h.length + data.length))) this.pauseUp();
        return;
      }
      if (typeof h !== 'string' && this.resFraming !== 'chunked' && data.length <= SMALL_BODY) {
        // A head and a small body copied into one buffer: one write instead of a writev of two.
        const one = Buffer.allocUnsafe(h.length + data.length);
        h.copy(one, 0);
        data.copy(one, h.length);
        if (!this.socket.write(one)) this.pauseUp();
        return;
      }
      this.corkDown();
      this.writeHead(h);
    }
    let ok: boolean;
    if (this.resFraming === 'chunked') {
      this.corkDown();
      this.socket.write(chunkHeader(data.length), 'latin1');
      this.socket.write(data);
      ok = this.socket.write('\r\n', 'latin1');
    } else ok = this.socket.write(data);
    if (!ok) this.pauseUp();
  }

  onResponseEnd(trailers: HeadersT | undefined): void {
    if (this.discard) return;
    if (this.resFraming === 'chunked') {
      if (this.batch) hold(this.socket);
      this.corkDown();
      const h = this.takeHead();
      if (h !== null) this.writeHead(h);
      this.socket.write(lastChunk(trailers), 'latin1');
    }
    this.resDone = true;
  }

  /** takeHead returns the pending response head (service-time line spliced in), or null; it is no longer pending. */
  private takeHead(): Buffer | string | null {
    const h = this.pendingHead;
    if (h === null) return null;
    this.pendingHead = null;
    const line = this.pendingLine;
    if (line === null) return h;
    this.pendingLine = null;
    const raw = h as Buffer;
    const at = raw.length - 2;
    const b = Buffer.allocUnsafe(at + line.length);
    raw.copy(b, 0, 0, at);
    b.write(line, at, 'latin1');
    return b;
  }

  private writeHead(h: Buffer | string): void {
    if (typeof h === 'string') this.socket.write(h, 'latin1');
    else this.socket.write(h);
  }

  private corkDown(): void {
    if (!this.downCorked) {
      this.downCorked = true;
      this.socket.cork();
    }
  }

  /** Writes a head still pending and uncorks: the end of one upstream read. */
  private flushDown(): void {
    const h = this.takeHead();
    if (h !== null) {
      if (this.batch) hold(this.socket);
      this.writeHead(h);
    }
    if (this.downCorked) {
      this.downCorked = false;
      this.socket.uncork();
    }
  }

  /** The response ended: give the upstream connection back and move on. */
  private afterResponse(consumedAll: boolean): void {
    const c = this.up;
    this.up = null;
    if (c !== null) {
      if (this.upPaused) {
        this.upPaused = false;
        c.socket.resume();
      }
      c.pool.release(c, consumedAll && this.resUpKeepAlive && this.reqEnded && this.resFraming !== 'close');
    }
    this.releaseRequest();
    this.responded = true;
    if (!this.reqEnded) {
      // An early response while the request body is still coming: the connection cannot carry
      // another request; close it (keepAlive is already false).
      this.log();
      this.req = null;
      this.closed = true;
      this.socket.end();
      return;
    }
    if (!this.finishExchange()) return;
    this.resumeParsing();
  }

  private resumeParsing(): void {
    this.parser.resume();
    const b = this.backlog;
    if (b !== null) {
      this.backlog = null;
      this.feed(b);
    }
    if (this.closed || this.tunnel) return;
    if (this.backlog === null) {
      if (this.downEnded && this.req === null) this.endIfDone();
      else this.socket.resume();
    }
  }

  /** Ends the exchange; false when the connection closes instead of taking another request. */
  private finishExchange(): boolean {
    this.log();
    this.req = null;
    if (!this.keepAlive || this.draining) {
      this.socket.end();
      this.closed = true;
      return false;
    }
    return true;
  }

  private log(): void {
    const cb = this.proxy.options.onExchange;
    const req = this.req;
    if (cb === undefined || req === null) return;
    const p = this.pool;
    const ex = this.ex;
    let flags: ResponseFlag[] = ex === null ? NO_FLAGS : ex.flags;
    const f = this.flag;
    if (f !== undefined && !flags.includes(f)) flags = [...flags, f];
    // One object literal of a fixed shape (absent optional fields are undefined): no spreads per record.
    const rec: ExchangeRecord = {
      request: req,
      downstream: this.info,
      protocol: req.versionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1',
      grpc: false,
      status: this.status,
      flags,
      route: ex === null ? undefined : ex.route,
      cluster: ex === null ? undefined : ex.cluster,
      upstream: ex !== null ? ex.endpoint : p !== null ? { address: p.address, port: p.port, weight: 1, healthy: true } : undefined,
      attempts: ex !== null ? ex.attempts : p !== null ? 1 : 0,
      requestBodyBytes: this.reqBytes,
      responseBodyBytes: this.resBytes,
      startTime: this.startTime,
      durationMs: performance.now() - this.start,
      upstreamServiceTimeMs: this.serviceMs,
    };
    cb(rec);
  }

  /** Writes a response made here (content-length framed). */
  private localReply(status: number, body: string, headers: LocalDecision['headers'], flag: ResponseFlag | undefined): void {
    const req = this.req as Http1Request;
    this.local = true;
    this.responded = true;
    this.status = status;
    this.flag = flag;
    // A client that waits for 100-continue may never send its body, and a refused CONNECT has
    // no HTTP after it: close instead of reading on.
    const closeNow = req.upgrade === 'connect' || (req.expectContinue && req.framing !== 'none' && !this.reqEnded);
    if (closeNow) this.keepAlive = false;
    const h = new Headers(['content-length', String(Buffer.byteLength(body)), 'content-type', 'text/plain']);
    if (headers !== undefined) for (const [n, v] of headers) h.set(n.toLowerCase(), v);
    this.socket.write(serializeResponseHead(status, '', h, 'length', this.keepAlive, req.versionMinor) + (req.method === 'HEAD' ? '' : body), 'latin1');
    if (closeNow) {
      this.log();
      this.req = null;
      this.closed = true;
      this.socket.end();
    }
  }

  /** After 101 / CONNECT: splice the two sockets. */
  private startTunnel(fromUp: Buffer | undefined): void {
    const up = this.up as UpstreamConnection;
    (this.pool as EndpointPool).detach(up);
    this.tunnel = true;
    this.resDone = true;
    this.responded = true;
    this.log();
    if (fromUp !== undefined && fromUp.length > 0) this.socket.write(fromUp);
    const pending = this.pendingUp;
    this.pendingUp = null;
    if (pending !== null) for (const p of pending) up.socket.write(p);
    const b = this.backlog;
    this.backlog = null;
    if (b !== null && b.length > 0) up.socket.write(b);
    this.socket.resume();
  }

  /** The downstream went away mid-request. */
  private abort(): void {
    this.dropUpstream();
    this.socket.destroy();
  }
}

function noop(): void {
  // socket errors are followed by 'close', handled there
}
