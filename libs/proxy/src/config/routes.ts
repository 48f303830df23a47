/**
 * RouteConfiguration → RouteTable: virtual hosts found by Envoy's domain matching, routes tried in
 * order, each with its action (forward to a cluster or a weighted split, redirect, direct
 * response), header operations, retry policy and the per-filter configs the pipeline enforces
 * (fault, CORS). Compiled once per update; the returned closures only look up and compare.
 */
import type {
  CompiledRoute,
  CompiledVirtualHost,
  CorsPolicy,
  FaultPolicy,
  HashPolicy,
  Headers,
  HeaderOps,
  MirrorPolicy,
  RequestHead,
  RetryPolicy,
  RouteDirect,
  RouteForward,
  RouteRedirect,
  RouteTable,
} from '../model.js';
import {
  at,
  bool,
  duration,
  enumName,
  fraction,
  int,
  isMessage,
  obj,
  objects,
  oneof,
  Problems,
  runtimeFraction,
  str,
  strings,
  typeOf,
  wrapped,
  wrappedBool,
  type Obj,
} from './fields.js';
import { pathOnly, regexMatcher, routeMatch, stringMatcher, type CompiledRegex, type StringPredicate } from './matchers.js';

// ───────────────────────────── header operations ─────────────────────────────

/**
 * HeaderOps plus the two Envoy append actions the shared model has no slot for (ADD_IF_ABSENT,
 * OVERWRITE_IF_EXISTS). Stages that know only HeaderOps still apply set/add/remove correctly;
 * `applyHeaderOps` applies all of it.
 */
export interface CompiledHeaderOps extends HeaderOps {
  readonly addIfAbsent: readonly (readonly [name: string, value: string])[];
  readonly overwriteIfExists: readonly (readonly [name: string, value: string])[];
}

/**
 * applyHeaderOps mutates headers as Envoy's header parser does: removals first, then additions in
 * the order of their append actions.
 */
export function applyHeaderOps(h: Headers, ops: HeaderOps | CompiledHeaderOps): void {
  for (const n of ops.remove) h.remove(n);
  for (const [n, v] of ops.set) h.set(n, v);
  for (const [n, v] of ops.add) h.add(n, v);
  const ext = ops as Partial<CompiledHeaderOps>;
  if (ext.addIfAbsent) for (const [n, v] of ext.addIfAbsent) if (!h.has(n)) h.add(n, v);
  if (ext.overwriteIfExists) for (const [n, v] of ext.overwriteIfExists) if (h.has(n)) h.set(n, v);
}

const APPEND_ACTIONS = ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'] as const;

/** Envoy refuses to let header operations touch pseudo-headers or Host. */
function unmodifiable(name: string): boolean {
  return name.startsWith(':') || name === 'host';
}

/**
 * headerOps compiles `<side>_headers_to_add` / `<side>_headers_to_remove` of a route, virtual
 * host, route configuration or weighted cluster; undefined when there are none.
 */
export function headerOps(p: Problems, o: Obj, path: string, side: 'request' | 'response'): CompiledHeaderOps | undefined {
  const set: [string, string][] = [];
  const add: [string, string][] = [];
  const addIfAbsent: [string, string][] = [];
  const overwriteIfExists: [string, string][] = [];
  for (const hv of objects(p, o, `${side}HeadersToAdd`, path)) {
    const header = obj(p, hv.v, 'header', hv.path);
    if (!header) {
      p.error(at(hv.path, 'header'), 'is required');
      continue;
    }
    const hp = at(hv.path, 'header');
    const key = str(p, header, 'key', hp);
    if (!key) {
      p.error(at(hp, 'key'), 'is required');
      continue;
    }
    const name = key.toLowerCase();
    if (unmodifiable(name)) {
      p.error(at(hp, 'key'), `${key} may not be modified`);
      continue;
    }
    // RFC 9110 token characters only: a name with separators or controls could split the head.
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
      p.error(at(hp, 'key'), `${JSON.stringify(key)} is not a valid header name`);
      continue;
    }
    let value = str(p, header, 'value', hp) ?? '';
    if (header.rawValue !== undefined && header.rawValue !== null) value = bytesToString(p, header.rawValue, at(hp, 'rawValue')) ?? value;
    // CR, LF or NUL in a value would let configuration inject headers or requests (Envoy refuses them too).
    if (/[\r\n\0]/.test(value)) {
      p.error(at(hp, 'value'), 'must not contain CR, LF or NUL');
      continue;
    }
    if (value === '' && !(bool(p, hv.v, 'keepEmptyValue', hv.path) ?? false)) continue;
    const appendSet = hv.v.append !== undefined && hv.v.append !== null;
    const action = enumName(p, hv.v, 'appendAction', hv.path, APPEND_ACTIONS);
    if (appendSet && action !== undefined && action !== 'APPEND_IF_EXISTS_OR_ADD') {
      p.error(hv.path, 'append and append_action are mutually exclusive');
      continue;
    }
    const legacyAppend = appendSet ? wrappedBool(p, hv.v, 'append', hv.path) : undefined;
    const effective = action ?? (legacyAppend === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD');
    const pair: [string, string] = [name, value];
    if (effective === 'APPEND_IF_EXISTS_OR_ADD') add.push(pair);
    else if (effective === 'OVERWRITE_IF_EXISTS_OR_ADD') set.push(pair);
    else if (effective === 'ADD_IF_ABSENT') addIfAbsent.push(pair);
    else overwriteIfExists.push(pair);
  }
  const remove: string[] = [];
  strings(p, o, `${side}HeadersToRemove`, path).forEach((n, i) => {
    const name = n.toLowerCase();
    if (!name || unmodifiable(name)) p.error(at(at(path, `${side}HeadersToRemove`), i), `${JSON.stringify(n)} may not be removed`);
    else remove.push(name);
  });
  if (set.length + add.length + addIfAbsent.length + overwriteIfExists.length + remove.length === 0) return undefined;
  return { set, add, remove, addIfAbsent, overwriteIfExists };
}

