/**
 * Envoy circuit breakers of one cluster (default priority): counters of open connections,
 * requests waiting for a connection, active requests and active retries, each refusing to go past
 * its threshold. A refused acquire is an overflow: the caller answers 503 with flag UO (or, for
 * retries, stops retrying).
 */
import type { CircuitBreakers, ClusterLimits } from '../model.js';

/** Overflow counts per resource (Envoy's upstream_cx_overflow, upstream_rq_pending_overflow, …). */
export interface ClusterLimitsWithStats extends ClusterLimits {
  readonly overflows: { readonly requests: number; readonly pending: number; readonly connections: number; readonly retries: number };
}

type Resource = 'requests' | 'pending' | 'connections' | 'retries';

/** createClusterLimits returns the circuit-breaker accounting for thresholds `cb` (a threshold ≤ 0 admits nothing, as Envoy's 0). */
export function createClusterLimits(cb: CircuitBreakers): ClusterLimitsWithStats {
  const max: Record<Resource, number> = { requests: cb.maxRequests, pending: cb.maxPendingRequests, connections: cb.maxConnections, retries: cb.maxRetries };
  const active: Record<Resource, number> = { requests: 0, pending: 0, connections: 0, retries: 0 };
  const overflows: Record<Resource, number> = { requests: 0, pending: 0, connections: 0, retries: 0 };
  const acquire = (r: Resource) => () => {
    if (active[r] >= max[r]) {
      overflows[r]++;
      return false;
    }
    active[r]++;
    return true;
  };
  // A release without its acquire must not open room beyond the threshold later.
  const release = (r: Resource) => () => {
    if (active[r] > 0) active[r]--;
  };
  return {
    tryAcquireRequest: acquire('requests'),
    releaseRequest: release('requests'),
    tryAcquirePending: acquire('pending'),
    releasePending: release('pending'),
    tryAcquireConnection: acquire('connections'),
    releaseConnection: release('connections'),
    tryAcquireRetry: acquire('retries'),
    releaseRetry: release('retries'),
    active,
    overflows,
  };
}
