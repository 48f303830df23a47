/**
 * Istio's standard metrics (istio.io/latest/docs/reference/config/metrics) over prom-client:
 * the same names, label names in the order Istio's proxy exports them, `unknown` for unknown
 * values, and Istio's bucket boundaries.
 *
 * Hot path: prom-client hashes every label object on every inc/observe (25 labels here, four
 * metrics a request). Instead, each distinct label tuple gets one Series object holding the plain
 * numbers of all four metrics; a request finds its Series through a short key made of interned
 * peer ids and updates numbers in place. The prom-client metrics registered in the injected
 * Registry read the Series at scrape time, so `registry.metrics()` and merged registries work as
 * with any prom-client metric.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { DestinationService, PeerInfo, RequestRecord } from './request-record.js';

/** Istio's request duration buckets, milliseconds. */
export const DURATION_BUCKETS_MS: readonly number[] = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
/** Istio's request/response size buckets, bytes: 1, 10, …, 1e9. */
export const BYTES_BUCKETS: readonly number[] = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** The labels every Istio metric carries, in the order Istio's stats filter exports them. */
export const PEER_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
] as const;

/** Labels of the HTTP/gRPC metrics (istio_requests_total and the three histograms). */
export const HTTP_LABELS = [...PEER_LABELS, 'response_code', 'grpc_response_status', 'response_flags', 'connection_security_policy'] as const;
/** Labels of the istio_tcp_* metrics: no response code or gRPC status (a connection has neither). */
export const TCP_LABELS = [...PEER_LABELS, 'response_flags', 'connection_security_policy'] as const;

export type HttpLabels = Record<(typeof HTTP_LABELS)[number], string>;
export type TcpLabels = Record<(typeof TCP_LABELS)[number], string>;

const UNKNOWN = 'unknown';
const v = (s: string | undefined): string => (s === undefined || s === '' ? UNKNOWN : s);

/** peerLabels returns the source_* / destination_* label values of one side (Istio's defaults for unknowns). */
function peerValues(p: PeerInfo): string[] {
  return [
    v(p.workload),
    v(p.canonicalService),
    // Istio reports `latest` when the canonical-revision label is missing.
    p.canonicalRevision || 'latest',
    v(p.namespace),
    v(p.principal),
    v(p.app),
    v(p.version),
    v(p.cluster),
  ];
}

/**
 * requestLabels returns Istio's label set for a record (HTTP/gRPC shape; TCP records get the same
 * minus response_code and grpc_response_status): what `istio_requests_total` is keyed by.
 */
export function requestLabels(r: RequestRecord): HttpLabels {
  const base = baseLabels(r);
  return {
    ...base,
    response_code: String(r.responseCode),
    grpc_response_status: r.protocol === 'grpc' && r.grpcStatus !== undefined ? String(r.grpcStatus) : '',
    response_flags: flagsValue(r.responseFlags),
    connection_security_policy: r.securityPolicy || UNKNOWN,
  } as HttpLabels;
}

/** tcpLabels returns the label set of the istio_tcp_* metrics for a TCP record. */
export function tcpLabels(r: RequestRecord): TcpLabels {
  return { ...baseLabels(r), response_flags: flagsValue(r.responseFlags), connection_security_policy: r.securityPolicy || UNKNOWN } as TcpLabels;
}

const flagsValue = (f: string | undefined): string => (f === undefined || f === '' ? '-' : f);

function baseLabels(r: RequestRecord): Record<string, string> {
  const s = peerValues(r.source);
  const d = peerValues(r.destination);
  const svc = r.destinationService;
  return {
    reporter: r.reporter,
    source_workload: s[0],
    source_canonical_service: s[1],
    source_canonical_revision: s[2],
    source_workload_namespace: s[3],
    source_principal: s[4],
    source_app: s[5],
    source_version: s[6],
    source_cluster: s[7],
    destination_workload: d[0],
    destination_workload_namespace: d[3],
    destination_principal: d[4],
    destination_app: d[5],
    destination_version: d[6],
    destination_service: v(svc.host),
    destination_canonical_service: d[1],
    destination_canonical_revision: d[2],
    // Istio falls back to the host (e.g. `httpbin.org`, `PassthroughCluster`) when there is no service name.
    destination_service_name: v(svc.name || svc.host),
    destination_service_namespace: v(svc.namespace),
    destination_cluster: d[7],
    request_protocol: r.protocol,
  };
}

