/**
 * Counters in Redis, shared by every mixer replica: one `EVAL` per hit runs INCRBY and EXPIRE
 * atomically on the key of (domain, descriptor, window), as envoyproxy/ratelimit does with its
 * pipelined INCRBY + EXPIRE, so replicas add to the same total and a window's key disappears
 * after the window.
 *
 * The client is a small RESP2 client over one TCP connection (commands pipelined, replies in
 * order) because no Redis package is installed in this workspace (ioredis is not in
 * package-lock.json). It has what the service needs and no more: `redis://[:password@]host:port[/db]`,
 * a per-command timeout, fail-fast while Redis is down, reconnect on the next call.
 */
import { connect, type Socket } from 'node:net';
import { CounterBackendError } from './errors.js';
import type { CounterStore } from './counters.js';

// INCRBY then (re)arm the expiry: the key outlives its window by the TTL the caller picks.
const INCR_SCRIPT = "local n = redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[1], ARGV[2]) return n";

/** Options of RedisCounterStore. */
export interface RedisCounterOptions {
  /** `redis://[:password@]host:port[/db]`. */
  readonly url: string;
  /** How long one command may take before the call fails (default 200 ms): the proxy's own timeout is usually shorter. */
  readonly commandTimeoutMs?: number;
  /** How long a connection attempt may take (default 1000 ms). */
  readonly connectTimeoutMs?: number;
  /** After a failed connection, calls fail at once for this long instead of dialling again (default 250 ms). */
  readonly retryAfterMs?: number;
}

const MAX_UNANSWERED = 10_000;

type Reply = string | number | null | Error | Reply[];

interface Pending {
  resolve(v: Reply): void;
  reject(e: Error): void;
  done: boolean;
  timer?: NodeJS.Timeout;
}

/** parseRedisUrl returns host, port, password and db of a redis:// URL. */
export function parseRedisUrl(url: string): { host: string; port: number; password?: string; db: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CounterBackendError(`invalid Redis URL "${url}": expected redis://host:port`);
  }
  if (u.protocol !== 'redis:') throw new CounterBackendError(`invalid Redis URL "${url}": only redis:// is supported`);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new CounterBackendError(`invalid Redis URL "${url}": database "${u.pathname.slice(1)}" is not a number`);
  return { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 6379, ...(u.password ? { password: decodeURIComponent(u.password) } : {}), db };
}

/** RedisCounterStore counts in Redis (see the file comment). */
export class RedisCounterStore implements CounterStore {
  private sock: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private failedAt = -Infinity;
  private lastError = '';
  private readonly queue: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;
  private readonly target: ReturnType<typeof parseRedisUrl>;

  constructor(private readonly opts: RedisCounterOptions) {
    this.target = parseRedisUrl(opts.url);
  }

  async incr(key: string, hits: number, ttlSeconds: number): Promise<number> {
    const r = await this.command(['EVAL', INCR_SCRIPT, '1', key, String(hits), String(Math.max(1, Math.ceil(ttlSeconds)))]);
    if (typeof r !== 'number') throw new CounterBackendError(`Redis answered EVAL with ${JSON.stringify(r)}, expected an integer`);
    return r;
  }

  /** ping resolves when Redis answers PING (startup check). */
  async ping(): Promise<void> {
    const r = await this.command(['PING']);
    if (r !== 'PONG') throw new CounterBackendError(`Redis answered PING with ${JSON.stringify(r)}`);
  }

  /** command sends one command and resolves with its reply; Redis error replies reject. */
  async command(args: readonly string[]): Promise<Reply> {
    if (this.closed) throw new CounterBackendError('Redis counter store is closed');
    const sock = await this.socket();
    return this.send(sock, args);
  }

