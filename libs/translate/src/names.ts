/**
 * Istio's resource naming, kept exactly so `istioctl proxy-config`-style tooling and
 * operators' habits carry over.
 */

export type Direction = 'inbound' | 'outbound';

/** Istio's cluster name `outbound|9080|v1|reviews.default.svc.cluster.local` (BuildSubsetKey). */
export function clusterName(direction: Direction, port: number, subset: string, hostname: string): string {
  return `${direction}|${port}|${subset}|${hostname}`;
}

/** Parses a cluster name built by clusterName; undefined for other names (PassthroughCluster, ...). */
export function parseClusterName(name: string): { direction: Direction; port: number; subset: string; hostname: string } | undefined {
  const parts = name.split('|');
  if (parts.length !== 4 || (parts[0] !== 'inbound' && parts[0] !== 'outbound')) return undefined;
  const port = Number(parts[1]);
  if (!Number.isInteger(port)) return undefined;
  return { direction: parts[0], port, subset: parts[2], hostname: parts[3] };
}

/** Istio's SNI for auto/ISTIO_MUTUAL upstream TLS: `outbound_.9080_.v1_.reviews.default.svc.cluster.local`. */
export function istioSni(port: number, subset: string, hostname: string): string {
  return `outbound_.${port}_.${subset}_.${hostname}`;
}

export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';
/** Envoy listens for outbound traffic here (Meshwork's explicit HTTP proxy port). */
export const VIRTUAL_OUTBOUND_PORT = 15001;
export const VIRTUAL_INBOUND_PORT = 15006;
/** Name of the route configuration that aggregates every outbound HTTP virtual host (see listener.ts). */
export const VIRTUAL_OUTBOUND_ROUTE = '15001';

/** The domain variants of a hostname a client in `proxyNamespace` may use (Istio's generateVirtualHostDomains). */
export function hostAliases(hostname: string, proxyNamespace: string, domainSuffix: string): string[] {
  const out = [hostname];
  const k8sSuffix = `.svc.${domainSuffix}`;
  if (hostname.endsWith(k8sSuffix)) {
    const nameNs = hostname.slice(0, -k8sSuffix.length);
    const dot = nameNs.indexOf('.');
    if (dot > 0) {
      const name = nameNs.slice(0, dot);
      const ns = nameNs.slice(dot + 1);
      if (ns === proxyNamespace) out.push(name);
      out.push(`${name}.${ns}.svc`, `${name}.${ns}`);
    }
  }
  return out;
}
