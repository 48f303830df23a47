/**
 * AuthorizationPolicy → Envoy RBAC filters on a workload's inbound chains (Istio's authz builder):
 * HTTP RBAC for HTTP ports, network RBAC for TCP ports. Empty until AuthorizationPolicy
 * translation lands (zero-trust issue).
 */
import type { ProxyNode } from '@meshwork/api';
import type { EnvoyResource } from './envoy.js';
import type { MeshSnapshot } from './snapshot.js';

/** inboundHttpRbacFilters returns the HTTP RBAC filters (CUSTOM, DENY, ALLOW, AUDIT order) for one inbound HTTP port of `proxy`. */
export function inboundHttpRbacFilters(_proxy: ProxyNode, _snapshot: MeshSnapshot, _port: number): EnvoyResource[] {
  return [];
}

/** inboundNetworkRbacFilters returns the network RBAC filters for one inbound TCP port of `proxy`. */
export function inboundNetworkRbacFilters(_proxy: ProxyNode, _snapshot: MeshSnapshot, _port: number): EnvoyResource[] {
  return [];
}
