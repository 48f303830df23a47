/**
 * VirtualService HTTP rules → Envoy routes (Istio's v1alpha3 route translation): matches,
 * weighted destinations, rewrites, redirects, direct responses, mirrors, header operations,
 * CORS, timeouts, retries (with Istio's defaults), fault injection and delegation.
 */
import type { CorsPolicy, Destination, HTTPFaultInjection, HTTPMatchRequest, HTTPRetry, HTTPRoute, Headers, ProxyNode, StringMatch } from '@meshwork/api';
import { CORS_POLICY_TYPE, duration, durationToMs, FAULT_TYPE, fractionalPercent, PREVIOUS_HOSTS_TYPE, type EnvoyResource } from './envoy.js';
import { clusterName } from './names.js';
import { destinationRuleFor, labelsMatch, resolveGatewayName, resolveHost, serviceFor, exportedTo, type IndexedVirtualService, type MeshSnapshot } from './snapshot.js';

/** Istio's retry policy when a route sets none: 2 attempts on connection-level failures and 503. */
export function defaultRetryPolicy(): EnvoyResource {
  return {
    retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
    numRetries: { value: 2 },
    retryHostPredicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typedConfig: { '@type': PREVIOUS_HOSTS_TYPE } }],
    hostSelectionRetryMaxAttempts: 5,
    retriableStatusCodes: [503],
  };
}

/** What route translation needs to know about where the routes will live. */
export interface RouteContext {
  readonly proxy: ProxyNode;
  readonly snapshot: MeshSnapshot;
  /** The listener/service port these routes serve (used for default destination ports and `match.port`). */
  readonly port: number;
  /** `mesh` for sidecars and gRPC, `ns/name` for gateways. */
  readonly gateway: string;
}

const ZERO = { seconds: 0, nanos: 0 };

/** A StringMatch as Envoy's StringMatcher; undefined for an empty prefix (which matches anything). */
function stringMatcher(m: StringMatch, ignoreCase = false): EnvoyResource | undefined {
  const ic = ignoreCase ? { ignoreCase: true } : {};
  if (m.exact !== undefined) return { exact: m.exact, ...ic };
  if (m.prefix !== undefined) return m.prefix === '' ? undefined : { prefix: m.prefix, ...ic };
  if (m.regex !== undefined) return { safeRegex: { regex: m.regex } };
  return undefined;
}

/** A header condition (Istio's translateHeaderMatch): empty prefix/regex `*` means "present". */
function headerMatcher(name: string, m: StringMatch, invert: boolean): EnvoyResource {
  const sm = m.regex === '*' ? undefined : stringMatcher(m);
  const base = sm ? { name, stringMatch: sm } : { name, presentMatch: true };
  return invert ? { ...base, invertMatch: true } : base;
}

