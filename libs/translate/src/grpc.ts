/**
 * Proxyless gRPC (Istio's grpcgen): API listeners named exactly as the client asked
 * (`reviews.default.svc.cluster.local:9080`, or a short name the client dialled), each an
 * HttpConnectionManager fetching route configuration `outbound|<port>||<host>` over ADS, with
 * routes from VirtualServices; EDS clusters with ROUND_ROBIN or RING_HASH — what grpc-js-xds
 * accepts.
 */
import type { ProxyNode, Service } from '@meshwork/api';
import { ADS_SOURCE, DOWNSTREAM_TLS_TYPE, HCM_TYPE, ROUTER_FILTER, socketAddress, type EnvoyResource } from './envoy.js';
import { clusterName, hostAliases } from './names.js';
import { defaultRoute, translateVirtualService, type RouteContext } from './route.js';
import { byName, findVirtualService, httpFilters } from './sidecar.js';
import { peerAuthenticationMode, virtualServicesFor, visibleServices, type MeshSnapshot } from './snapshot.js';

/** A listener name split into host and optional port (`[v6]:port` handled like Go's SplitHostPort). */
function splitHostPort(name: string): { host: string; port?: number } {
  const m = /^(.*):(\d+)$/.exec(name);
  if (!m) return { host: name };
  const host = m[1].startsWith('[') && m[1].endsWith(']') ? m[1].slice(1, -1) : m[1];
  return { host, port: Number(m[2]) };
}

/** Istio's tryFindFQDN: `reviews` → `reviews.<ns>.svc.<domain>`, `reviews.ns` / `reviews.ns.svc` → FQDN. */
function expandName(host: string, proxy: ProxyNode, domainSuffix: string): string[] {
  if (!host.includes('.')) return [`${host}.${proxy.namespace}.svc.${domainSuffix}`];
  const out = [host];
  const svcDomain = `svc.${domainSuffix}`;
  const m = /^([^.]+)\.([^.]+)(\.svc)?$/.exec(host);
  if (m) out.push(`${m[1]}.${m[2]}.${svcDomain}`);
  return out;
}

/** The prefix of the listener names an xDS-enabled gRPC server asks for (Istio's bootstrap template `xds.istio.io/grpc/lds/inbound/%s`). */
export const GRPC_SERVER_LISTENER_PREFIX = 'xds.istio.io/grpc/lds/inbound/';

/**
 * The certificate-provider TLS context gRPC servers understand (they have no SDS): the
 * `default` plugin instance for the workload certificate and the root bundle.
 */
function grpcServerTls(): EnvoyResource {
  return {
    '@type': DOWNSTREAM_TLS_TYPE,
    commonTlsContext: {
      tlsCertificateProviderInstance: { instanceName: 'default', certificateName: 'default' },
      combinedValidationContext: { defaultValidationContext: { caCertificateProviderInstance: { instanceName: 'default', certificateName: 'ROOTCA' } } },
    },
    requireClientCertificate: { value: true },
  };
}

/**
 * A server-side listener for an xDS gRPC server (Istio's grpcgen buildInboundListeners): the
 * requested name `xds.istio.io/grpc/lds/inbound/<ip>:<port>`, one filter chain whose HCM carries
 * an inline, non-forwarding route configuration (gRPC serves the request itself), mTLS when
 * PeerAuthentication is STRICT — or PERMISSIVE on a workload labelled for auto mTLS, since gRPC
 * cannot serve both on one port.
 */
