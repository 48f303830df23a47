/**
 * The proxy's xDS subscription (Envoy's ADS client behaviour on top of libs/xds's protocol client):
 * wildcard CDS and LDS; EDS for exactly the EDS clusters CDS names and RDS for exactly the route
 * configurations the listeners name; every response checked by the engine's compiler and NACKed
 * with its errors (the last good set stays); a new configuration goes live only once it is complete
 * and warm — every EDS cluster has its endpoints and every listener its routes (Envoy's cluster and
 * listener warming) — so traffic never meets a cluster without endpoints or a missing route. While
 * pilot is unreachable the client reconnects with backoff and the live config keeps serving.
 */
import type * as grpc from '@grpc/grpc-js';
import { CLUSTER_TYPE, createAdsClient, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, type AdsClient, type ResourceObject } from '@meshwork/xds';

/** One consistent set of resources, by kind, with the versions they came with. */
export interface ResourceSet {
  readonly listeners: ReadonlyMap<string, ResourceObject>;
  readonly routes: ReadonlyMap<string, ResourceObject>;
  readonly clusters: ReadonlyMap<string, ResourceObject>;
  readonly endpoints: ReadonlyMap<string, ResourceObject>;
  /** Version per type URL. */
  readonly versions: Readonly<Record<string, string>>;
}

/** What the agent asks of the engine: per-type checks (NACK reasons) and building the live config. */
export interface ConfigCompiler<C> {
  /**
   * check returns the errors (with field paths) in one type's complete resource set; [] = acceptable.
   * `held` gives the other types' resources as accepted so far (e.g. clusters a route names).
   */
  check(typeUrl: string, resources: ReadonlyMap<string, ResourceObject>, held: (typeUrl: string) => ReadonlyMap<string, ResourceObject>): string[];
  /** build compiles a complete, warm set; `previous` lets the engine keep per-host state that did not change. */
  build(set: ResourceSet, previous: C | undefined): { ok: true; value: C } | { ok: false; errors: string[] };
}

export interface XdsAgentOptions<C> {
  /** host:port of pilot's ADS (15010 plaintext, 15012 mTLS). */
  readonly target: string;
  readonly credentials?: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
  /** The Node (object form: id, metadata, locality). */
  readonly node: ResourceObject;
  readonly delta?: boolean;
  readonly compiler: ConfigCompiler<C>;
  /** A new configuration is live. */
  readonly onConfig: (config: C, set: ResourceSet) => void;
  readonly onNack?: (typeUrl: string, error: string) => void;
  readonly onStreamError?: (err: Error) => void;
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
}

/** Per-type state for /config_dump and readiness. */
export interface TypeStatus {
  readonly version?: string;
  readonly resources: number;
  readonly lastNack?: string;
}

/** rdsNames returns the route configuration names a listener fetches over RDS (any HCM, API listeners included). */
export function rdsNames(listener: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(listener)) {
    for (const v of listener) rdsNames(v, out);
  } else if (listener !== null && typeof listener === 'object') {
    for (const [k, v] of Object.entries(listener)) {
      if (k === 'rds' && v !== null && typeof v === 'object' && typeof (v as { routeConfigName?: unknown }).routeConfigName === 'string') out.add((v as { routeConfigName: string }).routeConfigName);
      else rdsNames(v, out);
    }
  }
  return out;
}

/** edsName returns the ClusterLoadAssignment name an EDS cluster waits for, or undefined for other cluster types. */
export function edsName(cluster: ResourceObject): string | undefined {
  if (cluster.type !== 'EDS') return undefined;
  const svc = (cluster.edsClusterConfig as { serviceName?: string } | undefined)?.serviceName;
  return svc !== undefined && svc !== '' ? svc : String(cluster.name);
}

/** The agent: one ADS stream to pilot, the live configuration and what is still warming. */
export class XdsAgent<C> {
  private readonly client: AdsClient;
  private live: C | undefined;
  private liveSet: ResourceSet | undefined;
  private readonly nacks = new Map<string, string>();
  /** EDS and RDS names subscribed (what CDS and LDS currently need). */
  private readonly subscribed = new Map<string, Set<string>>();
  /** Built during validation of the response that completed the set, activated on its ACK. */
  private staged: { set: ResourceSet; value: C } | undefined;

  constructor(private readonly opts: XdsAgentOptions<C>) {
    this.client = createAdsClient({
      target: opts.target,
      credentials: opts.credentials,
      channelOptions: opts.channelOptions,
      node: opts.node,
      delta: opts.delta,
      backoff: opts.backoff,
      validate: (typeUrl, next) => this.validate(typeUrl, next),
      onUpdate: (u) => {
        this.nacks.delete(u.typeUrl);
        if (u.typeUrl === CLUSTER_TYPE) this.follow(ENDPOINT_TYPE, this.neededEds(u.resources));
        if (u.typeUrl === LISTENER_TYPE) this.follow(ROUTE_TYPE, this.neededRds(u.resources));
        this.activate();
      },
      onNack: (typeUrl, error) => {
        this.nacks.set(typeUrl, error);
        opts.onNack?.(typeUrl, error);
      },
      onStreamError: opts.onStreamError,
    });
    this.client.subscribe(CLUSTER_TYPE);
    this.client.subscribe(LISTENER_TYPE);
  }

