/**
 * Sidecar listeners and route configurations (Istio's v1alpha3 listener/route builders,
 * adapted to Meshwork's sidecar).
 *
 * Outbound, as in Istio: one `0.0.0.0_<port>` listener per HTTP service port (bindToPort
 * false) whose HCM uses the route configuration named `<port>`, and one `<vip>_<port>`
 * (or `0.0.0.0_<port>`) TCP proxy listener per TCP service port.
 *
 * Meshwork difference: Meshwork's sidecar is an explicit HTTP proxy on 15001 (apps send
 * `Host: reviews:9080`), so `virtualOutbound` on 15001 is an HTTP listener whose route
 * configuration `15001` aggregates the virtual hosts of every outbound HTTP port. Because
 * one configuration then holds several ports, its domains are port-qualified
 * (`reviews:9080`, `reviews.default.svc.cluster.local:9080`, ...) and bare names are added
 * only for port 80, where clients leave the port out of the Host header.
 *
 * Inbound: `virtualInbound` on 15006 with one filter chain per workload port (chosen by
 * destination port), mTLS per PeerAuthentication, each forwarding to `inbound|<port>||`.
 */
import { inboundAuthnFilters } from './authn.js';
import { inboundHttpRbacFilters, inboundNetworkRbacFilters } from './authz.js';
import { inboundRateLimitFilters } from './ratelimit.js';
import { hcmTelemetry, tcpStatsFilters } from './telemetry.js';
import type { MeshServicePort, ProxyNode, Service } from '@meshwork/api';
import { istioCommonTlsContext } from './cluster.js';
import { ADS_SOURCE, CORS_TYPE, DOWNSTREAM_TLS_TYPE, FAULT_TYPE, HCM_TYPE, ROUTER_FILTER, socketAddress, TCP_PROXY_TYPE, type EnvoyResource } from './envoy.js';
import { clusterName, hostAliases, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, VIRTUAL_INBOUND_PORT, VIRTUAL_OUTBOUND_PORT, VIRTUAL_OUTBOUND_ROUTE } from './names.js';
import { defaultRoute, translateVirtualService, type RouteContext } from './route.js';
import { fingerprint, memoized } from './memo.js';
import { destinationRuleFor, hostMatches, labelsMatch, peerAuthenticationMode, resolveHost, serviceFor, sidecarFor, virtualServicesFor, visibleServices, type IndexedVirtualService, type MeshSnapshot } from './snapshot.js';

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-Web', 'HTTP_PROXY']);

/** The listener filter that reads SNI and ALPN, needed by filter chains matching on them. */
export const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };

/** Whether a port carries HTTP (and so gets HCM + RDS rather than a TCP proxy). */
export function isHttpPort(p: MeshServicePort): boolean {
  return HTTP_PROTOCOLS.has(p.protocol);
}

/** The HTTP filters of an outbound HCM: fault and CORS (configured per route), router last. */
export function httpFilters(grpc: boolean): EnvoyResource[] {
  const fault = { name: 'envoy.filters.http.fault', typedConfig: { '@type': FAULT_TYPE } };
  if (grpc) return [fault, ROUTER_FILTER];
  return [fault, { name: 'envoy.filters.http.cors', typedConfig: { '@type': CORS_TYPE } }, ROUTER_FILTER];
}

/** An HCM network filter that fetches route configuration `routeName` over ADS. */
export function rdsHcm(statPrefix: string, routeName: string, extra: EnvoyResource = {}): EnvoyResource {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typedConfig: { '@type': HCM_TYPE, statPrefix, rds: { configSource: ADS_SOURCE, routeConfigName: routeName }, httpFilters: httpFilters(false), ...extra },
  };
}

/** A TCP proxy network filter to one cluster. */
export function tcpProxy(cluster: string): EnvoyResource {
  return { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP_PROXY_TYPE, statPrefix: cluster, cluster } };
}

/** The outbound traffic policy in force for this proxy: its Sidecar's, else MeshConfig's. */
function outboundPolicy(snapshot: MeshSnapshot, proxy: ProxyNode): 'ALLOW_ANY' | 'REGISTRY_ONLY' {
  const mode = (sidecarFor(snapshot, proxy)?.spec.outboundTrafficPolicy as { mode?: string } | undefined)?.mode;
  return mode === 'REGISTRY_ONLY' || mode === 'ALLOW_ANY' ? mode : snapshot.meshConfig.outboundTrafficPolicy;
}