// ───────────────────────────── series storage ─────────────────────────────

/** The numbers of one HTTP label tuple: a counter and three histograms. */
interface HttpSeries {
  readonly labels: HttpLabels;
  requests: number;
  readonly duration: Hist;
  readonly requestBytes: Hist;
  readonly responseBytes: Hist;
}

/** The numbers of one TCP label tuple. */
interface TcpSeries {
  readonly labels: TcpLabels;
  sent: number;
  received: number;
  opened: number;
  closed: number;
}

/**
 * The series a destination's last request went to, with what chose it: consecutive requests to a
 * destination nearly always share their tuple, and comparing these fields (mostly the same
 * objects and interned strings) is cheaper than building and hashing the tuple key.
 */
interface LastHttp {
  readonly source: PeerInfo;
  readonly host: string | undefined;
  readonly name: string | undefined;
  readonly namespace: string | undefined;
  readonly reporter: string;
  readonly protocol: string;
  readonly code: number;
  readonly grpc: number | undefined;
  readonly flags: string | undefined;
  readonly policy: string | undefined;
  readonly series: HttpSeries;
}

/** Histogram numbers: per-bucket (non-cumulative) counts, the last slot is +Inf. */
interface Hist {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

const newHist = (bounds: readonly number[]): Hist => ({ counts: new Float64Array(bounds.length + 1), sum: 0, count: 0 });

function observe(h: Hist, bounds: readonly number[], x: number): void {
  // A NaN would poison the sum for good (prom-client throws instead); a broken record is not observed.
  if (!Number.isFinite(x)) return;
  // Linear scan: ≤19 bounds and most values land in the first few buckets.
  let i = 0;
  while (i < bounds.length && x > bounds[i]) i++;
  h.counts[i]++;
  h.sum += x;
  h.count++;
}

/** Options of IstioMetrics. */
export interface IstioMetricsOptions {
  /** The registry to register the eight metrics in (each proxy has its own). */
  readonly registry: Registry;
  /**
   * Most distinct label tuples kept per metric family (HTTP, TCP); beyond it new tuples are
   * counted in `overflowed` and not recorded, so a label explosion (e.g. arbitrary response codes
   * from a hostile upstream) cannot exhaust memory. Default 10,000.
   */
  readonly maxSeries?: number;
}

/**
 * IstioMetrics returns the eight standard Istio metrics registered in one Registry, updated by
 * recordRequest (HTTP/gRPC) and recordTcp (TCP connection events).
 */
export class IstioMetrics {
  private readonly http = new Map<string, HttpSeries>();
  private readonly tcp = new Map<string, TcpSeries>();
  private readonly peerIds = new WeakMap<object, number>();
  private readonly peerIdsByKey = new Map<string, number>();
  /** Per destination PeerInfo object: the tuple and series of its last request (see LastHttp). */
  private lastHttp = new WeakMap<PeerInfo, LastHttp>();
  private readonly maxSeries: number;
  /** Records not recorded because maxSeries was reached. */
  overflowed = 0;

