/**
 * Listener → ListenerPlan: address and port, use_original_dst, filter chains with their
 * filter_chain_match, the terminal network filter (HTTP connection manager with an RDS name or an
 * inline route configuration; TCP proxy to a cluster or a weighted split) and downstream TLS.
 * `selectFilterChain` picks a chain for a connection the way Envoy does.
 */
import { compileHcmTelemetry } from './access-log.js';
import { TYPED_STRUCT_TYPES } from '../ratelimit/compile.js';
import { HTTP_FILTERS, NETWORK_FILTERS } from './filter-registry.js';
import type { FilterChainPlan, HttpFilterStage, ListenerPlan, NetworkFilterStage } from '../model.js';
import { validation } from './clusters.js';
import { socketAddress } from './endpoints.js';
import { at, enumName, int, obj, objects, Problems, str, strings, typeOf, wrapped, wrappedBool, type Obj } from './fields.js';
import { compileRouteConfig, type CompiledRouteConfig, type RouteCompileOptions } from './routes.js';
import { xfccStage, type ForwardClientCertDetails } from '../security/downstream-tls-xfcc.js';

const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP_PROXY_TYPE = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const DOWNSTREAM_TLS_TYPE = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const RAW_BUFFER_TYPE = 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';

/** Downstream TLS of a filter chain: the model's fields plus the file and certificate-provider sources it has no slot for. */
export type FilterChainTls = NonNullable<FilterChainPlan['tls']> & {
  readonly certificateFiles?: { readonly certFile?: string; readonly keyFile?: string };
  readonly caFile?: string;
  /** gRPC proxyless servers name certificates by provider instance (`instance/certificate`). */
  readonly certificateProvider?: string;
  readonly validationProvider?: string;
  readonly subjectAltNames: readonly string[];
  /** common_tls_context.tls_params: protocol version bounds (node names) and cipher suites (OpenSSL names, `:`-joined by the engine). */
  readonly minVersion?: TlsVersion;
  readonly maxVersion?: TlsVersion;
  readonly cipherSuites?: readonly string[];
};

/** A TLS protocol version as `node:tls` names it. */
export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

const TLS_VERSIONS = ['TLS_AUTO', 'TLSv1_0', 'TLSv1_1', 'TLSv1_2', 'TLSv1_3'] as const;
const NODE_TLS_VERSION: Record<(typeof TLS_VERSIONS)[number], TlsVersion | undefined> = { TLS_AUTO: undefined, TLSv1_0: 'TLSv1', TLSv1_1: 'TLSv1.1', TLSv1_2: 'TLSv1.2', TLSv1_3: 'TLSv1.3' };

/** tlsParams compiles common_tls_context.tls_params (TLS_AUTO: the engine's default, TLS 1.2 to 1.3 as Envoy's server side). */
function tlsParams(p: Problems, common: Obj, cp: string): Pick<FilterChainTls, 'minVersion' | 'maxVersion' | 'cipherSuites'> {
  const tp = obj(p, common, 'tlsParams', cp);
  if (!tp) return {};
  const path = at(cp, 'tlsParams');
  const min = enumName(p, tp, 'tlsMinimumProtocolVersion', path, TLS_VERSIONS);
  const max = enumName(p, tp, 'tlsMaximumProtocolVersion', path, TLS_VERSIONS);
  const minVersion = min ? NODE_TLS_VERSION[min] : undefined;
  const maxVersion = max ? NODE_TLS_VERSION[max] : undefined;
  if (minVersion && maxVersion && TLS_VERSIONS.indexOf(min as never) > TLS_VERSIONS.indexOf(max as never)) p.error(path, 'tls_minimum_protocol_version is above tls_maximum_protocol_version');
  const cipherSuites = strings(p, tp, 'cipherSuites', path);
  return { ...(minVersion ? { minVersion } : {}), ...(maxVersion ? { maxVersion } : {}), ...(cipherSuites.length > 0 ? { cipherSuites } : {}) };
}