/** sidecarListeners returns the LDS output for a sidecar: outbound per-port listeners, virtualOutbound (15001) and virtualInbound (15006). */
export function sidecarListeners(proxy: ProxyNode, snapshot: MeshSnapshot): EnvoyResource[] {
  const services = visibleServices(snapshot, proxy);
  const out: EnvoyResource[] = [];
  // Telemetry resources: tracing and access_log of the outbound (CLIENT) HCMs (telemetry.ts).
  const clientTelemetry = hcmTelemetry(snapshot, proxy, 'CLIENT');
  const tcpStats = tcpStatsFilters(snapshot, proxy);
  const httpPorts = new Set<number>();
  for (const s of services) for (const p of s.ports) if (isHttpPort(p)) httpPorts.add(p.port);
  for (const port of [...httpPorts].sort((a, b) => a - b)) {
    out.push({
      name: `0.0.0.0_${port}`,
      address: socketAddress('0.0.0.0', port),
      trafficDirection: 'OUTBOUND',
      bindToPort: { value: false },
      filterChains: [{ filters: [rdsHcm(`outbound_0.0.0.0_${port}`, String(port), clientTelemetry)] }],
    });
  }
  // TCP ports: a listener per VIP; services without a VIP share `0.0.0.0_<port>`, where TLS
  // services are told apart by SNI (Istio's behaviour for external TLS hosts) and the first
  // plain TCP service takes the catch-all chain.
  const tcp = new Map<string, { vip: string; port: number; chains: EnvoyResource[]; catchAll: boolean }>();
  for (const s of services) {
    for (const p of s.ports) {
      if (isHttpPort(p)) continue;
      const vip = s.addresses[0] ?? '0.0.0.0';
      // Without a VIP a TCP service cannot share a port with the HTTP wildcard listener.
      if (vip === '0.0.0.0' && httpPorts.has(p.port)) continue;
      const name = `${vip}_${p.port}`;
      const l = tcp.get(name) ?? { vip, port: p.port, chains: [], catchAll: false };
      tcp.set(name, l);
      const filters = [...tcpStats, tcpProxy(tcpCluster(proxy, snapshot, s, p))];
      const sni = vip === '0.0.0.0' && (p.protocol === 'TLS' || p.protocol === 'HTTPS');
      if (sni) l.chains.push({ filterChainMatch: { serverNames: [s.hostname] }, filters });
      else if (!l.catchAll) {
        l.chains.push({ filters });
        l.catchAll = true;
      }
    }
  }
  for (const [name, l] of tcp) {
    const sniChains = l.chains.some((c) => c.filterChainMatch);
    out.push({
      name,
      address: socketAddress(l.vip, l.port),
      trafficDirection: 'OUTBOUND',
      bindToPort: { value: false },
      ...(sniChains ? { listenerFilters: [TLS_INSPECTOR] } : {}),
      filterChains: l.chains,
    });
  }
  bindEgressListeners(proxy, snapshot, out);
  out.push({
    name: 'virtualOutbound',
    address: socketAddress('0.0.0.0', VIRTUAL_OUTBOUND_PORT),
    trafficDirection: 'OUTBOUND',
    useOriginalDst: { value: true },
    filterChains: [{ filters: [rdsHcm('outbound_0.0.0.0_15001', VIRTUAL_OUTBOUND_ROUTE, clientTelemetry)] }],
  });
  out.push(virtualInbound(proxy, snapshot));
  return out.sort(byName);
}

/**
 * Sidecar egress listeners with `captureMode: NONE` (or a `bind`) are real sockets the application
 * dials, not iptables targets: the per-port listener moves to `<bind>:<port>` — bind defaults to
 * 127.0.0.1 under NONE, as Istio documents — named `<bind>_<port>`, and is bound (bind_to_port)
 * only under NONE. TCP listeners of that port are merged into one (the first catch-all wins).
 */
