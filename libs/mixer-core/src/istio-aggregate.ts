/**
 * Istio's standard metrics aggregated over every sidecar's records, with a snapshot/restore so a
 * mixer replica restarts from its last checkpoint instead of from zero (counters must not reset:
 * the batches they count were acknowledged to the stream).
 *
 * Names, labels, label values and buckets are @meshwork/telemetry's (requestLabels, tcpLabels,
 * DURATION_BUCKETS_MS, BYTES_BUCKETS), so a mixer scrape and a sidecar scrape read the same. The
 * store is mixer's own rather than an IstioMetrics because IstioMetrics keeps its series private
 * (a proxy never restores them) and mixer must checkpoint them.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { BYTES_BUCKETS, DURATION_BUCKETS_MS, HTTP_LABELS, requestLabels, TCP_LABELS, tcpLabels, type RequestRecord } from '@meshwork/telemetry';
import { escapeHelp, labelText, valueText, type PromText } from './exposition.js';
import { TripleCache } from './triple-cache.js';

/** Per-bucket (non-cumulative) counts, the last slot +Inf, with sum and count. */
export interface HistData {
  counts: number[];
  sum: number;
  count: number;
}

interface HttpSeries {
  readonly labels: Record<string, string>;
  requests: number;
  readonly duration: HistData;
  readonly requestBytes: HistData;
  readonly responseBytes: HistData;
}

interface TcpSeries {
  readonly labels: Record<string, string>;
  sent: number;
  received: number;
  opened: number;
  closed: number;
}

/** The JSON form of an IstioAggregate (label values in HTTP_LABELS / TCP_LABELS order). */
export interface IstioAggregateSnapshot {
  readonly http: { l: string[]; n: number; d: HistData; qb: HistData; rb: HistData }[];
  readonly tcp: { l: string[]; s: number; r: number; o: number; c: number }[];
  readonly overflowed: number;
}

/** newHist returns an empty histogram for `bounds`. */
export function newHist(bounds: readonly number[]): HistData {
  return { counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 };
}

/** observe adds one value to a histogram (non-finite values are ignored, as a broken record must not poison the sum). */
export function observe(h: HistData, bounds: readonly number[], x: number): void {
  if (!Number.isFinite(x)) return;
  let i = 0;
  while (i < bounds.length && x > bounds[i]) i++;
  h.counts[i]++;
  h.sum += x;
  h.count++;
}

// The series key of a record, built from its fields without allocating the label object (the
// hot path): the same normalisation as @meshwork/telemetry's requestLabels/tcpLabels (`unknown`
// for absent, `latest` for a missing canonical revision, the host when there is no service name),
// so two records share a key exactly when they share labels. The unit test compares expositions.
const u = (x: string | undefined): string => (x === undefined || x === '' ? 'unknown' : x);
const SEP = '\x1f';

function peerKey(p: RequestRecord['source']): string {
  return u(p.workload) + SEP + u(p.canonicalService) + SEP + (p.canonicalRevision || 'latest') + SEP + u(p.namespace) + SEP + u(p.principal) + SEP + u(p.app) + SEP + u(p.version) + SEP + u(p.cluster) + SEP;
}

function baseKey(r: RequestRecord): string {
  const svc = r.destinationService;
  return r.reporter + SEP + peerKey(r.source) + peerKey(r.destination) + u(svc.host) + SEP + u(svc.name || svc.host) + SEP + u(svc.namespace) + SEP + r.protocol + SEP + (r.responseFlags === undefined || r.responseFlags === '' ? '-' : r.responseFlags) + SEP + (r.securityPolicy || 'unknown');
}

const PEER_ORDER = ['workload', 'canonical_service', 'canonical_revision', 'workload_namespace', 'principal', 'app', 'version', 'cluster'];
/** Label names in the order baseKey joins their values. */
const BASE_ORDER = ['reporter', ...PEER_ORDER.map((n) => `source_${n}`), ...PEER_ORDER.map((n) => `destination_${n}`), 'destination_service', 'destination_service_name', 'destination_service_namespace', 'request_protocol', 'response_flags', 'connection_security_policy'];
const HTTP_ORDER = [...BASE_ORDER, 'response_code', 'grpc_response_status'];
/** The series key of restored labels: the values in baseKey's order. */
const httpKeyOfLabels = (l: Record<string, string>): string => HTTP_ORDER.map((n) => l[n]).join(SEP);
const tcpKeyOfLabels = (l: Record<string, string>): string => BASE_ORDER.map((n) => l[n]).join(SEP);

/**
 * IstioAggregate returns the eight istio_* metrics registered in a registry, fed by record().
 * At most `maxSeries` label tuples per family; beyond it records are counted in `overflowed`.
 */