/** A compiled listener with what Envoy has and the model does not: bind_to_port, direction, the default chain, whether it is a gRPC api_listener. */
export interface ListenerPlanExt extends ListenerPlan {
  readonly bindToPort: boolean;
  readonly trafficDirection?: 'INBOUND' | 'OUTBOUND';
  /** Used when no chain matches (also appended last to filterChains for first-match readers). */
  readonly defaultFilterChain?: FilterChainPlan;
  /** A proxyless gRPC listener (api_listener): no socket, one HTTP chain. */
  readonly apiListener: boolean;
  /** Listener filter names in order (`envoy.filters.listener.tls_inspector`, `…http_inspector`, `…original_dst`): what to sniff before picking a chain. */
  readonly listenerFilters: readonly string[];
}

/** What compiling one listener yields: the plan and the inline route configurations it registered. */
export interface CompiledListener {
  readonly plan: ListenerPlanExt;
  /** Inline route configurations by their synthetic names (`inline|<listener>|<chain>`). */
  readonly inlineRoutes: ReadonlyMap<string, CompiledRouteConfig>;
  /** RDS names the chains use, with paths, for the cross-check in compile.ts. */
  readonly rdsRefs: readonly { readonly name: string; readonly path: string }[];
  /** TCP proxy clusters, with paths. */
  readonly clusterRefs: readonly { readonly cluster: string; readonly path: string }[];
}

/** inlineRouteName is the synthetic routeTables key of an inline route configuration. */
export function inlineRouteName(listener: string, chain: number | 'default' | 'api'): string {
  return `inline|${listener}|${chain}`;
}

/** httpFilterStages compiles the HCM's HTTP filters that act before routing, in order (filter-registry.ts). */
function httpFilterStages(p: Problems, hcm: Obj, path: string): HttpFilterStage[] {
  const out: HttpFilterStage[] = [];
  for (const f of objects(p, hcm, 'httpFilters', path)) {
    const tc = obj(p, f.v, 'typedConfig', f.path);
    const compile = tc ? HTTP_FILTERS[typeOf(tc) ?? ''] : undefined;
    const stage = tc && compile ? compile(p, tc, at(f.path, 'typedConfig')) : undefined;
    if (stage) out.push(stage);
  }
  return out;
}

const XFCC_MODES = ['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY'] as const;

/**
 * xfcc compiles forward_client_cert_details / set_current_client_cert_details into the stage that
 * edits x-forwarded-client-cert before the chain's filters. Only when the field is set: Envoy's
 * default (SANITIZE) would add a stage to every chain, outbound ones included, for a header only
 * an inbound application reads (docs/differences-from-istio.md).
 */
function xfcc(p: Problems, hcm: Obj, path: string): HttpFilterStage | undefined {
  if (hcm.forwardClientCertDetails === undefined || hcm.forwardClientCertDetails === null) return undefined;
  const mode: ForwardClientCertDetails = enumName(p, hcm, 'forwardClientCertDetails', path, XFCC_MODES) ?? 'SANITIZE';
  const set = obj(p, hcm, 'setCurrentClientCertDetails', path) ?? {};
  const sp = at(path, 'setCurrentClientCertDetails');
  const subject = wrappedBool(p, set, 'subject', sp) ?? false;
  const flag = (k: string): boolean => (typeof set[k] === 'boolean' ? (set[k] as boolean) : false);
  return xfccStage(mode, { subject, cert: flag('cert'), chain: flag('chain'), dns: flag('dns'), uri: flag('uri') });
}

