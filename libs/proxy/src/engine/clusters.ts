/**
 * The engine's clusters across configuration updates (Envoy's cluster manager): each compiled
 * cluster gets a ClusterRuntime — balancer, circuit-breaker limits, outlier detector — and an
 * update keeps what it can, so that state which must survive a push does: limits and outlier
 * detection (ejections, multipliers) stay with a cluster whose settings did not change, and the
 * balancer is rebuilt only when the cluster's plan or its endpoints changed. Active request
 * counts per host feed least-request balancing and /clusters.
 *
 * Upstream TLS: a cluster with a TLS transport socket gets a TlsOrigination reading the injected
 * SecretProvider at connect time; the manager tells the transports which endpoints it dials
 * (the HTTP/1.1 pools through the cluster's pool settings, the HTTP/2 transport per endpoint,
 * TCP proxying through `ManagedCluster.tls`). `ssl.*` counters are kept per cluster name, across
 * updates.
 */
import { createLoadBalancer, panicThresholdFor } from '../lb/load-balancer.js';
import { poolSettingsOf } from '../listeners/http1-proxy.js';
import type { ClusterPlan, CompiledConfig, EngineClock, Endpoint, EndpointSet, HostStats, OutlierConfig } from '../model.js';
import type { ClusterRuntime } from '../pipeline/forward.js';
import type { SecretProvider } from '../security/secrets.js';
import { createClusterLimits, type ClusterLimitsWithStats } from '../upstream/limits.js';
import { createOutlierDetector, type VersionedOutlierDetector } from '../upstream/outlier.js';
import { setPoolTls, type PoolTlsResolver } from '../upstream/pool.js';
import { newSslStats, SecureContextCache, setEndpointOrigination, TlsOrigination, type SslStats } from '../upstream/tls-origination.js';

/** A cluster's live state, as the manager keeps it. */
export interface ManagedCluster extends ClusterRuntime {
  readonly limits: ClusterLimitsWithStats;
  readonly outlier?: VersionedOutlierDetector;
  readonly endpoints: EndpointSet;
  /** Requests in flight per host (least request, /clusters rq_active). */
  readonly active: Map<Endpoint, number>;
  /** Upstream TLS origination (absent: every endpoint is dialled in plaintext). */
  readonly tls?: TlsOrigination;
  /** Which endpoint address is dialled with `tls` (for HTTP/1.1 pool settings: `EndpointPoolSettings.tls`). */
  readonly poolTls?: PoolTlsResolver;
}

/** What the cluster manager is given besides the clock. */
export interface ClusterManagerOptions {
  /** SDS: the workload certificate (`default`) and trust bundle (`ROOTCA`) upstream TLS presents and verifies with. */
  readonly secrets?: SecretProvider;
}

const EMPTY: EndpointSet = { priorities: [] };

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function allEndpoints(set: EndpointSet): Endpoint[] {
  return set.priorities.flatMap((level) => level.flatMap((l) => [...l.endpoints]));
}

/** endpointsOf returns the endpoints a cluster balances over: inline (STATIC/DNS) or from EDS. */
export function endpointsOf(plan: ClusterPlan, config: CompiledConfig): EndpointSet {
  return plan.inlineEndpoints ?? config.endpoints.get(plan.edsServiceName) ?? EMPTY;
}

/** ClusterManager holds the ClusterRuntime of every cluster of the current configuration. */
export class ClusterManager {
  private clusters = new Map<string, ManagedCluster>();
  private readonly contexts: SecureContextCache;
  private readonly ssl = new Map<string, SslStats>();

  constructor(
    private readonly clock: EngineClock,
    options: ClusterManagerOptions = {},
  ) {
    this.contexts = new SecureContextCache(options.secrets, () => clock.now());
  }

  /** sslStats returns Envoy's `cluster.<name>.ssl.*` counters of the clusters that originate TLS. */
  sslStats(): ReadonlyMap<string, SslStats> {
    return this.ssl;
  }

  /** get returns a cluster's runtime, or undefined (a route to it answers 503 NC). */
  get(name: string): ManagedCluster | undefined {
    return this.clusters.get(name);
  }

  /** all returns every cluster's runtime, by name. */
  all(): ReadonlyMap<string, ManagedCluster> {
    return this.clusters;
  }

