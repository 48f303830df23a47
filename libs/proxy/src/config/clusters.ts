/**
 * Cluster → ClusterPlan: discovery type and EDS service name, load-balancing policy, connect
 * timeout, circuit-breaker thresholds and outlier detection with Envoy's defaults, upstream TLS
 * (transport_socket or Istio's tlsMode transport_socket_matches), HTTP protocol options, inline
 * endpoints and Istio's service metadata.
 */
import type { CircuitBreakers, ClusterPlan, EndpointSet, LbPolicy, OutlierConfig, UpstreamTls } from '../model.js';
import { compileLoadAssignment } from './endpoints.js';
import { at, bool, duration, enumName, isMessage, obj, objects, Problems, str, strings, typeOf, wrapped, type Obj } from './fields.js';

const TYPES = ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST'] as const;
const DISCOVERY: Record<(typeof TYPES)[number], ClusterPlan['discovery']> = { STATIC: 'static', STRICT_DNS: 'strict-dns', LOGICAL_DNS: 'logical-dns', EDS: 'eds', ORIGINAL_DST: 'original-dst' };
// Index = proto enum number (4 was ORIGINAL_DST_LB, removed in v3).
const LB_POLICIES = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RING_HASH', 'RANDOM', '', 'MAGLEV', 'CLUSTER_PROVIDED', 'LOAD_BALANCING_POLICY_CONFIG'] as const;

/** Envoy's circuit-breaker defaults (default priority): 1024 connections, pending and requests, 3 retries. */
export const DEFAULT_CIRCUIT_BREAKERS: CircuitBreakers = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 };

const TLS_SOCKET = 'envoy.transport_sockets.tls';
const UPSTREAM_TLS_TYPE = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const RAW_BUFFER = 'envoy.transport_sockets.raw_buffer';
const RAW_BUFFER_TYPE = 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let i = 2; i * i <= n; i++) if (n % i === 0) return false;
  return true;
}

function lbPolicy(p: Problems, c: Obj): LbPolicy | undefined {
  const policy = enumName(p, c, 'lbPolicy', '', LB_POLICIES) ?? 'ROUND_ROBIN';
  switch (policy) {
    case 'ROUND_ROBIN':
      return { kind: 'round-robin' };
    case 'RANDOM':
      return { kind: 'random' };
    case 'CLUSTER_PROVIDED':
      return { kind: 'cluster-provided' };
    case 'LEAST_REQUEST': {
      const cfg = obj(p, c, 'leastRequestLbConfig', '');
      const choiceCount = (cfg && wrapped(p, cfg, 'choiceCount', 'least_request_lb_config', 2)) ?? 2;
      return { kind: 'least-request', choiceCount };
    }
    case 'RING_HASH': {
      const cfg = obj(p, c, 'ringHashLbConfig', '') ?? {};
      const min = wrapped(p, cfg, 'minimumRingSize', 'ring_hash_lb_config', 1, 8_388_608) ?? 1024;
      const max = wrapped(p, cfg, 'maximumRingSize', 'ring_hash_lb_config', 1, 8_388_608) ?? 8_388_608;
      if (min > max) p.error('ring_hash_lb_config', `minimum_ring_size ${min} is greater than maximum_ring_size ${max}`);
      return { kind: 'ring-hash', minimumRingSize: min, maximumRingSize: max };
    }
    case 'MAGLEV': {
      const cfg = obj(p, c, 'maglevLbConfig', '') ?? {};
      const tableSize = wrapped(p, cfg, 'tableSize', 'maglev_lb_config', 1, 5_000_011) ?? 65537;
      if (!isPrime(tableSize)) p.error('maglev_lb_config.table_size', `${tableSize} is not a prime number`);
      return { kind: 'maglev', tableSize };
    }
    default:
      p.error('lb_policy', `${policy} is not supported`);
      return undefined;
  }
}