function hcmHandler(p: Problems, hcm: Obj, path: string, synthetic: string, out: { inlineRoutes: Map<string, CompiledRouteConfig>; rdsRefs: { name: string; path: string }[]; httpFilters?: HttpFilterStage[] }, opts: RouteCompileOptions): FilterChainPlan['handler'] | undefined {
  if (out.httpFilters) {
    // Envoy edits x-forwarded-client-cert as the request arrives, before any HTTP filter.
    const x = xfcc(p, hcm, path);
    if (x) out.httpFilters.push(x);
    out.httpFilters.push(...httpFilterStages(p, hcm, path));
  }
  const kind = Object.keys(hcm).includes('scopedRoutes') ? 'scopedRoutes' : hcm.routeConfig ? 'routeConfig' : hcm.rds ? 'rds' : undefined;
  const statPrefix = str(p, hcm, 'statPrefix', path);
  // Access logs and tracing the HCM declares (pilot's translation of the Telemetry resource).
  const telemetry = hcm.accessLog !== undefined || hcm.tracing !== undefined ? compileHcmTelemetry(p, hcm, path) : undefined;
  const sp = { ...(statPrefix ? { statPrefix } : {}), ...(telemetry ? { telemetry } : {}) };
  if (kind === 'rds') {
    const rds = obj(p, hcm, 'rds', path) ?? {};
    const name = str(p, rds, 'routeConfigName', at(path, 'rds'));
    if (!name) {
      p.error(at(at(path, 'rds'), 'routeConfigName'), 'is required');
      return undefined;
    }
    out.rdsRefs.push({ name, path: at(at(path, 'rds'), 'routeConfigName') });
    return { kind: 'http', routeConfig: name, ...sp };
  }
  if (kind === 'routeConfig') {
    const rc = obj(p, hcm, 'routeConfig', path);
    if (!rc) return undefined;
    const compiled = compileRouteConfig(p, rc, { ...opts, inline: true, path: at(path, 'routeConfig') });
    if (!compiled) return undefined;
    out.inlineRoutes.set(synthetic, compiled);
    return { kind: 'http', routeConfig: synthetic, ...sp };
  }
  if (kind === 'scopedRoutes') p.error(at(path, 'scopedRoutes'), 'scoped routes are not supported');
  else p.error(path, 'one of rds, route_config is required (route_specifier)');
  return undefined;
}

function tcpHandler(p: Problems, tp: Obj, path: string, refs: { cluster: string; path: string }[]): FilterChainPlan['handler'] | undefined {
  const statPrefix = str(p, tp, 'statPrefix', path);
  const sp = statPrefix ? { statPrefix } : {};
  const cluster = str(p, tp, 'cluster', path);
  const wc = obj(p, tp, 'weightedClusters', path);
  if (cluster && wc) {
    p.error(path, 'only one of cluster, weighted_clusters may be set');
    return undefined;
  }
  if (cluster) {
    refs.push({ cluster, path: at(path, 'cluster') });
    return { kind: 'tcp', clusters: [{ name: cluster, weight: 1 }], ...sp };
  }
  if (wc) {
    const wp = at(path, 'weightedClusters');
    const clusters: { name: string; weight: number }[] = [];
    for (const c of objects(p, wc, 'clusters', wp)) {
      const name = str(p, c.v, 'name', c.path);
      const weight = int(p, c.v, 'weight', c.path, 0, 0xffffffff) ?? 0;
      if (!name) p.error(at(c.path, 'name'), 'is required');
      else {
        clusters.push({ name, weight });
        refs.push({ cluster: name, path: at(c.path, 'name') });
      }
    }
    if (clusters.length === 0) p.error(at(wp, 'clusters'), 'must have at least one cluster');
    else if (clusters.every((c) => c.weight === 0)) p.error(wp, 'weights sum to 0');
    return { kind: 'tcp', clusters, ...sp };
  }
  p.error(path, 'one of cluster, weighted_clusters is required (cluster_specifier)');
  return undefined;
}

