/**
 * The topology graph (Kiali's graph, issue 7 item 3): who talks to whom, how much, how well.
 *
 * Records are added into 10 s buckets of a ring covering the longest window (1 h), each bucket a
 * map of fine-grained edges (source workload → destination service → destination workload, by
 * protocol) with counts and a latency histogram (Istio's duration buckets). A query merges the
 * buckets of its window and folds the fine edges into the requested graph type, so memory is
 * bounded by ring length × distinct edges whatever the traffic volume.
 *
 * Which records count: each request is reported by both sidecars, so the graph takes the
 * destination's report (as Kiali's queries do) and the source's report only when no destination
 * proxy saw the request (destination workload unknown: no upstream, egress, a proxy-generated
 * failure before the upstream).
 */
import { DURATION_BUCKETS_MS, type RequestRecord } from '@meshwork/telemetry';
import { BadGraphQueryError, BadHealthThresholdsError } from './errors.js';
import { TripleCache } from './triple-cache.js';

/** Bucket width of the sliding windows. */
export const BUCKET_MS = 10_000;

/** Windows a graph can be asked for (Kiali's duration picker, within the ring). */
export const GRAPH_WINDOWS: Readonly<Record<string, number>> = { '1m': 60_000, '5m': 300_000, '10m': 600_000, '30m': 1_800_000, '1h': 3_600_000 };

/** Graph types, as Kiali names them. */
export const GRAPH_TYPES = ['workload', 'app', 'versionedApp', 'service'] as const;
/** One of GRAPH_TYPES. */
export type GraphType = (typeof GRAPH_TYPES)[number];

/** Health thresholds on the error ratio of a node's requests (Kiali's defaults: > 0.1 % degraded, ≥ 20 % failure). */
export interface HealthThresholds {
  /** Error ratio above which a node is `degraded` (default 0.001). */
  readonly degraded: number;
  /** Error ratio at or above which a node is `failing` (default 0.2). */
  readonly failing: number;
}

/** Kiali's default tolerances. */
export const DEFAULT_HEALTH: HealthThresholds = { degraded: 0.001, failing: 0.2 };

/**
 * parseHealthThresholds returns the thresholds of mixer's --graph-degraded-ratio and
 * --graph-failing-ratio (decimal ratios, e.g. `0.001` and `0.2`), or throws
 * BadHealthThresholdsError naming the flag: each must be in 0..1 and degraded below failing (else
 * no node could ever be degraded).
 */
export function parseHealthThresholds(degraded: string, failing: string): HealthThresholds {
  const ratio = (flag: string, v: string): number => {
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new BadHealthThresholdsError(`--${flag}: "${v}" is not an error ratio between 0 and 1 (0.05 is 5 %)`);
    return n;
  };
  const t = { degraded: ratio('graph-degraded-ratio', degraded), failing: ratio('graph-failing-ratio', failing) };
  if (t.degraded >= t.failing) throw new BadHealthThresholdsError(`--graph-degraded-ratio (${t.degraded}) must be below --graph-failing-ratio (${t.failing})`);
  return t;
}

/** A node's health in the graph. */
export type Health = 'healthy' | 'degraded' | 'failing';

interface Peer {
  readonly workload: string;
  readonly namespace: string;
  readonly app: string;
  readonly version: string;
}

/** One fine-grained edge in one bucket. */
interface EdgeAcc {
  readonly src: Peer;
  readonly dst: Peer;
  /** Destination service host (FQDN) and short name. */
  readonly host: string;
  readonly service: string;
  readonly serviceNamespace: string;
  readonly protocol: string;
  requests: number;
  errors: number;
  mtls: number;
  bytes: number;
  hist: number[];
}

/** A graph edge being summed over buckets. */
interface EdgeSum {
  readonly source: string;
  readonly target: string;
  readonly protocols: Set<string>;
  requests: number;
  errors: number;
  mtls: number;
  bytes: number;
  readonly hist: number[];
}

interface Bucket {
  start: number;
  edges: Map<string, EdgeAcc>;
}

/** The JSON form of a TopologyStore. */
export interface TopologySnapshot {
  readonly buckets: { start: number; edges: EdgeAcc[] }[];
  /** Reports still waiting for their partner. */
  readonly pending?: Pending[];
}

