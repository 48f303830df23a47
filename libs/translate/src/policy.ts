/**
 * DestinationRule traffic policy resolution: which settings apply to one cluster
 * (top level, overridden by port-level settings, overridden by the subset's policy), as
 * Istio's MergeTrafficPolicy does.
 */
import type { ConnectionPoolSettings, LoadBalancerSettings, OutlierDetection, ClientTLSSettings, TrafficPolicy } from '@meshwork/api';
import type { EffectiveDestinationRule } from './snapshot.js';

/** The settings that shape one cluster. */
export interface ClusterPolicy {
  readonly loadBalancer?: LoadBalancerSettings;
  readonly connectionPool?: ConnectionPoolSettings;
  readonly outlierDetection?: OutlierDetection;
  readonly tls?: ClientTLSSettings;
}

/** The port-level settings of a policy for a port, layered over its top level (each field replaces as a whole). */
function forPort(tp: TrafficPolicy | undefined, port: number): ClusterPolicy {
  if (!tp) return {};
  const base: ClusterPolicy = { loadBalancer: tp.loadBalancer, connectionPool: tp.connectionPool, outlierDetection: tp.outlierDetection, tls: tp.tls };
  const pl = (tp.portLevelSettings ?? []).find((p) => p.port.number === port);
  if (!pl) return base;
  return {
    loadBalancer: pl.loadBalancer ?? base.loadBalancer,
    connectionPool: pl.connectionPool ?? base.connectionPool,
    outlierDetection: pl.outlierDetection ?? base.outlierDetection,
    tls: pl.tls ?? base.tls,
  };
}

/** policyFor returns the effective policy of the cluster for (port, subset) under a DestinationRule. */
export function policyFor(dr: EffectiveDestinationRule | undefined, port: number, subset: string): ClusterPolicy {
  if (!dr) return {};
  const top = forPort(dr.spec.trafficPolicy, port);
  if (subset === '') return top;
  const s = (dr.spec.subsets ?? []).find((x) => x.name === subset);
  const sub = forPort(s?.trafficPolicy, port);
  return {
    loadBalancer: sub.loadBalancer ?? top.loadBalancer,
    connectionPool: sub.connectionPool ?? top.connectionPool,
    outlierDetection: sub.outlierDetection ?? top.outlierDetection,
    tls: sub.tls ?? top.tls,
  };
}

/** The labels of a subset, or undefined when the rule has no such subset. */
export function subsetLabels(dr: EffectiveDestinationRule | undefined, subset: string): Readonly<Record<string, string>> | undefined {
  const s = (dr?.spec.subsets ?? []).find((x) => x.name === subset);
  return s ? (s.labels ?? {}) : undefined;
}
