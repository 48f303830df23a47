/**
 * Counters in Redis, shared by every mixer replica: one `EVAL` per hit runs INCRBY and EXPIRE
 * atomically on the key of (domain, descriptor, window), as envoyproxy/ratelimit does with its
 * pipelined INCRBY + EXPIRE, so replicas add to the same total and a window's key disappears
 * after the window.
 *
 * The client is ioredis with the settings a request path needs: no offline queue (while Redis is
 * down a call fails at once, and the proxy's failureMode decides, rather than waiting), no
 * per-request retries, a command timeout, and reconnection in the background.
 */
import { Redis } from 'ioredis';
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
  private readonly client: Redis;
  private readonly target: ReturnType<typeof parseRedisUrl>;
  private closed = false;

  constructor(private readonly opts: RedisCounterOptions) {
    this.target = parseRedisUrl(opts.url);
    this.client = new Redis({
      host: this.target.host,
      port: this.target.port,
      db: this.target.db,
      ...(this.target.password !== undefined ? { password: this.target.password } : {}),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false,
      commandTimeout: opts.commandTimeoutMs ?? 200,
      connectTimeout: opts.connectTimeoutMs ?? 1000,
      // Reconnect in the background; calls meanwhile fail fast (no offline queue).
      retryStrategy: () => Math.max(10, opts.retryAfterMs ?? 250),
    });
    // Connection errors surface as failed calls; the event only needs a listener.
    this.client.on('error', () => undefined);
  }

  async incr(key: string, hits: number, ttlSeconds: number): Promise<number> {
    const r = await this.run(() => this.client.eval(INCR_SCRIPT, 1, key, String(hits), String(Math.max(1, Math.ceil(ttlSeconds)))));
    if (typeof r !== 'number') throw new CounterBackendError(`Redis answered EVAL with ${JSON.stringify(r)}, expected an integer`);
    return r;
  }

  /** ping resolves when Redis answers PING (startup check); it waits for the first connection up to the connect timeout. */
  async ping(): Promise<void> {
    if (this.client.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new CounterBackendError(`Redis at ${this.where()} not reachable within ${this.opts.connectTimeoutMs ?? 1000} ms`)), this.opts.connectTimeoutMs ?? 1000);
        this.client.once('ready', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    const r = await this.run(() => this.client.ping());
    if (r !== 'PONG') throw new CounterBackendError(`Redis answered PING with ${JSON.stringify(r)}`);
  }

  /** command sends one command and resolves with its reply (tests, diagnostics); failures are CounterBackendErrors. */
  async command(args: readonly string[]): Promise<unknown> {
    const [name, ...rest] = args;
    return this.run(() => this.client.call(name as string, ...rest));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.disconnect();
  }

  private where(): string {
    return `${this.target.host}:${this.target.port}`;
  }

  /** A connection attempt in progress (the first one, or a reconnect that is dialling): wait for it, up to the connect timeout. */
  private async settled(): Promise<void> {
    const st = this.client.status;
    if (st !== 'connecting' && st !== 'connect') return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.client.off('ready', done);
        this.client.off('error', done);
        this.client.off('close', done);
        resolve();
      };
      const t = setTimeout(done, this.opts.connectTimeoutMs ?? 1000);
      this.client.once('ready', done);
      this.client.once('error', done);
      this.client.once('close', done);
    });
  }

  private async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.closed) throw new CounterBackendError('Redis counter store is closed');
    await this.settled();
    try {
      return await f();
    } catch (err) {
      throw new CounterBackendError(`Redis at ${this.where()}: ${(err as Error).message}`, { cause: err });
    }
  }
}
