/**
 * JSON Web Key Sets for JWT verification: inline (`local_jwks`) or fetched from a URI
 * (`remote_jwks`) over HTTP(S), cached for the configured duration, fetched again when a token
 * names a `kid` the cached set lacks (at most once per cooldown), and kept when a fetch fails, so
 * an outage of the key server does not refuse tokens signed with keys already known (Envoy's
 * remote JWKS keeps the last good set the same way).
 */
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { jose } from '../lazy-modules.js';

/** Why keys could not be had: the JWKS server did not answer with a usable set and nothing is cached. */
export class JwksFetchError extends Error {
  readonly code = 'MESH_ERR_JWKS_FETCH';
}

/** A source of verification keys: jose's key lookup for one token header. */
export interface JwksSource {
  /** getKey returns the key to verify a token with, chosen by its protected header (`kid`, `alg`); may fetch. */
  getKey: JWTVerifyGetKey;
}

/** The HTTP GET the remote source uses; node's fetch by default (injected in tests). */
export type JwksFetch = (url: string, init: { signal: AbortSignal }) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

export interface RemoteJwksOptions {
  readonly uri: string;
  /** Fetch timeout (Envoy http_uri.timeout). */
  readonly timeoutMs: number;
  /** How long a fetched set is fresh (Envoy cache_duration, default 5 min). */
  readonly cacheMs: number;
  /** Minimum time between two fetches caused by an unknown `kid` (jose's cooldown default, 30 s). */
  readonly cooldownMs?: number;
  /** With nothing cached, how long after a failed fetch requests fail at once instead of fetching again (1 s). */
  readonly retryMs?: number;
  readonly fetch?: JwksFetch;
  readonly now?: () => number;
}

/** parseJwks returns the key set of a JWKS document or a single JWK (what Istio accepts), or undefined. */
export function parseJwks(doc: unknown): JSONWebKeySet | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const o = doc as Record<string, unknown>;
  if (Array.isArray(o.keys)) return { keys: o.keys.filter((k) => typeof k === 'object' && k !== null) as JSONWebKeySet['keys'] };
  return typeof o.kty === 'string' ? { keys: [o as JSONWebKeySet['keys'][number]] } : undefined;
}

/** A fixed key set (local_jwks). */
export class LocalJwks implements JwksSource {
  private keys: JWTVerifyGetKey | undefined;

  constructor(private readonly set: JSONWebKeySet) {}

  getKey: JWTVerifyGetKey = async (header, token) => {
    this.keys ??= (await jose()).createLocalJWKSet(this.set);
    return this.keys(header, token);
  };
}

/** Keys fetched from a JWKS URI, cached, refreshed on staleness and on an unknown `kid`. */
export class RemoteJwks implements JwksSource {
  private keys: JWTVerifyGetKey | undefined;
  private fetchedAt = -Infinity;
  private lastKidRefresh = -Infinity;
  private lastAttempt = -Infinity;
  private lastError: JwksFetchError | undefined;
  private inflight: Promise<void> | undefined;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  private readonly doFetch: JwksFetch;

  constructor(readonly opts: RemoteJwksOptions) {
    this.now = opts.now ?? Date.now;
    this.cooldownMs = opts.cooldownMs ?? 30_000;
    this.doFetch = opts.fetch ?? ((url, init) => fetch(url, { signal: init.signal, headers: { accept: 'application/json' } }));
  }

  /** Whether a set has been fetched at least once (for tests and debug output). */
  get cached(): boolean {
    return this.keys !== undefined;
  }

  getKey: JWTVerifyGetKey = async (header, token) => {
    const now = this.now();
    if (!this.keys) {
      // Nothing cached: wait for the keys, but do not hammer a server that just failed.
      if (this.lastError && now - this.lastAttempt < (this.opts.retryMs ?? 1000)) throw this.lastError;
      await this.refresh();
    } else if (now - this.fetchedAt >= this.opts.cacheMs && now - this.lastAttempt >= this.cooldownMs) {
      // Stale: verify with the cached set now and fetch in the background (Envoy's async fetch);
      // a failed fetch keeps the set, so tokens signed with known keys still verify.
      this.refresh().catch(() => undefined);
    }
    const keys = this.keys as JWTVerifyGetKey;
    try {
      return await keys(header, token);
    } catch (e) {
      if (!(e instanceof (await jose()).errors.JWKSNoMatchingKey) || now - this.lastKidRefresh < this.cooldownMs) throw e;
      // An unknown kid may be a rotated key: fetch once more (rate-limited), then look again.
      this.lastKidRefresh = now;
      await this.refresh().catch(() => undefined);
      return (this.keys as JWTVerifyGetKey)(header, token);
    }
  };

  /** refresh fetches the set once (concurrent callers share the fetch); the old set stays on failure. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchOnce().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async fetchOnce(): Promise<void> {
    this.lastAttempt = this.now();
    try {
      let doc: unknown;
      try {
        const res = await this.doFetch(this.opts.uri, { signal: AbortSignal.timeout(this.opts.timeoutMs) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        doc = await res.json();
      } catch (e) {
        throw new JwksFetchError(`fetching JWKS ${this.opts.uri}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      const set = parseJwks(doc);
      if (!set) throw new JwksFetchError(`JWKS ${this.opts.uri}: not a JWK Set`);
      this.keys = (await jose()).createLocalJWKSet(set);
      this.fetchedAt = this.now();
      this.lastError = undefined;
    } catch (e) {
      this.lastError = e as JwksFetchError;
      throw e;
    }
  }
}

// Remote sets are shared by every stage compiled for the same URI, so a config update (which
// compiles new stages) does not throw the cached keys away and refetch them.
const shared = new Map<string, RemoteJwks>();

/** sharedRemoteJwks returns the process-wide cached source for these options (keyed by URI, timeout and cache duration). */
export function sharedRemoteJwks(opts: RemoteJwksOptions): RemoteJwks {
  const key = `${opts.uri}\u0000${opts.timeoutMs}\u0000${opts.cacheMs}`;
  let s = shared.get(key);
  if (!s) shared.set(key, (s = new RemoteJwks(opts)));
  return s;
}