  /** apply moves to a new configuration, keeping the state of clusters whose settings did not change. */
  apply(config: CompiledConfig): void {
    const next = new Map<string, ManagedCluster>();
    for (const [name, plan] of config.clusters) {
      const endpoints = endpointsOf(plan, config);
      const prev = this.clusters.get(name);
      next.set(name, this.build(plan, endpoints, prev));
    }
    for (const [name, c] of this.clusters) if (!next.has(name) || next.get(name)?.outlier !== c.outlier) c.outlier?.close();
    for (const name of this.ssl.keys()) if (!next.get(name)?.tls) this.ssl.delete(name);
    this.clusters = next;
  }

  /** close stops every outlier detector's timer and stops following secret changes. */
  close(): void {
    for (const c of this.clusters.values()) c.outlier?.close();
    this.clusters.clear();
    this.contexts.close();
  }

  /** origination returns the cluster's TLS origination: the previous one when its TLS settings did not change. */
  private origination(plan: ClusterPlan, prev: ManagedCluster | undefined): TlsOrigination | undefined {
    if (!plan.tls) return undefined;
    if (prev?.tls && sameJson(prev.plan.tls, plan.tls)) return prev.tls;
    let stats = this.ssl.get(plan.name);
    if (!stats) this.ssl.set(plan.name, (stats = newSslStats()));
    return new TlsOrigination(plan.tls, this.contexts, stats);
  }

  /** Tells the transports how this cluster's endpoints are dialled (TLS or plaintext). */
  private wireTls(m: ManagedCluster): void {
    const tls = m.tls;
    for (const e of allEndpoints(m.endpoints)) setEndpointOrigination(e, tls?.appliesTo(e) ? tls : undefined);
    // The HTTP/1.1 listener builds the cluster's pool settings itself (poolSettingsOf): register the resolver for them.
    if (m.poolTls) setPoolTls(poolSettingsOf(m), m.poolTls);
  }

  private build(plan: ClusterPlan, endpoints: EndpointSet, prev: ManagedCluster | undefined): ManagedCluster {
    if (prev && prev.plan === plan && prev.endpoints === endpoints) return prev;
    const limits = prev && sameJson(prev.plan.circuitBreakers, plan.circuitBreakers) ? prev.limits : createClusterLimits(plan.circuitBreakers);
    const outlier = plan.outlier ? (prev?.outlier && sameJson(prev.plan.outlier, plan.outlier) ? prev.outlier : createOutlierDetector(plan.outlier as OutlierConfig, this.clock)) : undefined;
    outlier?.setEndpoints(allEndpoints(endpoints));
    const active = prev?.active ?? new Map<Endpoint, number>();
    const stats: HostStats & { readonly version: number } = {
      activeRequests: (e) => active.get(e) ?? 0,
      isEjected: (e) => outlier?.isEjected(e) ?? false,
      get version(): number {
        return outlier?.version ?? 0;
      },
    };
    const lb = createLoadBalancer(plan.lb, endpoints, stats, this.clock, {
      panicThresholdPercent: plan.panicThresholdPercent ?? panicThresholdFor(plan),
      ...(plan.localityWeighted !== undefined ? { localityWeighted: plan.localityWeighted } : {}),
    });
    const tls = this.origination(plan, prev);
    const poolTls = tls ? poolTlsOf(tls, endpoints) : undefined;
    const m: ManagedCluster = { plan, lb, limits, ...(outlier ? { outlier } : {}), endpoints, active, ...(tls ? { tls, poolTls } : {}) };
    this.wireTls(m);
    return m;
  }
}

/** poolTlsOf returns which endpoint addresses a TLS origination dials (all, or auto mTLS's tlsMode=istio ones). */
function poolTlsOf(tls: TlsOrigination, endpoints: EndpointSet): PoolTlsResolver {
  if (!tls.tls.onlyIstioEndpoints) return () => tls;
  let byAddress: Map<string, Endpoint> | undefined;
  return (address, port) => {
    // Asked once per endpoint pool, so the index is built lazily, once per endpoint set.
    byAddress ??= new Map(allEndpoints(endpoints).map((e) => [`${e.address}:${e.port}`, e]));
    return tls.appliesTo(byAddress.get(`${address}:${port}`)) ? tls : undefined;
  };
}

/** trackActive wraps an attempt so the host's in-flight count is right while it runs. */
export async function trackActive<T>(cluster: ManagedCluster, e: Endpoint, run: () => Promise<T>): Promise<T> {
  cluster.active.set(e, (cluster.active.get(e) ?? 0) + 1);
  try {
    return await run();
  } finally {
    const n = (cluster.active.get(e) ?? 1) - 1;
    if (n <= 0) cluster.active.delete(e);
    else cluster.active.set(e, n);
  }
}
