/**
 * Gateway (router) listeners and routes (Istio's gateway builders): one listener per
 * Gateway server port, filter chains per server (TLS termination by SNI, passthrough),
 * HTTP route configurations `http.<port>` (plain) and `https.<port>.<portName>.<gateway>.<ns>`
 * (terminated TLS) from the VirtualServices bound to the Gateway.
 */
import type { MeshServicePort, ProxyNode, Server, Service } from '@meshwork/api';
import { istioCommonTlsContext, SDS_CONFIG } from './cluster.js';
import { DOWNSTREAM_TLS_TYPE, socketAddress, type EnvoyResource } from './envoy.js';
import { clusterName, istioSni } from './names.js';
import { isCatchAll, translateVirtualService, type RouteContext } from './route.js';
import { byName, dedupeDomains, rdsHcm, tcpProxy, TLS_INSPECTOR } from './sidecar.js';
import { inboundRateLimitFilters } from './ratelimit.js';
import { hcmTelemetry, tcpStatsFilters } from './telemetry.js';
import { destinationRuleFor, gatewaysFor, hostMatches, resolveHost, virtualServicesFor, visibleServices, type IndexedGateway, type IndexedVirtualService, type MeshSnapshot } from './snapshot.js';

const HTTP = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY']);

interface BoundServer {
  readonly gateway: IndexedGateway;
  readonly server: Server;
  readonly protocol: string;
}

function servers(proxy: ProxyNode, snapshot: MeshSnapshot): BoundServer[] {
  const out: BoundServer[] = [];
  for (const g of gatewaysFor(snapshot, proxy)) for (const s of g.spec.servers ?? []) out.push({ gateway: g, server: s, protocol: s.port.protocol.toUpperCase() });
  return out;
}

/**
 * gatewayHcm returns a gateway listener's HTTP connection manager: Istio's gateway settings
 * (use_remote_address), the Telemetry resource's access logs and tracing for a CLIENT-mode proxy
 * (Istio treats gateways as clients), and the rate-limit filters of RateLimits that select the
 * gateway, before the router.
 */
function gatewayHcm(proxy: ProxyNode, snapshot: MeshSnapshot, port: number, routeName: string): EnvoyResource {
  const hcm = rdsHcm(`outbound_0.0.0.0_${port}`, routeName, { useRemoteAddress: { value: true }, ...hcmTelemetry(snapshot, proxy, 'CLIENT') });
  const rl = inboundRateLimitFilters(proxy, snapshot, port);
  if (rl.length > 0) {
    const tc = hcm.typedConfig as { httpFilters: EnvoyResource[] };
    tc.httpFilters = [...tc.httpFilters.slice(0, -1), ...rl, ...tc.httpFilters.slice(-1)];
  }
  return hcm;
}

/** Istio's RDS name for a server: `http.<port>` for plain HTTP, `https.<port>.<portName>.<gateway>.<ns>` for terminated TLS. */
export function gatewayRouteName(b: BoundServer): string {
  if (HTTP.has(b.protocol)) return `http.${b.server.port.number}`;
  return `https.${b.server.port.number}.${b.server.port.name}.${b.gateway.name}.${b.gateway.namespace}`;
}

function terminatesTls(b: BoundServer): boolean {
  const mode = b.server.tls?.mode ?? 'PASSTHROUGH';
  return b.protocol === 'HTTPS' && mode !== 'PASSTHROUGH' && mode !== 'AUTO_PASSTHROUGH';
}

/** The server's hosts without namespace prefixes, with the namespace filter kept for VirtualService binding. */
function serverHosts(b: BoundServer): { ns: string; host: string }[] {
  return b.server.hosts.map((h) => {
    const i = h.indexOf('/');
    return i < 0 ? { ns: '*', host: h } : { ns: h.slice(0, i), host: h.slice(i + 1) };
  });
}