/** A report waiting for the other proxy's report of the same request. */
interface Pending {
  readonly r: RequestRecord;
  /** When it arrived (store clock), ms. */
  readonly at: number;
}

/** How long a report waits for the other proxy's report of the same request (sidecars publish every second). */
export const JOIN_MS = 3_000;

/**
 * joinedSource and joinedService return what the destination's report of a request gets from
 * the source's: its workload (when the destination could not tell, e.g. without mTLS) and the
 * destination service.
 */
function joinedSource(src: RequestRecord, dst: RequestRecord): RequestRecord['source'] {
  return dst.source.workload ? dst.source : { ...src.source, ...(dst.source.principal ? { principal: dst.source.principal } : {}) };
}
function joinedService(src: RequestRecord, dst: RequestRecord): RequestRecord['destinationService'] {
  const svc = dst.destinationService;
  return svc.host || svc.name ? svc : src.destinationService;
}

const UNKNOWN = 'unknown';
const peerOf = (p: RequestRecord['source']): Peer => ({ workload: p.workload || UNKNOWN, namespace: p.namespace || UNKNOWN, app: p.app || p.canonicalService || p.workload || UNKNOWN, version: p.version || p.canonicalRevision || UNKNOWN });

/** peerKey returns a peer's normalised values (as peerOf makes them) joined, without allocating a Peer. */
const peerKey = (p: RequestRecord['source'] | Peer): string => {
  const q = p as RequestRecord['source'];
  return `${q.namespace || UNKNOWN}\x1f${q.workload || UNKNOWN}\x1f${q.app || q.canonicalService || q.workload || UNKNOWN}\x1f${q.version || q.canonicalRevision || UNKNOWN}`;
};

/** edgeKey returns the key of a fine edge; the same for a record's raw peers and for the Peers built from them. */
const edgeKey = (src: RequestRecord['source'] | Peer, dst: RequestRecord['source'] | Peer, host: string, protocol: string): string => `${peerKey(src)}\x1f${host}\x1f${peerKey(dst)}\x1f${protocol}`;

/** isError says whether a record is an error for the graph: 5xx or no response for HTTP, a non-OK status for gRPC, a response flag for TCP. */
export function isError(r: RequestRecord): boolean {
  if (r.protocol === 'grpc') return r.grpcStatus !== undefined ? r.grpcStatus !== 0 : r.responseCode >= 500 || r.responseCode === 0;
  if (r.protocol === 'tcp') return r.responseFlags !== '' && r.responseFlags !== '-';
  return r.responseCode >= 500 || r.responseCode === 0;
}

/** A graph node (Kiali's `elements.nodes[].data`). */
export interface GraphNode {
  readonly id: string;
  readonly nodeType: 'workload' | 'app' | 'service' | 'unknown';
  readonly namespace: string;
  readonly workload?: string;
  readonly app?: string;
  readonly version?: string;
  readonly service?: string;
  /** healthy / degraded / failing from the error ratio of the node's inbound requests (outbound when it has none). */
  readonly health: Health;
  readonly traffic: { requestsIn: number; errorsIn: number; requestsOut: number; errorsOut: number };
}

/** A graph edge (Kiali's `elements.edges[].data`). */
export interface GraphEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  /** http, grpc or tcp; `mixed` when several protocols were folded into this edge. */
  readonly protocol: string;
  /** Exact counts in the window. */
  readonly requests: number;
  readonly errors: number;
  /** Requests (TCP: connections opened and reported) per second over the window. */
  readonly rate: number;
  /** errors / requests (0..1). */
  readonly errorRate: number;
  /** Latency percentiles in ms, estimated from the histogram as Prometheus' histogram_quantile does. */
  readonly responseTime: { p50: number; p95: number; p99: number };
  /** Share of requests over mutual TLS, percent (Kiali's isMTLS). */
  readonly isMTLS: number;
  /** Bytes received + sent (TCP throughput over the window). */
  readonly bytes: number;
}