function circuitBreakers(p: Problems, c: Obj): CircuitBreakers {
  const cb = obj(p, c, 'circuitBreakers', '');
  if (!cb) return DEFAULT_CIRCUIT_BREAKERS;
  let out = DEFAULT_CIRCUIT_BREAKERS;
  for (const t of objects(p, cb, 'thresholds', 'circuit_breakers')) {
    const priority = enumName(p, t.v, 'priority', t.path, ['DEFAULT', 'HIGH'] as const) ?? 'DEFAULT';
    const v = {
      maxConnections: wrapped(p, t.v, 'maxConnections', t.path, 0, 0xffffffff) ?? DEFAULT_CIRCUIT_BREAKERS.maxConnections,
      maxPendingRequests: wrapped(p, t.v, 'maxPendingRequests', t.path, 0, 0xffffffff) ?? DEFAULT_CIRCUIT_BREAKERS.maxPendingRequests,
      maxRequests: wrapped(p, t.v, 'maxRequests', t.path, 0, 0xffffffff) ?? DEFAULT_CIRCUIT_BREAKERS.maxRequests,
      maxRetries: wrapped(p, t.v, 'maxRetries', t.path, 0, 0xffffffff) ?? DEFAULT_CIRCUIT_BREAKERS.maxRetries,
    };
    // The engine has one routing priority; Envoy's DEFAULT thresholds are the ones that apply to it.
    if (priority === 'DEFAULT') out = v;
  }
  return out;
}

/**
 * outlierDetection applies Envoy's defaults: consecutive_5xx 5 (enforced 100%), gateway failures 5
 * but not enforced unless enforcing_consecutive_gateway_failure is set, local-origin failures 5
 * only with split_external_local_origin_errors, interval 10 s, base ejection 30 s, max 10 %
 * ejected. min_health_percent is the cluster's healthy panic threshold (default 50 %).
 */
function outlierDetection(p: Problems, c: Obj, panicThresholdPercent: number | undefined): OutlierConfig | undefined {
  const od = obj(p, c, 'outlierDetection', '');
  if (!od) return undefined;
  const op = 'outlier_detection';
  const c5 = wrapped(p, od, 'consecutive_5xx', op, 0) ?? 5;
  const e5 = wrapped(p, od, 'enforcingConsecutive_5xx', op, 0, 100) ?? 100;
  const cg = wrapped(p, od, 'consecutiveGatewayFailure', op, 0) ?? 5;
  const eg = wrapped(p, od, 'enforcingConsecutiveGatewayFailure', op, 0, 100) ?? 0;
  const split = bool(p, od, 'splitExternalLocalOriginErrors', op) ?? false;
  const cl = wrapped(p, od, 'consecutiveLocalOriginFailure', op, 0) ?? 5;
  const el = wrapped(p, od, 'enforcingConsecutiveLocalOriginFailure', op, 0, 100) ?? 100;
  const intervalMs = duration(p, od, 'interval', op) ?? 10_000;
  const baseEjectionTimeMs = duration(p, od, 'baseEjectionTime', op) ?? 30_000;
  const maxEjectionPercent = wrapped(p, od, 'maxEjectionPercent', op, 0, 100) ?? 10;
  if (intervalMs <= 0) p.error('outlier_detection.interval', 'must be greater than 0');
  const minHealthPercent = panicThresholdPercent ?? 50;
  return {
    ...(e5 > 0 && c5 > 0 ? { consecutive5xx: c5 } : {}),
    ...(eg > 0 && cg > 0 ? { consecutiveGatewayErrors: cg } : {}),
    ...(split && el > 0 && cl > 0 ? { consecutiveLocalOriginFailures: cl } : {}),
    splitExternalLocalOriginErrors: split,
    intervalMs,
    baseEjectionTimeMs,
    maxEjectionPercent,
    minHealthPercent,
  };
}

/** panicThreshold reads common_lb_config.healthy_panic_threshold (a Percent: `{}` is 0); undefined when unset. */
function panicThreshold(p: Problems, c: Obj): number | undefined {
  const common = obj(p, c, 'commonLbConfig', '');
  const panic = common && obj(p, common, 'healthyPanicThreshold', 'common_lb_config');
  if (!panic) return undefined;
  const v = panic.value;
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && v >= 0 && v <= 100) return v;
  p.error('common_lb_config.healthy_panic_threshold.value', `${String(v)} is not a percentage`);
  return undefined;
}