function bindEgressListeners(proxy: ProxyNode, snapshot: MeshSnapshot, out: EnvoyResource[]): void {
  for (const e of sidecarFor(snapshot, proxy)?.spec.egress ?? []) {
    const port = e.port?.number;
    const none = e.captureMode === 'NONE';
    if (!port || (!none && !e.bind)) continue;
    const addr = e.bind ?? (none ? '127.0.0.1' : '0.0.0.0');
    const mine = out.filter((l) => (l.address as { socketAddress: { portValue: number } }).socketAddress.portValue === port);
    if (mine.length === 0) continue;
    const chains: EnvoyResource[] = [];
    let catchAll = false;
    for (const l of mine) {
      for (const c of l.filterChains as EnvoyResource[]) {
        if (!c.filterChainMatch) {
          if (catchAll) continue;
          catchAll = true;
        }
        chains.push(c);
      }
      out.splice(out.indexOf(l), 1);
    }
    const withSni = mine.find((l) => l.listenerFilters);
    out.push({
      name: `${addr}_${port}`,
      address: socketAddress(addr, port),
      trafficDirection: 'OUTBOUND',
      bindToPort: { value: none },
      ...(withSni ? { listenerFilters: withSni.listenerFilters } : {}),
      filterChains: chains,
    });
  }
}

/** TCP routing: the first matching VirtualService tcp rule's destination, else the service's own cluster. */
function tcpCluster(proxy: ProxyNode, snapshot: MeshSnapshot, s: Service, p: MeshServicePort): string {
  const vs = findVirtualService(virtualServicesFor(snapshot, proxy, 'mesh'), s.hostname);
  const resolve = (h: string): string => resolveHost(h, vs?.namespace ?? proxy.namespace, snapshot.meshConfig.domainSuffix);
  // TLS rules route on SNI; the SNI a client sends for this service is its hostname.
  if (p.protocol === 'TLS' || p.protocol === 'HTTPS') {
    for (const rule of vs?.spec.tls ?? []) {
      const applies = (rule.match ?? []).some((m) => (m.port === undefined || m.port === p.port) && labelsMatch(m.sourceLabels, proxy.labels) && m.sniHosts.some((h) => hostMatches(h, s.hostname)));
      const d = rule.route?.[0]?.destination;
      if (applies && d) return clusterName('outbound', d.port?.number ?? p.port, d.subset ?? '', resolve(d.host));
    }
  }
  for (const rule of vs?.spec.tcp ?? []) {
    const applies = !rule.match || rule.match.length === 0 || rule.match.some((m) => (m.port === undefined || m.port === p.port) && labelsMatch(m.sourceLabels, proxy.labels));
    const d = rule.route?.[0]?.destination;
    if (applies && d) return clusterName('outbound', d.port?.number ?? p.port, d.subset ?? '', resolve(d.host));
  }
  return clusterName('outbound', p.port, '', s.hostname);
}

/** One inbound port of this workload and where the application listens for it. */
export interface InboundPort {
  readonly port: number;
  readonly protocol: MeshServicePort['protocol'];
  /** The application's address (`127.0.0.1:<port>` unless a Sidecar ingress listener names a defaultEndpoint). */
  readonly endpoint: { readonly address: string; readonly port: number };
}

const PROTOCOLS: Record<string, MeshServicePort['protocol']> = { HTTP: 'HTTP', HTTP2: 'HTTP2', GRPC: 'GRPC', 'GRPC-WEB': 'GRPC-Web', HTTPS: 'HTTPS', TLS: 'TLS', TCP: 'TCP', MONGO: 'Mongo', REDIS: 'Redis', MYSQL: 'MySQL' };

/**
 * The workload ports of this proxy: a Sidecar's `ingress` listeners when it has any (Istio then
 * ignores the services), else the ports (target ports) of the services that select the workload.
 */
