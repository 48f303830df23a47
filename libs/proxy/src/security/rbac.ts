/**
 * The RBAC engine at request time (Envoy's RBAC filters, HTTP and network): compiled policies
 * (libs/proxy/src/config/rbac.ts builds them once per config update) are looked up per request
 * or connection, and the result becomes a denial the transport answers.
 *
 * Semantics (Envoy's RoleBasedAccessControlEngine):
 * - a policy matches when any of its permissions AND any of its principals match;
 * - policies are tried in name order (Envoy keeps them in a sorted map), the first match names the
 *   effective policy;
 * - ALLOW: a request no policy matches is denied (`rbac_access_denied_matched_policy[none]`);
 *   DENY: a request a policy matches is denied (`rbac_access_denied_matched_policy[<name>]`);
 *   LOG (Istio's AUDIT) never denies; shadow rules are evaluated and their result written to
 *   the filter state, never enforced.
 *
 * Inputs a policy reads:
 * - `url_path` and `uri_template` see the path without query or fragment, normalized as Istio's
 *   default `pathNormalization: BASE` asks Envoy (`normalize_path`: RFC 3986 dot segments
 *   removed, percent-encoded unreserved characters decoded; slashes are not merged);
 * - `authenticated` reads the peer's verified URI SANs (`down.tls.peerIdentities`);
 * - `direct_remote_ip` the connection's address; `remote_ip` the last `x-forwarded-for` entry
 *   when present (Envoy with use_remote_address false and no trusted hops, Istio's inbound), else
 *   the connection's address; `destination_ip`/`destination_port` the connection's local end;
 * - `metadata` reads dynamic metadata from the filter state: **`ctx.state.get(<filter name>)`
 *   holds that filter's metadata as a plain JSON object** (Envoy's Struct). Istio's policies read
 *   `envoy.filters.http.jwt_authn` → `{payload: <verified JWT payload>}`, which the JWT filter is
 *   to set (`state.set('envoy.filters.http.jwt_authn', {payload})`).
 */
import { BlockList, isIP } from 'node:net';
import { pathOnly } from '../config/matchers.js';
import type { DownstreamInfo, FilterDenial, HttpFilterContext, HttpFilterStage, NetworkFilterStage, RequestHead } from '../model.js';

/** What a compiled permission or principal reads. `req` is absent for network RBAC. */
export interface RbacInput {
  readonly req?: RequestHead;
  readonly down: DownstreamInfo;
  readonly state?: ReadonlyMap<string, unknown>;
}

export type RbacPredicate = (input: RbacInput) => boolean;

/** One compiled Envoy policy. */
export interface CompiledPolicy {
  readonly name: string;
  readonly permissions: readonly RbacPredicate[];
  readonly principals: readonly RbacPredicate[];
}

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

/** One compiled `envoy.config.rbac.v3.RBAC`: action and policies in Envoy's (name) order. */
export interface RbacEngine {
  readonly action: RbacAction;
  readonly policies: readonly CompiledPolicy[];
}

/** A compiled RBAC filter (HTTP or network): enforced rules and shadow rules, either may be absent. */
export interface RbacFilterConfig {
  readonly rules?: RbacEngine;
  readonly shadowRules?: RbacEngine;
  readonly shadowRulesStatPrefix: string;
}

/** The dynamic-metadata namespace Envoy's HTTP RBAC filter writes its shadow result under. */
export const RBAC_FILTER_STATE_KEY = 'envoy.filters.http.rbac';

