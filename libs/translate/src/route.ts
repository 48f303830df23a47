/**
 * VirtualService HTTP rules → Envoy routes (Istio's v1alpha3 route translation): matches,
 * weighted destinations, rewrites, redirects, direct responses, mirrors, header operations,
 * CORS, timeouts, retries (with Istio's defaults), fault injection and delegation.
 */
import type { CorsPolicy, Destination, HTTPFaultInjection, HTTPMatchRequest, HTTPRetry, HTTPRoute, Headers, ProxyNode, StringMatch, TrafficPolicy } from '@meshwork/api';
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

/** Whether Istio turns a StringMatch into `present_match` (unset, or the regex `*`, which is not RE2 but "any value"). */
function isPresentMatch(m: StringMatch): boolean {
  return (m.exact === undefined && m.prefix === undefined && m.regex === undefined) || m.regex === '*' || m.prefix === '';
}

/** A header condition (Istio's translateHeaderMatch). */
function headerMatcher(name: string, m: StringMatch): EnvoyResource {
  if (isPresentMatch(m)) return { name, presentMatch: true };
  const sm = stringMatcher(m);
  return sm ? { name, stringMatch: sm } : { name, presentMatch: true };
}

const byKey = <T>(o: Record<string, T> | undefined): [string, T][] => Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** An Istio HTTPMatchRequest as Envoy's RouteMatch (Istio's TranslateRouteMatch). */
export function translateMatch(m: HTTPMatchRequest | undefined): EnvoyResource {
  const out: EnvoyResource = {};
  const uri = m?.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.regex !== undefined) out.safeRegex = { regex: uri.regex };
  else out.prefix = uri?.prefix || '/';
  if (!m) return out;
  out.caseSensitive = { value: !m.ignoreUriCase };
  const headers: EnvoyResource[] = [];
  for (const [k, v] of byKey(m.headers)) headers.push(headerMatcher(k, v));
  for (const [k, v] of byKey(m.withoutHeaders)) {
    // A missing header counts as empty so that "without x: exact foo" also matches requests lacking x.
    headers.push({ ...headerMatcher(k, v), invertMatch: true, ...(isPresentMatch(v) ? {} : { treatMissingHeaderAsEmpty: true }) });
  }
  headers.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
  if (m.method) headers.push(headerMatcher(':method', m.method));
  if (m.authority) headers.push(headerMatcher(':authority', m.authority));
  if (m.scheme) headers.push(headerMatcher(':scheme', m.scheme));
  if (headers.length > 0) out.headers = headers;
  const qp: EnvoyResource[] = [];
  for (const [k, v] of byKey(m.queryParams)) {
    const sm = isPresentMatch(v) ? undefined : stringMatcher(v);
    qp.push(sm ? { name: k, stringMatch: sm } : { name: k, presentMatch: true });
  }
  if (qp.length > 0) out.queryParameters = qp;
  return out;
}

/** Istio's IsCatchAllRoute: prefix `/` (or regex `.*`) and no header or query conditions. */
export function isCatchAll(r: EnvoyResource): boolean {
  const m = (r.match ?? {}) as EnvoyResource;
  const path = m.prefix === '/' || (m.safeRegex as EnvoyResource | undefined)?.regex === '.*';
  return path && !m.headers && !m.queryParameters;
}

const isInternalHeader = (k: string): boolean => k.startsWith(':') || k.toLowerCase() === 'host';