/** The graph (Kiali's shape: `elements.nodes[].data`, `elements.edges[].data`). */
export interface Graph {
  /** Epoch seconds. */
  readonly timestamp: number;
  /** Window, seconds. */
  readonly duration: number;
  readonly graphType: GraphType;
  readonly elements: { nodes: { data: GraphNode }[]; edges: { data: GraphEdge }[] };
}

/** A graph query. */
export interface GraphQuery {
  readonly type: GraphType;
  /** Key of GRAPH_WINDOWS. */
  readonly window: string;
  /** Only edges touching these namespaces (empty: all). */
  readonly namespaces?: readonly string[];
  /**
   * Kiali's injectServiceNodes: in workload, app and versionedApp graphs, put the destination
   * service between source and destination (`src → svc → dst`). Default false.
   */
  readonly injectServiceNodes?: boolean;
}

/** parseGraphQuery returns a GraphQuery from HTTP query parameters, or throws BadGraphQueryError naming the parameter. */
export function parseGraphQuery(q: Record<string, unknown>): GraphQuery {
  const type = (q.type ?? q.graphType ?? 'workload') as string;
  if (!(GRAPH_TYPES as readonly string[]).includes(type)) throw new BadGraphQueryError(`type: "${type}" is not one of ${GRAPH_TYPES.join(', ')}`);
  const window = (q.window ?? q.duration ?? '5m') as string;
  if (!Object.hasOwn(GRAPH_WINDOWS, window)) throw new BadGraphQueryError(`window: "${window}" is not one of ${Object.keys(GRAPH_WINDOWS).join(', ')}`);
  const ns = q.namespace ?? q.namespaces;
  const namespaces = typeof ns === 'string' && ns !== '' ? ns.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const inject = q.injectServiceNodes;
  if (inject !== undefined && inject !== 'true' && inject !== 'false') throw new BadGraphQueryError(`injectServiceNodes: "${String(inject)}" is not true or false`);
  return { type: type as GraphType, window, namespaces, ...(inject === 'true' ? { injectServiceNodes: true } : {}) };
}

/** quantile returns the q-quantile of per-bucket counts over `bounds`, interpolating inside the bucket (Prometheus' histogram_quantile). */
export function quantile(q: number, counts: readonly number[], bounds: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = q * total;
  let acc = 0;
  for (let i = 0; i < counts.length; i++) {
    const prev = acc;
    acc += counts[i];
    if (acc >= rank && counts[i] > 0) {
      // +Inf bucket: Prometheus answers the highest finite bound.
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lo = i === 0 ? 0 : bounds[i - 1];
      return lo + ((bounds[i] - lo) * (rank - prev)) / counts[i];
    }
  }
  return bounds[bounds.length - 1];
}

/**
 * TopologyStore returns the sliding-window graph: add records, query a graph. `now` is injected
 * (tests); records are placed by their own end time, so late or redelivered batches land in the
 * right bucket.
 */
export class TopologyStore {
  private readonly ring: Bucket[];
  private readonly ringSize: number;
  /** Edges not recorded because a bucket held maxEdges already. */
  overflowed = 0;
  /** Reports waiting for the other proxy's report of the same request, by request id. */
  private readonly pendingSource = new Map<string, Pending>();
  private readonly pendingDest = new Map<string, Pending>();
  /** No pending report expires before this (store clock, ms): add() skips expire() until then. */
  private nextExpiry = Infinity;
  /** Edge keys by (source, destination, service) objects, then protocol (interned peers: built once per edge, not per record). */
  private readonly edgeKeys = new TripleCache<Record<string, string>>();

