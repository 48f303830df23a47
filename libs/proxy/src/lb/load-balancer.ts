/**
 * A cluster's load balancer over its EndpointSet, following Envoy: choose a priority level by
 * priority load (health × 1.4 overprovisioning, spill-over to the next level, panic), then within
 * the level either a locality by effective locality weight (locality-weighted LB) or all the
 * level's hosts, then a host by the cluster's policy. Unhealthy and ejected hosts are left out
 * except in panic. The per-level structures are rebuilt when the set of usable hosts changes
 * (an ejection or its end), as Envoy does on a host health change.
 */
import type { ClusterPlan, EndpointSet, Endpoint, EngineClock, HostStats, LbPolicy, LoadBalancer, PickContext } from '../model.js';
import { EdfScheduler } from './edf.js';
import { DEFAULT_MAGLEV_TABLE_SIZE, buildMaglevTable } from './maglev.js';
import { DEFAULT_PANIC_THRESHOLD, OVERPROVISIONING_FACTOR, choosePriority, priorityLoad, type PriorityLoad } from './priority.js';
import { buildRing, ringIndex, type NormalizedHost } from './ring-hash.js';

/**
 * HostStats that also says when ejection state may have changed: `version` changes whenever
 * isEjected may answer differently. With it a pick reads ejection state only after a change;
 * without it every pick re-reads isEjected for each host (correct, O(hosts)).
 */
export interface VersionedHostStats extends HostStats {
  readonly version: number;
}

export interface LoadBalancerOptions {
  /**
   * Envoy's healthy panic threshold in percent (default 50): a level with fewer healthy hosts
   * balances over all its hosts. 0 disables panic: then with nothing healthy a pick finds nothing.
   * Istio sets it to the DestinationRule's outlierDetection.minHealthPercent (see panicThresholdFor).
   */
  readonly panicThresholdPercent?: number;
  /**
   * Whether locality weights steer traffic (Envoy's common_lb_config.locality_weighted_lb_config).
   * Default: when a locality carries a weight. Pass false for a cluster without that setting: Istio
   * sends a load_balancing_weight on every locality, which Envoy then ignores.
   */
  readonly localityWeighted?: boolean;
}

/** panicThresholdFor returns the panic threshold Istio gives a cluster: minHealthPercent when it has outlier detection, else Envoy's default 50%. */
export function panicThresholdFor(cluster: Pick<ClusterPlan, 'outlier'>): number {
  return cluster.outlier ? cluster.outlier.minHealthPercent : DEFAULT_PANIC_THRESHOLD;
}

/** Default ring sizes when a policy gives none (Envoy's RingHashLbConfig defaults). */
export const DEFAULT_MIN_RING_SIZE = 1024;
export const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;

type Accept = ((e: Endpoint) => boolean) | undefined;
/** Picks among one source of hosts; undefined when none is accepted. */
type Picker = (hash: number, accept: Accept) => Endpoint | undefined;

interface Level {
  readonly localities: readonly { readonly weight?: number; readonly endpoints: readonly Endpoint[] }[];
  readonly all: readonly Endpoint[];
  available: Endpoint[];
  pick: Picker;
}

/**
 * createLoadBalancer returns the balancer of one cluster over `endpoints`. Retries' excluded hosts
 * (`ctx.exclude`) are avoided while any other usable host exists, in the chosen level first, then
 * in any level; when every usable host is excluded the pick ignores the exclusion and returns a
 * tried host rather than none — Envoy's router does the same after host_selection_retry_max_attempts
 * re-picks, and a retry to a tried host beats failing the request with no healthy upstream.
 */
export function createLoadBalancer(policy: LbPolicy, endpoints: EndpointSet, stats: HostStats, clock: EngineClock, options: LoadBalancerOptions = {}): LoadBalancer {
  return new Balancer(policy, endpoints, stats, clock, options.panicThresholdPercent ?? DEFAULT_PANIC_THRESHOLD, options.localityWeighted ?? true);
}

class Balancer implements LoadBalancer {
  private readonly levels: Level[];
  private readonly hosts: Endpoint[];
  private readonly usable: Uint8Array;
  private readonly hashed: boolean;
  private seenVersion: number | undefined;
  private built = false;
  private load: PriorityLoad = { load: [], panic: [] };