function downstreamTls(p: Problems, chain: Obj, path: string): FilterChainTls | undefined {
  const ts = obj(p, chain, 'transportSocket', path);
  if (!ts) return undefined;
  const tsp = at(path, 'transportSocket');
  const tc = obj(p, ts, 'typedConfig', tsp);
  const t = tc && typeOf(tc);
  if (t === RAW_BUFFER_TYPE) return undefined;
  if (!tc || t !== DOWNSTREAM_TLS_TYPE) {
    p.error(tsp, `transport socket ${t ?? 'without typed_config'} is not supported; expected ${DOWNSTREAM_TLS_TYPE}`);
    return undefined;
  }
  const tp = at(tsp, 'typedConfig');
  const requireClientCertificate = wrappedBool(p, tc, 'requireClientCertificate', tp) ?? false;
  const common = obj(p, tc, 'commonTlsContext', tp) ?? {};
  const cp = at(tp, 'commonTlsContext');
  const alpn = strings(p, common, 'alpnProtocols', cp);
  const sds = objects(p, common, 'tlsCertificateSdsSecretConfigs', cp);
  const certificateSds = sds.length > 0 ? str(p, sds[0].v, 'name', sds[0].path) : undefined;
  const files = objects(p, common, 'tlsCertificates', cp);
  let certificateFiles: FilterChainTls['certificateFiles'];
  if (files.length > 0) {
    const f = files[0];
    const cert = obj(p, f.v, 'certificateChain', f.path);
    const key = obj(p, f.v, 'privateKey', f.path);
    const certFile = cert && str(p, cert, 'filename', at(f.path, 'certificateChain'));
    const keyFile = key && str(p, key, 'filename', at(f.path, 'privateKey'));
    certificateFiles = { ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) };
  }
  const provider = (o: Obj | undefined): string | undefined => {
    if (!o) return undefined;
    const i = typeof o.instanceName === 'string' ? o.instanceName : '';
    const c = typeof o.certificateName === 'string' ? o.certificateName : '';
    return `${i}/${c}`;
  };
  const certificateProvider = provider(obj(p, common, 'tlsCertificateProviderInstance', cp));
  const combined = obj(p, common, 'combinedValidationContext', cp);
  const dvc = combined && obj(p, combined, 'defaultValidationContext', at(cp, 'combinedValidationContext'));
  const validationProvider = provider(dvc ? obj(p, dvc, 'caCertificateProviderInstance', at(at(cp, 'combinedValidationContext'), 'defaultValidationContext')) : undefined);
  const v = validation(p, common, cp);
  if (!certificateSds && !certificateFiles && !certificateProvider) p.error(cp, 'a certificate is required (tls_certificate_sds_secret_configs, tls_certificates or tls_certificate_provider_instance)');
  return {
    requireClientCertificate,
    alpn,
    ...(certificateSds ? { certificateSds } : {}),
    ...(v.validation?.sdsName ? { validationSds: v.validation.sdsName } : {}),
    ...(certificateFiles ? { certificateFiles } : {}),
    ...(v.validation?.caFile ? { caFile: v.validation.caFile } : {}),
    ...(certificateProvider ? { certificateProvider } : {}),
    ...(validationProvider ? { validationProvider } : {}),
    subjectAltNames: v.sans,
    ...tlsParams(p, common, cp),
  };
}

function chainMatch(p: Problems, chain: Obj, path: string): FilterChainPlan['match'] {
  const m = obj(p, chain, 'filterChainMatch', path);
  if (!m) return {};
  const mp = at(path, 'filterChainMatch');
  const destinationPort = wrapped(p, m, 'destinationPort', mp, 1, 65535);
  const serverNames = strings(p, m, 'serverNames', mp).map((s) => s.toLowerCase());
  const transportProtocol = str(p, m, 'transportProtocol', mp);
  const applicationProtocols = strings(p, m, 'applicationProtocols', mp);
  const prefixRanges: string[] = [];
  for (const r of objects(p, m, 'prefixRanges', mp)) {
    const addr = str(p, r.v, 'addressPrefix', r.path);
    const len = wrapped(p, r.v, 'prefixLen', r.path, 0, 128);
    if (!addr) p.error(at(r.path, 'addressPrefix'), 'is required');
    else prefixRanges.push(`${addr}/${len ?? (addr.includes(':') ? 128 : 32)}`);
  }
  for (const k of ['directSourcePrefixRanges', 'sourcePrefixRanges', 'sourcePorts'] as const) {
    if (Array.isArray(m[k]) && m[k].length > 0) p.error(at(mp, k), 'source matching is not supported');
  }
  if (m.sourceType !== undefined && m.sourceType !== null && m.sourceType !== 'ANY' && m.sourceType !== 0) p.error(at(mp, 'sourceType'), 'source matching is not supported');
  return {
    ...(destinationPort !== undefined ? { destinationPort } : {}),
    ...(serverNames.length > 0 ? { serverNames } : {}),
    ...(transportProtocol ? { transportProtocol } : {}),
    ...(applicationProtocols.length > 0 ? { applicationProtocols } : {}),
    ...(prefixRanges.length > 0 ? { prefixRanges } : {}),
  };
}

/** The TypedStruct type URL of Istio's stats plugin configuration (istio/proxy `stats.PluginConfig`). */
const STATS_PLUGIN_TYPE_URL = 'type.googleapis.com/stats.PluginConfig';