export function inboundPorts(proxy: ProxyNode, snapshot: MeshSnapshot): InboundPort[] {
  const ingress = sidecarFor(snapshot, proxy)?.spec.ingress ?? [];
  if (ingress.length > 0) {
    return ingress
      .filter((l) => l.port.number)
      .map((l) => {
        const port = l.port.number ?? 0;
        const ep = /^(?:unix:\/\/.*|(.*):(\d+))$/.exec(l.defaultEndpoint ?? '');
        const endpoint = ep && ep[2] ? { address: ep[1] === '0.0.0.0' || ep[1] === '' ? '127.0.0.1' : ep[1], port: Number(ep[2]) } : { address: '127.0.0.1', port };
        return { port, protocol: PROTOCOLS[(l.port.protocol ?? 'TCP').toUpperCase()] ?? 'TCP', endpoint };
      })
      .sort((a, b) => a.port - b.port);
  }
  const ports = new Map<number, MeshServicePort['protocol']>();
  for (const s of snapshot.services) {
    if (s.namespace !== proxy.namespace || !s.selector || Object.keys(s.selector).length === 0 || !labelsMatch(s.selector, proxy.labels)) continue;
    for (const p of s.ports) {
      const port = p.targetPort ?? p.port;
      if (!ports.has(port)) ports.set(port, p.protocol);
    }
  }
  return [...ports.entries()].sort((a, b) => a[0] - b[0]).map(([port, protocol]) => ({ port, protocol, endpoint: { address: '127.0.0.1', port } }));
}

function virtualInbound(proxy: ProxyNode, snapshot: MeshSnapshot): EnvoyResource {
  const chains: EnvoyResource[] = [];
  const tcpStats = tcpStatsFilters(snapshot, proxy);
  for (const { port, protocol } of inboundPorts(proxy, snapshot)) {
    const cluster = clusterName('inbound', port, '', '');
    const http = HTTP_PROTOCOLS.has(protocol);
    const filters = http
      ? [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typedConfig: {
              '@type': HCM_TYPE,
              statPrefix: `inbound_0.0.0.0_${port}`,
              routeConfig: {
                name: cluster,
                virtualHosts: [{ name: `inbound|http|${port}`, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster, timeout: { seconds: 0, nanos: 0 }, maxStreamDuration: { maxStreamDuration: { seconds: 0, nanos: 0 }, grpcTimeoutHeaderMax: { seconds: 0, nanos: 0 } } } }] }],
                validateClusters: { value: false },
              },
              // Istio's inbound order: authentication (jwt_authn, istio_authn), then RBAC, then rate limits (ratelimit.ts), then the router.
              httpFilters: [...inboundAuthnFilters(proxy, snapshot, port), ...inboundHttpRbacFilters(proxy, snapshot, port), ...inboundRateLimitFilters(proxy, snapshot, port), ROUTER_FILTER],
              forwardClientCertDetails: 'APPEND_FORWARD',
              setCurrentClientCertDetails: { subject: { value: true }, dns: true, uri: true },
              ...hcmTelemetry(snapshot, proxy, 'SERVER'),
            },
          },
        ]
      : [...inboundNetworkRbacFilters(proxy, snapshot, port), ...tcpStats, tcpProxy(cluster)];
    const mode = peerAuthenticationMode(snapshot, proxy, port);
    const tls = {
      name: 'envoy.transport_sockets.tls',
      typedConfig: { '@type': DOWNSTREAM_TLS_TYPE, commonTlsContext: istioCommonTlsContext([], ['istio-peer-exchange', 'h2', 'http/1.1']), requireClientCertificate: { value: true } },
    };
    if (mode !== 'DISABLE') chains.push({ name: `${cluster}-mtls`, filterChainMatch: { destinationPort: { value: port }, transportProtocol: 'tls' }, filters, transportSocket: tls });
    if (mode !== 'STRICT') chains.push({ name: `${cluster}-plaintext`, filterChainMatch: { destinationPort: { value: port }, ...(mode === 'PERMISSIVE' ? { transportProtocol: 'raw_buffer' } : {}) }, filters });
  }
  return {
    name: 'virtualInbound',
    address: socketAddress('0.0.0.0', VIRTUAL_INBOUND_PORT),
    trafficDirection: 'INBOUND',
    useOriginalDst: { value: true },
    listenerFilters: [TLS_INSPECTOR],
    filterChains: chains,
    // Ports that no service declares pass through to the application unchanged, as in Istio.
    defaultFilterChain: { name: 'inbound-passthrough', filters: [tcpProxy(INBOUND_PASSTHROUGH_CLUSTER)] },
  };
}

const vsIndexes = new WeakMap<readonly IndexedVirtualService[], { exact: Map<string, IndexedVirtualService>; wildcards: { host: string; vs: IndexedVirtualService }[] }>();