  constructor(opts: IstioMetricsOptions) {
    this.maxSeries = opts.maxSeries ?? 10_000;
    const registers = [opts.registry];
    const httpSeries = () => this.http.values();
    const tcpSeries = () => this.tcp.values();
    new SeriesCounter(
      { name: 'istio_requests_total', help: 'Total number of requests handled by an Istio proxy.', labelNames: HTTP_LABELS, registers },
      () => mapIter(httpSeries(), (s) => [s.labels, s.requests]),
    );
    new SeriesHistogram(
      { name: 'istio_request_duration_milliseconds', help: 'Duration of requests, in milliseconds.', labelNames: HTTP_LABELS, buckets: [...DURATION_BUCKETS_MS], registers },
      () => mapIter(httpSeries(), (s) => [s.labels, s.duration]),
    );
    new SeriesHistogram(
      { name: 'istio_request_bytes', help: 'HTTP request body sizes, in bytes.', labelNames: HTTP_LABELS, buckets: [...BYTES_BUCKETS], registers },
      () => mapIter(httpSeries(), (s) => [s.labels, s.requestBytes]),
    );
    new SeriesHistogram(
      { name: 'istio_response_bytes', help: 'HTTP response body sizes, in bytes.', labelNames: HTTP_LABELS, buckets: [...BYTES_BUCKETS], registers },
      () => mapIter(httpSeries(), (s) => [s.labels, s.responseBytes]),
    );
    const tcpCounter = (name: string, help: string, pick: (s: TcpSeries) => number) =>
      new SeriesCounter({ name, help, labelNames: TCP_LABELS, registers }, () => mapIter(tcpSeries(), (s) => [s.labels, pick(s)]));
    tcpCounter('istio_tcp_sent_bytes_total', 'Total bytes sent during response in case of a TCP connection.', (s) => s.sent);
    tcpCounter('istio_tcp_received_bytes_total', 'Total bytes received during request in case of a TCP connection.', (s) => s.received);
    tcpCounter('istio_tcp_connections_opened_total', 'Total number of TCP connections opened.', (s) => s.opened);
    tcpCounter('istio_tcp_connections_closed_total', 'Total number of TCP connections closed.', (s) => s.closed);
  }

  /** recordRequest counts one finished HTTP/gRPC request: count, duration, request and response size. */
  recordRequest(r: RequestRecord): void {
    const grpc = r.protocol === 'grpc' ? r.grpcStatus : undefined;
    const svc = r.destinationService;
    const last = this.lastHttp.get(r.destination);
    let s: HttpSeries | undefined;
    if (
      last !== undefined &&
      last.source === r.source &&
      last.code === r.responseCode &&
      last.flags === r.responseFlags &&
      last.host === svc.host &&
      last.name === svc.name &&
      last.namespace === svc.namespace &&
      last.reporter === r.reporter &&
      last.protocol === r.protocol &&
      last.grpc === grpc &&
      last.policy === r.securityPolicy
    )
      s = last.series;
    else {
      const key = this.tupleKey(r) + '|' + r.responseCode + '|' + (grpc ?? '');
      s = this.http.get(key);
      if (s === undefined) {
        if (this.http.size >= this.maxSeries) {
          this.overflowed++;
          return;
        }
        s = { labels: requestLabels(r), requests: 0, duration: newHist(DURATION_BUCKETS_MS), requestBytes: newHist(BYTES_BUCKETS), responseBytes: newHist(BYTES_BUCKETS) };
        this.http.set(key, s);
      }
      this.lastHttp.set(r.destination, { source: r.source, host: svc.host, name: svc.name, namespace: svc.namespace, reporter: r.reporter, protocol: r.protocol, code: r.responseCode, grpc, flags: r.responseFlags, policy: r.securityPolicy, series: s });
    }
    s.requests++;
    observe(s.duration, DURATION_BUCKETS_MS, r.durationMs);
    observe(s.requestBytes, BYTES_BUCKETS, r.bytesReceived);
    observe(s.responseBytes, BYTES_BUCKETS, r.bytesSent);
  }

  /**
   * recordTcp applies one TCP connection event: `open` counts an opened connection, `close` a
   * closed one, and every event adds its byte deltas (received = from downstream, sent = to it).
   */
  recordTcp(r: RequestRecord): void {
    const key = this.tupleKey(r);
    let s = this.tcp.get(key);
    if (s === undefined) {
      if (this.tcp.size >= this.maxSeries) {
        this.overflowed++;
        return;
      }
      s = { labels: tcpLabels(r), sent: 0, received: 0, opened: 0, closed: 0 };
      this.tcp.set(key, s);
    }
    if (r.tcpEvent === 'open') s.opened++;
    else if (r.tcpEvent === 'close') s.closed++;
    s.sent += r.bytesSent;
    s.received += r.bytesReceived;
  }

  /** record dispatches a record to recordTcp or recordRequest by its protocol. */
  record(r: RequestRecord): void {
    if (r.protocol === 'tcp') this.recordTcp(r);
    else this.recordRequest(r);
  }

