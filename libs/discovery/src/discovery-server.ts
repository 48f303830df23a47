/**
 * Pilot's serving core (Istio's DiscoveryServer): ingest events → debounced push → an
 * immutable mesh snapshot → per-proxy Envoy resources (libs/translate) → per-proxy xDS
 * snapshots (libs/xds), pushed to the proxies whose resources changed. It also keeps what
 * /debug/syncz, `meshctl proxy-status` and the convergence metric need.
 */
import { DEFAULT_MESH_CONFIG, type MeshConfig, type ProxyNode } from '@meshwork/api';
import type { ConfigSource, Logger, ServiceRegistry } from '@meshwork/registry';
import { silentLogger } from '@meshwork/registry';
import { formatSpiffeId, type WorkloadIdentity } from '@meshwork/pki';
import { buildSnapshot as buildMeshSnapshot, LISTENER_TYPE, parseNode, type MeshSnapshot } from '@meshwork/translate';
import { AdsRefusedError, createAdsServer, pushSnapshot, shortTypeName, type AdsConnection, type AdsServer, type ResourceObject, type Snapshot } from '@meshwork/xds';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { Debouncer, type PushRequest } from './debounce.js';
import type { SyncStatus } from './http.js';
import { authorizeProxy } from './identity.js';
import type { PilotMetrics } from './metrics.js';
import { ViewGenerator } from './view-generator.js';

export interface DiscoveryServerOptions {
  /** Every config source, merged (first wins). */
  readonly config: ConfigSource;
  readonly registry: ServiceRegistry;
  readonly metrics: PilotMetrics;
  readonly meshConfig?: MeshConfig;
  readonly debounce?: { quietMs: number; maxMs: number };
  readonly clock?: Clock;
  readonly log?: Logger;
}

interface ProxyState {
  readonly proxy: ProxyNode;
  /** SPIFFE ID its mTLS certificate proved (streams on the mTLS port). */
  readonly identity?: string;
  /** Last resources generated for it (object form), for /debug/config_dump. */
  resources: Record<string, ResourceObject[]>;
  snapshot?: Snapshot;
  /** Versions pushed and not yet ACKed, with the start time of the change that caused them. */
  readonly pending: Map<string, { version: string; start: number }>;
  /** Proxyless gRPC: the listener names the client asked for (`host:port` as dialled, short names too). */
  names?: Readonly<Record<string, readonly string[]>>;
}

/** DiscoveryServer owns the ADS service; add `ads` to a gRPC server (libs/xds listenAds). */
export class DiscoveryServer {
  readonly ads: AdsServer;
  private mesh: MeshSnapshot;
  private readonly proxies = new Map<AdsConnection, ProxyState>();
  /** Translation and xDS snapshots once per (mesh snapshot, proxy view), shared by replicas of a workload. */
  private readonly views = new ViewGenerator();
  private readonly debouncer: Debouncer;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly stops: (() => void)[] = [];
  /** The mesh config in force (options, then setMeshConfig). */
  private meshConfig: MeshConfig;
  /** Pushes completed (for tests and /debug). */
  pushes = 0;
  /** Translations run (cache misses): identical proxies share one per mesh snapshot. */
  get translations(): number {
    return this.views.translations;
  }

