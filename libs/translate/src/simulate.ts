/**
 * A traffic simulator over generated Envoy resources (Istio's simulation/traffic.go): given
 * the resources a proxy received and a request, it follows listener → filter chain → route
 * configuration → virtual host → route → cluster the way Envoy does, so tests can state
 * intent ("jason goes to reviews-v2") rather than bytes. It reads only the resources.
 */
import { CLUSTER_TYPE, HCM_TYPE, LISTENER_TYPE, ROUTE_TYPE, TCP_PROXY_TYPE, type EnvoyResource } from './envoy.js';
import { NoClusterError, NoListenerError, NoRouteError, type MeshTranslateError } from './errors.js';

/** A request as the simulator sees it. */
export interface SimulatedRequest {
  /** Hostname or IP the client addresses (Host/:authority without port, or the gRPC target host). */
  readonly host: string;
  readonly port: number;
  readonly path?: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly scheme?: 'http' | 'https';
  /** Listener to enter (e.g. `virtualOutbound`, or a gRPC target `reviews:9080`); by default the one bound to `port`. */
  readonly listener?: string;
  /** The :authority to send; default `host` for ports 80/443, else `host:port`. */
  readonly authority?: string;
  /** TLS client hello: SNI (gateways, passthrough) and whether the connection is TLS at all. */
  readonly sni?: string;
  readonly tls?: boolean;
}

/** Where the request went. Exactly one of cluster, redirect, directResponse or error is set. */
export interface SimulationResult {
  readonly listener?: string;
  readonly filterChain?: string;
  readonly routeConfig?: string;
  readonly virtualHost?: string;
  readonly route?: string;
  /** The chosen cluster (for weighted routes, the heaviest; see weightedClusters). */
  readonly cluster?: string;
  readonly weightedClusters?: readonly { name: string; weight: number }[];
  readonly redirect?: EnvoyResource;
  readonly directResponse?: { status: number; body?: string };
  readonly error?: MeshTranslateError;
  /** The matched Envoy route itself, for assertions on its details (timeout, retries, fault, ...). */
  readonly matchedRoute?: EnvoyResource;
}

type Resources = Partial<Record<string, readonly EnvoyResource[]>>;

const rec = (v: unknown): EnvoyResource => (typeof v === 'object' && v !== null ? (v as EnvoyResource) : {});
const arr = (v: unknown): EnvoyResource[] => (Array.isArray(v) ? (v as EnvoyResource[]) : []);

function listenerPort(l: EnvoyResource): number | undefined {
  const p = rec(rec(rec(l.address).socketAddress)).portValue;
  return typeof p === 'number' ? p : undefined;
}

function pickListener(listeners: readonly EnvoyResource[], req: SimulatedRequest): EnvoyResource | undefined {
  if (req.listener) return listeners.find((l) => l.name === req.listener);
  const api = listeners.find((l) => l.apiListener && l.name === `${req.host}:${req.port}`);
  if (api) return api;
  return listeners.find((l) => l.name === `${req.host}_${req.port}`) ?? listeners.find((l) => l.name === `0.0.0.0_${req.port}`) ?? listeners.find((l) => !l.apiListener && listenerPort(l) === req.port);
}

function sniMatches(pattern: string, sni: string): boolean {
  return pattern === sni || (pattern.startsWith('*.') && sni.endsWith(pattern.slice(1)));
}

function pickChain(l: EnvoyResource, req: SimulatedRequest): EnvoyResource | undefined {
  const tls = req.tls ?? req.sni !== undefined;
  const ok = (c: EnvoyResource): boolean => {
    const m = rec(c.filterChainMatch);
    const dp = rec(m.destinationPort).value;
    if (typeof dp === 'number' && dp !== req.port) return false;
    if (m.transportProtocol === 'tls' && !tls) return false;
    if (m.transportProtocol === 'raw_buffer' && tls) return false;
    const names = arr(m.serverNames) as unknown as string[];
    const sni = req.sni;
    if (names.length > 0 && !(sni && names.some((n) => sniMatches(n, sni)))) return false;
    return true;
  };
  // Envoy prefers the most specific match: chains with server names or ports before catch-alls.
  const chains = arr(l.filterChains);
  const specific = chains.filter((c) => ok(c) && (arr(rec(c.filterChainMatch).serverNames).length > 0 || rec(c.filterChainMatch).destinationPort));
  return specific[0] ?? chains.find((c) => ok(c) && Object.keys(rec(c.filterChainMatch)).length === 0) ?? chains.find(ok) ?? (l.defaultFilterChain as EnvoyResource | undefined);
}