/** statsReportInterval returns the `tcp_reporting_duration` of an istio.stats TypedStruct in ms (protobuf JSON Duration: `5s`, `0.25s`), or undefined when it sets none. */
function statsReportInterval(p: Problems, tc: Obj, path: string): number | undefined {
  const value = tc.value;
  const d = typeof value === 'object' && value !== null ? (value as Obj).tcp_reporting_duration : undefined;
  if (d === undefined) return undefined;
  const m = typeof d === 'string' ? /^(\d+(?:\.\d{1,9})?)s$/.exec(d) : null;
  const ms = m ? Number(m[1]) * 1000 : NaN;
  if (!(ms >= 1)) {
    p.error(at(path, 'value.tcp_reporting_duration'), `${JSON.stringify(d)} is not a duration of at least 1ms in seconds ("5s", "0.5s")`);
    return undefined;
  }
  return ms;
}

function compileChain(p: Problems, listener: string, chain: Obj, path: string, synthetic: string, out: { inlineRoutes: Map<string, CompiledRouteConfig>; rdsRefs: { name: string; path: string }[]; clusterRefs: { cluster: string; path: string }[] }, opts: RouteCompileOptions): FilterChainPlan | undefined {
  const before = p.errors.length;
  const name = str(p, chain, 'name', path);
  const match = chainMatch(p, chain, path);
  let handler: FilterChainPlan['handler'] | undefined;
  const httpFilters: HttpFilterStage[] = [];
  const networkFilters: NetworkFilterStage[] = [];
  // Istio's stats filter (istio.stats, ahead of tcp_proxy): its tcp_reporting_duration.
  let reportIntervalMs: number | undefined;
  const filters = objects(p, chain, 'filters', path);
  for (const f of filters) {
    const tc = obj(p, f.v, 'typedConfig', f.path);
    const t = tc && typeOf(tc);
    if (!tc) continue;
    const tp = at(f.path, 'typedConfig');
    if (t === HCM_TYPE || t === TCP_PROXY_TYPE) {
      if (handler) {
        p.error(f.path, 'a filter chain has one terminal filter (http_connection_manager or tcp_proxy)');
        continue;
      }
      handler = t === HCM_TYPE ? hcmHandler(p, tc, tp, synthetic, { ...out, httpFilters }, opts) : tcpHandler(p, tc, tp, out.clusterRefs);
      if (!handler && p.errors.length === before) p.error(tp, 'invalid');
    } else if (t && NETWORK_FILTERS[t] && !handler) {
      const stage = NETWORK_FILTERS[t](p, tc, tp);
      if (stage) networkFilters.push(stage);
    } else if (t && (TYPED_STRUCT_TYPES as readonly string[]).includes(t) && tc.typeUrl === STATS_PLUGIN_TYPE_URL) {
      reportIntervalMs = statsReportInterval(p, tc, tp) ?? reportIntervalMs;
    }
    // Other network filters (Istio's metadata exchange, stats…) do not change where traffic goes.
  }
  if (!handler && p.errors.length === before) p.error(at(path, 'filters'), `no http_connection_manager or tcp_proxy filter (listener ${listener})`);
  const tls = downstreamTls(p, chain, path);
  if (p.errors.length !== before || !handler) return undefined;
  if (handler.kind === 'tcp' && reportIntervalMs !== undefined) handler = { ...handler, reportIntervalMs };
  return { ...(name ? { name } : {}), match, handler, ...(tls ? { tls } : {}), ...(httpFilters.length ? { httpFilters } : {}), ...(networkFilters.length ? { networkFilters } : {}) };
}

/** Specificity of a chain, compared left to right (Envoy's match order: port, IP, server name, transport, ALPN). */
function specificity(m: FilterChainPlan['match']): number[] {
  const longestPrefix = Math.max(-1, ...(m.prefixRanges ?? []).map((r) => Number(r.split('/')[1])));
  const names = m.serverNames ?? [];
  const sni = names.length === 0 ? 0 : names.some((n) => !n.startsWith('*')) ? 2 : 1;
  return [m.destinationPort !== undefined ? 1 : 0, longestPrefix, sni, m.transportProtocol ? 1 : 0, m.applicationProtocols ? 1 : 0];
}

function bySpecificity(a: FilterChainPlan, b: FilterChainPlan): number {
  const x = specificity(a.match);
  const y = specificity(b.match);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return y[i] - x[i];
  return 0;
}

/**
 * compileListener compiles one Listener; errors are recorded in `p` (scoped `listener <name>`)
 * and undefined returned when there are any. Chains are ordered most specific first, so a
 * first-match reader agrees with Envoy in the common cases; `selectFilterChain` is exact.
 */