function downstreamTls(b: BoundServer): EnvoyResource {
  const t = b.server.tls ?? {};
  const common: EnvoyResource = {};
  if (t.mode === 'ISTIO_MUTUAL') return { '@type': DOWNSTREAM_TLS_TYPE, commonTlsContext: istioCommonTlsContext([], ['h2', 'http/1.1']), requireClientCertificate: { value: true } };
  if (t.credentialName) {
    common.tlsCertificateSdsSecretConfigs = [{ name: `kubernetes://${t.credentialName}`, sdsConfig: SDS_CONFIG }];
    if (t.mode === 'MUTUAL' || t.mode === 'OPTIONAL_MUTUAL') common.validationContextSdsSecretConfig = { name: `kubernetes://${t.credentialName}-cacert`, sdsConfig: SDS_CONFIG };
  } else {
    if (t.serverCertificate && t.privateKey) common.tlsCertificates = [{ certificateChain: { filename: t.serverCertificate }, privateKey: { filename: t.privateKey } }];
    if (t.caCertificates) common.validationContext = { trustedCa: { filename: t.caCertificates }, ...(t.subjectAltNames?.length ? { matchSubjectAltNames: t.subjectAltNames.map((exact) => ({ exact })) } : {}) };
  }
  common.alpnProtocols = ['h2', 'http/1.1'];
  const versions: Record<string, string> = { TLS_AUTO: 'TLS_AUTO', TLSV1_0: 'TLSv1_0', TLSV1_1: 'TLSv1_1', TLSV1_2: 'TLSv1_2', TLSV1_3: 'TLSv1_3' };
  if (t.minProtocolVersion || t.maxProtocolVersion || t.cipherSuites?.length) {
    common.tlsParams = {
      ...(t.minProtocolVersion ? { tlsMinimumProtocolVersion: versions[t.minProtocolVersion] } : {}),
      ...(t.maxProtocolVersion ? { tlsMaximumProtocolVersion: versions[t.maxProtocolVersion] } : {}),
      ...(t.cipherSuites?.length ? { cipherSuites: t.cipherSuites } : {}),
    };
  }
  return { '@type': DOWNSTREAM_TLS_TYPE, commonTlsContext: common, ...(t.mode === 'MUTUAL' ? { requireClientCertificate: { value: true } } : {}) };
}

/** VirtualServices bound to a gateway whose namespace a server host entry admits. */
function boundVirtualServices(proxy: ProxyNode, snapshot: MeshSnapshot, b: BoundServer): IndexedVirtualService[] {
  const gw = `${b.gateway.namespace}/${b.gateway.name}`;
  const hosts = serverHosts(b);
  return virtualServicesFor(snapshot, proxy, gw).filter((vs) => hosts.some((h) => h.ns === '*' || (h.ns === '.' ? vs.namespace === b.gateway.namespace : h.ns === vs.namespace)));
}

/** A VS host and a server host intersect on the more specific of the two (undefined when disjoint). */
function intersect(vsHost: string, serverHost: string): string | undefined {
  if (hostMatches(serverHost, vsHost)) return vsHost;
  if (hostMatches(vsHost, serverHost)) return serverHost;
  return undefined;
}

/** A service port (and subset) an AUTO_PASSTHROUGH server forwards by SNI, with that SNI. */
export interface SniTarget {
  readonly service: Service;
  readonly port: MeshServicePort;
  readonly subset: string;
  /** Istio's SNI `outbound_.<port>_.<subset>_.<host>`, also the name of the SNI-DNAT cluster. */
  readonly sni: string;
}

function isAutoPassthrough(b: BoundServer): boolean {
  return b.server.tls?.mode === 'AUTO_PASSTHROUGH';
}

/**
 * autoPassthroughTargets returns what this gateway's AUTO_PASSTHROUGH servers (east-west
 * gateways) forward: every visible service port and DestinationRule subset whose host a server
 * admits, keyed by the SNI a meshed client sends (Istio's SNI-DNAT clusters).
 */
