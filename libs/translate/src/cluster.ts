/**
 * Cluster building (Istio's v1alpha3 cluster builder): one outbound cluster per service port
 * and per DestinationRule subset, inbound clusters per workload port, and Istio's
 * well-known BlackHole/Passthrough clusters.
 */
import type { Endpoint, MeshServicePort, ProxyNode, Service } from '@meshwork/api';
import { ADS_SOURCE, durationMs, duration, HTTP_PROTOCOL_OPTIONS_TYPE, RAW_BUFFER_TYPE, UPSTREAM_TLS_TYPE, socketAddress, type EnvoyResource } from './envoy.js';
import { BLACKHOLE_CLUSTER, clusterName, INBOUND_PASSTHROUGH_CLUSTER, istioSni, PASSTHROUGH_CLUSTER } from './names.js';
import { policyFor, subsetLabels, type ClusterPolicy } from './policy.js';
import { eachTarget, hostInputs, memoized } from './memo.js';
import { destinationRuleFor, labelsMatch, serviceMtlsMode, type EffectiveDestinationRule, type MeshSnapshot } from './snapshot.js';

const MAX_U32 = 4294967295;
const HTTP2_PROTOCOLS = new Set(['HTTP2', 'GRPC', 'GRPC-Web']);

/** Istio's SDS source for workload certificates (served by the agent on the `sds-grpc` cluster). */
export const SDS_CONFIG = {
  apiConfigSource: { apiType: 'GRPC', setNodeOnFirstMessageOnly: true, transportApiVersion: 'V3', grpcServices: [{ envoyGrpc: { clusterName: 'sds-grpc' } }] },
  initialFetchTimeout: { seconds: 0, nanos: 0 },
  resourceApiVersion: 'V3',
};

/** The workload-certificate part of an Istio mTLS context: SDS `default` and the `ROOTCA` trust bundle. */
export function istioCommonTlsContext(sans: readonly string[], alpn: readonly string[]): EnvoyResource {
  return {
    tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: SDS_CONFIG }],
    combinedValidationContext: {
      defaultValidationContext: sans.length > 0 ? { matchSubjectAltNames: sans.map((exact) => ({ exact })) } : {},
      validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: SDS_CONFIG },
    },
    ...(alpn.length > 0 ? { alpnProtocols: [...alpn] } : {}),
  };
}

/** SPIFFE identities of a service's endpoints (what ISTIO_MUTUAL verifies). */
function serviceSans(endpoints: readonly Endpoint[], trustDomain: string): string[] {
  const out = new Set<string>();
  for (const e of endpoints) if (e.serviceAccount) out.add(`spiffe://${trustDomain}/ns/${e.namespace}/sa/${e.serviceAccount}`);
  return [...out].sort();
}

/** Istio's IsHttp2Cluster: the cluster's upstream protocol options say HTTP/2 explicitly. */
function isHttp2Cluster(c: EnvoyResource): boolean {
  const opts = (c.typedExtensionProtocolOptions as Record<string, EnvoyResource> | undefined)?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  const explicit = opts?.explicitHttpConfig as EnvoyResource | undefined;
  return explicit?.http2ProtocolOptions !== undefined;
}

function tlsSocket(ctx: EnvoyResource): EnvoyResource {
  return { name: 'envoy.transport_sockets.tls', typedConfig: { '@type': UPSTREAM_TLS_TYPE, ...ctx } };
}