export function compileListener(p: Problems, l: Obj, opts: RouteCompileOptions = {}): CompiledListener | undefined {
  const before = p.errors.length;
  const name = str(p, l, 'name', '') ?? '';
  if (!name) p.error('name', 'is required');
  const out = { inlineRoutes: new Map<string, CompiledRouteConfig>(), rdsRefs: [] as { name: string; path: string }[], clusterRefs: [] as { cluster: string; path: string }[] };
  const api = obj(p, l, 'apiListener', '');
  if (api) {
    // Proxyless gRPC: an HttpConnectionManager and no socket; the name is the target `host:port`.
    const hcm = obj(p, api, 'apiListener', 'api_listener');
    if (!hcm || typeOf(hcm) !== HCM_TYPE) {
      p.error('api_listener.api_listener', `expected ${HCM_TYPE}`);
      return undefined;
    }
    const handler = hcmHandler(p, hcm, 'api_listener.api_listener', inlineRouteName(name, 'api'), out, opts);
    if (p.errors.length !== before || !handler) return undefined;
    const port = /:(\d+)$/.exec(name);
    const plan: ListenerPlanExt = { name, address: '', port: port ? Number(port[1]) : 0, filterChains: [{ match: {}, handler }], useOriginalDst: false, bindToPort: false, apiListener: true, listenerFilters: [] };
    return { plan, ...out };
  }
  const sa = socketAddress(p, l, '');
  const useOriginalDst = wrappedBool(p, l, 'useOriginalDst', '') ?? false;
  const bindToPort = wrappedBool(p, l, 'bindToPort', '') ?? true;
  const trafficDirection = enumName(p, l, 'trafficDirection', '', ['UNSPECIFIED', 'INBOUND', 'OUTBOUND'] as const);
  const listenerFilters: string[] = [];
  for (const f of objects(p, l, 'listenerFilters', '')) {
    const n = str(p, f.v, 'name', f.path);
    if (n) listenerFilters.push(n);
  }
  const chains: FilterChainPlan[] = [];
  const chainNames = new Set<string>();
  for (const c of objects(p, l, 'filterChains', '')) {
    const fc = compileChain(p, name, c.v, c.path, inlineRouteName(name, c.i), out, opts);
    if (fc?.name) {
      if (chainNames.has(fc.name)) p.error(at(c.path, 'name'), `duplicate filter chain name ${fc.name}`);
      chainNames.add(fc.name);
    }
    if (fc) chains.push(fc);
  }
  let defaultFilterChain: FilterChainPlan | undefined;
  const dfc = obj(p, l, 'defaultFilterChain', '');
  if (dfc) {
    defaultFilterChain = compileChain(p, name, dfc, 'default_filter_chain', inlineRouteName(name, 'default'), out, opts);
    if (defaultFilterChain && Object.keys(defaultFilterChain.match).length > 0) p.error('default_filter_chain.filter_chain_match', 'must be empty');
  }
  if (chains.length === 0 && !dfc && p.errors.length === before) p.error('filter_chains', 'a listener needs at least one filter chain or a default_filter_chain');
  const seen = new Set<string>();
  chains.forEach((c, i) => {
    const key = JSON.stringify(c.match);
    if (seen.has(key)) p.error(`filter_chains[${i}].filter_chain_match`, 'the same match as an earlier chain (Envoy rejects overlapping chains)');
    seen.add(key);
  });
  if (p.errors.length !== before || !sa) return undefined;
  const ordered = [...chains].sort(bySpecificity);
  const plan: ListenerPlanExt = {
    name,
    address: sa.address,
    port: sa.port,
    filterChains: defaultFilterChain ? [...ordered, defaultFilterChain] : ordered,
    useOriginalDst,
    bindToPort,
    ...(trafficDirection && trafficDirection !== 'UNSPECIFIED' ? { trafficDirection } : {}),
    ...(defaultFilterChain ? { defaultFilterChain } : {}),
    apiListener: false,
    listenerFilters,
  };
  return { plan, ...out };
}