export class IstioAggregate {
  private readonly http = new Map<string, HttpSeries>();
  private readonly tcp = new Map<string, TcpSeries>();
  private readonly maxSeries: number;
  /**
   * The series of a record by its (source, destination, service) objects and then its other
   * label values (reporter, protocol, flags, policy, code, gRPC status): with interned peers
   * (WireIntern) the long key of baseKey is built once per series, not once per record.
   */
  private readonly cache = new TripleCache<Map<string, HttpSeries | TcpSeries>>();
  overflowed = 0;

  constructor(opts: { registry: Registry; maxSeries?: number }) {
    this.maxSeries = opts.maxSeries ?? 100_000;
    const registers = [opts.registry];
    const http = (): Iterable<HttpSeries> => this.http.values();
    const tcp = (): Iterable<TcpSeries> => this.tcp.values();
    new ValuesCounter({ name: 'istio_requests_total', help: 'Total number of requests handled by an Istio proxy.', labelNames: HTTP_LABELS, registers }, function* () {
      for (const s of http()) yield [s.labels, s.requests];
    });
    const hist = (name: string, help: string, buckets: readonly number[], pick: (s: HttpSeries) => HistData): void => {
      new ValuesHistogram({ name, help, labelNames: HTTP_LABELS, buckets: [...buckets], registers }, function* () {
        for (const s of http()) yield [s.labels, pick(s)];
      });
    };
    hist('istio_request_duration_milliseconds', 'Duration of requests, in milliseconds.', DURATION_BUCKETS_MS, (s) => s.duration);
    hist('istio_request_bytes', 'HTTP request body sizes, in bytes.', BYTES_BUCKETS, (s) => s.requestBytes);
    hist('istio_response_bytes', 'HTTP response body sizes, in bytes.', BYTES_BUCKETS, (s) => s.responseBytes);
    const tcpCounter = (name: string, help: string, pick: (s: TcpSeries) => number): void => {
      new ValuesCounter({ name, help, labelNames: TCP_LABELS, registers }, function* () {
        for (const s of tcp()) yield [s.labels, pick(s)];
      });
    };
    tcpCounter('istio_tcp_sent_bytes_total', 'Total bytes sent during response in case of a TCP connection.', (s) => s.sent);
    tcpCounter('istio_tcp_received_bytes_total', 'Total bytes received during request in case of a TCP connection.', (s) => s.received);
    tcpCounter('istio_tcp_connections_opened_total', 'Total number of TCP connections opened.', (s) => s.opened);
    tcpCounter('istio_tcp_connections_closed_total', 'Total number of TCP connections closed.', (s) => s.closed);
  }

  /** record counts one record in its HTTP or TCP family. */
  record(r: RequestRecord): void {
    const byRest = this.cache.get(r.source, r.destination, r.destinationService, () => new Map());
    const tcp = r.protocol === 'tcp';
    const rest = tcp ? r.reporter + SEP + r.responseFlags + SEP + r.securityPolicy : r.reporter + SEP + r.protocol + SEP + r.responseFlags + SEP + r.securityPolicy + SEP + r.responseCode + SEP + r.grpcStatus;
    let cached = byRest.get(rest);
    if (cached === undefined) {
      cached = tcp ? this.tcpSeries(baseKey(r), r) : this.httpSeries(baseKey(r) + SEP + r.responseCode + SEP + (r.protocol === 'grpc' && r.grpcStatus !== undefined ? r.grpcStatus : ''), r);
      // Not cached when over maxSeries: each such record is counted in `overflowed`.
      if (cached === undefined) return;
      byRest.set(rest, cached);
    }
    if (tcp) {
      const s = cached as TcpSeries;
      if (r.tcpEvent === 'open') s.opened++;
      else if (r.tcpEvent === 'close') s.closed++;
      s.sent += r.bytesSent;
      s.received += r.bytesReceived;
      return;
    }
    const s = cached as HttpSeries;
    s.requests++;
    observe(s.duration, DURATION_BUCKETS_MS, r.durationMs);
    observe(s.requestBytes, BYTES_BUCKETS, r.bytesReceived);
    observe(s.responseBytes, BYTES_BUCKETS, r.bytesSent);
  }

  /** Distinct label tuples held (HTTP + TCP). */
  get seriesCount(): number {
    return this.http.size + this.tcp.size;
  }

  /** snapshot returns the whole state as plain JSON data. */
  snapshot(): IstioAggregateSnapshot {
    return {
      http: [...this.http.values()].map((s) => ({ l: HTTP_LABELS.map((n) => s.labels[n]), n: s.requests, d: s.duration, qb: s.requestBytes, rb: s.responseBytes })),
      tcp: [...this.tcp.values()].map((s) => ({ l: TCP_LABELS.map((n) => s.labels[n]), s: s.sent, r: s.received, o: s.opened, c: s.closed })),
      overflowed: this.overflowed,
    };
  }