/** The upstream transport socket(s) for a cluster: explicit DR TLS, or Istio's auto mTLS by endpoint label. */
function applyTls(c: EnvoyResource, snapshot: MeshSnapshot, svc: Service, port: number, subset: string, pol: ClusterPolicy, endpoints: readonly Endpoint[]): void {
  const tls = pol.tls;
  const mode = tls?.mode;
  if (mode === 'DISABLE') return;
  // Auto mTLS stays off towards services whose PeerAuthentication disables mTLS (Istio infers it best-effort).
  const auto = !tls && snapshot.meshConfig.enableAutoMtls && svc.location === 'MESH_INTERNAL' && svc.resolution !== 'NONE' && serviceMtlsMode(snapshot, svc, port) !== 'DISABLE';
  // Istio advertises h2 on HTTP/2 clusters' TLS (ALPNInMeshH2WithMxc for mTLS, ALPNH2Only otherwise).
  const h2 = isHttp2Cluster(c);
  if (mode === 'ISTIO_MUTUAL' || auto) {
    const sans = tls?.subjectAltNames?.length ? tls.subjectAltNames : serviceSans(endpoints, snapshot.meshConfig.trustDomain);
    const socket = tlsSocket({ commonTlsContext: istioCommonTlsContext(sans, h2 ? ['istio-peer-exchange', 'istio', 'h2'] : ['istio-peer-exchange', 'istio']), sni: tls?.sni || istioSni(port, subset, svc.hostname) });
    if (mode === 'ISTIO_MUTUAL') {
      c.transportSocket = socket;
    } else {
      // Auto mTLS: endpoints labelled tlsMode=istio (they have a sidecar) get mTLS, others plain text.
      c.transportSocketMatches = [
        { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transportSocket: socket },
        { name: 'tlsMode-disabled', match: {}, transportSocket: { name: 'envoy.transport_sockets.raw_buffer', typedConfig: { '@type': RAW_BUFFER_TYPE } } },
      ];
    }
    return;
  }
  if (!tls || (mode !== 'SIMPLE' && mode !== 'MUTUAL')) return;
  const common: EnvoyResource = {};
  const sans = (tls.subjectAltNames ?? []).map((exact) => ({ exact }));
  if (tls.credentialName) {
    // Gateway-style credentials: the key pair and `<name>-cacert` come over SDS from the secret.
    if (mode === 'MUTUAL') common.tlsCertificateSdsSecretConfigs = [{ name: `kubernetes://${tls.credentialName}`, sdsConfig: SDS_CONFIG }];
    if (!tls.insecureSkipVerify) {
      common.combinedValidationContext = {
        defaultValidationContext: sans.length > 0 ? { matchSubjectAltNames: sans } : {},
        validationContextSdsSecretConfig: { name: `kubernetes://${tls.credentialName}-cacert`, sdsConfig: SDS_CONFIG },
      };
    }
  } else {
    if (mode === 'MUTUAL' && tls.clientCertificate && tls.privateKey) {
      common.tlsCertificates = [{ certificateChain: { filename: tls.clientCertificate }, privateKey: { filename: tls.privateKey } }];
    }
    if (!tls.insecureSkipVerify && (tls.caCertificates || sans.length > 0)) {
      common.validationContext = {
        ...(tls.caCertificates ? { trustedCa: { filename: tls.caCertificates } } : {}),
        ...(tls.caCrl ? { crl: { filename: tls.caCrl } } : {}),
        ...(sans.length > 0 ? { matchSubjectAltNames: sans } : {}),
      };
    }
  }
  if (h2) common.alpnProtocols = ['h2'];
  c.transportSocket = tlsSocket({ commonTlsContext: common, ...(tls.sni ? { sni: tls.sni } : {}) });
}