export function autoPassthroughTargets(proxy: ProxyNode, snapshot: MeshSnapshot, port?: number): SniTarget[] {
  const list = servers(proxy, snapshot).filter((b) => isAutoPassthrough(b) && (port === undefined || b.server.port.number === port));
  if (list.length === 0) return [];
  const out = new Map<string, SniTarget>();
  for (const s of visibleServices(snapshot, proxy)) {
    if (!list.some((b) => serverHosts(b).some((h) => (h.ns === '*' || h.ns === s.namespace) && hostMatches(h.host, s.hostname)))) continue;
    const dr = destinationRuleFor(snapshot, proxy, s.hostname, s.namespace);
    for (const p of s.ports) {
      for (const subset of ['', ...(dr?.spec.subsets ?? []).map((x) => x.name)]) {
        const sni = istioSni(p.port, subset, s.hostname);
        if (!out.has(sni)) out.set(sni, { service: s, port: p, subset, sni });
      }
    }
  }
  return [...out.values()].sort((a, b) => (a.sni < b.sni ? -1 : a.sni > b.sni ? 1 : 0));
}

/** gatewayListeners returns the LDS output for a gateway: `0.0.0.0_<port>` per server port with one filter chain per server. */
export function gatewayListeners(proxy: ProxyNode, snapshot: MeshSnapshot): EnvoyResource[] {
  const byPort = new Map<number, BoundServer[]>();
  for (const b of servers(proxy, snapshot)) {
    const l = byPort.get(b.server.port.number) ?? [];
    l.push(b);
    byPort.set(b.server.port.number, l);
  }
  const out: EnvoyResource[] = [];
  const tcpStats = tcpStatsFilters(snapshot, proxy);
  for (const [port, list] of [...byPort.entries()].sort((a, b) => a[0] - b[0])) {
    const chains: EnvoyResource[] = [];
    let needsInspector = false;
    for (const b of list) {
      const hostsForSni = serverHosts(b).map((h) => h.host).filter((h) => h !== '*');
      if (HTTP.has(b.protocol)) {
        // Several plain-HTTP servers on one port share one route configuration (Istio merges them).
        if (!chains.some((c) => c.name === `http.${port}`)) chains.push({ name: `http.${port}`, filters: [gatewayHcm(proxy, snapshot, port, gatewayRouteName(b))] });
      } else if (terminatesTls(b)) {
        needsInspector = true;
        chains.push({
          name: gatewayRouteName(b),
          filterChainMatch: hostsForSni.length > 0 ? { serverNames: hostsForSni } : {},
          transportSocket: { name: 'envoy.transport_sockets.tls', typedConfig: downstreamTls(b) },
          filters: [gatewayHcm(proxy, snapshot, port, gatewayRouteName(b))],
        });
      } else if (isAutoPassthrough(b)) {
        // East-west: the client's mTLS passes through untouched; its SNI names the destination cluster.
        needsInspector = true;
        for (const t of autoPassthroughTargets(proxy, snapshot, port)) {
          if (!chains.some((c) => (c.name as string | undefined) === t.sni)) chains.push({ name: t.sni, filterChainMatch: { serverNames: [t.sni] }, filters: [tcpProxy(t.sni)] });
        }
      } else if (b.protocol === 'TLS' || b.protocol === 'HTTPS') {
        // Passthrough: route on SNI using the VirtualServices' tls rules.
        needsInspector = true;
        for (const vs of boundVirtualServices(proxy, snapshot, b)) {
          for (const rule of vs.spec.tls ?? []) {
            for (const m of rule.match ?? []) {
              if (m.port !== undefined && m.port !== port) continue;
              const d = rule.route?.[0]?.destination;
              if (!d) continue;
              const host = resolveHost(d.host, vs.namespace, snapshot.meshConfig.domainSuffix);
              chains.push({ filterChainMatch: { serverNames: m.sniHosts }, filters: [...tcpStats, tcpProxy(clusterName('outbound', d.port?.number ?? port, d.subset ?? '', host))] });
            }
          }
        }
      } else {
        for (const vs of boundVirtualServices(proxy, snapshot, b)) {
          const rule = (vs.spec.tcp ?? []).find((r) => !r.match || r.match.length === 0 || r.match.some((m) => m.port === undefined || m.port === port));
          const d = rule?.route?.[0]?.destination;
          if (!d) continue;
          const host = resolveHost(d.host, vs.namespace, snapshot.meshConfig.domainSuffix);
          chains.push({ filters: [...tcpStats, tcpProxy(clusterName('outbound', d.port?.number ?? port, d.subset ?? '', host))] });
          break;
        }
      }
    }
    if (chains.length === 0) continue;
    out.push({
      name: `0.0.0.0_${port}`,
      address: socketAddress('0.0.0.0', port),
      trafficDirection: 'OUTBOUND',
      ...(needsInspector ? { listenerFilters: [TLS_INSPECTOR] } : {}),
      filterChains: chains,
    });
  }
  return out.sort(byName);
}