function bytesToString(p: Problems, v: unknown, path: string): string | undefined {
  if (typeof v === 'string') return Buffer.from(v, 'base64').toString('utf8');
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (Array.isArray(v) && v.every((b) => typeof b === 'number')) return Buffer.from(v as number[]).toString('utf8');
  p.error(path, 'expected bytes');
  return undefined;
}

// ───────────────────────────── retry, hash, mirror ─────────────────────────────

const PREVIOUS_HOSTS = 'envoy.retry_host_predicates.previous_hosts';
const PREVIOUS_HOSTS_TYPE = 'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';

/**
 * retryPolicy compiles an Envoy `RetryPolicy`: num_retries defaults to 1, back-off base to 25 ms
 * and max to 10 × base (Envoy's defaults); the previous_hosts predicate turns on
 * avoidPreviousHosts; host_selection_retry_max_attempts defaults to 1.
 */
export function retryPolicy(p: Problems, r: Obj, path: string): RetryPolicy {
  const retryOn = new Set(
    (str(p, r, 'retryOn', path) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s),
  );
  const numRetries = wrapped(p, r, 'numRetries', path, 0, 0xffffffff) ?? 1;
  const perTryTimeoutMs = duration(p, r, 'perTryTimeout', path);
  let backoffBaseMs = 25;
  let backoffMaxMs = 250;
  const bo = obj(p, r, 'retryBackOff', path);
  if (bo) {
    const bp = at(path, 'retryBackOff');
    const base = duration(p, bo, 'baseInterval', bp);
    if (base === undefined || base <= 0) p.error(at(bp, 'baseInterval'), 'is required and must be greater than 0');
    else {
      backoffBaseMs = base;
      const max = duration(p, bo, 'maxInterval', bp);
      if (max !== undefined && max < base) p.error(at(bp, 'maxInterval'), `${max} ms is less than base_interval ${base} ms`);
      backoffMaxMs = max !== undefined && max >= base ? max : 10 * base;
    }
  }
  const retriableStatusCodes = new Set<number>();
  const codes = r.retriableStatusCodes;
  if (codes !== undefined && codes !== null) {
    if (!Array.isArray(codes)) p.error(at(path, 'retriableStatusCodes'), 'expected a list');
    else
      codes.forEach((c, i) => {
        const n = typeof c === 'string' ? Number(c) : c;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 100 || n > 599) p.error(at(at(path, 'retriableStatusCodes'), i), `${JSON.stringify(c)} is not an HTTP status code`);
        else retriableStatusCodes.add(n);
      });
  }
  let avoidPreviousHosts = false;
  for (const pred of objects(p, r, 'retryHostPredicate', path)) {
    const name = str(p, pred.v, 'name', pred.path);
    const tc = obj(p, pred.v, 'typedConfig', pred.path);
    if (name === PREVIOUS_HOSTS || (tc && typeOf(tc) === PREVIOUS_HOSTS_TYPE)) avoidPreviousHosts = true;
    else p.warn(pred.path, `retry host predicate ${name ?? (tc && typeOf(tc)) ?? '?'} is not supported and is ignored`);
  }
  const hostSelectionRetryMaxAttempts = int(p, r, 'hostSelectionRetryMaxAttempts', path, 0) ?? 1;
  return {
    numRetries,
    retryOn,
    retriableStatusCodes,
    ...(perTryTimeoutMs !== undefined ? { perTryTimeoutMs } : {}),
    backoffBaseMs,
    backoffMaxMs,
    avoidPreviousHosts,
    hostSelectionRetryMaxAttempts,
  };
}