function grpcServerListener(proxy: ProxyNode, snapshot: MeshSnapshot, name: string): EnvoyResource | undefined {
  const { host, port } = splitHostPort(name.slice(GRPC_SERVER_LISTENER_PREFIX.length));
  if (port === undefined) return undefined;
  let mode = peerAuthenticationMode(snapshot, proxy, port);
  if (mode === 'PERMISSIVE') mode = proxy.labels['security.istio.io/tlsMode'] === 'istio' ? 'STRICT' : 'DISABLE';
  const suffix = mode === 'STRICT' ? 'mtls' : 'plaintext';
  const chain: EnvoyResource = {
    name: `inbound-${suffix}`,
    filters: [
      {
        name: `inbound-hcm${suffix}`,
        typedConfig: {
          '@type': HCM_TYPE,
          routeConfig: { name: 'inbound', virtualHosts: [{ domains: ['*'], routes: [{ match: { prefix: '/' }, nonForwardingAction: {} }] }] },
          httpFilters: [ROUTER_FILTER],
        },
      },
    ],
    ...(mode === 'STRICT' ? { transportSocket: { name: 'envoy.transport_sockets.tls', typedConfig: grpcServerTls() } } : {}),
  };
  return { name, address: socketAddress(host === '' ? '0.0.0.0' : host, port), filterChains: [chain] };
}

/**
 * grpcListeners returns the LDS output for a proxyless gRPC client or server: one API listener
 * per requested client name and matching service port (all visible services and ports when
 * `names` is empty), and a server listener per requested `xds.istio.io/grpc/lds/inbound/...` name.
 */
export function grpcListeners(proxy: ProxyNode, snapshot: MeshSnapshot, names: readonly string[]): EnvoyResource[] {
  const services = visibleServices(snapshot, proxy);
  const byHost = new Map(services.map((s) => [s.hostname, s] as const));
  const out: EnvoyResource[] = [];
  const emit = (name: string, s: Service, port: number): void => {
    out.push({
      name,
      address: socketAddress(s.addresses[0] ?? '0.0.0.0', port),
      apiListener: {
        apiListener: {
          '@type': HCM_TYPE,
          rds: { configSource: ADS_SOURCE, routeConfigName: clusterName('outbound', port, '', s.hostname) },
          httpFilters: httpFilters(true),
        },
      },
    });
  };
  if (names.length === 0) {
    for (const s of services) for (const p of s.ports) emit(`${s.hostname}:${p.port}`, s, p.port);
    return out.sort(byName);
  }
  for (const name of names) {
    if (name.startsWith(GRPC_SERVER_LISTENER_PREFIX)) {
      const l = grpcServerListener(proxy, snapshot, name);
      if (l) out.push(l);
      continue;
    }
    const { host, port } = splitHostPort(name);
    const s = expandName(host, proxy, snapshot.meshConfig.domainSuffix).map((h) => byHost.get(h)).find((x) => x !== undefined);
    if (!s) continue;
    for (const p of s.ports) {
      if (port !== undefined && p.port !== port) continue;
      // A name without a port gets one listener per service port, each named host:port.
      emit(port !== undefined ? name : `${name}:${p.port}`, s, p.port);
    }
  }
  return out.sort(byName);
}

/** grpcRoutes returns the RDS output for a proxyless gRPC client: `outbound|<port>||<host>` per service port (only the requested names when given). */
export function grpcRoutes(proxy: ProxyNode, snapshot: MeshSnapshot, names: readonly string[]): EnvoyResource[] {
  const vss = virtualServicesFor(snapshot, proxy, 'mesh');
  const wanted = new Set(names);
  const out: EnvoyResource[] = [];
  for (const s of visibleServices(snapshot, proxy)) {
    for (const p of s.ports) {
      const name = clusterName('outbound', p.port, '', s.hostname);
      if (wanted.size > 0 && !wanted.has(name)) continue;
      const ctx: RouteContext = { proxy, snapshot, port: p.port, gateway: 'mesh' };
      const vs = findVirtualService(vss, s.hostname);
      const routes = vs ? translateVirtualService(ctx, vs) : [defaultRoute(name, ctx, s.hostname)];
      const aliases = [...hostAliases(s.hostname, proxy.namespace, snapshot.meshConfig.domainSuffix), ...s.addresses];
      out.push({
        name,
        virtualHosts: [{ name: `${s.hostname}:${p.port}`, domains: [...new Set(aliases.flatMap((a) => [a, `${a}:${p.port}`]))], routes }],
      });
    }
  }
  return out;
}
