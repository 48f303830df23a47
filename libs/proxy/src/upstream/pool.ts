/**
 * Per-endpoint keep-alive pools of HTTP/1.1 upstream connections (Envoy's HTTP/1 connection
 * pool): an idle connection is reused last-in first-out (the warmest socket), a new one is
 * opened when none is idle and the cluster's `max_connections` allows it, otherwise the request
 * waits as pending (`max_pending_requests`) or overflows (UO). Connections are closed after
 * `max_requests_per_connection`, when idle longer than the idle timeout, or beyond `maxIdle`.
 *
 * Socket events are bound once per connection and dispatched to the connection's current user,
 * so a request borrowing a connection allocates no listener.
 *
 * Upstream TLS: a pool is made for one endpoint under one cluster's settings, and whether that
 * endpoint is dialled with TLS (and with which TLS settings) is decided once, when the pool is
 * made, so the plaintext path stays as it was and TLS and plaintext connections never share a
 * pool. A TLS connection counts as connected when its handshake (and verification) is done; a
 * failed handshake is a connect failure (UF).
 */
import { connect, type Socket } from 'node:net';
import type { ClusterLimits } from '../model.js';
import type { TlsOrigination } from './tls-origination.js';

/** How the pool treats the connections of one cluster; one object per cluster, reused across requests. */
export interface EndpointPoolSettings {
  /** Envoy connect_timeout (Istio default 10 s): a connection not up by then fails with UF. */
  readonly connectTimeoutMs: number;
  /** Envoy max_requests_per_connection; 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  /** Idle connections older than this are closed (Envoy's common_http_protocol_options.idle_timeout). */
  readonly idleTimeoutMs: number;
  /** Idle connections kept per endpoint at most. */
  readonly maxIdle: number;
  /** The cluster's circuit breakers; connections and pending requests are counted against them. */
  readonly limits?: ClusterLimits;
  /** The cluster's upstream TLS: the origination for an endpoint, undefined to dial it in plaintext. */
  readonly tls?: PoolTlsResolver;
}

/** Which TLS origination (if any) dials `address:port` under a cluster's settings. */
export type PoolTlsResolver = (address: string, port: number) => TlsOrigination | undefined;

/**
 * TLS resolvers registered for settings objects made elsewhere (the HTTP/1.1 listener builds the
 * settings of a cluster itself; the cluster manager registers the cluster's TLS for them).
 */
const tlsBySettings = new WeakMap<EndpointPoolSettings, PoolTlsResolver>();

/** setPoolTls registers the upstream TLS of the cluster whose pool settings these are. */
export function setPoolTls(settings: EndpointPoolSettings, resolve: PoolTlsResolver | undefined): void {
  if (resolve === undefined) tlsBySettings.delete(settings);
  else tlsBySettings.set(settings, resolve);
}

export const DEFAULT_POOL_SETTINGS: EndpointPoolSettings = { connectTimeoutMs: 10_000, maxRequestsPerConnection: 0, idleTimeoutMs: 60_000, maxIdle: 256 };

/**
 * Upstream reads go into one shared 64 KiB buffer (net's `onread`) and are copied out at their
 * size, instead of Node allocating 64 KiB per read, shrinking it and pushing it through a
 * Readable stream: less malloc work per response, and fewer half-empty pages kept by Buffers
 * waiting for the next scavenge (interleaved A/B through the listener, 5 rounds of wrk: best
 * +3.6% at c64 and +1.6% at c16, medians +5 to +11%; RSS unchanged).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Who is using a connection: receives its events until it releases it. */
export interface ConnectionUser {
  onUpstreamData(data: Buffer): void;
  /** The peer half-closed (FIN). */
  onUpstreamEnd(): void;
  /** The socket closed; `conn.failure` says why when it never got connected. */
  onUpstreamClose(conn: UpstreamConnection): void;
  onUpstreamDrain(): void;
  /** A queued acquire got its connection. */
  onUpstreamReady(conn: UpstreamConnection): void;
  /** A queued acquire waited longer than the connect timeout for a connection slot (UO). */
  onUpstreamOverflow(): void;
}

/** Why a connection never became usable. */
export type ConnectFailure = 'refused' | 'timeout' | 'error';