function hashPolicies(p: Problems, o: Obj, path: string): HashPolicy[] {
  const out: HashPolicy[] = [];
  for (const h of objects(p, o, 'hashPolicy', path)) {
    const terminal = bool(p, h.v, 'terminal', h.path) ?? false;
    const kind = oneof(p, h.v, ['header', 'cookie', 'connectionProperties', 'queryParameter', 'filterState'], h.path, 'policy_specifier');
    const spec = kind && obj(p, h.v, kind, h.path);
    if (!kind || !spec) continue;
    const sp = at(h.path, kind);
    switch (kind) {
      case 'header': {
        const name = str(p, spec, 'headerName', sp);
        if (!name) p.error(at(sp, 'headerName'), 'is required');
        else out.push({ kind: 'header', name: name.toLowerCase(), terminal });
        if (obj(p, spec, 'regexRewrite', sp)) p.error(at(sp, 'regexRewrite'), 'not supported');
        break;
      }
      case 'cookie': {
        const name = str(p, spec, 'name', sp);
        if (!name) {
          p.error(at(sp, 'name'), 'is required');
          break;
        }
        const ttlMs = duration(p, spec, 'ttl', sp);
        const cpath = str(p, spec, 'path', sp);
        out.push({ kind: 'cookie', name, ...(ttlMs !== undefined ? { ttlMs } : {}), ...(cpath ? { path: cpath } : {}), terminal });
        break;
      }
      case 'connectionProperties':
        if (bool(p, spec, 'sourceIp', sp)) out.push({ kind: 'source-ip', terminal });
        break;
      case 'queryParameter': {
        const name = str(p, spec, 'name', sp);
        if (!name) p.error(at(sp, 'name'), 'is required');
        else out.push({ kind: 'query', name, terminal });
        break;
      }
      case 'filterState':
        p.error(sp, 'filter state hashing is not supported');
        break;
    }
  }
  return out;
}

// ───────────────────────────── per-filter configs: fault, CORS ─────────────────────────────

const FAULT_FILTER = 'envoy.filters.http.fault';
const CORS_FILTER = 'envoy.filters.http.cors';
const FAULT_TYPE = 'envoy.extensions.filters.http.fault.v3.HTTPFault';
const CORS_TYPE = 'envoy.extensions.filters.http.cors.v3.CorsPolicy';
const FILTER_CONFIG_TYPE = 'envoy.config.route.v3.FilterConfig';

/**
 * faultPolicy compiles an Envoy `HTTPFault` (per-route): a fixed delay and/or an abort with an
 * HTTP or gRPC status, each applied to its percentage (unset percentage: 0, as Envoy).
 */
export function faultPolicy(p: Problems, f: Obj, path: string): FaultPolicy | undefined {
  let delay: FaultPolicy['delay'];
  let abort: FaultPolicy['abort'];
  const d = obj(p, f, 'delay', path);
  if (d) {
    const dp = at(path, 'delay');
    const kind = oneof(p, d, ['fixedDelay', 'headerDelay'], dp, 'fault_delay_secifier');
    if (kind === 'headerDelay') p.error(at(dp, kind), 'header-controlled delays are not supported');
    const fixedDelayMs = kind === 'fixedDelay' ? duration(p, d, 'fixedDelay', dp) : undefined;
    if (fixedDelayMs !== undefined) delay = { fixedDelayMs, fraction: fraction(p, d, 'percentage', dp) ?? 0 };
  }
  const a = obj(p, f, 'abort', path);
  if (a) {
    const ap = at(path, 'abort');
    const kind = oneof(p, a, ['httpStatus', 'grpcStatus', 'headerAbort'], ap, 'error_type');
    const frac = fraction(p, a, 'percentage', ap) ?? 0;
    if (kind === 'httpStatus') {
      const httpStatus = int(p, a, kind, ap, 200, 599);
      if (httpStatus !== undefined) abort = { httpStatus, fraction: frac };
    } else if (kind === 'grpcStatus') {
      const grpcStatus = int(p, a, kind, ap, 0, 16);
      if (grpcStatus !== undefined) abort = { grpcStatus, fraction: frac };
    } else if (kind === 'headerAbort') p.error(at(ap, kind), 'header-controlled aborts are not supported');
  }
  if (!delay && !abort) return undefined;
  return { ...(delay ? { delay } : {}), ...(abort ? { abort } : {}) };
}

/**
 * corsPolicy compiles an Envoy `CorsPolicy`; a policy whose filter_enabled fraction is 0 is off
 * (undefined). Origins match when any allow_origin_string_match matches.
 */
export function corsPolicy(p: Problems, c: Obj, path: string): CorsPolicy | undefined {
  const origins: StringPredicate[] = [];
  for (const m of objects(p, c, 'allowOriginStringMatch', path)) {
    const t = stringMatcher(p, m.v, m.path);
    if (t) origins.push(t);
  }
  const enabled = runtimeFraction(p, c, 'filterEnabled', path);
  const allowMethods = str(p, c, 'allowMethods', path);
  const allowHeaders = str(p, c, 'allowHeaders', path);
  const exposeHeaders = str(p, c, 'exposeHeaders', path);
  const maxAge = str(p, c, 'maxAge', path);
  const allowCredentials = wrappedBool(p, c, 'allowCredentials', path);
  if (enabled === 0) return undefined;
  return {
    allowOrigin: (origin) => origins.some((t) => t(origin)),
    ...(allowMethods !== undefined ? { allowMethods } : {}),
    ...(allowHeaders !== undefined ? { allowHeaders } : {}),
    ...(exposeHeaders !== undefined ? { exposeHeaders } : {}),
    ...(maxAge !== undefined ? { maxAge } : {}),
    ...(allowCredentials !== undefined ? { allowCredentials } : {}),
  };
}