/** upstreamTls reads an UpstreamTlsContext; undefined for raw_buffer. */
function upstreamTls(p: Problems, ts: Obj, path: string, onlyIstioEndpoints: boolean): UpstreamTls | undefined | 'raw' {
  const name = str(p, ts, 'name', path);
  const tc = obj(p, ts, 'typedConfig', path);
  const t = tc && typeOf(tc);
  if (name === RAW_BUFFER || t === RAW_BUFFER_TYPE) return 'raw';
  if (t !== UPSTREAM_TLS_TYPE || !tc) {
    p.error(path, `transport socket ${name ?? '?'} (${t ?? 'no typed_config'}) is not supported; expected ${TLS_SOCKET} with ${UPSTREAM_TLS_TYPE}`);
    return undefined;
  }
  const tp = at(path, 'typedConfig');
  const sni = str(p, tc, 'sni', tp);
  const common = obj(p, tc, 'commonTlsContext', tp) ?? {};
  const cp = at(tp, 'commonTlsContext');
  const alpn = strings(p, common, 'alpnProtocols', cp);
  let certificate: UpstreamTls['certificate'];
  const sds = objects(p, common, 'tlsCertificateSdsSecretConfigs', cp);
  const files = objects(p, common, 'tlsCertificates', cp);
  if (sds.length > 0) {
    const sdsName = str(p, sds[0].v, 'name', sds[0].path);
    if (sdsName) certificate = { sdsName };
  } else if (files.length > 0) {
    const certFile = dataSourceFile(p, files[0].v, 'certificateChain', files[0].path);
    const keyFile = dataSourceFile(p, files[0].v, 'privateKey', files[0].path);
    certificate = { ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) };
  }
  const v = validation(p, common, cp);
  return {
    ...(sni ? { sni } : {}),
    alpn,
    subjectAltNames: v.sans,
    ...(certificate ? { certificate } : {}),
    ...(v.validation ? { validation: v.validation } : {}),
    onlyIstioEndpoints,
  };
}

function dataSourceFile(p: Problems, o: Obj, key: string, path: string): string | undefined {
  const ds = obj(p, o, key, path);
  if (!ds) return undefined;
  const f = str(p, ds, 'filename', at(path, key));
  if (f === undefined) p.error(at(path, key), 'only filename data sources are supported');
  return f;
}

/** validation reads the server-certificate checks: SANs (exact matchers) and the trust source (SDS name or CA file). */
export function validation(p: Problems, common: Obj, cp: string): { sans: string[]; validation?: { sdsName?: string; caFile?: string } } {
  let ctx: Obj | undefined;
  let ctxPath = cp;
  let sdsName: string | undefined;
  const combined = obj(p, common, 'combinedValidationContext', cp);
  if (combined) {
    const cvp = at(cp, 'combinedValidationContext');
    ctx = obj(p, combined, 'defaultValidationContext', cvp);
    ctxPath = at(cvp, 'defaultValidationContext');
    const s = obj(p, combined, 'validationContextSdsSecretConfig', cvp);
    if (s) sdsName = str(p, s, 'name', at(cvp, 'validationContextSdsSecretConfig'));
  } else {
    ctx = obj(p, common, 'validationContext', cp);
    ctxPath = at(cp, 'validationContext');
    const s = obj(p, common, 'validationContextSdsSecretConfig', cp);
    if (s) sdsName = str(p, s, 'name', at(cp, 'validationContextSdsSecretConfig'));
  }
  const sans: string[] = [];
  let caFile: string | undefined;
  if (ctx) {
    for (const m of objects(p, ctx, 'matchSubjectAltNames', ctxPath)) {
      // The model carries SANs as exact strings; other matchers cannot be enforced, so they are errors (not a silent pass).
      if (typeof m.v.exact === 'string') sans.push(m.v.exact);
      else p.error(m.path, 'only exact subject alt name matchers are supported');
    }
    for (const m of objects(p, ctx, 'matchTypedSubjectAltNames', ctxPath)) {
      const sm = obj(p, m.v, 'matcher', m.path);
      if (sm && typeof sm.exact === 'string') sans.push(sm.exact);
      else p.error(m.path, 'only exact subject alt name matchers are supported');
    }
    caFile = dataSourceFile(p, ctx, 'trustedCa', ctxPath);
  }
  const v = sdsName || caFile ? { ...(sdsName ? { sdsName } : {}), ...(caFile ? { caFile } : {}) } : undefined;
  return { sans, ...(v ? { validation: v } : {}) };
}