function domainScore(domain: string, host: string): number {
  if (domain === host) return 4e6;
  if (domain.startsWith('*') && domain !== '*' && host.endsWith(domain.slice(1))) return 3e6 + domain.length;
  if (domain.endsWith('*') && domain !== '*' && host.startsWith(domain.slice(0, -1))) return 2e6 + domain.length;
  if (domain === '*') return 1;
  return 0;
}

function pickVirtualHost(rc: EnvoyResource, authority: string): EnvoyResource | undefined {
  let best: EnvoyResource | undefined;
  let bestScore = 0;
  for (const vh of arr(rc.virtualHosts)) {
    for (const d of arr(vh.domains) as unknown as string[]) {
      const s = domainScore(d.toLowerCase(), authority.toLowerCase());
      if (s > bestScore) {
        best = vh;
        bestScore = s;
      }
    }
  }
  return best;
}

function fullMatch(regex: string, s: string, ignoreCase = false): boolean {
  try {
    return new RegExp(`^(?:${regex})$`, ignoreCase ? 'i' : '').test(s);
  } catch {
    return false;
  }
}

function stringMatches(m: EnvoyResource, v: string): boolean {
  const ic = m.ignoreCase === true;
  const cmp = (a: string): string => (ic ? a.toLowerCase() : a);
  if (typeof m.exact === 'string') return cmp(v) === cmp(m.exact);
  if (typeof m.prefix === 'string') return cmp(v).startsWith(cmp(m.prefix));
  if (typeof m.suffix === 'string') return cmp(v).endsWith(cmp(m.suffix));
  if (typeof m.contains === 'string') return cmp(v).includes(cmp(m.contains));
  if (m.safeRegex) return fullMatch(String(rec(m.safeRegex).regex), v);
  return true;
}

function routeMatches(match: EnvoyResource, req: SimulatedRequest, headers: Record<string, string>): boolean {
  const full = req.path ?? '/';
  const q = full.indexOf('?');
  const path = q < 0 ? full : full.slice(0, q);
  const caseSensitive = rec(match.caseSensitive).value !== false;
  const c = (s: string): string => (caseSensitive ? s : s.toLowerCase());
  if (typeof match.prefix === 'string' && !c(path).startsWith(c(match.prefix))) return false;
  if (typeof match.path === 'string' && c(path) !== c(match.path)) return false;
  if (match.safeRegex && !fullMatch(String(rec(match.safeRegex).regex), path, !caseSensitive)) return false;
  for (const h of arr(match.headers)) {
    const v = headers[String(h.name).toLowerCase()];
    let ok: boolean;
    if (h.presentMatch === true) ok = v !== undefined;
    else ok = v !== undefined && stringMatches(rec(h.stringMatch), v);
    if (h.invertMatch === true) ok = !ok;
    if (!ok) return false;
  }
  const params = new URLSearchParams(q < 0 ? '' : full.slice(q + 1));
  for (const p of arr(match.queryParameters)) {
    const v = params.get(String(p.name));
    if (p.presentMatch === true ? v === null : v === null || !stringMatches(rec(p.stringMatch), v)) return false;
  }
  return true;
}

/**
 * simulate returns where a request goes through the given resources (keyed by type URL):
 * the listener, filter chain, route configuration, virtual host, route and cluster, or a
 * redirect / direct response; `error` is NoListenerError, NoRouteError or NoClusterError.
 */