/** perFilter reads `typed_per_filter_config` for the filters the pipeline enforces (fault, CORS); other filters' configs are ignored. */
function perFilter(p: Problems, o: Obj, path: string): { fault?: FaultPolicy; cors?: CorsPolicy } {
  const tpfc = obj(p, o, 'typedPerFilterConfig', path);
  if (!tpfc) return {};
  const out: { fault?: FaultPolicy; cors?: CorsPolicy } = {};
  for (const [name, raw] of Object.entries(tpfc)) {
    // Keys are filter names; keep them verbatim in the path.
    const fp = `${path ? `${path}.` : ''}typed_per_filter_config[${name}]`;
    if (!isMessage(raw)) {
      p.error(fp, 'expected an Any');
      continue;
    }
    let cfg: Obj = raw;
    if (typeOf(cfg) === FILTER_CONFIG_TYPE) {
      if (bool(p, cfg, 'disabled', fp)) continue;
      const inner = obj(p, cfg, 'config', fp);
      if (!inner) continue;
      cfg = inner;
    }
    const t = typeOf(cfg);
    if (name === FAULT_FILTER || t === FAULT_TYPE) {
      if (t !== FAULT_TYPE) p.error(fp, `expected ${FAULT_TYPE}, got ${t ?? 'no @type'}`);
      else {
        const f = faultPolicy(p, cfg, fp);
        if (f) out.fault = f;
      }
    } else if (name === CORS_FILTER || t === CORS_TYPE) {
      if (t !== CORS_TYPE) p.error(fp, `expected ${CORS_TYPE}, got ${t ?? 'no @type'}`);
      else {
        const c = corsPolicy(p, cfg, fp);
        if (c) out.cors = c;
      }
    }
  }
  return out;
}

// ───────────────────────────── actions ─────────────────────────────

/** A cluster a route refers to, for the cross-checks in compile.ts. */
export interface ClusterRef {
  readonly cluster: string;
  readonly path: string;
}

/** What the path matcher of a route matched, for rewrites: the static prefix length, or the whole path. */
type MatchedPart = { kind: 'prefix'; length: number } | { kind: 'path' } | { kind: 'regex' } | { kind: 'none' };

function matchedPart(m: Obj): MatchedPart {
  if (typeof m.prefix === 'string') return { kind: 'prefix', length: m.prefix.length };
  if (typeof m.pathSeparatedPrefix === 'string') return { kind: 'prefix', length: m.pathSeparatedPrefix.length };
  if (typeof m.path === 'string') return { kind: 'path' };
  if (m.safeRegex !== undefined && m.safeRegex !== null) return { kind: 'regex' };
  return { kind: 'none' };
}

function splitQuery(target: string): [path: string, query: string] {
  const q = target.indexOf('?');
  return q < 0 ? [target, ''] : [target.slice(0, q), target.slice(q)];
}

/** Rewrites the path of a head: prefix rewrite (matched prefix replaced) or regex rewrite (path only, query kept). */
function pathRewriter(prefixRewrite: string | undefined, regex: { re: CompiledRegex; sub: string } | undefined, part: MatchedPart): ((target: string, matched: string | undefined) => string) | undefined {
  if (prefixRewrite !== undefined) {
    return (target, matched) => {
      const len = matched !== undefined && matched !== '' ? matched.length : part.kind === 'path' ? pathOnly(target).length : part.kind === 'prefix' ? part.length : 0;
      return prefixRewrite + target.slice(len);
    };
  }
  if (regex) {
    return (target) => {
      const [path, query] = splitQuery(target);
      return regex.re.replaceAll(path, regex.sub) + query;
    };
  }
  return undefined;
}

function regexRewrite(p: Problems, o: Obj, path: string): { re: CompiledRegex; sub: string } | undefined {
  const rr = obj(p, o, 'regexRewrite', path);
  if (!rr) return undefined;
  const rp = at(path, 'regexRewrite');
  const pattern = obj(p, rr, 'pattern', rp);
  if (!pattern) {
    p.error(at(rp, 'pattern'), 'is required');
    return undefined;
  }
  const re = regexMatcher(p, pattern, at(rp, 'pattern'));
  const sub = str(p, rr, 'substitution', rp) ?? '';
  if (!re) return undefined;
  // RE2 rejects a rewrite naming a group the pattern does not have; so does Envoy's config check.
  for (const m of sub.matchAll(/\\(\\|\d)/g)) {
    if (m[1] !== '\\' && Number(m[1]) > re.groups) {
      p.error(at(rp, 'substitution'), `\\${m[1]} names a group the pattern does not have (it has ${re.groups})`);
      return undefined;
    }
  }
  return { re, sub };
}