/** Header operations as Envoy's *HeadersToAdd / *HeadersToRemove fields (Istio's TranslateHeadersOperations: set before add, keys sorted, pseudo-headers and Host left out). */
function headerOps(h: Headers | undefined, out: EnvoyResource): void {
  for (const dir of ['request', 'response'] as const) {
    const ops = h?.[dir];
    if (!ops) continue;
    const list: EnvoyResource[] = [];
    for (const [k, v] of byKey(ops.set)) if (!isInternalHeader(k)) list.push({ header: { key: k, value: v }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' });
    for (const [k, v] of byKey(ops.add)) if (!isInternalHeader(k)) list.push({ header: { key: k, value: v }, appendAction: 'APPEND_IF_EXISTS_OR_ADD' });
    const key = dir === 'request' ? 'requestHeadersToAdd' : 'responseHeadersToAdd';
    if (list.length > 0) out[key] = [...((out[key] as EnvoyResource[]) ?? []), ...list];
    const remove = (ops.remove ?? []).filter((k) => !isInternalHeader(k));
    if (remove.length > 0) {
      const rk = dir === 'request' ? 'requestHeadersToRemove' : 'responseHeadersToRemove';
      out[rk] = [...((out[rk] as string[]) ?? []), ...remove];
    }
  }
}

/** The authority a header operation sets (`:authority` or `Host`, from set before add), which Istio turns into a host rewrite. */
function authorityFromHeaders(h: Headers | undefined): string | undefined {
  const find = (m: Record<string, string> | undefined): string | undefined => byKey(m).find(([k]) => k.toLowerCase() === ':authority' || k.toLowerCase() === 'host')?.[1];
  return find(h?.request?.set) ?? find(h?.request?.add);
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

/** Istio's retry translation (retry.ConvertPolicy): defaults when unset, none for attempts 0, status codes split out of retryOn; consistent-hash routes keep retrying the same host. */
function retryPolicy(r: HTTPRetry | undefined, consistentHash: boolean): EnvoyResource | undefined {
  const p = defaultRetryPolicy();
  if (consistentHash) delete p.retryHostPredicate;
  if (!r) return p;
  if (!r.attempts || r.attempts <= 0) return undefined;
  p.numRetries = { value: r.attempts };
  if (r.retryOn) {
    const codes: number[] = [];
    const policies: string[] = [];
    for (const raw of r.retryOn.split(',')) {
      const e = raw.trim();
      if (e === '') continue;
      if (/^\d+$/.test(e)) codes.push(Number(e));
      else policies.push(e);
    }
    let retryOn = policies.join(',');
    if (codes.length > 0 && !retryOn.includes('retriable-status-codes')) retryOn += ',retriable-status-codes';
    p.retryOn = retryOn;
    if (codes.length > 0) p.retriableStatusCodes = codes;
    else delete p.retriableStatusCodes;
  }
  const ptt = duration(r.perTryTimeout);
  if (ptt) p.perTryTimeout = ptt;
  if (r.retryIgnorePreviousHosts === true) p.retryHostPredicate = defaultRetryPolicy().retryHostPredicate;
  else if (r.retryIgnorePreviousHosts === false) delete p.retryHostPredicate;
  if (r.retryRemoteLocalities) {
    p.retryPriority = { name: 'envoy.retry_priorities.previous_priorities', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig', updateFrequency: 2 } };
  }
  const backoff = duration(r.backoff);
  if (backoff) p.retryBackOff = { baseInterval: backoff };
  return p;
}

/** Fault injection as the fault filter's per-route config (Istio's TranslateFault). */
function faultConfig(f: HTTPFaultInjection): EnvoyResource {
  const out: EnvoyResource = { '@type': FAULT_TYPE };
  const d = duration(f.delay?.fixedDelay);
  if (f.delay && d) {
    // Istio falls back to the deprecated integer `percent` (0 when unset: no request is delayed).
    out.delay = { fixedDelay: d, percentage: f.delay.percentage ? fractionalPercent(f.delay.percentage.value ?? 0) : { numerator: f.delay.percent ?? 0, denominator: 'HUNDRED' } };
  }
  if (f.abort) {
    const abort: EnvoyResource = f.abort.percentage ? { percentage: fractionalPercent(f.abort.percentage.value ?? 0) } : {};
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
  if (c.allowOrigins) {
    for (const o of c.allowOrigins) {
      const sm = stringMatcher(o);
      if (sm) origins.push(sm);
    }
  } else for (const o of c.allowOrigin ?? []) origins.push({ exact: o });
  const out: EnvoyResource = {
    '@type': CORS_POLICY_TYPE,
    // Envoy before 1.30 forwarded unmatched preflights; Istio keeps that unless told IGNORE.
    forwardNotMatchingPreflights: { value: c.unmatchedPreflights !== 'IGNORE' },
    filterEnabled: { defaultValue: { numerator: 100, denominator: 'HUNDRED' } },
  };
  if (origins.length > 0) out.allowOriginStringMatch = origins;
  if (c.allowMethods?.length) out.allowMethods = c.allowMethods.join(',');
  if (c.allowHeaders?.length) out.allowHeaders = c.allowHeaders.join(',');
  if (c.exposeHeaders?.length) out.exposeHeaders = c.exposeHeaders.join(',');
  const maxAgeMs = durationToMs(c.maxAge);
  if (maxAgeMs !== undefined) out.maxAge = String(Math.floor(maxAgeMs / 1000));
  if (c.allowCredentials !== undefined && c.allowCredentials !== null) out.allowCredentials = { value: c.allowCredentials };
  return out;
}

const REDIRECT_CODES: Record<number, string> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

type ConsistentHash = NonNullable<NonNullable<NonNullable<TrafficPolicy['loadBalancer']>['consistentHash']>>;

/** The consistent-hash settings for a destination (Istio's hashForHTTPDestination: subset port-level, subset, port-level when the destination names a port, then top level). */
function consistentHashFor(ctx: RouteContext, d: Destination, vsNamespace: string): ConsistentHash | undefined {
  const host = resolveHost(d.host, vsNamespace, ctx.snapshot.meshConfig.domainSuffix);
  const svc = serviceFor(ctx.snapshot, ctx.proxy, host);
  const dr = destinationRuleFor(ctx.snapshot, ctx.proxy, host, svc?.namespace);
  if (!dr) return undefined;
  const tp = dr.spec.trafficPolicy;
  const port = d.port?.number;
  const pls = (t: TrafficPolicy | undefined): ConsistentHash | undefined =>
    port === undefined ? undefined : (t?.portLevelSettings ?? []).find((p) => p.port.number === port)?.loadBalancer?.consistentHash;
  const sub = d.subset ? (dr.spec.subsets ?? []).find((s) => s.name === d.subset)?.trafficPolicy : undefined;
  return pls(sub) ?? sub?.loadBalancer?.consistentHash ?? pls(tp) ?? tp?.loadBalancer?.consistentHash;
}

/** The consistent-hash settings of a service port without a VirtualService (Istio's hashForService). */
function consistentHashForService(ctx: RouteContext, hostname: string, port: number): ConsistentHash | undefined {
  const svc = serviceFor(ctx.snapshot, ctx.proxy, hostname);
  const tp = destinationRuleFor(ctx.snapshot, ctx.proxy, hostname, svc?.namespace)?.spec.trafficPolicy;
  return (tp?.portLevelSettings ?? []).find((p) => p.port.number === port)?.loadBalancer?.consistentHash ?? tp?.loadBalancer?.consistentHash;
}

/** Envoy's hash policy for consistent-hash settings (Istio's consistentHashToHashPolicy). */
function toHashPolicy(ch: ConsistentHash | undefined): EnvoyResource | undefined {
  if (!ch) return undefined;
  if (ch.httpHeaderName) return { header: { headerName: ch.httpHeaderName } };
  if (ch.httpCookie) {
    const ttl = duration(ch.httpCookie.ttl);
    return { cookie: { name: ch.httpCookie.name, ...(ttl ? { ttl } : {}), ...(ch.httpCookie.path ? { path: ch.httpCookie.path } : {}) } };
  }
  if (ch.useSourceIp) return { connectionProperties: { sourceIp: true } };
  if (ch.httpQueryParameterName) return { queryParameter: { name: ch.httpQueryParameterName } };
  return undefined;
}

/** Whether a match applies to this proxy and port (Istio's sourceMatchHTTP: gateways when listed, else sourceLabels and sourceNamespace). */
function matchApplies(ctx: RouteContext, m: HTTPMatchRequest, vsNamespace: string): boolean {
  if (m.port !== undefined && m.port !== 0 && m.port !== ctx.port) return false;
  if (m.gateways && m.gateways.length > 0) return m.gateways.some((g) => resolveGatewayName(g, vsNamespace) === ctx.gateway);
  if (!labelsMatch(m.sourceLabels, ctx.proxy.labels)) return false;
  return !m.sourceNamespace || m.sourceNamespace === ctx.proxy.namespace;
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
      const r = translateRule(ctx, fr.rule, m, fr.namespace, vs.name);
      out.push(r);
      // Routes match in order: nothing after a catch-all can be reached, so Istio stops there.
      if (!m || isCatchAll(r)) return out;
    }
  }
  return out;
}

/** translateRule returns the Envoy route of one HTTP rule under one of its matches. */
export function translateRule(ctx: RouteContext, rule: HTTPRoute, m: HTTPMatchRequest | undefined, vsNamespace: string, vsName = ''): EnvoyResource {
  const r: EnvoyResource = {};
  const name = [rule.name, m?.name].filter((x) => x).join('.');
  if (name) r.name = name;
  r.match = translateMatch(m);
  headerOps(rule.headers, r);
  if (rule.redirect) {
    const rd = rule.redirect;
    const red: EnvoyResource = {};
    if (rd.uri) red.pathRedirect = rd.uri;
    if (rd.prefixRewrite) red.prefixRewrite = rd.prefixRewrite;
    if (rd.authority) red.hostRedirect = rd.authority;
    if (rd.scheme) red.schemeRedirect = rd.scheme;
    // FROM_REQUEST_PORT: routes are built per listener port, so that port is the request's.
    let port = rd.port ?? (rd.derivePort === 'FROM_REQUEST_PORT' ? ctx.port : undefined);
    const scheme = rd.scheme || 'http';
    // No explicit default port for the scheme (Istio's ApplyRedirect).
    if ((port === 80 && scheme === 'http') || (port === 443 && scheme === 'https')) port = undefined;
    if (port) red.portRedirect = port;
    red.responseCode = REDIRECT_CODES[rd.redirectCode || 301] ?? 'MOVED_PERMANENTLY';
    r.redirect = red;
  } else if (rule.directResponse) {
    const dr = rule.directResponse;
    const body = dr.body?.string !== undefined ? { inlineString: dr.body.string } : dr.body?.bytes !== undefined ? { inlineBytes: dr.body.bytes } : undefined;
    r.directResponse = { status: dr.status, ...(body ? { body } : {}) };
  } else {
    r.route = routeAction(ctx, rule, vsNamespace, r);
  }
  r.decorator = { operation: routeOperation(r, vsName, ctx.port) };
  const tpfc: EnvoyResource = {};
  if (rule.fault && !rule.redirect && !rule.directResponse) tpfc['envoy.filters.http.fault'] = faultConfig(rule.fault);
  if (rule.corsPolicy && ctx.proxy.type !== 'grpc') tpfc['envoy.filters.http.cors'] = corsConfig(rule.corsPolicy);
  if (Object.keys(tpfc).length > 0) r.typedPerFilterConfig = tpfc;
  return r;
}

/** Istio's trace operation name: `host:port/path*` for a single cluster, else `<vs>:<port>/path*`. */
function routeOperation(r: EnvoyResource, fallback: string, port: number): string {
  const m = r.match as EnvoyResource;
  const path = typeof m.prefix === 'string' ? `${m.prefix}*` : typeof m.path === 'string' ? m.path : m.safeRegex ? String((m.safeRegex as EnvoyResource).regex) : '/*';
  const cluster = (r.route as EnvoyResource | undefined)?.cluster;
  const parsed = typeof cluster === 'string' ? cluster.split('|') : [];
  if (parsed.length === 4) return `${parsed[3]}:${parsed[1]}${path}`;
  return `${fallback}:${port}${path}`;
}

/** Timeouts as Istio sets them: `timeout` (0 = none) with gRPC's deadline header capped the same way; proxyless gRPC reads only maxStreamDuration. */
function applyTimeout(action: EnvoyResource, timeout: { seconds: number; nanos: number }, grpc: boolean): void {
  action.timeout = timeout;
  if (grpc) action.maxStreamDuration = { maxStreamDuration: timeout };
  else action.maxGrpcTimeout = timeout;
}

/** The forwarding action of an HTTP rule (Istio's applyHTTPRouteDestination). */
function routeAction(ctx: RouteContext, rule: HTTPRoute, vsNamespace: string, r: EnvoyResource): EnvoyResource {
  const action: EnvoyResource = {};
  const grpc = ctx.proxy.type === 'grpc';
  applyTimeout(action, duration(rule.timeout) ?? ZERO, grpc);
  if (rule.rewrite?.uriRegexRewrite?.match) action.regexRewrite = { pattern: { regex: rule.rewrite.uriRegexRewrite.match }, substitution: rule.rewrite.uriRegexRewrite.rewrite ?? '' };
  else if (rule.rewrite?.uri) action.prefixRewrite = rule.rewrite.uri;
  const authority = rule.rewrite?.authority || authorityFromHeaders(rule.headers);
  if (authority) action.hostRewriteLiteral = authority;
  const mirrors: { destination: Destination; fraction: EnvoyResource }[] = [];
  if (rule.mirror) {
    const legacy = rule.mirrorPercent ?? rule.mirror_percent;
    // An explicit 0% means no mirroring; no percentage at all means 100%.
    const fraction = rule.mirrorPercentage ? (rule.mirrorPercentage.value ?? 0) > 0 ? fractionalPercent(rule.mirrorPercentage.value ?? 0) : undefined
      : legacy !== undefined && legacy !== null ? legacy > 0 ? { numerator: legacy, denominator: 'HUNDRED' } : undefined
      : { numerator: 100, denominator: 'HUNDRED' };
    if (fraction) mirrors.push({ destination: rule.mirror, fraction });
  }
  for (const mp of rule.mirrors ?? []) {
    const fraction = mp.percentage ? (mp.percentage.value ?? 0) > 0 ? fractionalPercent(mp.percentage.value ?? 0) : undefined : { numerator: 100, denominator: 'HUNDRED' };
    if (fraction) mirrors.push({ destination: mp.destination, fraction });
  }
  if (mirrors.length > 0) {
    action.requestMirrorPolicies = mirrors.map((m) => ({ cluster: destinationCluster(ctx, m.destination, vsNamespace), runtimeFraction: { defaultValue: m.fraction }, traceSampled: { value: false } }));
  }
  const route = rule.route ?? [];
  const hashes: EnvoyResource[] = [];
  if (route.length === 1) {
    const d = route[0];
    action.cluster = destinationCluster(ctx, d.destination, vsNamespace);
    headerOps(d.headers, r);
    const a = authorityFromHeaders(d.headers);
    if (a && !action.hostRewriteLiteral) action.hostRewriteLiteral = a;
    const hp = toHashPolicy(consistentHashFor(ctx, d.destination, vsNamespace));
    if (hp) hashes.push(hp);
  } else {
    // Zero-weight destinations are dropped when there are others (Istio).
    action.weightedClusters = {
      clusters: route
        .filter((d) => (d.weight ?? 0) > 0)
        .map((d) => {
          const wc: EnvoyResource = { name: destinationCluster(ctx, d.destination, vsNamespace), weight: { value: d.weight ?? 0 } };
          headerOps(d.headers, wc);
          const a = authorityFromHeaders(d.headers);
          if (a) wc.hostRewriteLiteral = a;
          const hp = toHashPolicy(consistentHashFor(ctx, d.destination, vsNamespace));
          if (hp) hashes.push(hp);
          return wc;
        }),
    };
  }
  if (hashes.length > 0) action.hashPolicy = hashes;
  // Istio checks only a single destination for consistent hashing when choosing the retry host predicate.
  const retry = retryPolicy(rule.retries, route.length === 1 && hashes.length > 0);
  if (retry) action.retryPolicy = retry;
  return action;
}

/** The route Istio gives a service port without a VirtualService: everything to its cluster, default retries, no timeout, and the DestinationRule's hash policy. */
export function defaultRoute(cluster: string, ctx: RouteContext, hostname?: string): EnvoyResource {
  const action: EnvoyResource = { cluster };
  applyTimeout(action, ZERO, ctx.proxy.type === 'grpc');
  action.retryPolicy = defaultRetryPolicy();
  const hp = hostname ? toHashPolicy(consistentHashForService(ctx, hostname, ctx.port)) : undefined;
  if (hp) action.hashPolicy = [hp];
  const r: EnvoyResource = { name: 'default', match: { prefix: '/' }, route: action };
  const parsed = cluster.split('|');
  r.decorator = { operation: parsed.length === 4 ? `${parsed[3]}:${parsed[1]}/*` : `${cluster}/*` };
  return r;
}