/** Load-balancing policy fields of a cluster (Istio's applyLoadBalancer: default LEAST_REQUEST; gRPC clients know ROUND_ROBIN and RING_HASH only). */
function applyLb(c: EnvoyResource, pol: ClusterPolicy, grpc: boolean): void {
  const lb = pol.loadBalancer;
  const warmup = duration(lb?.warmupDurationSecs ?? lb?.warmup?.duration);
  const slowStart = warmup && !grpc ? { slowStartConfig: { slowStartWindow: warmup } } : undefined;
  switch (lb?.simple) {
    case 'RANDOM':
      c.lbPolicy = grpc ? 'ROUND_ROBIN' : 'RANDOM';
      break;
    case 'ROUND_ROBIN':
      c.lbPolicy = 'ROUND_ROBIN';
      if (slowStart) c.roundRobinLbConfig = slowStart;
      break;
    case 'PASSTHROUGH':
      if (!grpc) {
        c.type = 'ORIGINAL_DST';
        c.lbPolicy = 'CLUSTER_PROVIDED';
        delete c.edsClusterConfig;
        delete c.loadAssignment;
        return;
      }
      c.lbPolicy = 'ROUND_ROBIN';
      break;
    default:
      // LEAST_CONN is LEAST_REQUEST's old name; unset means Istio's default, LEAST_REQUEST.
      c.lbPolicy = grpc ? 'ROUND_ROBIN' : 'LEAST_REQUEST';
      if (slowStart && !grpc) c.leastRequestLbConfig = slowStart;
  }
  const ch = lb?.consistentHash;
  if (!ch) return;
  delete c.roundRobinLbConfig;
  delete c.leastRequestLbConfig;
  if (ch.maglev && !grpc) {
    c.lbPolicy = 'MAGLEV';
    if (ch.maglev.tableSize) c.maglevLbConfig = { tableSize: { value: ch.maglev.tableSize } };
  } else if (ch.ringHash) {
    c.lbPolicy = 'RING_HASH';
    if (ch.ringHash.minimumRingSize) c.ringHashLbConfig = { minimumRingSize: { value: ch.ringHash.minimumRingSize } };
  } else {
    // The deprecated minimumRingSize, else Envoy's default 1024, stated explicitly as Istio does.
    c.lbPolicy = 'RING_HASH';
    c.ringHashLbConfig = { minimumRingSize: { value: ch.minimumRingSize || 1024 } };
  }
}

/** Connection pool → circuit breakers, connect timeout, HTTP protocol options and keepalive (Istio's applyConnectionPool: 0 means "keep the default"). */
function applyConnectionPool(c: EnvoyResource, pol: ClusterPolicy, port: MeshServicePort, grpc: boolean): void {
  const cp = pol.connectionPool;
  const pos = (n: number | undefined): number | undefined => (n !== undefined && n > 0 ? n : undefined);
  // Istio's default thresholds are "unlimited", so Envoy's own small defaults never bite.
  c.circuitBreakers = {
    thresholds: [
      {
        maxConnections: { value: pos(cp?.tcp?.maxConnections) ?? MAX_U32 },
        maxPendingRequests: { value: pos(cp?.http?.http1MaxPendingRequests) ?? MAX_U32 },
        maxRequests: { value: pos(cp?.http?.http2MaxRequests) ?? MAX_U32 },
        maxRetries: { value: pos(cp?.http?.maxRetries) ?? MAX_U32 },
        trackRemaining: true,
      },
    ],
  };
  const connectTimeout = duration(cp?.tcp?.connectTimeout);
  if (connectTimeout) c.connectTimeout = connectTimeout;
  if (grpc) return;
  const ka = cp?.tcp?.tcpKeepalive;
  if (ka) {
    const secs = (d: string | undefined): number | undefined => (d ? (duration(d)?.seconds ?? 0) : undefined);
    c.upstreamConnectionOptions = {
      tcpKeepalive: {
        ...(ka.probes ? { keepaliveProbes: { value: ka.probes } } : {}),
        ...(ka.time ? { keepaliveTime: { value: secs(ka.time) } } : {}),
        ...(ka.interval ? { keepaliveInterval: { value: secs(ka.interval) } } : {}),
      },
    };
  }
  const common: EnvoyResource = {};
  const idle = duration(cp?.http?.idleTimeout) ?? duration(cp?.tcp?.idleTimeout);
  if (idle) common.idleTimeout = idle;
  if (pos(cp?.http?.maxRequestsPerConnection)) common.maxRequestsPerConnection = { value: cp?.http?.maxRequestsPerConnection };
  const maxDuration = duration(cp?.tcp?.maxConnectionDuration);
  if (maxDuration) common.maxConnectionDuration = maxDuration;
  const isHttp = port.protocol === 'HTTP' || HTTP2_PROTOCOLS.has(port.protocol);
  // An explicit UPGRADE makes the port HTTP even when its protocol was not declared (Istio's shouldH2Upgrade).
  const h2 = cp?.http?.h2UpgradePolicy === 'UPGRADE' || (cp?.http?.h2UpgradePolicy !== 'DO_NOT_UPGRADE' && HTTP2_PROTOCOLS.has(port.protocol));
  const opts: EnvoyResource = { '@type': HTTP_PROTOCOL_OPTIONS_TYPE };
  if (Object.keys(common).length > 0) opts.commonHttpProtocolOptions = common;
  if (cp?.http?.useClientProtocol) opts.useDownstreamProtocolConfig = { httpProtocolOptions: {}, http2ProtocolOptions: {} };
  else if (h2 && (isHttp || cp?.http?.h2UpgradePolicy === 'UPGRADE')) {
    opts.explicitHttpConfig = { http2ProtocolOptions: pos(cp?.http?.maxConcurrentStreams) ? { maxConcurrentStreams: { value: cp?.http?.maxConcurrentStreams } } : {} };
  }
  if (Object.keys(opts).length > 1) c.typedExtensionProtocolOptions = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': opts };
}