  /** reset forgets every series (registry.resetMetrics() does not reach them: they live here, not in prom-client). */
  reset(): void {
    this.http.clear();
    this.lastHttp = new WeakMap();
    this.tcp.clear();
    this.overflowed = 0;
  }

  /** Number of distinct label tuples held (HTTP + TCP). */
  get seriesCount(): number {
    return this.http.size + this.tcp.size;
  }

  /** The part of the tuple key both families share: reporter, peers, service, protocol, flags, policy. */
  private tupleKey(r: RequestRecord): string {
    return (
      r.reporter + '|' + this.peerId(r.source) + '|' + this.peerId(r.destination) + '|' + this.serviceId(r.destinationService) + '|' + r.protocol + '|' + flagsValue(r.responseFlags) + '|' + (r.securityPolicy || UNKNOWN)
    );
  }

  /** peerId interns a peer's label values: identity first (proxies reuse PeerInfo objects), then by content. */
  private peerId(p: PeerInfo): number {
    let id = this.peerIds.get(p);
    if (id !== undefined) return id;
    id = this.intern('p\x1f' + peerValues(p).join('\x1f'));
    this.peerIds.set(p, id);
    return id;
  }

  private serviceId(s: DestinationService): number {
    let id = this.peerIds.get(s);
    if (id !== undefined) return id;
    id = this.intern('s\x1f' + v(s.host) + '\x1f' + v(s.name || s.host) + '\x1f' + v(s.namespace));
    this.peerIds.set(s, id);
    return id;
  }

  private intern(key: string): number {
    let id = this.peerIdsByKey.get(key);
    if (id === undefined) {
      id = this.peerIdsByKey.size;
      this.peerIdsByKey.set(key, id);
    }
    return id;
  }
}

function* mapIter<A, B>(it: Iterable<A>, f: (a: A) => B): Iterable<B> {
  for (const a of it) yield f(a);
}

type LabelSet = Record<string, string>;

/** A prom-client Counter whose values come from Series objects at scrape time. */
class SeriesCounter extends Counter<string> {
  constructor(
    config: ConstructorParameters<typeof Counter<string>>[0],
    private readonly source: () => Iterable<readonly [LabelSet, number]>,
  ) {
    super(config);
  }

  override async get(): Promise<Awaited<ReturnType<Counter<string>['get']>>> {
    const base = await super.get();
    const values = [];
    for (const [labels, value] of this.source()) values.push({ labels, value });
    return { ...base, values } as unknown as Awaited<ReturnType<Histogram<string>['get']>>;
  }
}

/** A prom-client Histogram whose buckets come from Series objects at scrape time (cumulative `le` as Prometheus expects). */
class SeriesHistogram extends Histogram<string> {
  private readonly bounds: readonly number[];

  constructor(
    private readonly config: ConstructorParameters<typeof Histogram<string>>[0] & { buckets: number[] },
    private readonly source: () => Iterable<readonly [LabelSet, Hist]>,
  ) {
    super(config);
    this.bounds = config.buckets;
  }

  /**
   * prom-client's Registry formats a histogram through its (untyped) getForPromString rather than
   * get(); both must answer from the Series. The exposition tests fail if that ever changes.
   */
  async getForPromString(): Promise<Awaited<ReturnType<Histogram<string>['get']>>> {
    return this.get();
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<string>['get']>>> {
    // Not super.get(): prom-client's Histogram.get() calls getForPromString(), which calls this.
    const base = { name: this.config.name, help: this.config.help, type: 'histogram' as const, aggregator: this.config.aggregator ?? 'sum' };
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    const bucketName = `${base.name}_bucket`;
    for (const [labels, h] of this.source()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += h.counts[i];
        values.push({ labels: { ...labels, le: this.bounds[i] }, value: acc, metricName: bucketName });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: h.count, metricName: bucketName });
      values.push({ labels, value: h.sum, metricName: `${base.name}_sum` });
      values.push({ labels, value: h.count, metricName: `${base.name}_count` });
    }
    return { ...base, values } as unknown as Awaited<ReturnType<Histogram<string>['get']>>;
  }
}