/** One upstream TCP connection and its bookkeeping. */
export class UpstreamConnection {
  connected = false;
  closed = false;
  /** Requests sent on it, including the current one. */
  requests = 0;
  idleSince = 0;
  user: ConnectionUser | null = null;
  failure: ConnectFailure | undefined = undefined;
  error: Error | undefined = undefined;
  /** Taken out of the pool for good (Upgrade/CONNECT tunnel): never returned to idle. */
  detached = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly socket: Socket,
    readonly pool: EndpointPool,
  ) {
    socket.setNoDelay(true);
    // TLS: usable once the handshake and the server's verification are done.
    socket.on(pool.tls !== undefined ? 'secureConnect' : 'connect', this.onConnect);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    const t = pool.settings.connectTimeoutMs;
    if (t > 0) this.timer = setTimeout(this.onConnectTimeout, t);
  }

  /** Reused: it served a request before this one. */
  get reused(): boolean {
    return this.requests > 1;
  }

  private onConnect = (): void => {
    this.connected = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  };

  private onConnectTimeout = (): void => {
    this.timer = undefined;
    if (this.connected) return;
    this.failure = 'timeout';
    this.socket.destroy();
  };

  /** @internal onread callback: the bytes are in the shared read buffer; keep a copy, never the buffer. */
  onRead(n: number, buf: Uint8Array): void {
    if (n <= 0) return;
    const d = Buffer.allocUnsafe(n); // small reads are slices of Node's 8 KiB pool: no malloc
    d.set(buf.subarray(0, n));
    this.onData(d);
  }

  private onData(d: Buffer): void {
    const u = this.user;
    if (u !== null) u.onUpstreamData(d);
    else this.socket.destroy(); // bytes on an idle connection: nothing can be trusted after them
  }

  private onEnd = (): void => {
    const u = this.user;
    if (u !== null) u.onUpstreamEnd();
    else this.socket.destroy();
  };

  private onError = (e: Error & { code?: string }): void => {
    this.error = e;
    if (!this.connected && this.failure === undefined) this.failure = e.code === 'ECONNREFUSED' ? 'refused' : 'error';
  };

  private onClose = (): void => {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.connected && this.failure === undefined) this.failure = 'error';
    this.pool.onClosed(this);
    const u = this.user;
    this.user = null;
    if (u !== null) u.onUpstreamClose(this);
  };

  private onDrain = (): void => {
    this.user?.onUpstreamDrain();
  };
}