/** Outlier detection as Istio sets it: success-rate ejection off, each consecutive-error detector only when configured, panic mode off unless minHealthPercent asks for it. */
function applyOutlier(c: EnvoyResource, pol: ClusterPolicy): void {
  const od = pol.outlierDetection;
  if (!od) return;
  const out: EnvoyResource = { enforcingSuccessRate: { value: 0 } };
  const five = od.consecutive5xxErrors;
  if (typeof five === 'number') {
    // protobufjs keeps `_5xx` in camelCase names (consecutive_5xx, enforcingConsecutive_5xx).
    out.consecutive_5xx = { value: five };
    out.enforcingConsecutive_5xx = { value: five > 0 ? 100 : 0 };
  }
  const gw = od.consecutiveGatewayErrors;
  if (typeof gw === 'number') {
    out.consecutiveGatewayFailure = { value: gw };
    out.enforcingConsecutiveGatewayFailure = { value: gw > 0 ? 100 : 0 };
  }
  const interval = duration(od.interval);
  if (interval) out.interval = interval;
  const base = duration(od.baseEjectionTime);
  if (base) out.baseEjectionTime = base;
  if (od.maxEjectionPercent && od.maxEjectionPercent > 0) out.maxEjectionPercent = { value: od.maxEjectionPercent };
  if (od.splitExternalLocalOriginErrors) {
    out.splitExternalLocalOriginErrors = true;
    if (od.consecutiveLocalOriginFailures) {
      out.consecutiveLocalOriginFailure = { value: od.consecutiveLocalOriginFailures };
      out.enforcingConsecutiveLocalOriginFailure = { value: 100 };
    }
    out.enforcingLocalOriginSuccessRate = { value: 0 };
  }
  c.outlierDetection = out;
  // Envoy's panic mode (default 50%) rarely helps with few pods per service; Istio turns it off.
  c.commonLbConfig = { ...((c.commonLbConfig as object) ?? {}), healthyPanicThreshold: { value: od.minHealthPercent ?? 0 } };
}

/** Locality-weighted load balancing is switched on when locality failover (with outlier detection) or distribution is configured. */
function applyLocalityConfig(c: EnvoyResource, pol: ClusterPolicy): void {
  const lls = pol.loadBalancer?.localityLbSetting;
  if (!lls || lls.enabled === false) return;
  const failover = pol.outlierDetection !== undefined && ((lls.failover?.length ?? 0) > 0 || (lls.failoverPriority?.length ?? 0) > 0);
  if (failover || (lls.distribute?.length ?? 0) > 0) c.commonLbConfig = { ...((c.commonLbConfig as object) ?? {}), localityWeightedLbConfig: {} };
}