  constructor(private readonly opts: DiscoveryServerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.meshConfig = opts.meshConfig ?? DEFAULT_MESH_CONFIG;
    this.mesh = this.buildMesh();
    this.debouncer = new Debouncer({ quietMs: opts.debounce?.quietMs ?? 100, maxMs: opts.debounce?.maxMs ?? 10_000, clock: this.clock, push: (r) => this.push(r) });
    this.ads = createAdsServer({
      onConnect: (conn) => this.onConnect(conn),
      onAck: (conn, typeUrl, version) => this.onAck(conn, typeUrl, version),
      onNack: (conn, typeUrl, version, error) => {
        opts.metrics.xdsRejects.inc({ type: shortTypeName(typeUrl) });
        this.log.warn({ proxy: conn.nodeId, type: shortTypeName(typeUrl), version, error }, 'proxy rejected config (NACK)');
      },
      onPush: (_conn, typeUrl) => opts.metrics.xdsPushes.inc({ type: shortTypeName(typeUrl) }),
      onSubscribe: (conn, typeUrl, subscribed) => this.onSubscribe(conn, typeUrl, subscribed),
      onDisconnect: (conn) => {
        this.proxies.delete(conn);
        opts.metrics.xdsConnections.set({ version: 'meshwork' }, this.proxies.size);
      },
    });
  }

  /** start follows config and registry changes; resolves once both have synced. */
  async start(): Promise<void> {
    await Promise.all([this.opts.config.ready(), this.opts.registry.ready()]);
    this.mesh = this.buildMesh(this.mesh);
    const now = (): number => this.clock.now();
    this.stops.push(
      this.opts.config.watch((e) => {
        this.opts.metrics.pushTriggers.inc({ type: 'config' });
        this.debouncer.enqueue({ full: true, configs: new Set([`${e.key.kind}/${e.key.namespace}/${e.key.name}`]), services: new Set(), reasons: new Set(['config']), start: now() });
      }),
      this.opts.registry.watch((e) => {
        this.opts.metrics.pushTriggers.inc({ type: e.what === 'endpoints' ? 'endpoint' : 'service' });
        this.debouncer.enqueue({ full: e.what === 'service', configs: new Set(), services: new Set([e.hostname]), reasons: new Set([e.what]), start: now() });
      }),
    );
  }

  /**
   * setMeshConfig puts a new mesh config in force (pilot's reloaded --mesh-config) and pushes
   * every proxy, as istiod does on a mesh config change (a global, full push). Proxies whose
   * resources come out the same get nothing.
   */
  setMeshConfig(meshConfig: MeshConfig): void {
    this.meshConfig = meshConfig;
    this.opts.metrics.pushTriggers.inc({ type: 'global' });
    this.debouncer.enqueue({ full: true, configs: new Set(), services: new Set(), reasons: new Set(['global']), start: this.clock.now() });
  }

  /** The mesh config in force. */
  currentMeshConfig(): MeshConfig {
    return this.meshConfig;
  }

  /** stop ends pushes and every ADS stream. */
  stop(): void {
    this.debouncer.close();
    for (const s of this.stops.splice(0)) s();
    this.ads.closeAll();
  }

  /** The current mesh snapshot (for debug pages and tests). */
  meshSnapshot(): MeshSnapshot {
    return this.mesh;
  }

  private buildMesh(previous?: MeshSnapshot): MeshSnapshot {
    // The previous snapshot lends translate its memo: resources whose inputs did not change are reused as they are.
    return buildMeshSnapshot(
      {
        configs: this.opts.config.list(),
        services: this.opts.registry.services(),
        endpoints: this.opts.registry.endpoints(),
        meshConfig: this.meshConfig,
      },
      { previous },
    );
  }

  private onConnect(conn: AdsConnection): Snapshot | undefined {
    let proxy: ProxyNode;
    try {
      const node = conn.node as { id?: string; metadata?: Record<string, unknown>; locality?: Record<string, string> };
      proxy = parseNode({ id: String(node.id ?? ''), metadata: node.metadata, locality: node.locality });
    } catch (err) {
      throw new AdsRefusedError(grpcStatus.INVALID_ARGUMENT, (err as Error).message);
    }
    // On the mTLS port the certificate must vouch for the node (throws AdsRefusedError otherwise).
    let id: WorkloadIdentity | undefined;
    try {
      id = conn.authContext.transportSecurityType === 'ssl' ? authorizeProxy(proxy, conn.authContext, this.meshConfig.trustDomain) : undefined;
    } catch (err) {
      this.log.warn({ proxy: proxy.id, peer: conn.peer, err: (err as Error).message }, 'xDS stream refused: identity check failed');
      throw err;
    }
    const state: ProxyState = { proxy, ...(id ? { identity: formatSpiffeId(id) } : {}), resources: {}, pending: new Map() };
    this.proxies.set(conn, state);
    this.opts.metrics.xdsConnections.set({ version: 'meshwork' }, this.proxies.size);
    return this.generate(state);
  }