  constructor(
    private readonly policy: LbPolicy,
    endpoints: EndpointSet,
    private readonly stats: HostStats,
    private readonly clock: EngineClock,
    private readonly panicThreshold: number,
    private readonly localityWeighted: boolean,
  ) {
    this.levels = endpoints.priorities.map((localities) => ({ localities, all: localities.flatMap((l) => l.endpoints), available: [], pick: () => undefined }));
    this.hosts = this.levels.flatMap((l) => l.all);
    this.usable = new Uint8Array(this.hosts.length);
    this.hashed = policy.kind === 'ring-hash' || policy.kind === 'maglev';
  }

  pick(ctx: PickContext): Endpoint | undefined {
    this.refresh();
    if (this.hosts.length === 0) return undefined;
    const clock = this.clock;
    const hash = this.hashed ? (ctx.hash ?? Math.floor(clock.random() * 0x100000000)) : 0;
    // Hash-based policies choose the level by the request hash too, so a key sticks to its level.
    const p = this.levels.length === 1 ? 0 : choosePriority(this.load.load, this.hashed ? hash % 100 : Math.floor(clock.random() * 100));
    const level = this.levels[p];
    const exclude = ctx.exclude;
    const accept: Accept = exclude && exclude.size > 0 ? (e) => !exclude.has(e) : undefined;
    const host = level.pick(hash, accept);
    if (host || !accept) return host;
    for (let q = 0; q < this.levels.length; q++) {
      const candidates = (this.load.panic[q] ? this.levels[q].all : this.levels[q].available).filter(accept);
      if (candidates.length > 0) return candidates[Math.floor(clock.random() * candidates.length)];
    }
    return level.pick(hash, undefined);
  }

  /** Re-reads which hosts are usable (healthy, not ejected) and rebuilds the levels when that changed. */
  private refresh(): void {
    const version = (this.stats as Partial<VersionedHostStats>).version;
    if (this.built && typeof version === 'number' && version === this.seenVersion) return;
    this.seenVersion = version;
    let changed = !this.built;
    const hosts = this.hosts;
    for (let i = 0; i < hosts.length; i++) {
      const u = hosts[i].healthy && !this.stats.isEjected(hosts[i]) ? 1 : 0;
      if (u !== this.usable[i]) {
        this.usable[i] = u;
        changed = true;
      }
    }
    if (changed) this.rebuild();
  }

  private rebuild(): void {
    this.built = true;
    let i = 0;
    for (const level of this.levels) {
      level.available = level.all.filter(() => this.usable[i++] === 1);
    }
    this.load = priorityLoad(
      this.levels.map((l) => ({ total: l.all.length, healthy: l.available.length })),
      this.panicThreshold,
    );
    this.levels.forEach((level, p) => {
      level.pick = this.levelPicker(level, this.load.panic[p]);
    });
  }

  /** levelPicker returns how one level picks: over all its hosts in panic, else over usable hosts, by locality when weighted. */
  private levelPicker(level: Level, panic: boolean): Picker {
    const source = panic ? level.all : level.available;
    const weighted = this.localityWeighted && level.localities.some((l) => l.weight !== undefined);
    const usable = new Set(level.available);
    const hostsIn = (l: Level['localities'][number]) => (panic ? l.endpoints : l.endpoints.filter((e) => usable.has(e)));

    if (this.hashed) {
      let normalized: NormalizedHost[];
      if (weighted) {
        // Envoy's thread-aware balancers fold locality weights into host weights: host share of
        // its locality × locality share of the level.
        const sum = level.localities.reduce((a, l) => a + (l.weight ?? 0), 0);
        normalized = sum === 0 ? [] : level.localities.flatMap((l) => (l.weight ? normalize(hostsIn(l), l.weight / sum) : []));
      } else {
        normalized = normalize(source, 1);
      }
      return this.hashPicker(normalized);
    }

    if (weighted && !panic) {
      // Envoy's effective locality weight: weight × min(1, 1.4 × healthy share of the locality).
      const picks: Picker[] = [];
      const entries: { item: number; weight: number }[] = [];
      for (const l of level.localities) {
        const inLocality = hostsIn(l);
        if (!l.weight || inLocality.length === 0) continue;
        const health = Math.min(1, ((OVERPROVISIONING_FACTOR / 100) * inLocality.length) / l.endpoints.length);
        entries.push({ item: picks.length, weight: l.weight * health });
        picks.push(this.hostPicker(inLocality));
      }
      if (entries.length > 0) {
        const localities = new EdfScheduler(entries);
        return (hash, accept) => picks[localities.pick() ?? 0](hash, accept);
      }
    }
    return this.hostPicker(source);
  }