/** An Istio HTTPMatchRequest as Envoy's RouteMatch. */
export function translateMatch(m: HTTPMatchRequest | undefined): EnvoyResource {
  const out: EnvoyResource = {};
  const uri = m?.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.regex !== undefined) out.safeRegex = { regex: uri.regex };
  else out.prefix = uri?.prefix ?? '/';
  if (out.prefix === '') out.prefix = '/';
  if (m?.ignoreUriCase) out.caseSensitive = { value: false };
  const headers: EnvoyResource[] = [];
  for (const [k, v] of Object.entries(m?.headers ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) headers.push(headerMatcher(k.toLowerCase(), v, false));
  if (m?.authority) headers.push(headerMatcher(':authority', m.authority, false));
  if (m?.method) headers.push(headerMatcher(':method', m.method, false));
  if (m?.scheme) headers.push(headerMatcher(':scheme', m.scheme, false));
  for (const [k, v] of Object.entries(m?.withoutHeaders ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) headers.push(headerMatcher(k.toLowerCase(), v, true));
  if (headers.length > 0) out.headers = headers;
  const qp: EnvoyResource[] = [];
  for (const [k, v] of Object.entries(m?.queryParams ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const sm = v.exact === '' ? undefined : stringMatcher(v);
    qp.push(sm ? { name: k, stringMatch: sm } : { name: k, presentMatch: true });
  }
  if (qp.length > 0) out.queryParameters = qp;
  return out;
}

/** Header operations as Envoy's *HeadersToAdd / *HeadersToRemove fields. */
function headerOps(h: Headers | undefined, out: EnvoyResource): void {
  const add = (dir: 'request' | 'response'): void => {
    const ops = h?.[dir];
    if (!ops) return;
    const list: EnvoyResource[] = [];
    for (const [k, v] of Object.entries(ops.set ?? {})) {
      // Istio turns a set of the authority into a host rewrite (a header cannot replace :authority).
      if (dir === 'request' && (k.toLowerCase() === ':authority' || k.toLowerCase() === 'host')) continue;
      list.push({ header: { key: k, value: v }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' });
    }
    for (const [k, v] of Object.entries(ops.add ?? {})) list.push({ header: { key: k, value: v }, appendAction: 'APPEND_IF_EXISTS_OR_ADD' });
    const key = dir === 'request' ? 'requestHeadersToAdd' : 'responseHeadersToAdd';
    if (list.length > 0) out[key] = [...((out[key] as EnvoyResource[]) ?? []), ...list];
    if (ops.remove && ops.remove.length > 0) {
      const rk = dir === 'request' ? 'requestHeadersToRemove' : 'responseHeadersToRemove';
      out[rk] = [...((out[rk] as string[]) ?? []), ...ops.remove];
    }
  };
  add('request');
  add('response');
}

function authorityFromHeaders(h: Headers | undefined): string | undefined {
  for (const [k, v] of Object.entries(h?.request?.set ?? {})) if (k.toLowerCase() === ':authority' || k.toLowerCase() === 'host') return v;
  return undefined;
}

/** The cluster a Destination names, with Istio's port defaulting (the only port, else the route's port). */
export function destinationCluster(ctx: RouteContext, d: Destination, vsNamespace: string): string {
  const host = resolveHost(d.host, vsNamespace, ctx.snapshot.meshConfig.domainSuffix);
  let port = d.port?.number;
  if (port === undefined) {
    const svc = serviceFor(ctx.snapshot, ctx.proxy, host);
    port = svc && svc.ports.length === 1 ? svc.ports[0].port : ctx.port;
  }
  return clusterName('outbound', port, d.subset ?? '', host);
}

/** Istio's retry translation: attempts, retryOn (status codes split out), per-try timeout, backoff, host predicates. */
function retryPolicy(r: HTTPRetry | undefined): EnvoyResource | undefined {
  if (!r) return defaultRetryPolicy();
  if (!r.attempts) return undefined;
  const p: EnvoyResource = { ...defaultRetryPolicy(), numRetries: { value: r.attempts } };
  if (r.retryOn) {
    const codes: number[] = [];
    const policies: string[] = [];
    for (const e of r.retryOn.split(',')) {
      if (/^\d+$/.test(e.trim())) codes.push(Number(e.trim()));
      else if (e.trim() !== '') policies.push(e.trim());
    }
    if (codes.length > 0 && !policies.includes('retriable-status-codes')) policies.push('retriable-status-codes');
    p.retryOn = policies.join(',');
    if (codes.length > 0) p.retriableStatusCodes = codes;
    else delete p.retriableStatusCodes;
  }
  const ptt = duration(r.perTryTimeout);
  if (ptt) p.perTryTimeout = ptt;
  if (r.retryIgnorePreviousHosts === false) {
    delete p.retryHostPredicate;
    delete p.hostSelectionRetryMaxAttempts;
  }
  if (r.retryRemoteLocalities) {
    p.retryPriority = { name: 'envoy.retry_priorities.previous_priorities', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig', updateFrequency: 2 } };
  }
  const backoff = duration(r.backoff);
  if (backoff) p.retryBackOff = { baseInterval: backoff };
  return p;
}

/** Fault injection as the fault filter's per-route config. Unset percentages inject into no request, as Istio documents. */
function faultConfig(f: HTTPFaultInjection): EnvoyResource {
  const out: EnvoyResource = { '@type': FAULT_TYPE };
  const pct = (p: { value?: number } | undefined, legacy: number | undefined): EnvoyResource =>
    p ? fractionalPercent(p.value ?? 0) : { numerator: legacy ?? 0, denominator: 'HUNDRED' };
  if (f.delay) {
    const d = duration(f.delay.fixedDelay);
    out.delay = { ...(d ? { fixedDelay: d } : {}), percentage: pct(f.delay.percentage, f.delay.percent) };
  }
  if (f.abort) {
    const abort: EnvoyResource = { percentage: pct(f.abort.percentage, undefined) };
    if (f.abort.httpStatus !== undefined) abort.httpStatus = f.abort.httpStatus;
    else if (f.abort.grpcStatus !== undefined) abort.grpcStatus = GRPC_CODES.indexOf(f.abort.grpcStatus);
    out.abort = abort;
  }
  return out;
}

const GRPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

/** CORS as the cors filter's per-route CorsPolicy. */
function corsConfig(c: CorsPolicy): EnvoyResource {
  const origins: EnvoyResource[] = [];
  for (const o of c.allowOrigin ?? []) origins.push(o === '*' ? { prefix: '*' } : { exact: o });
  for (const o of c.allowOrigins ?? []) {
    const sm = stringMatcher(o);
    if (sm) origins.push(sm);
  }
  const out: EnvoyResource = { '@type': CORS_POLICY_TYPE };
  if (origins.length > 0) out.allowOriginStringMatch = origins;
  if (c.allowMethods?.length) out.allowMethods = c.allowMethods.join(',');
  if (c.allowHeaders?.length) out.allowHeaders = c.allowHeaders.join(',');
  if (c.exposeHeaders?.length) out.exposeHeaders = c.exposeHeaders.join(',');
  const maxAgeMs = durationToMs(c.maxAge);
  if (maxAgeMs !== undefined) out.maxAge = String(Math.floor(maxAgeMs / 1000));
  if (c.allowCredentials !== undefined && c.allowCredentials !== null) out.allowCredentials = { value: c.allowCredentials };
  if (c.unmatchedPreflights === 'IGNORE') out.forwardNotMatchingPreflights = { value: false };
  return out;
}

const REDIRECT_CODES: Record<number, string> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

/** Hash policy for consistent-hash load balancing, taken from the first destination's DestinationRule. */
function hashPolicy(ctx: RouteContext, d: Destination, vsNamespace: string): EnvoyResource[] | undefined {
  const host = resolveHost(d.host, vsNamespace, ctx.snapshot.meshConfig.domainSuffix);
  const svc = serviceFor(ctx.snapshot, ctx.proxy, host);
  const dr = destinationRuleFor(ctx.snapshot, ctx.proxy, host, svc?.namespace);
  if (!dr) return undefined;
  const port = d.port?.number ?? (svc && svc.ports.length === 1 ? svc.ports[0].port : ctx.port);
  const tp = dr.spec.trafficPolicy;
  const sub = d.subset ? (dr.spec.subsets ?? []).find((s) => s.name === d.subset)?.trafficPolicy : undefined;
  const pick = (t: typeof tp) => (t?.portLevelSettings ?? []).find((p) => p.port.number === port)?.loadBalancer ?? t?.loadBalancer;
  const ch = (pick(sub) ?? pick(tp))?.consistentHash;
  if (!ch) return undefined;
  if (ch.httpHeaderName) return [{ header: { headerName: ch.httpHeaderName } }];
  if (ch.httpCookie) {
    const ttl = duration(ch.httpCookie.ttl);
    return [{ cookie: { name: ch.httpCookie.name, ...(ttl ? { ttl } : {}), ...(ch.httpCookie.path ? { path: ch.httpCookie.path } : {}) } }];
  }
  if (ch.useSourceIp) return [{ connectionProperties: { sourceIp: true } }];
  if (ch.httpQueryParameterName) return [{ queryParameter: { name: ch.httpQueryParameterName } }];
  return undefined;
}

/** Whether a match applies to this proxy and port (sourceLabels, port, gateways, sourceNamespace). */
function matchApplies(ctx: RouteContext, m: HTTPMatchRequest, vsNamespace: string): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.sourceLabels && ctx.gateway === 'mesh' && !labelsMatch(m.sourceLabels, ctx.proxy.labels)) return false;
  if (m.sourceLabels && ctx.gateway !== 'mesh') return false;
  if (m.sourceNamespace && m.sourceNamespace !== ctx.proxy.namespace) return false;
  if (m.gateways && m.gateways.length > 0) {
    if (!m.gateways.some((g) => resolveGatewayName(g, vsNamespace) === ctx.gateway)) return false;
  }
  return true;
}

/** Combines a delegating root rule's match with a delegate rule's match (Istio's mergeHTTPMatchRequest, simplified: the delegate's fields win where both set one). */
function mergeMatch(root: HTTPMatchRequest | undefined, d: HTTPMatchRequest | undefined): HTTPMatchRequest | undefined {
  if (!root) return d;
  if (!d) return root;
  return {
    ...root,
    ...d,
    ...(root.headers || d.headers ? { headers: { ...root.headers, ...d.headers } } : {}),
    ...(root.queryParams || d.queryParams ? { queryParams: { ...root.queryParams, ...d.queryParams } } : {}),
    ...(root.withoutHeaders || d.withoutHeaders ? { withoutHeaders: { ...root.withoutHeaders, ...d.withoutHeaders } } : {}),
  };
}

/** One flattened HTTP rule: the rule, the namespace its hosts resolve in, and its matches (delegation applied). */
interface FlatRule {
  readonly rule: HTTPRoute;
  readonly namespace: string;
  readonly matches: readonly (HTTPMatchRequest | undefined)[];
}

/** The HTTP rules of a VirtualService with delegates expanded in place (one level, as Istio allows). */
function flattenRules(ctx: RouteContext, vs: IndexedVirtualService): FlatRule[] {
  const out: FlatRule[] = [];
  for (const rule of vs.spec.http ?? []) {
    const rootMatches: (HTTPMatchRequest | undefined)[] = rule.match && rule.match.length > 0 ? rule.match : [undefined];
    if (rule.delegate) {
      const ns = rule.delegate.namespace || vs.namespace;
      const d = ctx.snapshot.index.delegates.get(`${ns}/${rule.delegate.name ?? ''}`);
      if (!d || !exportedTo(d.exportTo, d.namespace, vs.namespace)) continue;
      for (const dr of d.spec.http ?? []) {
        const dm: (HTTPMatchRequest | undefined)[] = dr.match && dr.match.length > 0 ? dr.match : [undefined];
        const matches: (HTTPMatchRequest | undefined)[] = [];
        for (const r of rootMatches) for (const m of dm) matches.push(mergeMatch(r, m));
        out.push({ rule: dr, namespace: d.namespace, matches });
      }
      continue;
    }
    out.push({ rule, namespace: vs.namespace, matches: rootMatches });
  }
  return out;
}

/**
 * translateVirtualService returns the Envoy routes of a VirtualService's HTTP rules for one
 * port: one route per (rule, match) in order, skipping matches that do not apply to this
 * proxy or port. No catch-all is appended: unmatched requests get 404, as in Istio.
 */
export function translateVirtualService(ctx: RouteContext, vs: IndexedVirtualService): EnvoyResource[] {
  const out: EnvoyResource[] = [];
  for (const fr of flattenRules(ctx, vs)) {
    for (const m of fr.matches) {
      if (m && !matchApplies(ctx, m, fr.namespace)) continue;
      // gRPC clients NACK a whole RouteConfiguration holding a redirect or direct response
      // (grpc-js-xds accepts only route and non-forwarding actions), so such rules are left out for them.
      if (ctx.proxy.type === 'grpc' && (fr.rule.redirect || fr.rule.directResponse)) continue;
      out.push(translateRule(ctx, fr.rule, m, fr.namespace));
    }
  }
  return out;
}

/** translateRule returns the Envoy route of one HTTP rule under one of its matches. */
export function translateRule(ctx: RouteContext, rule: HTTPRoute, m: HTTPMatchRequest | undefined, vsNamespace: string): EnvoyResource {
  const r: EnvoyResource = {};
  const name = [rule.name, m?.name].filter((x) => x).join('.');
  if (name) r.name = name;
  r.match = translateMatch(m);
  if (rule.redirect) {
    const rd = rule.redirect;
    const red: EnvoyResource = {};
    if (rd.uri) red.pathRedirect = rd.uri;
    if (rd.prefixRewrite) red.prefixRewrite = rd.prefixRewrite;
    if (rd.authority) red.hostRedirect = rd.authority;
    if (rd.port) red.portRedirect = rd.port;
    if (rd.scheme) red.schemeRedirect = rd.scheme;
    red.responseCode = REDIRECT_CODES[rd.redirectCode ?? 301] ?? 'MOVED_PERMANENTLY';
    r.redirect = red;
  } else if (rule.directResponse) {
    const dr = rule.directResponse;
    const body = dr.body?.string !== undefined ? { inlineString: dr.body.string } : dr.body?.bytes !== undefined ? { inlineBytes: dr.body.bytes } : undefined;
    r.directResponse = { status: dr.status, ...(body ? { body } : {}) };
  } else {
    const action: EnvoyResource = {};
    const dests = (rule.route ?? []).filter((d, _i, all) => all.length === 1 || (d.weight ?? 0) > 0);
    if (dests.length === 1) {
      action.cluster = destinationCluster(ctx, dests[0].destination, vsNamespace);
    } else {
      action.weightedClusters = {
        clusters: dests.map((d) => {
          const wc: EnvoyResource = { name: destinationCluster(ctx, d.destination, vsNamespace), weight: { value: d.weight ?? 0 } };
          headerOps(d.headers, wc);
          return wc;
        }),
      };
    }
    if (rule.rewrite?.uri !== undefined && rule.rewrite.uri !== '') action.prefixRewrite = rule.rewrite.uri;
    if (rule.rewrite?.uriRegexRewrite?.match) action.regexRewrite = { pattern: { regex: rule.rewrite.uriRegexRewrite.match }, substitution: rule.rewrite.uriRegexRewrite.rewrite ?? '' };
    const authority = rule.rewrite?.authority || authorityFromHeaders(rule.headers) || (dests.length === 1 ? authorityFromHeaders(dests[0].headers) : undefined);
    if (authority) action.hostRewriteLiteral = authority;
    const timeout = duration(rule.timeout) ?? ZERO;
    action.timeout = timeout;
    const retry = retryPolicy(rule.retries);
    if (retry) action.retryPolicy = retry;
    const mirrors = rule.mirrors && rule.mirrors.length > 0 ? rule.mirrors : rule.mirror ? [{ destination: rule.mirror, percentage: rule.mirrorPercentage }] : [];
    const legacyPct = rule.mirrorPercent ?? rule.mirror_percent;
    if (mirrors.length > 0) {
      action.requestMirrorPolicies = mirrors.map((mp) => ({
        cluster: destinationCluster(ctx, mp.destination, vsNamespace),
        runtimeFraction: {
          defaultValue: mp.percentage ? fractionalPercent(mp.percentage.value ?? 0) : legacyPct !== undefined && legacyPct !== null && rule.mirror ? { numerator: legacyPct, denominator: 'HUNDRED' } : { numerator: 100, denominator: 'HUNDRED' },
        },
      }));
    }
    const hp = dests.length > 0 ? hashPolicy(ctx, dests[0].destination, vsNamespace) : undefined;
    if (hp) action.hashPolicy = hp;
    action.maxStreamDuration = { maxStreamDuration: timeout, grpcTimeoutHeaderMax: timeout };
    r.route = action;
    if (dests.length === 1) headerOps(dests[0].headers, r);
  }
  headerOps(rule.headers, r);
  const tpfc: EnvoyResource = {};
  if (rule.fault && !rule.redirect && !rule.directResponse) tpfc['envoy.filters.http.fault'] = faultConfig(rule.fault);
  if (rule.corsPolicy && ctx.proxy.type !== 'grpc') tpfc['envoy.filters.http.cors'] = corsConfig(rule.corsPolicy);
  if (Object.keys(tpfc).length > 0) r.typedPerFilterConfig = tpfc;
  return r;
}

/** The route Istio gives a service without a VirtualService: everything to its cluster, default retries, no timeout. */
export function defaultRoute(cluster: string, ctx: RouteContext): EnvoyResource {
  void ctx;
  return {
    name: 'default',
    match: { prefix: '/' },
    route: { cluster, timeout: ZERO, retryPolicy: defaultRetryPolicy(), maxStreamDuration: { maxStreamDuration: ZERO, grpcTimeoutHeaderMax: ZERO } },
  };
}