/** Istio's SortVHostRoutes: catch-all routes move to the end, the others keep their order. */
function sortCatchAllLast(routes: EnvoyResource[]): EnvoyResource[] {
  return [...routes.filter((r) => !isCatchAll(r)), ...routes.filter(isCatchAll)];
}

/** gatewayRoutes returns the RDS output for a gateway: one configuration per HTTP port / TLS-terminating server. */
export function gatewayRoutes(proxy: ProxyNode, snapshot: MeshSnapshot): EnvoyResource[] {
  const configs = new Map<string, { port: number; servers: BoundServer[] }>();
  for (const b of servers(proxy, snapshot)) {
    if (!HTTP.has(b.protocol) && !terminatesTls(b)) continue;
    const name = gatewayRouteName(b);
    const c = configs.get(name) ?? { port: b.server.port.number, servers: [] };
    c.servers.push(b);
    configs.set(name, c);
  }
  const out: EnvoyResource[] = [];
  for (const [name, { port, servers: list }] of [...configs.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const vhosts = new Map<string, EnvoyResource>();
    const merged = new Set<string>();
    for (const b of list) {
      const gw = `${b.gateway.namespace}/${b.gateway.name}`;
      const ctx: RouteContext = { proxy, snapshot, port, gateway: gw };
      const redirect = HTTP.has(b.protocol) && b.server.tls?.httpsRedirect === true;
      for (const vs of boundVirtualServices(proxy, snapshot, b)) {
        for (const vh of vs.hosts) {
          for (const sh of serverHosts(b)) {
            const host = intersect(vh, sh.host);
            if (!host) continue;
            const existing = vhosts.get(host);
            if (existing) {
              // Istio merges the routes of several VirtualServices for one gateway host, catch-alls last.
              if (!merged.has(`${host}|${vs.namespace}/${vs.name}`)) {
                existing.routes = sortCatchAllLast([...(existing.routes as EnvoyResource[]), ...translateVirtualService(ctx, vs)]);
                merged.add(`${host}|${vs.namespace}/${vs.name}`);
              }
              continue;
            }
            merged.add(`${host}|${vs.namespace}/${vs.name}`);
            vhosts.set(host, {
              name: `${host}:${port}`,
              domains: host === '*' ? ['*'] : [host, `${host}:${port}`],
              routes: translateVirtualService(ctx, vs),
              ...(redirect ? { requireTls: 'ALL' } : {}),
              includeRequestAttemptCount: true,
            });
          }
        }
      }
    }
    // Istio keeps a listener's RDS valid with a host-less 404 virtual host when nothing is bound.
    const virtualHosts = vhosts.size > 0 ? dedupeDomains([...vhosts.values()].sort(byName)) : [{ name: `blackhole:${port}`, domains: ['*'], routes: [] }];
    out.push({ name, virtualHosts, validateClusters: { value: false } });
  }
  return out;
}