/** The connections to one endpoint (address:port) under one cluster's settings. */
export class EndpointPool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly waiting: { user: ConnectionUser; timer: ReturnType<typeof setTimeout> }[] = [];
  /** Open connections (idle and busy). */
  open = 0;
  /** Connections opened since the pool was made (tests and stats). */
  created = 0;

  constructor(
    readonly address: string,
    readonly port: number,
    readonly settings: EndpointPoolSettings,
    /** Upstream TLS of this endpoint's connections; undefined: plaintext. */
    readonly tls?: TlsOrigination,
  ) {}

  get idleCount(): number {
    return this.idle.length;
  }

  /**
   * acquire returns a connection for `user` (idle one reused, else a new one, still connecting:
   * writes are buffered until it is up), 'queued' when the cluster's connection limit is reached
   * and the request waits as pending (onUpstreamReady / onUpstreamOverflow follow), or
   * 'overflow' when the pending limit is reached too (UO). `fresh` skips idle connections.
   */
  acquire(user: ConnectionUser, fresh = false): UpstreamConnection | 'queued' | 'overflow' {
    if (!fresh) {
      const idle = this.idle;
      while (idle.length > 0) {
        const c = idle.pop() as UpstreamConnection;
        if (c.closed || c.socket.destroyed) continue;
        c.user = user;
        c.requests++;
        return c;
      }
    }
    const limits = this.settings.limits;
    if (limits !== undefined && !limits.tryAcquireConnection()) {
      if (!limits.tryAcquirePending()) return 'overflow';
      const entry = { user, timer: setTimeout(() => this.giveUp(entry), this.settings.connectTimeoutMs) };
      this.waiting.push(entry);
      return 'queued';
    }
    return this.create(user);
  }

  /**
   * release gives a connection back after a complete exchange. `reusable` is the caller's word
   * that the exchange left the connection in a clean state (full response read, keep-alive).
   */
  release(c: UpstreamConnection, reusable: boolean): void {
    c.user = null;
    if (c.closed) return;
    const max = this.settings.maxRequestsPerConnection;
    if (!reusable || c.detached || (max > 0 && c.requests >= max) || c.socket.destroyed) {
      c.socket.destroy();
      return;
    }
    if (this.waiting.length > 0) {
      const w = this.waiting.shift() as (typeof this.waiting)[number];
      clearTimeout(w.timer);
      this.settings.limits?.releasePending();
      c.user = w.user;
      c.requests++;
      w.user.onUpstreamReady(c);
      return;
    }
    if (this.idle.length >= this.settings.maxIdle) {
      c.socket.destroy();
      return;
    }
    c.idleSince = Date.now();
    this.idle.push(c);
  }

  /** cancel withdraws a queued acquire of `user` (it timed out or went away): its pending slot is given back. */
  cancel(user: ConnectionUser): void {
    const w = this.waiting;
    for (let i = 0; i < w.length; i++) {
      if (w[i].user !== user) continue;
      clearTimeout(w[i].timer);
      w.splice(i, 1);
      this.settings.limits?.releasePending();
      return;
    }
  }

  /** Takes a connection out of pooling (a tunnel after Upgrade/CONNECT); it still counts until it closes. */
  detach(c: UpstreamConnection): void {
    c.detached = true;
  }

  /** Closes idle connections older than the idle timeout (called by the pools' sweep). */
  sweep(now: number): void {
    const idle = this.idle;
    const limit = now - this.settings.idleTimeoutMs;
    let w = 0;
    for (let r = 0; r < idle.length; r++) {
      const c = idle[r];
      if (c.closed) continue;
      if (c.idleSince <= limit) {
        c.socket.destroy();
        continue;
      }
      idle[w++] = c;
    }
    idle.length = w;
  }

  /** Closes every idle connection and fails the waiting requests (shutdown). */
  closeIdle(): void {
    for (const c of this.idle.splice(0)) c.socket.destroy();
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      this.settings.limits?.releasePending();
      w.user.onUpstreamOverflow();
    }
  }

  /** @internal A connection of this pool closed. */
  onClosed(c: UpstreamConnection): void {
    this.open--;
    this.settings.limits?.releaseConnection();
    const i = this.idle.indexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    // A connection slot is free: the oldest waiting request gets a new connection.
    if (this.waiting.length > 0) {
      const limits = this.settings.limits;
      if (limits === undefined || limits.tryAcquireConnection()) {
        const w = this.waiting.shift() as (typeof this.waiting)[number];
        clearTimeout(w.timer);
        limits?.releasePending();
        w.user.onUpstreamReady(this.create(w.user));
      }
    }
  }

  private create(user: ConnectionUser): UpstreamConnection {
    let c: UpstreamConnection | undefined = undefined;
    // onread: no 'data' events; the callback returns true to keep reading (pause() still works).
    const onread = { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => ((c as UpstreamConnection).onRead(n, buf), true) };
    const socket = this.tls === undefined ? connect({ host: this.address, port: this.port, onread }) : this.tls.connect(this.address, this.port, 'http1', { onread });
    c = new UpstreamConnection(socket, this);
    c.user = user;
    c.requests = 1;
    this.open++;
    this.created++;
    return c;
  }

  private giveUp(entry: (typeof this.waiting)[number]): void {
    const i = this.waiting.indexOf(entry);
    if (i === -1) return;
    this.waiting.splice(i, 1);
    this.settings.limits?.releasePending();
    entry.user.onUpstreamOverflow();
  }
}

/**
 * The pools of a proxy: one EndpointPool per (cluster settings, endpoint). Settings objects are
 * compared by identity, so each cluster's limits stay its own.
 */
export class UpstreamPools {
  private readonly bySettings = new Map<EndpointPoolSettings, Map<string, EndpointPool>>();
  private readonly sweeper: ReturnType<typeof setInterval>;
  readonly defaults: EndpointPoolSettings;

  constructor(defaults: Partial<EndpointPoolSettings> = {}) {
    this.defaults = { ...DEFAULT_POOL_SETTINGS, ...defaults };
    const every = Math.max(250, Math.min(5_000, this.defaults.idleTimeoutMs / 2));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /** get returns the pool for an endpoint under a cluster's settings (the defaults when none). */
  get(address: string, port: number, settings: EndpointPoolSettings = this.defaults): EndpointPool {
    let m = this.bySettings.get(settings);
    if (m === undefined) {
      m = new Map();
      this.bySettings.set(settings, m);
    }
    const key = address + ':' + port;
    let p = m.get(key);
    if (p === undefined) {
      // Pools are per settings object (per cluster version), and within one the TLS decision is a
      // function of the endpoint: asked once here, so the key needs no TLS part.
      const tls = (settings.tls ?? tlsBySettings.get(settings))?.(address, port);
      p = new EndpointPool(address, port, settings, tls);
      m.set(key, p);
    }
    return p;
  }

  /** All pools, for the admin /clusters page and tests. */
  *pools(): IterableIterator<EndpointPool> {
    for (const m of this.bySettings.values()) yield* m.values();
  }

  sweep(now = Date.now()): void {
    for (const p of this.pools()) p.sweep(now);
  }

  /** Stops the sweep and closes idle connections; busy ones finish their exchange. */
  close(): void {
    clearInterval(this.sweeper);
    for (const p of this.pools()) p.closeIdle();
  }
}