  private send(sock: Socket, args: readonly string[]): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const p: Pending = { resolve, reject, done: false };
      p.timer = setTimeout(() => {
        if (p.done) return;
        p.done = true;
        // The reply may still come: the entry stays queued so later replies keep their order.
        reject(new CounterBackendError(`Redis at ${this.target.host}:${this.target.port} did not answer within ${this.opts.commandTimeoutMs ?? 200} ms`));
      }, this.opts.commandTimeoutMs ?? 200);
      this.queue.push(p);
      // A Redis that stopped answering (hung, half-open connection) would grow the queue of
      // timed-out entries forever: past this many unanswered commands the connection is dropped
      // and the next call dials again.
      if (this.queue.length > MAX_UNANSWERED) {
        sock.destroy(new Error(`${MAX_UNANSWERED} commands unanswered`));
        return;
      }
      sock.write(encode(args));
    }).then((r) => {
      if (r instanceof Error) throw new CounterBackendError(`Redis error: ${r.message}`, { cause: r });
      return r;
    });
  }

  private socket(): Promise<Socket> {
    if (this.sock) return Promise.resolve(this.sock);
    if (this.connecting) return this.connecting;
    if (Date.now() - this.failedAt < (this.opts.retryAfterMs ?? 250)) {
      return Promise.reject(new CounterBackendError(`Redis at ${this.target.host}:${this.target.port} is unreachable: ${this.lastError}`));
    }
    this.connecting = new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: this.target.host, port: this.target.port });
      s.setNoDelay(true);
      const timer = setTimeout(() => s.destroy(new Error(`connect timeout after ${this.opts.connectTimeoutMs ?? 1000} ms`)), this.opts.connectTimeoutMs ?? 1000);
      s.once('connect', () => {
        clearTimeout(timer);
        this.sock = s;
        this.connecting = undefined;
        this.buf = Buffer.alloc(0);
        const setup: Promise<Reply>[] = [];
        if (this.target.password) setup.push(this.send(s, ['AUTH', this.target.password]));
        if (this.target.db) setup.push(this.send(s, ['SELECT', String(this.target.db)]));
        Promise.all(setup).then(
          () => resolve(s),
          (e: Error) => {
            s.destroy();
            reject(e);
          },
        );
      });
      s.on('data', (d: Buffer) => this.onData(d));
      s.once('error', (e) => {
        clearTimeout(timer);
        this.lastError = e.message;
      });
      s.once('close', () => {
        clearTimeout(timer);
        const wasConnected = this.sock === s;
        if (wasConnected) this.sock = undefined;
        else {
          this.connecting = undefined;
          this.failedAt = Date.now();
          reject(new CounterBackendError(`cannot connect to Redis at ${this.target.host}:${this.target.port}: ${this.lastError || 'connection closed'}`));
        }
        this.failAll(new CounterBackendError(`connection to Redis at ${this.target.host}:${this.target.port} closed${this.lastError ? `: ${this.lastError}` : ''}`));
      });
    });
    return this.connecting;
  }

  private failAll(e: Error): void {
    for (const p of this.queue.splice(0)) {
      if (p.timer) clearTimeout(p.timer);
      if (!p.done) {
        p.done = true;
        p.reject(e);
      }
    }
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let off = 0;
    for (;;) {
      const r = parseReply(this.buf, off);
      if (!r) break;
      off = r.next;
      const p = this.queue.shift();
      if (!p) continue;
      if (p.timer) clearTimeout(p.timer);
      if (!p.done) {
        p.done = true;
        p.resolve(r.value);
      }
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.sock ?? (await this.connecting?.catch(() => undefined));
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.end();
      setTimeout(() => s.destroy(), 500).unref();
    });
  }
}

function encode(args: readonly string[]): Buffer {
  const parts: (string | Buffer)[] = [`*${args.length}\r\n`];
  for (const a of args) {
    const b = Buffer.from(a, 'utf8');
    parts.push(`$${b.length}\r\n`, b, '\r\n');
  }
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
}

/** parseReply reads one RESP2 reply at `off`, or returns undefined when the buffer does not hold all of it yet. */
export function parseReply(buf: Buffer, off: number): { value: Reply; next: number } | undefined {
  if (off >= buf.length) return undefined;
  const eol = buf.indexOf('\r\n', off);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', off + 1, eol);
  const next = eol + 2;
  switch (buf[off]) {
    case 0x2b: // +
      return { value: line, next };
    case 0x2d: // -
      return { value: new Error(line), next };
    case 0x3a: // :
      return { value: Number(line), next };
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return { value: null, next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.toString('utf8', next, next + n), next: next + n + 2 };
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return { value: null, next };
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, at);
        if (!r) return undefined;
        items.push(r.value);
        at = r.next;
      }
      return { value: items, next: at };
    }
    default:
      return { value: new Error(`unexpected RESP type byte ${buf[off]}`), next };
  }
}