  /** restore replaces the state with a snapshot's. */
  restore(snap: IstioAggregateSnapshot): void {
    this.http.clear();
    this.tcp.clear();
    this.cache.clear();
    for (const x of snap.http) {
      const labels = Object.fromEntries(HTTP_LABELS.map((n, i) => [n, x.l[i]]));
      this.http.set(httpKeyOfLabels(labels), { labels, requests: x.n, duration: x.d, requestBytes: x.qb, responseBytes: x.rb });
    }
    for (const x of snap.tcp) {
      const labels = Object.fromEntries(TCP_LABELS.map((n, i) => [n, x.l[i]]));
      this.tcp.set(tcpKeyOfLabels(labels), { labels, sent: x.s, received: x.r, opened: x.o, closed: x.c });
    }
    this.overflowed = snap.overflowed;
  }

  private httpSeries(key: string, r: RequestRecord): HttpSeries | undefined {
    let s = this.http.get(key);
    if (s) return s;
    if (this.http.size >= this.maxSeries) {
      this.overflowed++;
      return undefined;
    }
    s = { labels: requestLabels(r) as Record<string, string>, requests: 0, duration: newHist(DURATION_BUCKETS_MS), requestBytes: newHist(BYTES_BUCKETS), responseBytes: newHist(BYTES_BUCKETS) };
    this.http.set(key, s);
    return s;
  }

  private tcpSeries(key: string, r: RequestRecord): TcpSeries | undefined {
    let s = this.tcp.get(key);
    if (s) return s;
    if (this.tcp.size >= this.maxSeries) {
      this.overflowed++;
      return undefined;
    }
    s = { labels: tcpLabels(r) as Record<string, string>, sent: 0, received: 0, opened: 0, closed: 0 };
    this.tcp.set(key, s);
    return s;
  }
}

type LabelSet = Record<string, string>;
const braces = (l: string): string => (l === '' ? '' : `{${l}}`);
type Got = Awaited<ReturnType<Counter<string>['get']>>;

/** A prom-client Counter whose values are read from the aggregate at scrape time. */
class ValuesCounter extends Counter<string> implements PromText {
  constructor(
    private readonly config: ConstructorParameters<typeof Counter<string>>[0],
    private readonly source: () => Iterable<readonly [LabelSet, number]>,
  ) {
    super(config);
  }

  /** promText returns the family's exposition, each series' labels formatted once (ExpositionRegistry). */
  promText(): string {
    const name = this.config.name;
    const lines = [`# HELP ${name} ${escapeHelp(this.config.help)}`, `# TYPE ${name} counter`];
    for (const [labels, value] of this.source()) lines.push(`${name}${braces(labelText(labels))} ${valueText(value)}`);
    return lines.join('\n');
  }

  override async get(): Promise<Got> {
    const base = await super.get();
    const values = [];
    for (const [labels, value] of this.source()) values.push({ labels, value });
    return { ...base, values } as unknown as Got;
  }
}

/** A prom-client Histogram whose buckets are read from the aggregate at scrape time (cumulative `le`). */
class ValuesHistogram extends Histogram<string> implements PromText {
  constructor(
    private readonly config: ConstructorParameters<typeof Histogram<string>>[0] & { buckets: number[] },
    private readonly source: () => Iterable<readonly [LabelSet, HistData]>,
  ) {
    super(config);
  }

  /** promText returns the family's exposition, each series' labels formatted once (ExpositionRegistry). */
  promText(): string {
    const name = this.config.name;
    const bounds = this.config.buckets;
    const les = bounds.map((b) => `le="${b}"}`);
    const lines = [`# HELP ${name} ${escapeHelp(this.config.help)}`, `# TYPE ${name} histogram`];
    for (const [labels, h] of this.source()) {
      const l = labelText(labels);
      const open = `${name}_bucket{${l === '' ? '' : `${l},`}`;
      let acc = 0;
      for (let i = 0; i < bounds.length; i++) {
        acc += h.counts[i];
        lines.push(`${open}${les[i]} ${valueText(acc)}`);
      }
      lines.push(`${open}le="+Inf"} ${valueText(h.count)}`, `${name}_sum${braces(l)} ${valueText(h.sum)}`, `${name}_count${braces(l)} ${valueText(h.count)}`);
    }
    return lines.join('\n');
  }

  /** prom-client's Registry formats histograms through getForPromString; both answer from the aggregate. */
  async getForPromString(): Promise<Got> {
    return this.get();
  }

  override async get(): Promise<Got> {
    const name = this.config.name;
    const bounds = this.config.buckets;
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [labels, h] of this.source()) {
      let acc = 0;
      for (let i = 0; i < bounds.length; i++) {
        acc += h.counts[i];
        values.push({ labels: { ...labels, le: bounds[i] }, value: acc, metricName: `${name}_bucket` });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: h.count, metricName: `${name}_bucket` });
      values.push({ labels, value: h.sum, metricName: `${name}_sum` });
      values.push({ labels, value: h.count, metricName: `${name}_count` });
    }
    return { name, help: this.config.help, type: 'histogram', aggregator: this.config.aggregator ?? 'sum', values } as unknown as Got;
  }
}