/** The endpoints of one service port, narrowed to a subset's labels. */
export function portEndpoints(snapshot: MeshSnapshot, svc: Service, port: MeshServicePort, labels: Readonly<Record<string, string>> | undefined): Endpoint[] {
  return (snapshot.index.endpointsByHost.get(svc.hostname) ?? []).filter(
    (e) => e.namespace === svc.namespace && e.servicePortName === port.name && labelsMatch(labels, e.labels),
  );
}

/** An inline load assignment for DNS clusters: the endpoints' addresses, or the hostname itself. */
function dnsLoadAssignment(name: string, svc: Service, port: MeshServicePort, endpoints: readonly Endpoint[], logical: boolean): EnvoyResource {
  const targets = endpoints.length > 0 ? endpoints.map((e) => ({ address: e.address, port: e.port, weight: e.weight })) : [{ address: svc.hostname, port: port.targetPort ?? port.port, weight: undefined }];
  // LOGICAL_DNS takes exactly one address (Envoy rejects more).
  const used = logical ? targets.slice(0, 1) : targets;
  return {
    clusterName: name,
    endpoints: [{ locality: {}, lbEndpoints: used.map((t) => ({ endpoint: { address: socketAddress(t.address, t.port) }, ...(t.weight ? { loadBalancingWeight: { value: t.weight } } : {}) })) }],
  };
}

/**
 * buildServiceClusters returns the outbound clusters of one visible service for this proxy: per
 * port, the unsubsetted cluster then one per DestinationRule subset. Memoized per service, so a
 * proxy view walks its services, not every cluster; a rebuilt list still reuses each unchanged
 * cluster object (buildOutboundCluster is memoized too).
 */
export function buildServiceClusters(proxy: ProxyNode, snapshot: MeshSnapshot, svc: Service): readonly EnvoyResource[] {
  const dr = destinationRuleFor(snapshot, proxy, svc.hostname, svc.namespace);
  // The union of buildOutboundCluster's keys over the service's ports and the rule's subsets.
  const key = ['cds*', proxy.type, ...hostInputs(snapshot, svc, dr), ...svc.ports.map((p) => serviceMtlsMode(snapshot, svc, p.port))];
  return memoized(snapshot, key, () => eachTarget(svc, dr, (p, subset) => buildOutboundCluster(proxy, snapshot, svc, p, subset)));
}

/**
 * buildOutboundCluster returns the cluster `outbound|port|subset|host` for this proxy: its
 * discovery type from the service's resolution (EDS, STRICT_DNS, LOGICAL_DNS, ORIGINAL_DST),
 * and the DestinationRule's load balancing, connection pool, outlier detection and TLS.
 */
export function buildOutboundCluster(proxy: ProxyNode, snapshot: MeshSnapshot, svc: Service, port: MeshServicePort, subset: string): EnvoyResource {
  const dr = destinationRuleFor(snapshot, proxy, svc.hostname, svc.namespace);
  // Every input computeOutboundCluster reads besides MeshConfig (memo.ts keys the generation by it).
  const key = ['cds', proxy.type, port.port, subset, ...hostInputs(snapshot, svc, dr), serviceMtlsMode(snapshot, svc, port.port)];
  return memoized(snapshot, key, () => computeOutboundCluster(proxy.type, snapshot, svc, port, subset, dr));
}