export function simulate(resources: Resources, req: SimulatedRequest): SimulationResult {
  const listeners = resources[LISTENER_TYPE] ?? [];
  const l = pickListener(listeners, req);
  if (!l) return { error: new NoListenerError(`no listener for ${req.listener ?? `${req.host}:${req.port}`}`) };
  const listener = String(l.name);
  let hcm: EnvoyResource | undefined;
  let tcpCluster: string | undefined;
  let filterChain: string | undefined;
  if (l.apiListener) {
    hcm = rec(rec(l.apiListener).apiListener);
  } else {
    const chain = pickChain(l, req);
    if (!chain) return { listener, error: new NoListenerError(`listener ${listener} has no filter chain for this connection`) };
    filterChain = typeof chain.name === 'string' ? chain.name : undefined;
    for (const f of arr(chain.filters)) {
      const tc = rec(f.typedConfig);
      if (tc['@type'] === HCM_TYPE) hcm = tc;
      else if (tc['@type'] === TCP_PROXY_TYPE) tcpCluster = String(tc.cluster);
    }
  }
  const clusters = new Set((resources[CLUSTER_TYPE] ?? []).map((c) => String(c.name)));
  const checkCluster = (name: string, base: SimulationResult): SimulationResult =>
    clusters.has(name) ? { ...base, cluster: name } : { ...base, cluster: name, error: new NoClusterError(`route selects cluster ${name}, which the proxy was not given`) };
  if (tcpCluster !== undefined) return checkCluster(tcpCluster, { listener, ...(filterChain ? { filterChain } : {}) });
  if (!hcm) return { listener, error: new NoRouteError(`listener ${listener} has neither an HTTP connection manager nor a TCP proxy`) };
  let rc: EnvoyResource | undefined;
  if (hcm.routeConfig) rc = rec(hcm.routeConfig);
  else {
    const name = String(rec(hcm.rds).routeConfigName);
    rc = (resources[ROUTE_TYPE] ?? []).find((r) => r.name === name);
    if (!rc) return { listener, error: new NoRouteError(`route configuration ${name} (from listener ${listener}) was not generated`) };
  }
  const routeConfig = String(rc.name);
  const authority = req.authority ?? (l.apiListener ? req.host : req.port === 80 || req.port === 443 ? req.host : `${req.host}:${req.port}`);
  const vh = pickVirtualHost(rc, authority);
  const base = { listener, ...(filterChain ? { filterChain } : {}), routeConfig };
  if (!vh) return { ...base, error: new NoRouteError(`no virtual host in ${routeConfig} for ${authority}`) };
  const virtualHost = String(vh.name);
  if (vh.requireTls === 'ALL' && !(req.tls ?? req.scheme === 'https')) {
    return { ...base, virtualHost, redirect: { httpsRedirect: true } };
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
  headers[':authority'] = authority;
  headers[':method'] = req.method ?? 'GET';
  headers[':scheme'] = req.scheme ?? (req.tls ? 'https' : 'http');
  headers[':path'] = req.path ?? '/';
  const route = arr(vh.routes).find((r) => routeMatches(rec(r.match), req, headers));
  if (!route) return { ...base, virtualHost, error: new NoRouteError(`no route in ${routeConfig}/${virtualHost} matches ${headers[':method']} ${headers[':path']}`) };
  const withRoute = { ...base, virtualHost, ...(typeof route.name === 'string' ? { route: route.name } : {}), matchedRoute: route };
  if (route.redirect) return { ...withRoute, redirect: rec(route.redirect) };
  if (route.directResponse) {
    const dr = rec(route.directResponse);
    const body = rec(dr.body).inlineString;
    return { ...withRoute, directResponse: { status: Number(dr.status), ...(typeof body === 'string' ? { body } : {}) } };
  }
  const action = rec(route.route);
  if (typeof action.cluster === 'string') return checkCluster(action.cluster, withRoute);
  const wcs = arr(rec(action.weightedClusters).clusters).map((c) => ({ name: String(c.name), weight: Number(rec(c.weight).value ?? 0) }));
  if (wcs.length === 0) return { ...withRoute, error: new NoRouteError('route has no cluster') };
  const heaviest = wcs.reduce((a, c) => (c.weight > a.weight ? c : a));
  const missing = wcs.find((c) => !clusters.has(c.name));
  const res = { ...withRoute, weightedClusters: wcs, cluster: heaviest.name };
  return missing ? { ...res, error: new NoClusterError(`route selects cluster ${missing.name}, which the proxy was not given`) } : res;
}
