/**
 * RequestAuthentication → the HTTP filters that authenticate end users on a workload's inbound
 * chains (Istio's jwt_authn + istio_authn filters), in the order Istio puts them before RBAC.
 * Empty until RequestAuthentication translation lands (zero-trust issue).
 */
import type { ProxyNode } from '@meshwork/api';
import type { EnvoyResource } from './envoy.js';
import type { MeshSnapshot } from './snapshot.js';

/** inboundAuthnFilters returns the authentication HTTP filters for one inbound port of `proxy`. */
export function inboundAuthnFilters(_proxy: ProxyNode, _snapshot: MeshSnapshot, _port: number): EnvoyResource[] {
  return [];
}