  /**
   * A proxyless gRPC client's listener subscription changed (a channel to a new target): its
   * listeners are generated for exactly the names it asked for — `reviews:9080`, `reviews.default:9080`,
   * FQDNs — as Istio's grpcgen does, and the new snapshot is pushed.
   */
  private onSubscribe(conn: AdsConnection, typeUrl: string, subscribed: '*' | readonly string[]): void {
    const state = this.proxies.get(conn);
    if (!state || state.proxy.type !== 'grpc' || typeUrl !== LISTENER_TYPE || subscribed === '*') return;
    state.names = { [typeUrl]: [...subscribed] };
    const before = state.snapshot;
    const snap = this.generate(state);
    if (snap && snap !== before) pushSnapshot(conn, snap);
  }

  /** generate computes a proxy's snapshot from the current mesh; on failure it keeps the last good one. */
  private generate(state: ProxyState): Snapshot | undefined {
    const out = this.views.generate(state.proxy, this.mesh, state.names);
    if (!out.snapshot) {
      // A translation bug must never reach a proxy: it keeps what it has (STYLE.md: last good config).
      this.log.warn({ proxy: state.proxy.id, errors: out.errors?.slice(0, 10) }, 'generated config failed the consistency check; proxy keeps its last good config');
      return state.snapshot;
    }
    state.resources = out.resources;
    state.snapshot = out.snapshot;
    return out.snapshot;
  }

  private async push(req: PushRequest): Promise<void> {
    this.opts.metrics.queueTime.observe((this.clock.now() - req.start) / 1000);
    this.mesh = this.buildMesh(this.mesh);
    for (const [conn, state] of this.proxies) {
      const before = state.snapshot;
      const snap = this.generate(state);
      if (!snap || snap === before) continue;
      for (const [typeUrl, t] of Object.entries(snap.types)) {
        if (before?.types[typeUrl]?.version !== t.version) state.pending.set(typeUrl, { version: t.version, start: req.start });
      }
      pushSnapshot(conn, snap);
    }
    this.pushes++;
  }

  private onAck(conn: AdsConnection, typeUrl: string, version: string): void {
    const p = this.proxies.get(conn)?.pending.get(typeUrl);
    if (p && p.version === version) {
      this.opts.metrics.convergence.observe((this.clock.now() - p.start) / 1000);
      this.proxies.get(conn)?.pending.delete(typeUrl);
    }
  }

  /** syncz returns every connected proxy's per-type sync state (/debug/syncz). */
  syncz(): SyncStatus[] {
    return [...this.proxies.entries()].map(([conn, st]) => ({
      proxy: conn.nodeId,
      namespace: st.proxy.namespace,
      ...(st.identity ? { identity: st.identity } : {}),
      connectedAt: conn.connectedAt.toISOString(),
      types: Object.fromEntries(
        Object.values(conn.status()).map((s) => [s.type, { sent: s.sentVersion, acked: s.ackedVersion, nacked: s.nackedVersion, error: s.lastError }]),
      ),
    }));
  }

  /** proxyConfig returns what was generated for a connected proxy, by type (short names), or undefined. */
  proxyConfig(proxyId: string): Record<string, unknown[]> | undefined {
    for (const [conn, st] of this.proxies) {
      if (conn.nodeId === proxyId) return Object.fromEntries(Object.entries(st.resources).map(([t, rs]) => [shortTypeName(t), rs]));
    }
    return undefined;
  }
}