  /** The live configuration (undefined until the first complete, warm set). */
  current(): C | undefined {
    return this.live;
  }

  /** The resources behind the live configuration (for /config_dump). */
  currentSet(): ResourceSet | undefined {
    return this.liveSet;
  }

  /** Per-type versions, counts and the last NACK, keyed by type URL. */
  status(): Record<string, TypeStatus> {
    const out: Record<string, TypeStatus> = {};
    for (const t of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]) {
      const nack = this.nacks.get(t);
      out[t] = { version: this.client.version(t), resources: this.client.resources(t).size, ...(nack !== undefined ? { lastNack: nack } : {}) };
    }
    return out;
  }

  /** What keeps the received configuration from going live: EDS clusters without endpoints, route configurations not received. */
  warming(): { clusters: string[]; routes: string[] } {
    const eps = this.client.resources(ENDPOINT_TYPE);
    const routes = this.client.resources(ROUTE_TYPE);
    return {
      clusters: [...this.neededEds(this.client.resources(CLUSTER_TYPE))].filter((n) => !eps.has(n)).sort(),
      routes: [...this.neededRds(this.client.resources(LISTENER_TYPE))].filter((n) => !routes.has(n)).sort(),
    };
  }

  close(): void {
    this.client.close();
  }

  private neededEds(clusters: ReadonlyMap<string, ResourceObject>): Set<string> {
    const out = new Set<string>();
    for (const c of clusters.values()) {
      const n = edsName(c);
      if (n !== undefined) out.add(n);
    }
    return out;
  }

  private neededRds(listeners: ReadonlyMap<string, ResourceObject>): Set<string> {
    const out = new Set<string>();
    for (const l of listeners.values()) rdsNames(l, out);
    return out;
  }

  /** follow makes the subscription of a named type exactly `names`. */
  private follow(typeUrl: string, names: Set<string>): void {
    const subscribed = this.subscribed.get(typeUrl) ?? new Set<string>();
    const drop = [...subscribed].filter((n) => !names.has(n));
    const add = [...names].filter((n) => !subscribed.has(n));
    this.subscribed.set(typeUrl, names);
    if (drop.length > 0) this.client.unsubscribe(typeUrl, drop);
    if (add.length > 0) this.client.subscribe(typeUrl, add);
  }

  /** The set as it would be with `typeUrl` replaced by `next`, if complete and warm. */
  private candidate(typeUrl: string, next: ReadonlyMap<string, ResourceObject>, version?: string): ResourceSet | undefined {
    const get = (t: string): ReadonlyMap<string, ResourceObject> => (t === typeUrl ? next : this.client.resources(t));
    const set: ResourceSet = {
      listeners: get(LISTENER_TYPE),
      routes: get(ROUTE_TYPE),
      clusters: get(CLUSTER_TYPE),
      endpoints: get(ENDPOINT_TYPE),
      versions: Object.fromEntries(
        [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE].flatMap((t) => {
          const v = t === typeUrl ? version : this.client.version(t);
          return v !== undefined ? [[t, v]] : [];
        }),
      ),
    };
    if (set.listeners.size === 0 && set.clusters.size === 0) return undefined;
    for (const n of this.neededEds(set.clusters)) if (!set.endpoints.has(n)) return undefined;
    for (const n of this.neededRds(set.listeners)) if (!set.routes.has(n)) return undefined;
    return set;
  }

  private validate(typeUrl: string, next: ReadonlyMap<string, ResourceObject>): string | undefined {
    const errors = this.opts.compiler.check(typeUrl, next, (t) => this.client.resources(t));
    if (errors.length > 0) return errors.join('; ');
    // When this response completes a set, build it now: a set the engine cannot run is NACKed too.
    const set = this.candidate(typeUrl, next);
    if (!set) return undefined;
    const built = this.opts.compiler.build(set, this.live);
    if (!built.ok) return built.errors.join('; ');
    this.staged = { set, value: built.value };
    return undefined;
  }

  private activate(): void {
    const staged = this.staged;
    this.staged = undefined;
    // Versions are read after the ACK, so the set reports what was accepted.
    const set = this.candidate('', new Map());
    if (!set) return;
    let value: C;
    if (staged && sameResources(staged.set, set)) value = staged.value;
    else {
      const built = this.opts.compiler.build(set, this.live);
      if (!built.ok) return; // cannot happen for a set validated above; keep the last good config
      value = built.value;
    }
    this.live = value;
    this.liveSet = set;
    this.opts.onConfig(value, set);
  }
}

function sameResources(a: ResourceSet, b: ResourceSet): boolean {
  return a.listeners === b.listeners && a.routes === b.routes && a.clusters === b.clusters && a.endpoints === b.endpoints;
}