function computeOutboundCluster(proxyType: ProxyNode['type'], snapshot: MeshSnapshot, svc: Service, port: MeshServicePort, subset: string, dr: EffectiveDestinationRule | undefined): EnvoyResource {
  const name = clusterName('outbound', port.port, subset, svc.hostname);
  const pol = policyFor(dr, port.port, subset);
  const endpoints = portEndpoints(snapshot, svc, port, subset === '' ? undefined : subsetLabels(dr, subset));
  const c: EnvoyResource = { name, connectTimeout: durationMs(snapshot.meshConfig.connectTimeoutMs) };
  const grpc = proxyType === 'grpc';
  if (svc.resolution === 'NONE' && !grpc) {
    c.type = 'ORIGINAL_DST';
    c.lbPolicy = 'CLUSTER_PROVIDED';
  } else if (svc.resolution === 'DNS' || svc.resolution === 'DNS_ROUND_ROBIN') {
    // gRPC clients resolve DNS clusters only as LOGICAL_DNS with exactly one address (grpc-js-xds).
    const logical = svc.resolution === 'DNS_ROUND_ROBIN' || grpc;
    c.type = logical ? 'LOGICAL_DNS' : 'STRICT_DNS';
    if (!grpc) c.dnsLookupFamily = 'V4_ONLY';
    c.loadAssignment = dnsLoadAssignment(name, svc, port, endpoints, logical);
  } else {
    c.type = 'EDS';
    c.edsClusterConfig = grpc ? { edsConfig: ADS_SOURCE } : { serviceName: name, edsConfig: { ...ADS_SOURCE, initialFetchTimeout: { seconds: 0, nanos: 0 } } };
  }
  if (c.type !== 'ORIGINAL_DST') applyLb(c, pol, grpc);
  applyConnectionPool(c, pol, port, grpc);
  applyOutlier(c, pol);
  applyLocalityConfig(c, pol);
  if (!grpc) {
    applyTls(c, snapshot, svc, port.port, subset, pol, endpoints);
    c.metadata = { filterMetadata: { istio: { services: [{ host: svc.hostname, name: svc.name, namespace: svc.namespace }], ...(subset ? { subset } : {}) } } };
  }
  return c;
}

/**
 * buildInboundCluster returns `inbound|<port>||`, the local application for that port
 * (127.0.0.1:<port> unless a Sidecar ingress defaultEndpoint says otherwise). An HTTP/2 or gRPC
 * port speaks HTTP/2 to the application too (Istio's setUpstreamProtocol for inbound clusters).
 */
export function buildInboundCluster(snapshot: MeshSnapshot, port: number, endpoint: { address: string; port: number } = { address: '127.0.0.1', port }, protocol?: MeshServicePort['protocol']): EnvoyResource {
  const name = clusterName('inbound', port, '', '');
  return {
    ...(protocol !== undefined && HTTP2_PROTOCOLS.has(protocol) ? { typedExtensionProtocolOptions: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': HTTP_PROTOCOL_OPTIONS_TYPE, explicitHttpConfig: { http2ProtocolOptions: {} } } } } : {}),
    name,
    type: 'STATIC',
    connectTimeout: durationMs(snapshot.meshConfig.connectTimeoutMs),
    lbPolicy: 'LEAST_REQUEST',
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: socketAddress(endpoint.address, endpoint.port) } }] }] },
    circuitBreakers: { thresholds: [{ maxConnections: { value: MAX_U32 }, maxPendingRequests: { value: MAX_U32 }, maxRequests: { value: MAX_U32 }, maxRetries: { value: MAX_U32 }, trackRemaining: true }] },
  };
}

/** Istio's well-known clusters: BlackHoleCluster (drops), PassthroughCluster and InboundPassthroughCluster (original destination). */
export function wellKnownClusters(snapshot: MeshSnapshot): EnvoyResource[] {
  const ct = durationMs(snapshot.meshConfig.connectTimeoutMs);
  return [
    { name: BLACKHOLE_CLUSTER, type: 'STATIC', connectTimeout: ct },
    { name: INBOUND_PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', connectTimeout: ct },
    { name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', connectTimeout: ct },
  ];
}