  private hashPicker(hosts: readonly NormalizedHost[]): Picker {
    let ring: readonly Endpoint[];
    let indexOf: (hash: number) => number;
    if (this.policy.kind === 'maglev') {
      const table = buildMaglevTable(hosts, this.policy.tableSize || DEFAULT_MAGLEV_TABLE_SIZE);
      ring = table;
      indexOf = (hash) => hash % table.length;
    } else {
      const p = this.policy.kind === 'ring-hash' ? this.policy : undefined;
      const built = buildRing(hosts, p?.minimumRingSize || DEFAULT_MIN_RING_SIZE, p?.maximumRingSize || DEFAULT_MAX_RING_SIZE);
      ring = built.hosts;
      indexOf = (hash) => ringIndex(built, hash);
    }
    if (ring.length === 0) return () => undefined;
    return (hash, accept) => {
      const start = indexOf(hash);
      if (!accept) return ring[start];
      // Retry avoiding tried hosts: the next entries on the ring / in the table, which belong to
      // other hosts in hash order (Envoy offsets the ring position by the attempt count).
      for (let n = 0; n < ring.length; n++) {
        const h = ring[(start + n) % ring.length];
        if (accept(h)) return h;
      }
      return undefined;
    };
  }

  /** hostPicker returns the policy's picker over one set of hosts. */
  private hostPicker(hosts: readonly Endpoint[]): Picker {
    const n = hosts.length;
    if (n === 0) return () => undefined;
    const clock = this.clock;
    const random = () => clock.random();
    const policy = this.policy;
    switch (policy.kind) {
      case 'round-robin': {
        if (equalWeights(hosts)) {
          let next = Math.floor(random() * n);
          return (_hash, accept) => {
            for (let k = 0; k < n; k++) {
              const h = hosts[next];
              next = next + 1 === n ? 0 : next + 1;
              if (!accept || accept(h)) return h;
            }
            return undefined;
          };
        }
        const edf = new EdfScheduler(hosts.map((h) => ({ item: h, weight: h.weight })));
        // Start at a random phase so proxies built at the same moment do not move in lockstep.
        for (let k = Math.floor(random() * n); k > 0; k--) edf.pick();
        return (_hash, accept) => fromScheduler(edf, accept);
      }
      case 'least-request': {
        const stats = this.stats;
        if (equalWeights(hosts)) {
          const choices = Math.max(1, policy.choiceCount || 2);
          // Power of `choices` random choices: the sampled host with fewest active requests (first on ties).
          return (_hash, accept) => {
            const from = accept ? hosts.filter(accept) : hosts;
            if (from.length === 0) return undefined;
            let best = from[Math.floor(random() * from.length)];
            for (let c = 1; c < choices; c++) {
              const h = from[Math.floor(random() * from.length)];
              if (stats.activeRequests(h) < stats.activeRequests(best)) best = h;
            }
            return best;
          };
        }
        // Unequal weights: EDF on weight / (active requests + 1), re-read at each turn (Envoy, active_request_bias 1).
        const weightOf = (h: Endpoint) => h.weight / (stats.activeRequests(h) + 1);
        const edf = new EdfScheduler(hosts.map((h) => ({ item: h, weight: weightOf(h) })), weightOf);
        return (_hash, accept) => fromScheduler(edf, accept);
      }
      default:
        // random (and cluster-provided, whose callers connect to the original destination and
        // reach the balancer only with inline endpoints): uniform, host weights ignored as in Envoy.
        return (_hash, accept) => {
          const from = accept ? hosts.filter(accept) : hosts;
          return from.length === 0 ? undefined : from[Math.floor(random() * from.length)];
        };
    }
  }
}

function fromScheduler(edf: EdfScheduler<Endpoint>, accept: Accept): Endpoint | undefined {
  for (let k = 0; k < edf.size; k++) {
    const h = edf.pick();
    if (h && (!accept || accept(h))) return h;
  }
  return undefined;
}

function equalWeights(hosts: readonly Endpoint[]): boolean {
  for (let i = 1; i < hosts.length; i++) if (hosts[i].weight !== hosts[0].weight) return false;
  return true;
}

function normalize(hosts: readonly Endpoint[], share: number): NormalizedHost[] {
  const sum = hosts.reduce((a, h) => a + Math.max(0, h.weight), 0);
  if (sum === 0) return [];
  return hosts.map((host) => ({ host, weight: (Math.max(0, host.weight) * share) / sum }));
}