/**
 * transportTls compiles transport_socket, or Istio's transport_socket_matches: a TLS socket
 * matched on `tlsMode: istio` applies only to endpoints with that metadata (onlyIstioEndpoints);
 * an empty match applies to all.
 */
function transportTls(p: Problems, c: Obj): UpstreamTls | undefined {
  const ts = obj(p, c, 'transportSocket', '');
  const matches = objects(p, c, 'transportSocketMatches', '');
  if (ts && matches.length > 0) p.error('transport_socket_matches', 'cannot be combined with transport_socket in this proxy');
  if (ts) {
    const r = upstreamTls(p, ts, 'transport_socket', false);
    return r === 'raw' ? undefined : r;
  }
  let tls: UpstreamTls | undefined;
  for (const m of matches) {
    const sock = obj(p, m.v, 'transportSocket', m.path);
    if (!sock) {
      p.error(at(m.path, 'transportSocket'), 'is required');
      continue;
    }
    const match = obj(p, m.v, 'match', m.path) ?? {};
    const keys = Object.keys(match);
    const istioOnly = keys.length === 1 && match.tlsMode === 'istio';
    if (keys.length > 0 && !istioOnly) {
      p.error(at(m.path, 'match'), 'only {} and {tlsMode: istio} matches are supported');
      continue;
    }
    const r = upstreamTls(p, sock, at(m.path, 'transportSocket'), istioOnly);
    if (r === 'raw' || r === undefined) {
      // A catch-all raw socket ends the list; Envoy takes the first match.
      if (keys.length === 0) break;
      continue;
    }
    if (!tls) tls = r;
    if (keys.length === 0) break;
  }
  return tls;
}

function httpOptions(p: Problems, c: Obj): { http2: boolean; maxRequestsPerConnection?: number; idleTimeoutMs?: number } {
  let http2 = c.http2ProtocolOptions !== undefined && c.http2ProtocolOptions !== null;
  let maxRequestsPerConnection = wrapped(p, c, 'maxRequestsPerConnection', '', 0);
  let idleTimeoutMs: number | undefined;
  const common0 = obj(p, c, 'commonHttpProtocolOptions', '');
  if (common0) idleTimeoutMs = duration(p, common0, 'idleTimeout', 'common_http_protocol_options');
  const teo = obj(p, c, 'typedExtensionProtocolOptions', '');
  const opts = teo?.[HTTP_OPTIONS];
  if (opts !== undefined) {
    const op = `typed_extension_protocol_options[${HTTP_OPTIONS}]`;
    if (!isMessage(opts) || typeOf(opts) !== HTTP_OPTIONS) p.error(op, `expected an Any of ${HTTP_OPTIONS}`);
    else {
      const explicit = obj(p, opts, 'explicitHttpConfig', op);
      if (explicit) http2 = explicit.http2ProtocolOptions !== undefined && explicit.http2ProtocolOptions !== null;
      if (obj(p, opts, 'useDownstreamProtocolConfig', op)) p.warn(op, 'use_downstream_protocol_config: upstream stays HTTP/1.1 unless http2 is explicit');
      const common = obj(p, opts, 'commonHttpProtocolOptions', op);
      if (common) {
        const cp = `${op}.common_http_protocol_options`;
        idleTimeoutMs = duration(p, common, 'idleTimeout', cp) ?? idleTimeoutMs;
        maxRequestsPerConnection = wrapped(p, common, 'maxRequestsPerConnection', cp, 0) ?? maxRequestsPerConnection;
      }
    }
  }
  return {
    http2,
    ...(maxRequestsPerConnection !== undefined && maxRequestsPerConnection > 0 ? { maxRequestsPerConnection } : {}),
    ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
  };
}