/** What a listener knows about a new connection when it picks a filter chain. */
export interface ConnectionFacts {
  /** Local (or, with use_original_dst, original destination) port and address. */
  readonly destinationPort?: number;
  readonly destinationIp?: string;
  /** TLS SNI (TLS inspector), lower-case. */
  readonly serverName?: string;
  /** `tls` or `raw_buffer` (TLS inspector). */
  readonly transportProtocol?: string;
  /** ALPN offered by the client (TLS inspector) or `http/1.1`/`h2c` (HTTP inspector). */
  readonly applicationProtocols?: readonly string[];
}

function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const s of parts) {
    const b = Number(s);
    if (!/^\d{1,3}$/.test(s) || b > 255) return undefined;
    n = n * 256 + b;
  }
  return n;
}

/** ipv6ToBigInt parses an IPv6 address (with `::` and an optional embedded IPv4 tail). */
function ipv6ToBigInt(ip: string): bigint | undefined {
  let s = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!s.includes(':')) return undefined;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tail) {
    const v4 = ipv4ToInt(tail[1]);
    if (v4 === undefined) return undefined;
    s = `${s.slice(0, -tail[1].length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  const groups = [...head, ...Array<string>(Math.max(fill, 0)).fill('0'), ...rest];
  if (groups.length !== 8 || fill < 0) return undefined;
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

function inPrefix(ip: string, range: string): boolean {
  const [addr, lenS] = range.split('/');
  const len = Number(lenS);
  const a = ipv4ToInt(ip);
  const b = ipv4ToInt(addr);
  if (a !== undefined && b !== undefined) {
    if (len === 0) return true;
    const shift = 2 ** (32 - len);
    return Math.floor(a / shift) === Math.floor(b / shift);
  }
  const a6 = ipv6ToBigInt(ip);
  const b6 = ipv6ToBigInt(addr);
  if (a6 === undefined || b6 === undefined) return false;
  const shift6 = BigInt(128 - Math.min(len, 128));
  return a6 >> shift6 === b6 >> shift6;
}

function sniScore(names: readonly string[] | undefined, sni: string | undefined): number {
  if (!names || names.length === 0) return 0;
  if (sni === undefined) return -1;
  let best = -1;
  for (const n of names) {
    if (n === sni) return 1e6;
    if (n.startsWith('*.') && sni.endsWith(n.slice(1)) && sni.length > n.length - 1) best = Math.max(best, n.length);
  }
  return best;
}

/** narrow keeps the candidates with the best positive score, else those with score 0 (criterion unset). */
function narrow<T>(cands: T[], score: (c: T) => number): T[] {
  let best = 0;
  for (const c of cands) best = Math.max(best, score(c));
  return cands.filter((c) => score(c) === best);
}

/**
 * selectFilterChain returns the chain Envoy would pick for a connection: at each criterion in
 * order (destination port, destination IP prefix, server name, transport protocol, application
 * protocols) the most specific matching chains win and chains without the criterion are the
 * fallback; when nothing is left, the default filter chain (or undefined).
 */
export function selectFilterChain(plan: ListenerPlan, conn: ConnectionFacts): FilterChainPlan | undefined {
  const ext = plan as Partial<ListenerPlanExt>;
  let cands = plan.filterChains.filter((c) => c !== ext.defaultFilterChain);
  cands = narrow(cands, (c) => (c.match.destinationPort === undefined ? 0 : c.match.destinationPort === conn.destinationPort ? 1 : -1));
  cands = narrow(cands, (c) => {
    const r = c.match.prefixRanges;
    if (!r) return 0;
    const ip = conn.destinationIp;
    const hits = ip === undefined ? [] : r.filter((x) => inPrefix(ip, x)).map((x) => Number(x.split('/')[1]) + 1);
    return hits.length ? Math.max(...hits) : -1;
  });
  cands = narrow(cands, (c) => sniScore(c.match.serverNames, conn.serverName));
  cands = narrow(cands, (c) => (c.match.transportProtocol === undefined ? 0 : c.match.transportProtocol === (conn.transportProtocol ?? 'raw_buffer') ? 1 : -1));
  // Envoy walks the client's ALPN list in its order: the first offered protocol some chain names wins.
  const offered = conn.applicationProtocols ?? [];
  cands = narrow(cands, (c) => {
    const want = c.match.applicationProtocols;
    if (want === undefined) return 0;
    const i = offered.findIndex((a) => want.includes(a));
    return i < 0 ? -1 : offered.length - i;
  });
  return cands[0] ?? ext.defaultFilterChain;
}
