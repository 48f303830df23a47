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
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { DownstreamInfo, Headers as HeadersT, RequestHead, ResponseFlag } from '../model.js';
import { Headers } from '../model.js';
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
  /** Anything the caller wants back in the ExchangeRecord (route, cluster, endpoint…); not read here. */
  readonly context?: unknown;
}

/** Answer the request here (no route, redirect, direct response, fault abort…). */
export interface LocalDecision {
  readonly kind: 'local';
  readonly status: number;
  readonly headers?: readonly (readonly [name: string, value: string])[];
  readonly body?: string;
  /** Response flag recorded for this exchange (NR, FI, …). */
  readonly flag?: ResponseFlag;
  /** Anything the caller wants back in the ExchangeRecord; not read here. */
  readonly context?: unknown;
}

export type RouteDecision = ForwardDecision | LocalDecision;

/** The engine's pipeline entry as the listener sees it: a synchronous decision per request. */
export type RouteFn = (req: RequestHead, down: DownstreamInfo) => RouteDecision;

/** What happened to one exchange (for access logs and metrics). */
export interface ExchangeRecord {
  readonly request: RequestHead;
  readonly status: number;
  readonly flag: ResponseFlag | undefined;
  /** `address:port` of the upstream endpoint, when forwarded. */
  readonly upstream: string | undefined;
  readonly requestBodyBytes: number;
  readonly responseBodyBytes: number;
  readonly durationMs: number;
  readonly downstream: DownstreamInfo;
  /** Envoy's %PROTOCOL% of the downstream request. */
  readonly protocol: 'HTTP/1.0' | 'HTTP/1.1';
  /** When the request head was parsed (epoch ms). */
  readonly startTime: number;
  /** From writing the request head upstream to reading the response head (x-envoy-upstream-service-time). */
  readonly upstreamServiceTimeMs: number | undefined;
  /** The `context` of the route decision, as given. */
  readonly context: unknown;
}

export interface Http1ProxyOptions {
  readonly route: RouteFn;
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

  /** handle serves an accepted connection (made with allowHalfOpen). */
  handle(socket: Socket): void {
    const c = new DownstreamConnection(this, socket);
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
  private limitsHeld = false;
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
  private context: unknown = undefined;
  private reqBytes = 0;
  private resBytes = 0;

  constructor(
    private readonly proxy: Http1Proxy,
    readonly socket: Socket,
  ) {
    this.info = { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, localAddress: socket.localAddress ?? '', localPort: socket.localPort ?? 0 };
    this.parser = new Http1Parser<Http1Request>('request', this, proxy.options.limits ?? DEFAULT_HTTP1_LIMITS);
    this.batch = proxy.options.batchWrites !== false;
    socket.setNoDelay(true);
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
    if (this.backlog !== null || (this.req !== null && this.reqEnded) || this.pendingUp !== null) {
      // A pipelined request while one is being answered, or bytes after CONNECT: keep for later.
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
    this.context = undefined;
    this.serviceMs = undefined;
    if (this.proxy.options.onExchange !== undefined) {
      this.start = performance.now();
      this.startTime = Date.now();
    }
    this.keepAlive = req.keepAlive && !this.draining && !this.proxy.closing;
    let d: RouteDecision;
    try {
      d = this.proxy.options.route(req, this.info);
    } catch {
      d = { kind: 'local', status: 500, body: 'internal error in routing\n' };
    }
    this.context = d.context;
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
      this.limitsHeld = true;
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
    if (this.proxy.options.onExchange !== undefined) this.sentAt = performance.now();
    const pending = this.pendingUp;
    if (pending !== null) {
      this.pendingUp = null;
      for (const p of pending) s.write(p);
    }
  }

  private onUpstreamConnect = (): void => {
    if (this.closed || this.up === null) return;
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
    const up = this.up;
    if (up === null) {
      if (this.pendingUp !== null) this.pendingUp.push(data);
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
    if (this.resDone) this.exchangeDone = true;
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
    if (this.closed || this.req === null) return;
    this.releaseRequest();
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
    if (this.limitsHeld) {
      this.limitsHeld = false;
      this.pool?.settings.limits?.releaseRequest();
    }
  }

  // ───────────── response events (upstream parser) ─────────────

  onResponseHead(res: Http1Response): void {
    if (res.status < 200 && res.status !== 101) return; // 100 Continue was answered by us; other 1xx are dropped (Envoy's default)
    const req = this.req as Http1Request;
    this.status = res.status;
    if (this.proxy.options.onExchange !== undefined) this.serviceMs = performance.now() - this.sentAt;
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
    if (res.raw !== undefined && framing === res.framing && this.keepAlive && req.versionMinor === 1) this.pendingHead = res.raw;
    else this.pendingHead = serializeResponseHead(res.status, res.reason, res.headers, framing, this.keepAlive, req.versionMinor);
  }

  onResponseBody(data: Buffer): void {
    this.resBytes += data.length;
    const h = this.pendingHead;
    if (this.batch) hold(this.socket);
    if (h !== null) {
      this.pendingHead = null;
      if (typeof h !== 'string' && this.resFraming !== 'chunked' && h.buffer === data.buffer && h.byteOffset + h.length === data.byteOffset) {
        // Head and body are adjacent in the upstream's read: one write of both, no writev.
        if (!this.socket.write(Buffer.from(h.buffer, h.byteOffset, h.length + data.length))) this.pauseUp();
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
    if (this.resFraming === 'chunked') {
      if (this.batch) hold(this.socket);
      this.corkDown();
      if (this.pendingHead !== null) {
        this.writeHead(this.pendingHead);
        this.pendingHead = null;
      }
      this.socket.write(lastChunk(trailers), 'latin1');
    }
    this.resDone = true;
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
    const h = this.pendingHead;
    if (h !== null) {
      this.pendingHead = null;
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
    cb({
      request: req,
      status: this.status,
      flag: this.flag,
      upstream: p === null ? undefined : `${p.address}:${p.port}`,
      requestBodyBytes: this.reqBytes,
      responseBodyBytes: this.resBytes,
      durationMs: performance.now() - this.start,
      downstream: this.info,
      protocol: req.versionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1',
      startTime: this.startTime,
      upstreamServiceTimeMs: this.serviceMs,
      context: this.context,
    });
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