function forwardAction(p: Problems, a: Obj, path: string, part: MatchedPart, vhRetry: RetryPolicy | undefined, refs: ClusterRef[]): RouteForward | undefined {
  const before = p.errors.length;
  const spec = oneof(p, a, ['cluster', 'clusterHeader', 'weightedClusters', 'clusterSpecifierPlugin', 'inlineClusterSpecifierPlugin'], path, 'cluster_specifier');
  const clusters: { name: string; weight: number; requestHeaders?: HeaderOps; responseHeaders?: HeaderOps }[] = [];
  let totalWeight = 0;
  if (spec === 'cluster') {
    const name = str(p, a, 'cluster', path);
    if (!name) p.error(at(path, 'cluster'), 'must not be empty');
    else {
      clusters.push({ name, weight: 1 });
      totalWeight = 1;
      refs.push({ cluster: name, path: at(path, 'cluster') });
    }
  } else if (spec === 'weightedClusters') {
    const wc = obj(p, a, 'weightedClusters', path) ?? {};
    const wp = at(path, 'weightedClusters');
    const list = objects(p, wc, 'clusters', wp);
    if (list.length === 0) p.error(at(wp, 'clusters'), 'must have at least one cluster');
    for (const c of list) {
      const name = str(p, c.v, 'name', c.path);
      if (!name) {
        if (c.v.clusterHeader) p.error(at(c.path, 'clusterHeader'), 'not supported');
        else p.error(at(c.path, 'name'), 'is required');
        continue;
      }
      const weight = wrapped(p, c.v, 'weight', c.path, 0, 0xffffffff) ?? 0;
      const requestHeaders = headerOps(p, c.v, c.path, 'request');
      const responseHeaders = headerOps(p, c.v, c.path, 'response');
      clusters.push({ name, weight, ...(requestHeaders ? { requestHeaders } : {}), ...(responseHeaders ? { responseHeaders } : {}) });
      totalWeight += weight;
      refs.push({ cluster: name, path: at(c.path, 'name') });
    }
    const declared = wrapped(p, wc, 'totalWeight', wp, 0);
    if (list.length > 0 && totalWeight === 0) p.error(wp, 'weights sum to 0');
    else if (declared !== undefined && declared !== 0 && declared !== totalWeight) p.error(at(wp, 'totalWeight'), `is ${declared} but the weights sum to ${totalWeight}`);
    if (str(p, wc, 'runtimeKeyPrefix', wp)) p.warn(at(wp, 'runtimeKeyPrefix'), 'no runtime layer: static weights apply');
  } else if (spec !== undefined) p.error(at(path, spec), 'not supported');

  const prefixRewrite = str(p, a, 'prefixRewrite', path);
  const regex = regexRewrite(p, a, path);
  if (prefixRewrite !== undefined && regex) p.error(path, 'cannot specify both prefix_rewrite and regex_rewrite');
  if (prefixRewrite !== undefined && part.kind === 'regex') p.error(at(path, 'prefixRewrite'), 'cannot be used with a safe_regex match');
  const hostLiteral = str(p, a, 'hostRewriteLiteral', path);
  for (const k of ['hostRewriteHeader', 'hostRewritePathRegex'] as const) if (a[k] !== undefined && a[k] !== null) p.error(at(path, k), 'not supported');
  const rewritePath = pathRewriter(prefixRewrite, regex, part);
  let rewrite: RouteForward['rewrite'];
  if (rewritePath || hostLiteral) {
    rewrite = (req: RequestHead, matched: string | undefined) => {
      if (rewritePath) req.path = rewritePath(req.path, matched);
      if (hostLiteral) req.authority = hostLiteral;
    };
  }

  const timeout = duration(p, a, 'timeout', path);
  const msd = obj(p, a, 'maxStreamDuration', path);
  const msdPath = at(path, 'maxStreamDuration');
  const streamMax = msd ? duration(p, msd, 'maxStreamDuration', msdPath) : undefined;
  const grpcHeaderMax = (msd ? duration(p, msd, 'grpcTimeoutHeaderMax', msdPath) : undefined) ?? duration(p, a, 'maxGrpcTimeout', path);
  // The model has one request deadline: Envoy's route timeout (default 15 s, 0 = none) and the
  // stream's max_stream_duration both bound it, so the tighter non-zero one wins.
  let timeoutMs = timeout;
  if (streamMax !== undefined && streamMax > 0) {
    const t = timeout ?? 15_000;
    timeoutMs = t === 0 ? streamMax : Math.min(t, streamMax);
  }

  const rp = obj(p, a, 'retryPolicy', path);
  const retry = rp ? retryPolicy(p, rp, at(path, 'retryPolicy')) : vhRetry;

  const mirrors: MirrorPolicy[] = [];
  for (const m of objects(p, a, 'requestMirrorPolicies', path)) {
    const cluster = str(p, m.v, 'cluster', m.path);
    if (!cluster) {
      p.error(at(m.path, 'cluster'), m.v.clusterHeader ? 'cluster_header is not supported' : 'is required');
      continue;
    }
    refs.push({ cluster, path: at(m.path, 'cluster') });
    mirrors.push({ cluster, fraction: runtimeFraction(p, m.v, 'runtimeFraction', m.path) ?? 1 });
  }
  const hashPolicy = hashPolicies(p, a, path);
  if (p.errors.length !== before) return undefined;
  return {
    kind: 'forward',
    clusters,
    totalWeight,
    ...(rewrite ? { rewrite } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(retry ? { retry } : {}),
    mirrors,
    hashPolicy,
    ...(grpcHeaderMax !== undefined ? { grpcTimeoutHeaderMax: grpcHeaderMax } : {}),
  };
}

const REDIRECT_CODES = ['MOVED_PERMANENTLY', 'FOUND', 'SEE_OTHER', 'TEMPORARY_REDIRECT', 'PERMANENT_REDIRECT'] as const;
const REDIRECT_STATUS: Record<(typeof REDIRECT_CODES)[number], number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

/** splitHostPort splits an authority into host and port ('' when none); IPv6 literals keep their brackets. */
export function splitHostPort(authority: string): [host: string, port: string] {
  const close = authority.lastIndexOf(']');
  const colon = authority.lastIndexOf(':');
  if (colon > close && /^\d+$/.test(authority.slice(colon + 1))) return [authority.slice(0, colon), authority.slice(colon + 1)];
  return [authority, ''];
}

const defaultPort = (scheme: string): string => (scheme === 'https' ? '443' : scheme === 'http' ? '80' : '');

function redirectAction(p: Problems, r: Obj, path: string, part: MatchedPart): RouteRedirect | undefined {
  const before = p.errors.length;
  const schemeKind = oneof(p, r, ['httpsRedirect', 'schemeRedirect'], path, undefined);
  const scheme = schemeKind === 'schemeRedirect' ? str(p, r, 'schemeRedirect', path)?.toLowerCase() : schemeKind === 'httpsRedirect' && bool(p, r, 'httpsRedirect', path) ? 'https' : undefined;
  const hostRedirect = str(p, r, 'hostRedirect', path);
  const portRedirect = int(p, r, 'portRedirect', path, 0, 65535);
  const pathKind = oneof(p, r, ['pathRedirect', 'prefixRewrite', 'regexRewrite'], path, undefined);
  const pathRedirect = pathKind === 'pathRedirect' ? str(p, r, 'pathRedirect', path) : undefined;
  const prefixRewrite = pathKind === 'prefixRewrite' ? str(p, r, 'prefixRewrite', path) : undefined;
  if (prefixRewrite !== undefined && part.kind === 'regex') p.error(at(path, 'prefixRewrite'), 'cannot be used with a safe_regex match');
  const regex = pathKind === 'regexRewrite' ? regexRewrite(p, r, path) : undefined;
  const stripQuery = bool(p, r, 'stripQuery', path) ?? false;
  const code = enumName(p, r, 'responseCode', path, REDIRECT_CODES) ?? 'MOVED_PERMANENTLY';
  if (p.errors.length !== before) return undefined;
  const rewrite = pathRewriter(prefixRewrite, regex, part);
  return {
    kind: 'redirect',
    status: REDIRECT_STATUS[code],
    // As Envoy's newUri: the host redirect is used verbatim; otherwise the request's host keeps its
    // port unless a port redirect replaces it or the scheme changes away from that port's default.
    location: (req) => {
      const finalScheme = scheme ?? req.scheme;
      let host: string;
      if (hostRedirect) host = hostRedirect;
      else {
        const [h, port] = splitHostPort(req.authority);
        const drop = port !== '' && (portRedirect !== undefined && portRedirect !== 0 ? true : finalScheme !== req.scheme && port === defaultPort(req.scheme));
        host = drop ? h : req.authority;
      }
      if (portRedirect !== undefined && portRedirect !== 0) host += `:${portRedirect}`;
      let target = req.path;
      const redirectHasQuery = pathRedirect !== undefined && pathRedirect.includes('?');
      if (pathRedirect) target = redirectHasQuery ? pathRedirect : pathRedirect + splitQuery(req.path)[1];
      else if (rewrite) target = rewrite(req.path, undefined);
      if (!target.startsWith('/')) target = `/${target}`;
      // A query given by path_redirect is never stripped.
      if (stripQuery && !redirectHasQuery) target = splitQuery(target)[0];
      return `${finalScheme}://${host}${target}`;
    },
  };
}

function directAction(p: Problems, d: Obj, path: string): RouteDirect | undefined {
  const status = int(p, d, 'status', path, 100, 599);
  if (status === undefined) {
    if (d.status === undefined) p.error(at(path, 'status'), 'is required');
    return undefined;
  }
  const b = obj(p, d, 'body', path);
  let body: string | undefined;
  if (b) {
    const bp = at(path, 'body');
    const kind = oneof(p, b, ['filename', 'inlineBytes', 'inlineString', 'environmentVariable'], bp, undefined);
    if (kind === 'inlineString') body = str(p, b, kind, bp);
    else if (kind === 'inlineBytes') body = bytesToString(p, b.inlineBytes, at(bp, kind));
    else if (kind) p.error(at(bp, kind), 'not supported (only inline bodies)');
  }
  return { kind: 'direct', status, ...(body !== undefined ? { body } : {}) };
}

// ───────────────────────────── routes, virtual hosts, tables ─────────────────────────────

/** Options of route compilation. */
export interface RouteCompileOptions {
  /** Randomness for runtime-fraction route matches (Math.random by default). */
  readonly random?: () => number;
}

function compileRoute(p: Problems, r: Obj, path: string, vhRetry: RetryPolicy | undefined, vhFilters: { fault?: FaultPolicy; cors?: CorsPolicy }, refs: ClusterRef[], random: () => number): CompiledRoute | undefined {
  const before = p.errors.length;
  const name = str(p, r, 'name', path) ?? '';
  const m = obj(p, r, 'match', path);
  if (!m) p.error(at(path, 'match'), 'is required');
  const match = m ? routeMatch(p, m, at(path, 'match'), random) : undefined;
  const part = m ? matchedPart(m) : ({ kind: 'none' } as MatchedPart);
  const kind = oneof(p, r, ['route', 'redirect', 'directResponse', 'filterAction', 'nonForwardingAction'], path, 'action');
  let action: CompiledRoute['action'] | undefined;
  const body = kind && obj(p, r, kind, path);
  if (kind === 'route' && body) action = forwardAction(p, body, at(path, kind), part, vhRetry, refs);
  else if (kind === 'redirect' && body) action = redirectAction(p, body, at(path, kind), part);
  else if (kind === 'directResponse' && body) action = directAction(p, body, at(path, kind));
  else if (kind === 'nonForwardingAction') {
    // gRPC proxyless servers: the server handles the request itself. A proxy has nowhere to send
    // it, so the route forwards to no cluster (the cluster stage answers 503, as for an unknown cluster).
    action = { kind: 'forward', clusters: [], totalWeight: 0, mirrors: [], hashPolicy: [] };
  } else if (kind && body) p.error(at(path, kind), 'not supported');
  const requestHeaders = headerOps(p, r, path, 'request');
  const responseHeaders = headerOps(p, r, path, 'response');
  const filters = perFilter(p, r, path);
  const fault = filters.fault ?? vhFilters.fault;
  const cors = filters.cors ?? vhFilters.cors;
  const vs = istioConfig(r);
  if (p.errors.length !== before || !match || !action) return undefined;
  return {
    name,
    match,
    action,
    ...(requestHeaders ? { requestHeaders } : {}),
    ...(responseHeaders ? { responseHeaders } : {}),
    ...(fault ? { fault } : {}),
    ...(cors ? { cors } : {}),
    ...(vs ? { meta: { virtualService: vs } } : {}),
  };
}

/** Istio route metadata: `filter_metadata.istio.config` names the VirtualService. */
function istioConfig(r: Obj): string | undefined {
  const md = r.metadata;
  if (!isMessage(md) || !isMessage(md.filterMetadata) || !isMessage(md.filterMetadata.istio)) return undefined;
  const c = md.filterMetadata.istio.config;
  return typeof c === 'string' ? c : undefined;
}

/** A compiled virtual host plus Envoy's require_tls, which the model has no slot for (enforced by a synthetic first route). */
export interface CompiledVirtualHostPlan extends CompiledVirtualHost {
  readonly requireTls: 'NONE' | 'EXTERNAL_ONLY' | 'ALL';
}

/** The synthetic route enforcing require_tls: plain-HTTP requests get a 301 to https (Envoy's behaviour). */
function requireTlsRoute(mode: 'EXTERNAL_ONLY' | 'ALL'): CompiledRoute {
  return {
    name: '',
    match: (req) => (req.scheme === 'http' && (mode === 'ALL' || req.headers.get('x-envoy-internal') !== 'true') ? '' : undefined),
    action: {
      kind: 'redirect',
      status: 301,
      location: (req) => {
        const [host, port] = splitHostPort(req.authority);
        return `https://${host}${port && port !== '80' ? `:${port}` : ''}${req.path}`;
      },
    },
  };
}

/**
 * DomainIndex finds a virtual host by authority as Envoy does: exact domain, then the longest
 * `*suffix` wildcard, then the longest `prefix*` wildcard, then `*`; case-insensitive. Each tier is
 * a map keyed by the literal part, probed by length (longest first), so a lookup costs a few map
 * probes whatever the number of domains.
 */
class DomainIndex<T> {
  private readonly exact = new Map<string, T>();
  private readonly suffix = new Map<string, T>();
  private readonly prefix = new Map<string, T>();
  private suffixLens: number[] = [];
  private prefixLens: number[] = [];
  private any: T | undefined;

  /** add returns false when the domain is already taken. */
  add(domain: string, v: T): boolean {
    const d = domain.toLowerCase();
    if (d === '*') {
      if (this.any !== undefined) return false;
      this.any = v;
      return true;
    }
    const tier = d.startsWith('*') ? this.suffix : d.endsWith('*') ? this.prefix : this.exact;
    const key = tier === this.suffix ? d.slice(1) : tier === this.prefix ? d.slice(0, -1) : d;
    if (tier.has(key)) return false;
    tier.set(key, v);
    if (tier === this.suffix && !this.suffixLens.includes(key.length)) this.suffixLens = [...this.suffixLens, key.length].sort((a, b) => b - a);
    if (tier === this.prefix && !this.prefixLens.includes(key.length)) this.prefixLens = [...this.prefixLens, key.length].sort((a, b) => b - a);
    return true;
  }

  find(host: string): T | undefined {
    const h = host.toLowerCase();
    const e = this.exact.get(h);
    if (e !== undefined) return e;
    // A wildcard stands for at least one character (Envoy: `*.foo.com` does not match `.foo.com`).
    for (const len of this.suffixLens) {
      if (h.length <= len) continue;
      const v = this.suffix.get(h.slice(h.length - len));
      if (v !== undefined) return v;
    }
    for (const len of this.prefixLens) {
      if (h.length <= len) continue;
      const v = this.prefix.get(h.slice(0, len));
      if (v !== undefined) return v;
    }
    return this.any;
  }
}

/** What compiling one RouteConfiguration yields: the table, the clusters it names, and whether Envoy would validate them. */
export interface CompiledRouteConfig {
  readonly table: RouteTable;
  readonly clusterRefs: readonly ClusterRef[];
  readonly validateClusters: boolean;
}

/**
 * compileRouteConfig compiles a RouteConfiguration into a RouteTable; errors go to `p` with field
 * paths and undefined is returned when there are any. `inline` selects Envoy's validate_clusters
 * default (true for a route configuration inlined in a listener, false for RDS).
 */
export function compileRouteConfig(p: Problems, rc: Obj, opts: RouteCompileOptions & { inline?: boolean; path?: string } = {}): CompiledRouteConfig | undefined {
  const before = p.errors.length;
  const base = opts.path ?? '';
  const random = opts.random ?? Math.random;
  const name = str(p, rc, 'name', base) ?? '';
  if (!opts.inline && !name) p.error(at(base, 'name'), 'is required');
  const refs: ClusterRef[] = [];
  const index = new DomainIndex<CompiledVirtualHostPlan>();
  const vhNames = new Set<string>();
  for (const vh of objects(p, rc, 'virtualHosts', base)) {
    const vname = str(p, vh.v, 'name', vh.path) ?? '';
    // Envoy requires a name; gRPC's xDS server listeners (proxyless) omit it, and it only labels stats.
    if (vname && vhNames.has(vname)) p.error(at(vh.path, 'name'), `duplicate virtual host name ${vname}`);
    vhNames.add(vname);
    const vrp = obj(p, vh.v, 'retryPolicy', vh.path);
    const vhRetry = vrp ? retryPolicy(p, vrp, at(vh.path, 'retryPolicy')) : undefined;
    const vhFilters = perFilter(p, vh.v, vh.path);
    const routes: CompiledRoute[] = [];
    const requireTls = enumName(p, vh.v, 'requireTls', vh.path, ['NONE', 'EXTERNAL_ONLY', 'ALL'] as const) ?? 'NONE';
    if (requireTls !== 'NONE') routes.push(requireTlsRoute(requireTls));
    for (const r of objects(p, vh.v, 'routes', vh.path)) {
      const cr = compileRoute(p, r.v, r.path, vhRetry, vhFilters, refs, random);
      if (cr) routes.push(cr);
    }
    const requestHeaders = headerOps(p, vh.v, vh.path, 'request');
    const responseHeaders = headerOps(p, vh.v, vh.path, 'response');
    const compiled: CompiledVirtualHostPlan = {
      name: vname,
      routes,
      requireTls,
      ...(requestHeaders ? { requestHeaders } : {}),
      ...(responseHeaders ? { responseHeaders } : {}),
      ...(vhFilters.cors ? { cors: vhFilters.cors } : {}),
      ...(vhRetry ? { retry: vhRetry } : {}),
      ...(bool(p, vh.v, 'includeRequestAttemptCount', vh.path) === true ? { includeRequestAttemptCount: true } : {}),
    };
    const domains = strings(p, vh.v, 'domains', vh.path);
    if (domains.length === 0) p.error(at(vh.path, 'domains'), 'must have at least one domain');
    domains.forEach((d, i) => {
      if (!d) p.error(at(at(vh.path, 'domains'), i), 'must not be empty');
      else if (!index.add(d, compiled)) p.error(at(at(vh.path, 'domains'), i), `domain ${d} is in more than one virtual host`);
    });
  }
  const requestHeaders = headerOps(p, rc, base, 'request');
  const responseHeaders = headerOps(p, rc, base, 'response');
  const vc = wrappedBool(p, rc, 'validateClusters', base);
  if (p.errors.length !== before) return undefined;
  // The last authority looked up and its answer: a sidecar's connections mostly address one host
  // (the comparison is cheaper than lower-casing and hashing it again).
  let lastAuthority: string | undefined;
  let lastVirtualHost: CompiledVirtualHost | undefined;
  const table: RouteTable = {
    name,
    // Envoy matches the authority as sent (a `*` domain takes `host:port` first); only when nothing
    // matches is the host alone tried (the model's "with and without its port").
    virtualHost(authority: string): CompiledVirtualHost | undefined {
      if (authority === lastAuthority) return lastVirtualHost;
      let v = index.find(authority);
      if (v === undefined) {
        const [host, port] = splitHostPort(authority);
        v = port ? index.find(host) : undefined;
      }
      lastAuthority = authority;
      lastVirtualHost = v;
      return v;
    },
    ...(requestHeaders ? { requestHeaders } : {}),
    ...(responseHeaders ? { responseHeaders } : {}),
  };
  return { table, clusterRefs: refs, validateClusters: vc ?? opts.inline === true };
}

/**
 * routeRequest returns the route a request takes through a table (virtual host by authority,
 * then the first matching route) and the matched prefix, or undefined (NR). A helper for the
 * route stage and for tests.
 */
export function routeRequest(table: RouteTable, req: RequestHead): { virtualHost: CompiledVirtualHost; route: CompiledRoute; matched: string } | { virtualHost?: CompiledVirtualHost; route?: undefined } {
  const vh = table.virtualHost(req.authority);
  if (!vh) return {};
  const routes = vh.routes;
  for (let i = 0; i < routes.length; i++) {
    const m = routes[i].match(req);
    if (m !== undefined) return { virtualHost: vh, route: routes[i], matched: m };
  }
  return { virtualHost: vh };
}