function istioMeta(c: Obj): ClusterPlan['meta'] | undefined {
  const md = c.metadata;
  if (!isMessage(md) || !isMessage(md.filterMetadata) || !isMessage(md.filterMetadata.istio)) return undefined;
  const istio = md.filterMetadata.istio;
  const svc = Array.isArray(istio.services) && isMessage(istio.services[0]) ? istio.services[0] : {};
  const pick = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const out = { host: pick(svc.host), name: pick(svc.name), namespace: pick(svc.namespace), subset: pick(istio.subset) };
  const clean = Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
  return Object.keys(clean).length > 0 ? clean : undefined;
}

/**
 * compileCluster compiles one Cluster. `p` is scoped to the cluster (`cluster <name>`); errors are
 * recorded there and undefined is returned when there are any. `previousInline` is the previous
 * plan's inline endpoints, for Endpoint reuse.
 */
export function compileCluster(p: Problems, c: Obj, previousInline?: EndpointSet): ClusterPlan | undefined {
  const before = p.errors.length;
  const name = str(p, c, 'name', '');
  if (!name) p.error('name', 'is required');
  if (c.clusterType !== undefined && c.clusterType !== null) p.error('cluster_type', 'custom cluster types are not supported');
  const type = enumName(p, c, 'type', '', TYPES) ?? 'STATIC';
  const eds = obj(p, c, 'edsClusterConfig', '');
  const edsServiceName = (eds && str(p, eds, 'serviceName', 'eds_cluster_config')) || name || '';
  const lb = lbPolicy(p, c);
  if (type === 'ORIGINAL_DST' && lb && lb.kind !== 'cluster-provided') p.error('lb_policy', 'an ORIGINAL_DST cluster needs CLUSTER_PROVIDED');
  const connectTimeoutMs = duration(p, c, 'connectTimeout', '') ?? 5000;
  if (connectTimeoutMs <= 0) p.error('connect_timeout', 'must be greater than 0');
  const cb = circuitBreakers(p, c);
  const panicThresholdPercent = panicThreshold(p, c);
  const outlier = outlierDetection(p, c, panicThresholdPercent);
  const tls = transportTls(p, c);
  const http = httpOptions(p, c);
  let inlineEndpoints: EndpointSet | undefined;
  const la = obj(p, c, 'loadAssignment', '');
  if (la) inlineEndpoints = compileLoadAssignment(p, la, 'load_assignment', previousInline);
  // Envoy accepts a STATIC cluster without hosts (Istio's BlackHoleCluster): it simply has none.
  if ((type === 'STATIC' || type === 'STRICT_DNS' || type === 'LOGICAL_DNS') && !la) inlineEndpoints = { priorities: [] };
  const meta = istioMeta(c);
  // Envoy weighs localities only with locality_weighted_lb_config; when it is absent the field stays
  // unset and the balancer's default applies (libs/translate sends locality weights without it).
  const common = obj(p, c, 'commonLbConfig', '');
  const localityWeighted = common && common.localityWeightedLbConfig !== undefined && common.localityWeightedLbConfig !== null ? true : undefined;
  if (p.errors.length !== before || !lb || !name) return undefined;
  return {
    name,
    discovery: DISCOVERY[type],
    edsServiceName,
    lb,
    connectTimeoutMs,
    circuitBreakers: cb,
    ...(outlier ? { outlier } : {}),
    ...(tls ? { tls } : {}),
    ...http,
    ...(localityWeighted ? { localityWeighted } : {}),
    ...(panicThresholdPercent !== undefined ? { panicThresholdPercent } : {}),
    ...(inlineEndpoints ? { inlineEndpoints } : {}),
    ...(meta ? { meta } : {}),
  };
}