export function rbacEngine(action: RbacAction, policies: readonly CompiledPolicy[]): RbacEngine {
  return { action, policies: [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
}

/** matchedPolicy returns the name of the first policy (in name order) that matches, or undefined. */
export function matchedPolicy(engine: RbacEngine, input: RbacInput): string | undefined {
  for (const p of engine.policies) {
    if (p.permissions.some((f) => f(input)) && p.principals.some((f) => f(input))) return p.name;
  }
  return undefined;
}

/** evaluate tells whether the engine allows the input, and the effective policy (Envoy's RoleBasedAccessControlEngineImpl::handleAction). */
export function evaluate(engine: RbacEngine, input: RbacInput): { allowed: boolean; policy?: string } {
  const policy = matchedPolicy(engine, input);
  const allowed = engine.action === 'ALLOW' ? policy !== undefined : engine.action === 'DENY' ? policy === undefined : true;
  return policy === undefined ? { allowed } : { allowed, policy };
}

/** The denial details Envoy logs as %RESPONSE_CODE_DETAILS%. */
export function denialDetails(policy: string | undefined): string {
  return `rbac_access_denied_matched_policy[${policy ?? 'none'}]`;
}

/** httpRbacStage returns the stage of one HTTP RBAC filter: 403 `RBAC: access denied` on a DENY match or an ALLOW miss. */
export function httpRbacStage(cfg: RbacFilterConfig): HttpFilterStage {
  return {
    name: 'envoy.filters.http.rbac',
    run(ctx: HttpFilterContext): FilterDenial | undefined {
      const input: RbacInput = { req: ctx.req, down: ctx.down, state: ctx.state };
      if (cfg.shadowRules) recordShadow(ctx.state, cfg, evaluate(cfg.shadowRules, input));
      if (!cfg.rules) return undefined;
      const r = evaluate(cfg.rules, input);
      return r.allowed ? undefined : { status: 403, body: 'RBAC: access denied', details: denialDetails(r.policy) };
    },
  };
}

/** networkRbacStage returns the stage of one network RBAC filter: the denial details as the reason to close, or undefined. */
export function networkRbacStage(cfg: RbacFilterConfig): NetworkFilterStage {
  return {
    name: 'envoy.filters.network.rbac',
    run(down: DownstreamInfo): string | undefined {
      if (!cfg.rules) return undefined;
      const r = evaluate(cfg.rules, { down });
      return r.allowed ? undefined : denialDetails(r.policy);
    },
  };
}

function recordShadow(state: Map<string, unknown>, cfg: RbacFilterConfig, r: { allowed: boolean; policy?: string }): void {
  const prev = state.get(RBAC_FILTER_STATE_KEY);
  const md: Record<string, unknown> = typeof prev === 'object' && prev !== null ? (prev as Record<string, unknown>) : {};
  md[`${cfg.shadowRulesStatPrefix}shadow_engine_result`] = r.allowed ? 'allowed' : 'denied';
  if (r.policy !== undefined) md[`${cfg.shadowRulesStatPrefix}shadow_effective_policy_id`] = r.policy;
  state.set(RBAC_FILTER_STATE_KEY, md);
}

// ───────────────────────────── inputs ─────────────────────────────

// The normalized path of a request, computed on the first path matcher that needs it and shared
// by the RBAC filters of the chain (keyed by the request head; recomputed if its path changed).
const NORMALIZED = new WeakMap<RequestHead, { readonly raw: string; readonly path: string }>();

/** requestPath returns the path url_path and uri_template match: normalized, without query (undefined without a request). */
export function requestPath(input: RbacInput): string | undefined {
  const req = input.req;
  if (!req) return undefined;
  const hit = NORMALIZED.get(req);
  if (hit && hit.raw === req.path) return hit.path;
  const path = normalizePath(req.path);
  NORMALIZED.set(req, { raw: req.path, path });
  return path;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * normalizePath returns the path RBAC matches: query and fragment cut, percent-encoded
 * unreserved characters decoded and other escapes upper-cased, dot segments removed (RFC 3986
 * 5.2.4), as Envoy's normalize_path. `//` stays (Istio's default does not merge slashes).
 */
export function normalizePath(target: string): string {
  let p = pathOnly(target);
  if (p.includes('%')) {
    p = p.replace(/%([0-9a-fA-F]{2})/g, (m, hex: string) => {
      const c = String.fromCharCode(parseInt(hex, 16));
      return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
    });
  }
  if (!p.includes('.')) return p;
  return removeDotSegments(p);
}

function removeDotSegments(p: string): string {
  const segs = p.split('/');
  const out: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const last = i === segs.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..' && out.length > 1) out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  const r = out.join('/');
  return r.startsWith('/') ? r : `/${r}`;
}

/** remoteAddress returns Envoy's remote address for `remote_ip`: the last x-forwarded-for entry, else the peer. */
export function remoteAddress(input: RbacInput): string {
  const xff = input.req?.headers.get('x-forwarded-for');
  if (xff) {
    const last = xff.slice(xff.lastIndexOf(',') + 1).trim();
    if (last) return last;
  }
  return input.down.remoteAddress;
}

/** A compiled CIDR range test over textual addresses (IPv4-mapped IPv6 addresses count as IPv4). */
export function cidrMatcher(address: string, prefixLen: number): ((ip: string) => boolean) | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  if (prefixLen < 0 || prefixLen > (family === 4 ? 32 : 128)) return undefined;
  if (family === 4) {
    // IPv4 (the common case) as 32-bit integers: no address parsing beyond four numbers per check.
    const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
    const net = ((ipv4(address) ?? 0) & mask) >>> 0;
    return (ip) => {
      const v = ipv4(ip.startsWith('::ffff:') ? ip.slice(7) : ip);
      return v !== undefined && ((v & mask) >>> 0) === net;
    };
  }
  const list = new BlockList();
  list.addSubnet(address, prefixLen, 'ipv6');
  return (ip) => isIP(ip) === 6 && list.check(ip, 'ipv6');
}

/** ipv4 parses a dotted-quad address into an unsigned 32-bit integer, undefined when it is not one. */
function ipv4(s: string): number | undefined {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return n * 256 + part;
}

/** metadataValue returns the dynamic metadata value at `filter` → path, or undefined. */
export function metadataValue(state: ReadonlyMap<string, unknown> | undefined, filter: string, path: readonly string[]): unknown {
  let v: unknown = state?.get(filter);
  for (const k of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/**
 * uriTemplateRegex turns an Envoy URI template (`/api/*\/items/**`, `{name=*}` variables) into
 * an anchored RegExp: `*` one non-empty segment, `**` the rest of the path (any segments,
 * possibly none), literals as written.
 */
export function uriTemplateRegex(template: string): RegExp | undefined {
  if (!template.startsWith('/')) return undefined;
  const seg = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=]+";
  const rest = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=/]*";
  let out = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c === '{') {
      const close = template.indexOf('}', i);
      if (close < 0) return undefined;
      const body = template.slice(i + 1, close);
      const eq = body.indexOf('=');
      const op = eq >= 0 ? body.slice(eq + 1) : '*';
      if (op === '**') out += rest;
      else if (op === '*') out += seg;
      else return undefined;
      i = close + 1;
    } else if (c === '*') {
      if (template[i + 1] === '*') {
        out += rest;
        i += 2;
      } else {
        out += seg;
        i++;
      }
    } else {
      out += c.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
      i++;
    }
  }
  return new RegExp(`^${out}$`);
}