/** The VirtualService that owns a hostname: exact host first, then the most specific wildcard; the first in config order on ties. */
export function findVirtualService(list: readonly IndexedVirtualService[], hostname: string): IndexedVirtualService | undefined {
  let idx = vsIndexes.get(list);
  if (!idx) {
    idx = { exact: new Map(), wildcards: [] };
    for (const vs of list) {
      for (const h of vs.hosts) {
        if (h.startsWith('*')) idx.wildcards.push({ host: h, vs });
        else if (!idx.exact.has(h)) idx.exact.set(h, vs);
      }
    }
    vsIndexes.set(list, idx);
  }
  const exact = idx.exact.get(hostname);
  if (exact) return exact;
  let best: IndexedVirtualService | undefined;
  let bestLen = -1;
  for (const { host, vs } of idx.wildcards) {
    if (host !== hostname && hostMatches(host, hostname) && host.length > bestLen) {
      best = vs;
      bestLen = host.length;
    }
  }
  return best;
}

/** Domains of a service's virtual host on `port`: aliases and VIPs, with `:port` variants (bare forms only when `bare`). */
function vhostDomains(s: Service, port: number, proxyNs: string, domainSuffix: string, bare: boolean): string[] {
  const names = [...hostAliases(s.hostname, proxyNs, domainSuffix), ...s.addresses];
  const out: string[] = [];
  for (const n of names) {
    if (bare) out.push(n);
    out.push(`${n}:${port}`);
  }
  return out;
}

/**
 * The virtual host of a service no VirtualService routes: its domains and the default route.
 * Memoized (memo.ts) on what vhostDomains and defaultRoute read, so route configurations of
 * different pushes and views share these objects and compare cheaply (libs/xds's encoder).
 */
function defaultVirtualHost(ctx: RouteContext, s: Service, bare: boolean): EnvoyResource {
  const { proxy, snapshot, port } = ctx;
  // defaultRoute's consistent hash comes from the rule serviceFor's namespace selects.
  const dr = destinationRuleFor(snapshot, proxy, s.hostname, serviceFor(snapshot, proxy, s.hostname)?.namespace);
  const key = ['vh', proxy.type, proxy.namespace, fingerprint(snapshot, s), port, bare, fingerprint(snapshot, dr)];
  return memoized(snapshot, key, () => ({
    name: `${s.hostname}:${port}`,
    domains: vhostDomains(s, port, proxy.namespace, snapshot.meshConfig.domainSuffix, bare),
    routes: [defaultRoute(clusterName('outbound', port, '', s.hostname), ctx, s.hostname)],
    includeRequestAttemptCount: true,
  }));
}

/** The outbound virtual hosts for one port. */
function portVirtualHosts(proxy: ProxyNode, snapshot: MeshSnapshot, port: number, bare: (port: number) => boolean): EnvoyResource[] {
  const vss = virtualServicesFor(snapshot, proxy, 'mesh');
  const out: EnvoyResource[] = [];
  const ctx: RouteContext = { proxy, snapshot, port, gateway: 'mesh' };
  for (const s of visibleServices(snapshot, proxy)) {
    const p = s.ports.find((x) => x.port === port && isHttpPort(x));
    if (!p) continue;
    const vs = findVirtualService(vss, s.hostname);
    if (!vs) {
      out.push(defaultVirtualHost(ctx, s, bare(port)));
      continue;
    }
    out.push({ name: `${s.hostname}:${port}`, domains: vhostDomains(s, port, proxy.namespace, snapshot.meshConfig.domainSuffix, bare(port)), routes: translateVirtualService(ctx, vs), includeRequestAttemptCount: true });
  }
  if (port === 80) out.push(...nonRegistryVirtualHosts(proxy, snapshot, ctx));
  return out;
}

/**
 * VirtualService hosts that name no visible service (say `api.example.com` routed to an internal
 * service) get virtual hosts on port 80 only, as in Istio's sidecar route builder.
 */
