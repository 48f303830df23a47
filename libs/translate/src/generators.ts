/**
 * The generators, one per xDS type URL (Istio's pilot stage 3): each is a pure function
 * `(proxy, snapshot, names?) → resources`. `names` are the resource names the proxy
 * subscribed to; proxyless gRPC listeners are built for exactly those names, and for RDS/EDS
 * the output is narrowed to them when given.
 */
import type { ProxyNode } from '@meshwork/api';
import { buildInboundCluster, buildOutboundCluster, buildServiceClusters, wellKnownClusters } from './cluster.js';
import { buildLoadAssignment, buildServiceLoadAssignments } from './endpoint.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, type EnvoyResource, type TypeUrl } from './envoy.js';
import { autoPassthroughTargets, gatewayListeners, gatewayRoutes } from './gateway.js';
import { grpcListeners, grpcRoutes } from './grpc.js';
import { byName, inboundPorts, sidecarListeners, sidecarRoutes } from './sidecar.js';
import { simulate, type SimulatedRequest, type SimulationResult } from './simulate.js';
import { contentHash, visibleServices, type MeshSnapshot } from './snapshot.js';

/** A generator: the resources of one type URL for one proxy. */
export type Generator = (proxy: ProxyNode, snapshot: MeshSnapshot, names?: readonly string[]) => EnvoyResource[];

const views = new WeakMap<ProxyNode, ProxyNode>();

/**
 * proxyView returns the part of a proxy that translation may read: type, namespace, labels,
 * locality. Generators run on this projection, so their output cannot depend on anything else
 * (pod name, IP, service account), and cacheKey hashes exactly it — identical workloads share
 * cache entries, and a cache keyed this way can never miss an input.
 */
export function proxyView(proxy: ProxyNode): ProxyNode {
  let v = views.get(proxy);
  if (!v) {
    v = Object.freeze({
      id: '',
      type: proxy.type,
      ipAddresses: [],
      workloadName: '',
      namespace: proxy.namespace,
      labels: proxy.labels,
      ...(proxy.locality ? { locality: proxy.locality } : {}),
      metadata: {},
    });
    views.set(proxy, v);
  }
  return v;
}

function narrow(resources: EnvoyResource[], names: readonly string[] | undefined, key: 'name' | 'clusterName'): EnvoyResource[] {
  if (!names || names.length === 0) return resources;
  const wanted = new Set(names);
  return resources.filter((r) => wanted.has(String(r[key])));
}

/**
 * generateListeners returns the LDS output for a proxy: for sidecars the outbound per-port
 * listeners, virtualOutbound (15001) and virtualInbound (15006); for gateways one listener per
 * Gateway server port; for proxyless gRPC the API listeners named in `names`.
 */
export const generateListeners: Generator = (node, snapshot, names) => {
  const proxy = proxyView(node);
  switch (proxy.type) {
    case 'grpc':
      return grpcListeners(proxy, snapshot, names ?? []);
    case 'router':
      return gatewayListeners(proxy, snapshot);
    default:
      return sidecarListeners(proxy, snapshot);
  }
};

/**
 * generateRoutes returns the RDS output for a proxy: sidecars get one RouteConfiguration per
 * outbound HTTP port (`9080`) and the aggregate `15001`; gateways `http.<port>` and
 * `https.<port>.<portName>.<gateway>.<ns>`; gRPC clients `outbound|<port>||<host>`.
 */
export const generateRoutes: Generator = (node, snapshot, names) => {
  const proxy = proxyView(node);
  switch (proxy.type) {
    case 'grpc':
      return grpcRoutes(proxy, snapshot, names ?? []);
    case 'router':
      return narrow(gatewayRoutes(proxy, snapshot), names, 'name');
    default:
      return narrow(sidecarRoutes(proxy, snapshot), names, 'name');
  }
};

/**
 * generateClusters returns the CDS output for a proxy: `outbound|port|subset|host` for every
 * visible service port and DestinationRule subset; sidecars also get `inbound|port||` per
 * workload port and BlackHoleCluster / PassthroughCluster / InboundPassthroughCluster.
 */
