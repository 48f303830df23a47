/**
 * The request hash of a route's hash policies (Envoy RouteAction.HashPolicy), for ring-hash and
 * maglev clusters: each policy that finds its input contributes a hash, combined in order, and a
 * terminal policy stops the walk once a hash exists.
 */
import type { DownstreamInfo, HashPolicy, RequestHead } from '../model.js';
import { hashString } from './hash.js';

/** The outcome of hashing a request: `hash` undefined = no policy applied (the balancer picks at random). */
export interface RequestHash {
  readonly hash?: number;
  /** A `Set-Cookie` value the caller must add to the response (a cookie policy with a ttl generated the cookie). */
  readonly setCookie?: string;
}

const NONE: RequestHash = {};

/**
 * hashRequest returns the request hash a route's hash policies give this request, and the
 * Set-Cookie to send when a cookie policy generated a missing cookie (Envoy: the cookie value is a
 * hash of the downstream address, then hashed like a received cookie).
 */
export function hashRequest(policies: readonly HashPolicy[], req: RequestHead, downstream: Pick<DownstreamInfo, 'remoteAddress' | 'remotePort'>): RequestHash {
  if (policies.length === 0) return NONE;
  let hash: number | undefined;
  let setCookie: string | undefined;
  for (const p of policies) {
    let h: number | undefined;
    switch (p.kind) {
      case 'header':
        h = hashHeader(req, p.name);
        break;
      case 'cookie': {
        const value = cookieValue(req, p.name);
        if (value !== undefined) h = hashString(value);
        else if (p.ttlMs !== undefined) {
          const generated = generatedCookieValue(downstream);
          setCookie = setCookieValue(p.name, generated, p.ttlMs, p.path);
          h = hashString(generated);
        }
        break;
      }
      case 'source-ip':
        if (downstream.remoteAddress) h = hashString(downstream.remoteAddress);
        break;
      case 'query': {
        const value = queryValue(req.path, p.name);
        if (value !== undefined) h = hashString(value);
        break;
      }
    }
    // Rotating the accumulated hash keeps two identical policies from cancelling out (Envoy).
    if (h !== undefined) hash = hash === undefined ? h : (((hash << 1) | (hash >>> 31)) ^ h) >>> 0;
    if (p.terminal && hash !== undefined) break;
  }
  return hash === undefined && setCookie === undefined ? NONE : { hash, setCookie };
}

function hashHeader(req: RequestHead, name: string): number | undefined {
  // Pseudo-headers are fields of the head, not entries of the header list.
  if (name === ':authority' || name === 'host') return hashString(req.authority);
  if (name === ':path') return hashString(req.path);
  if (name === ':method') return hashString(req.method);
  const values = req.headers.getAll(name);
  if (values.length === 0) return undefined;
  if (values.length === 1) return hashString(values[0]);
  // Envoy sorts repeated values so their order does not change the hash, then chains them.
  values.sort();
  let h = 0;
  for (const v of values) h = hashString(v, h);
  return h;
}

/** cookieValue returns the value of cookie `name` from the request's Cookie headers (surrounding quotes removed), or undefined. */
export function cookieValue(req: RequestHead, name: string): string | undefined {
  const list = req.headers.list;
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] !== 'cookie') continue;
    for (const part of list[i + 1].split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
      let v = part.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
  }
  return undefined;
}

function queryValue(path: string, name: string): string | undefined {
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  const end = path.indexOf('#', q);
  for (const pair of path.slice(q + 1, end < 0 ? undefined : end).split('&')) {
    const eq = pair.indexOf('=');
    if ((eq < 0 ? pair : pair.slice(0, eq)) === name) return eq < 0 ? '' : pair.slice(eq + 1);
  }
  return undefined;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function generatedCookieValue(downstream: Pick<DownstreamInfo, 'remoteAddress' | 'remotePort'>): string {
  const from = `${downstream.remoteAddress}:${downstream.remotePort}`;
  // 16 hex digits like Envoy's (its hash is 64-bit): two seeds of the 32-bit hash.
  return hex8(hashString(from, 0)) + hex8(hashString(from, 1));
}

function setCookieValue(name: string, value: string, ttlMs: number, path: string | undefined): string {
  // Envoy quotes the value; a ttl of 0 makes a session cookie (no Max-Age).
  let s = `${name}="${value}"`;
  if (ttlMs > 0) s += `; Max-Age=${Math.floor(ttlMs / 1000)}`;
  if (path) s += `; Path=${path}`;
  return `${s}; HttpOnly`;
}