function nonRegistryVirtualHosts(proxy: ProxyNode, snapshot: MeshSnapshot, ctx: RouteContext): EnvoyResource[] {
  const services = visibleServices(snapshot, proxy);
  const seen = new Set<string>();
  const out: EnvoyResource[] = [];
  for (const vs of virtualServicesFor(snapshot, proxy, 'mesh')) {
    for (const h of vs.hosts) {
      if (h === '*' || seen.has(h) || services.some((s) => hostMatches(h, s.hostname) || s.hostname === h)) continue;
      seen.add(h);
      const routes = translateVirtualService(ctx, vs);
      if (routes.length > 0) out.push({ name: `${h}:80`, domains: [h, `${h}:80`], routes, includeRequestAttemptCount: true });
    }
  }
  return out;
}

/** The catch-all virtual host: pass unknown hosts through (ALLOW_ANY) or answer 502 (REGISTRY_ONLY). */
function catchAll(snapshot: MeshSnapshot, proxy: ProxyNode): EnvoyResource {
  if (outboundPolicy(snapshot, proxy) === 'REGISTRY_ONLY') {
    return { name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, directResponse: { status: 502 } }], includeRequestAttemptCount: true };
  }
  return {
    name: 'allow_any',
    domains: ['*'],
    routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: PASSTHROUGH_CLUSTER, timeout: { seconds: 0, nanos: 0 }, maxGrpcTimeout: { seconds: 0, nanos: 0 } } }],
    includeRequestAttemptCount: true,
  };
}

/** sidecarRoutes returns the RDS output for a sidecar: one configuration per outbound HTTP port (`9080`) plus the aggregate `15001`. */
export function sidecarRoutes(proxy: ProxyNode, snapshot: MeshSnapshot): EnvoyResource[] {
  const ports = new Set<number>();
  for (const s of visibleServices(snapshot, proxy)) for (const p of s.ports) if (isHttpPort(p)) ports.add(p.port);
  // The aggregate always holds port 80's virtual hosts, for VirtualService hosts outside the registry.
  const aggregatePorts = [...new Set([...ports, 80])].sort((a, b) => a - b);
  const sorted = [...ports].sort((a, b) => a - b);
  const out: EnvoyResource[] = [];
  for (const port of sorted) {
    out.push({ name: String(port), virtualHosts: dedupeDomains([...portVirtualHosts(proxy, snapshot, port, () => true), catchAll(snapshot, proxy)]), validateClusters: { value: false } });
  }
  const aggregate: EnvoyResource[] = [];
  for (const port of aggregatePorts) aggregate.push(...portVirtualHosts(proxy, snapshot, port, (p) => p === 80));
  out.push({ name: VIRTUAL_OUTBOUND_ROUTE, virtualHosts: dedupeDomains([...aggregate, catchAll(snapshot, proxy)]), validateClusters: { value: false } });
  return out;
}


const lowered = new WeakMap<EnvoyResource, string[]>();
/** A virtual host's domains in lower case, once per (often shared) virtual host object. */
function lowerDomains(vh: EnvoyResource): string[] {
  let l = lowered.get(vh);
  if (!l) lowered.set(vh, (l = (vh.domains as string[]).map((d) => d.toLowerCase())));
  return l;
}

/**
 * Envoy refuses a whole RouteConfiguration in which two virtual hosts share a domain, so a
 * domain already claimed (two services on one VIP, say) is dropped from later virtual hosts,
 * and a virtual host left without domains is dropped, as Istio's dedupeDomains does.
 */
export function dedupeDomains(vhosts: readonly EnvoyResource[]): EnvoyResource[] {
  const seen = new Set<string>();
  const out: EnvoyResource[] = [];
  for (const vh of vhosts) {
    const lower = lowerDomains(vh);
    const domains = (vh.domains as string[]).filter((_, i) => !seen.has(lower[i]));
    for (const d of lower) seen.add(d);
    // Kept as is when nothing was dropped: virtual hosts may be shared (memoized) objects.
    if (domains.length === (vh.domains as string[]).length) out.push(vh);
    else if (domains.length > 0) out.push({ ...vh, domains });
  }
  return out;
}

/** Orders resources by name (clusterName for load assignments) so output is deterministic. */
export function byName(a: EnvoyResource, b: EnvoyResource): number {
  const x = String(a.name ?? a.clusterName);
  const y = String(b.name ?? b.clusterName);
  return x < y ? -1 : x > y ? 1 : 0;
}