export const generateClusters: Generator = (node, snapshot, names) => {
  const proxy = proxyView(node);
  const out: EnvoyResource[] = [];
  for (const s of visibleServices(snapshot, proxy)) out.push(...buildServiceClusters(proxy, snapshot, s));
  if (proxy.type === 'sidecar') {
    for (const { port, endpoint, protocol } of inboundPorts(proxy, snapshot)) out.push(buildInboundCluster(snapshot, port, endpoint, protocol));
  }
  if (proxy.type === 'router') {
    // SNI-DNAT clusters of AUTO_PASSTHROUGH servers: the service's endpoints, no TLS of our own (the client's passes through).
    for (const t of autoPassthroughTargets(proxy, snapshot)) {
      // A copy: built clusters are shared (memo.ts) and must not be edited.
      const c = { ...buildOutboundCluster(proxy, snapshot, t.service, t.port, t.subset) };
      delete c.transportSocket;
      delete c.transportSocketMatches;
      c.name = t.sni;
      if (c.edsClusterConfig) c.edsClusterConfig = { ...(c.edsClusterConfig as object), serviceName: t.sni };
      if (c.loadAssignment) c.loadAssignment = { ...(c.loadAssignment as object), clusterName: t.sni };
      out.push(c);
    }
  }
  if (proxy.type !== 'grpc') out.push(...wellKnownClusters(snapshot));
  return narrow(out.sort(byName), names, 'name');
};

/**
 * generateEndpoints returns the EDS output for a proxy: one ClusterLoadAssignment per EDS
 * cluster it gets (services resolved by the registry; DNS and passthrough clusters carry no EDS).
 */
export const generateEndpoints: Generator = (node, snapshot, names) => {
  const proxy = proxyView(node);
  const out: EnvoyResource[] = [];
  for (const s of visibleServices(snapshot, proxy)) {
    if (proxy.type !== 'grpc' && s.resolution !== 'STATIC') continue;
    out.push(...buildServiceLoadAssignments(proxy, snapshot, s));
  }
  if (proxy.type === 'router') {
    for (const t of autoPassthroughTargets(proxy, snapshot)) {
      if (t.service.resolution === 'STATIC') out.push({ ...buildLoadAssignment(proxy, snapshot, t.service, t.port, t.subset), clusterName: t.sni });
    }
  }
  return narrow(out.sort(byName), names, 'clusterName');
};

/** The generator for each type URL (the table apps/pilot dispatches on). */
export const GENERATORS: Readonly<Record<TypeUrl, Generator>> = {
  [LISTENER_TYPE]: generateListeners,
  [ROUTE_TYPE]: generateRoutes,
  [CLUSTER_TYPE]: generateClusters,
  [ENDPOINT_TYPE]: generateEndpoints,
};

/** generateAll returns every type's resources for a proxy (the full SotW state), keyed by type URL. */
export function generateAll(proxy: ProxyNode, snapshot: MeshSnapshot, names: Partial<Record<TypeUrl, readonly string[]>> = {}): Record<TypeUrl, EnvoyResource[]> {
  return {
    [CLUSTER_TYPE]: generateClusters(proxy, snapshot, names[CLUSTER_TYPE]),
    [ENDPOINT_TYPE]: generateEndpoints(proxy, snapshot, names[ENDPOINT_TYPE]),
    [LISTENER_TYPE]: generateListeners(proxy, snapshot, names[LISTENER_TYPE]),
    [ROUTE_TYPE]: generateRoutes(proxy, snapshot, names[ROUTE_TYPE]),
  } as Record<TypeUrl, EnvoyResource[]>;
}

/**
 * cacheKey returns the key under which a generator's output may be cached: a hash of exactly
 * the generator's inputs (type URL, snapshot version, proxyView of the proxy, the requested
 * names), so a cache keyed by it can never serve output computed from different inputs.
 */
export function cacheKey(typeUrl: TypeUrl, proxy: ProxyNode, snapshot: MeshSnapshot, names: readonly string[] = []): string {
  return contentHash({ typeUrl, snapshot: snapshot.version, proxy: proxyView(proxy), names: [...names].sort() });
}

/**
 * simulateFor returns where `request` goes from this proxy: the full generated state
 * (generateAll) run through the simulator — the one-call form for tests that state intent.
 */
export function simulateFor(proxy: ProxyNode, snapshot: MeshSnapshot, request: SimulatedRequest, names: Partial<Record<TypeUrl, readonly string[]>> = {}): SimulationResult {
  return simulate(generateAll(proxy, snapshot, names), request);
}