  constructor(private readonly opts: { now?: () => number; maxEdgesPerBucket?: number; health?: HealthThresholds; joinMs?: number; maxPending?: number } = {}) {
    this.ringSize = Math.ceil(GRAPH_WINDOWS['1h'] / BUCKET_MS) + 1;
    this.ring = Array.from({ length: this.ringSize }, () => ({ start: -1, edges: new Map() }));
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /**
   * add takes one record. An HTTP/gRPC record with a request id waits (up to JOIN_MS) for the
   * other proxy's report of the same request: joined, they make one edge from the source's
   * workload to the destination's (Istio's peer metadata exchange does this in the proxies; ours
   * do not, so mixer joins on x-request-id). Unjoined, the destination's report counts alone, and
   * the source's only when no destination proxy saw the request (destination workload unknown).
   */
  add(r: RequestRecord): void {
    const now = this.now();
    if (now >= this.nextExpiry) this.expire(now);
    const id = r.requestId;
    if (id && r.protocol !== 'tcp' && this.pendingCount() < (this.opts.maxPending ?? 50_000)) {
      const mine = r.reporter === 'source' ? this.pendingSource : this.pendingDest;
      const other = r.reporter === 'source' ? this.pendingDest : this.pendingSource;
      const partner = other.get(id);
      if (partner) {
        other.delete(id);
        // The destination's report with the source's knowledge (no merged copy of the record: hot path).
        const src = r.reporter === 'source' ? r : partner.r;
        const dst = r.reporter === 'source' ? partner.r : r;
        this.place(dst, now, joinedSource(src, dst), joinedService(src, dst));
        return;
      }
      // A second report from the same side (a retried attempt reaches the destination twice) does not wait.
      if (!mine.has(id)) {
        mine.set(id, { r, at: now });
        if (this.nextExpiry === Infinity) this.nextExpiry = now + (this.opts.joinMs ?? JOIN_MS);
        return;
      }
    }
    this.settle(r, now);
  }

  /** settle counts a record that has no partner: the destination's report; the source's only when no destination proxy saw the request. */
  private settle(r: RequestRecord, now: number): void {
    if (r.reporter === 'source' && r.destination.workload) return;
    this.place(r, now);
  }

  /** expire settles the records that waited JOIN_MS for their partner (oldest first: the maps keep insertion order). */
  private expire(now: number): void {
    const joinMs = this.opts.joinMs ?? JOIN_MS;
    const limit = now - joinMs;
    let next = Infinity;
    for (const m of [this.pendingSource, this.pendingDest]) {
      for (const [id, p] of m) {
        if (p.at > limit) {
          next = Math.min(next, p.at + joinMs);
          break;
        }
        m.delete(id);
        this.settle(p.r, now);
      }
    }
    this.nextExpiry = next;
  }

  private pendingCount(): number {
    return this.pendingSource.size + this.pendingDest.size;
  }

  /** place adds one record to its bucket (records older than the ring are ignored). */
  private place(r: RequestRecord, now: number, rs = r.source, svc = r.destinationService): void {
    const t = Math.min(now, r.startTime + (Number.isFinite(r.durationMs) ? r.durationMs : 0));
    const start = t - (t % BUCKET_MS);
    if (start <= now - this.ringSize * BUCKET_MS) return;
    const slot = this.ring[Math.floor(start / BUCKET_MS) % this.ringSize];
    if (slot.start !== start) {
      slot.start = start;
      slot.edges = new Map();
    }
    // The key from raw fields (peers are only built for a new edge), once per (peers, service, protocol): hot path.
    const rd = r.destination;
    const host = svc.host || UNKNOWN;
    const keys = this.edgeKeys.get(rs, rd, svc, () => ({}));
    const key = (keys[r.protocol] ??= edgeKey(rs, rd, host, r.protocol));
    let e = slot.edges.get(key);
    if (!e) {
      if (slot.edges.size >= (this.opts.maxEdgesPerBucket ?? 10_000)) {
        this.overflowed++;
        return;
      }
      const src = peerOf(rs);
      const dst = peerOf(rd);
      e = { src, dst, host, service: svc.name || host, serviceNamespace: svc.namespace || dst.namespace, protocol: r.protocol, requests: 0, errors: 0, mtls: 0, bytes: 0, hist: new Array<number>(DURATION_BUCKETS_MS.length + 1).fill(0) };
      slot.edges.set(key, e);
    }
    // A TCP connection counts once (its open event, or a report/close of one opened before); its bytes always.
    if (r.protocol !== 'tcp' || r.tcpEvent === 'open' || r.tcpEvent === undefined) {
      e.requests++;
      if (isError(r)) e.errors++;
      if (r.securityPolicy === 'mutual_tls') e.mtls++;
      if (r.protocol !== 'tcp') {
        let i = 0;
        while (i < DURATION_BUCKETS_MS.length && r.durationMs > DURATION_BUCKETS_MS[i]) i++;
        e.hist[i]++;
      }
    } else if (isError(r)) e.errors++;
    e.bytes += r.bytesReceived + r.bytesSent;
  }

  /** graph returns the graph of a window, folded to the query's type. */
  graph(q: GraphQuery): Graph {
    const now = this.now();
    this.expire(now);
    const windowMs = GRAPH_WINDOWS[q.window];
    const from = now - windowMs;
    const ns = q.namespaces && q.namespaces.length ? new Set(q.namespaces) : undefined;
    const nodes = new Map<string, GraphNode & { traffic: GraphNode['traffic'] }>();
    const edges = new Map<string, EdgeSum>();
    for (const b of this.ring) {
      // A bucket counts when its end is inside the window (the current, partial bucket included).
      if (b.start < 0 || b.start + BUCKET_MS <= from || b.start > now) continue;
      for (const e of b.edges.values()) {
        if (ns && !ns.has(e.src.namespace) && !ns.has(e.dst.namespace) && !ns.has(e.serviceNamespace)) continue;
        const s = this.node(nodes, q.type, e, 'source');
        const t = this.node(nodes, q.type, e, 'target');
        if (q.injectServiceNodes && q.type !== 'service' && !t.startsWith('svc:')) {
          const svc = this.serviceNode(nodes, e);
          this.addEdge(edges, nodes, s, svc, e);
          this.addEdge(edges, nodes, svc, t, e);
        } else this.addEdge(edges, nodes, s, t, e);
      }
    }
    const th = this.opts.health ?? DEFAULT_HEALTH;
    const health = (req: number, err: number): Health => {
      if (req === 0) return 'healthy';
      const ratio = err / req;
      return ratio >= th.failing ? 'failing' : ratio > th.degraded ? 'degraded' : 'healthy';
    };
    const windowS = windowMs / 1000;
    return {
      timestamp: Math.floor(now / 1000),
      duration: windowS,
      graphType: q.type,
      elements: {
        nodes: [...nodes.values()]
          .map((n) => ({ data: { ...n, health: n.traffic.requestsIn > 0 ? health(n.traffic.requestsIn, n.traffic.errorsIn) : health(n.traffic.requestsOut, n.traffic.errorsOut) } }))
          .sort((a, b) => a.data.id.localeCompare(b.data.id)),
        edges: [...edges.entries()]
          .map(([id, a]) => ({
            data: {
              id,
              source: a.source,
              target: a.target,
              protocol: a.protocols.size === 1 ? [...a.protocols][0] : 'mixed',
              requests: a.requests,
              errors: a.errors,
              rate: a.requests / windowS,
              errorRate: a.requests ? a.errors / a.requests : 0,
              responseTime: { p50: quantile(0.5, a.hist, DURATION_BUCKETS_MS), p95: quantile(0.95, a.hist, DURATION_BUCKETS_MS), p99: quantile(0.99, a.hist, DURATION_BUCKETS_MS) },
              isMTLS: a.requests ? (100 * a.mtls) / a.requests : 0,
              bytes: a.bytes,
            },
          }))
          .sort((x, y) => x.data.id.localeCompare(y.data.id)),
      },
    };
  }

  /** addEdge adds a fine edge's numbers to the graph edge source → target and to both nodes' traffic. */
  private addEdge(edges: Map<string, EdgeSum>, nodes: Map<string, GraphNode>, s: string, t: string, e: EdgeAcc): void {
    const id = `${s}->${t}`;
    let a = edges.get(id);
    if (!a) {
      a = { source: s, target: t, protocols: new Set(), requests: 0, errors: 0, mtls: 0, bytes: 0, hist: new Array<number>(DURATION_BUCKETS_MS.length + 1).fill(0) };
      edges.set(id, a);
    }
    a.protocols.add(e.protocol);
    a.requests += e.requests;
    a.errors += e.errors;
    a.mtls += e.mtls;
    a.bytes += e.bytes;
    for (let i = 0; i < e.hist.length; i++) a.hist[i] += e.hist[i];
    const sn = nodes.get(s);
    const tn = nodes.get(t);
    if (sn) {
      sn.traffic.requestsOut += e.requests;
      sn.traffic.errorsOut += e.errors;
    }
    if (tn) {
      tn.traffic.requestsIn += e.requests;
      tn.traffic.errorsIn += e.errors;
    }
  }

  /** serviceNode returns the id of a fine edge's destination service node, creating it. */
  private serviceNode(nodes: Map<string, GraphNode>, e: EdgeAcc): string {
    const id = `svc:${e.serviceNamespace}/${e.service}`;
    if (!nodes.has(id)) nodes.set(id, { id, nodeType: 'service', namespace: e.serviceNamespace, service: e.service, health: 'healthy', traffic: { requestsIn: 0, errorsIn: 0, requestsOut: 0, errorsOut: 0 } });
    return id;
  }

  /** node returns the id of one end of a fine edge in a graph type, creating the node. */
  private node(nodes: Map<string, GraphNode>, type: GraphType, e: EdgeAcc, end: 'source' | 'target'): string {
    const p = end === 'source' ? e.src : e.dst;
    const traffic = (): GraphNode['traffic'] => ({ requestsIn: 0, errorsIn: 0, requestsOut: 0, errorsOut: 0 });
    let n: GraphNode;
    if (p.workload === UNKNOWN && !(type === 'service' && end === 'target')) {
      // Kiali's "unknown" node: a source outside the mesh, or a destination no proxy reported.
      if (end === 'target') n = { id: `svc:${e.serviceNamespace}/${e.service}`, nodeType: 'service', namespace: e.serviceNamespace, service: e.service, health: 'healthy', traffic: traffic() };
      else n = { id: 'unknown', nodeType: 'unknown', namespace: UNKNOWN, health: 'healthy', traffic: traffic() };
    } else if (type === 'workload') n = { id: `wl:${p.namespace}/${p.workload}`, nodeType: 'workload', namespace: p.namespace, workload: p.workload, app: p.app, version: p.version, health: 'healthy', traffic: traffic() };
    else if (type === 'app') n = { id: `app:${p.namespace}/${p.app}`, nodeType: 'app', namespace: p.namespace, app: p.app, health: 'healthy', traffic: traffic() };
    else if (type === 'versionedApp') n = { id: `app:${p.namespace}/${p.app}/${p.version}`, nodeType: 'app', namespace: p.namespace, app: p.app, version: p.version, health: 'healthy', traffic: traffic() };
    else if (end === 'target') n = { id: `svc:${e.serviceNamespace}/${e.service}`, nodeType: 'service', namespace: e.serviceNamespace, service: e.service, health: 'healthy', traffic: traffic() };
    // Service graph: a source is shown as the service of its app (its canonical service).
    else n = { id: `svc:${p.namespace}/${p.app}`, nodeType: 'service', namespace: p.namespace, service: p.app, health: 'healthy', traffic: traffic() };
    if (!nodes.has(n.id)) nodes.set(n.id, n);
    return n.id;
  }

  /** snapshot returns the buckets inside the ring as JSON data. */
  snapshot(): TopologySnapshot {
    const oldest = this.now() - this.ringSize * BUCKET_MS;
    return {
      buckets: this.ring.filter((b) => b.start > oldest && b.edges.size > 0).map((b) => ({ start: b.start, edges: [...b.edges.values()] })),
      pending: [...this.pendingSource.values(), ...this.pendingDest.values()],
    };
  }

  /** restore replaces the buckets with a snapshot's (buckets that left the ring meanwhile are skipped). */
  restore(snap: TopologySnapshot): void {
    for (const b of this.ring) {
      b.start = -1;
      b.edges = new Map();
    }
    const oldest = this.now() - this.ringSize * BUCKET_MS;
    for (const b of snap.buckets) {
      if (b.start <= oldest) continue;
      const slot = this.ring[Math.floor(b.start / BUCKET_MS) % this.ringSize];
      slot.start = b.start;
      slot.edges = new Map(b.edges.map((e) => [edgeKey(e.src, e.dst, e.host, e.protocol), e]));
    }
    this.pendingSource.clear();
    this.pendingDest.clear();
    this.nextExpiry = 0;
    for (const p of snap.pending ?? []) if (p.r.requestId) (p.r.reporter === 'source' ? this.pendingSource : this.pendingDest).set(p.r.requestId, p);
  }
}
