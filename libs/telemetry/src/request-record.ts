/**
 * The one record a proxy produces per HTTP request (or per TCP connection event): everything
 * Istio's standard metrics and Envoy's default access log need, plus the trace ids. The proxy
 * fills it once in its telemetry stage; istio-metrics.ts, access-log.ts and the NATS publisher
 * (mixer, issue 7) all read the same object.
 *
 * Input types are our own on purpose: libs/telemetry is scope:shared and must not depend on
 * libs/proxy, so the proxy maps its RequestHead/ResponseFlag into this shape.
 */

/** Which proxy reports: `source` (client side, outbound or gateway) or `destination` (server side, inbound). */
export type Reporter = 'source' | 'destination';

/** Istio's `request_protocol` label. */
export type RequestProtocol = 'http' | 'grpc' | 'tcp';

/** Istio's `connection_security_policy` label. The source reporter cannot know, so it says `unknown` (as Istio does). */
export type SecurityPolicy = 'mutual_tls' | 'none' | 'unknown';

/**
 * TCP records are events of one connection: `open` when it is accepted, `report` periodically
 * while it lives (Istio's tcpReportingDuration), `close` at the end. Bytes in a TCP record are the
 * delta since the previous record of the same connection, so summing them gives the totals.
 */
export type TcpEvent = 'open' | 'report' | 'close';

/**
 * One side of a request as Istio's peer metadata describes it. Absent fields become `unknown` in
 * metric labels. Proxies should reuse the same object for the same workload: the metrics cache
 * keys on object identity first.
 */
export interface PeerInfo {
  /** Workload name (Deployment, WorkloadEntry group), e.g. `reviews-v1`. */
  readonly workload?: string;
  readonly namespace?: string;
  /** SPIFFE ID, e.g. `spiffe://cluster.local/ns/default/sa/bookinfo-reviews`. */
  readonly principal?: string;
  /** The `app` label (or `app.kubernetes.io/name`). */
  readonly app?: string;
  /** The `version` label. */
  readonly version?: string;
  /** `service.istio.io/canonical-name`. */
  readonly canonicalService?: string;
  /** `service.istio.io/canonical-revision`; Istio reports `latest` when absent. */
  readonly canonicalRevision?: string;
  /** Cluster id (multi-cluster), e.g. `Kubernetes`. */
  readonly cluster?: string;
}

/** The destination service as the route resolved it (Istio cluster metadata). */
export interface DestinationService {
  /** FQDN, e.g. `reviews.default.svc.cluster.local` (or the ServiceEntry host). */
  readonly host?: string;
  /** Short name, e.g. `reviews`. */
  readonly name?: string;
  readonly namespace?: string;
}

/** Everything known about one request (HTTP/gRPC) or one TCP connection event. */
export interface RequestRecord {
  readonly reporter: Reporter;
  readonly protocol: RequestProtocol;
  /** TCP only: which connection event this is. */
  readonly tcpEvent?: TcpEvent;
  /** Request (or connection) start, epoch milliseconds. */
  readonly startTime: number;
  readonly source: PeerInfo;
  readonly destination: PeerInfo;
  readonly destinationService: DestinationService;

  // HTTP request
  readonly method?: string;
  /** `x-envoy-original-path` when the route rewrote the path, else the path as sent (with query). */
  readonly path?: string;
  /** :authority / Host as sent. */
  readonly authority?: string;
  /** Envoy's %PROTOCOL%: `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`. */
  readonly httpProtocol?: string;
  readonly userAgent?: string;
  readonly xForwardedFor?: string;
  readonly requestId?: string;

  // outcome
  /** HTTP status; 0 when no response was sent (downstream went away, TCP). */
  readonly responseCode: number;
  /** gRPC status from `grpc-status` (trailers or trailers-only), when the request was gRPC. */
  readonly grpcStatus?: number;
  /** Envoy response flags joined with `,` (e.g. `UH`, `URX,UF`), or `-` / empty when none. */
  readonly responseFlags: string;
  /** Envoy %RESPONSE_CODE_DETAILS%, e.g. `via_upstream`, `route_not_found`, `fault_filter_abort`. */
  readonly responseCodeDetails?: string;
  readonly connectionTerminationDetails?: string;
  readonly upstreamTransportFailureReason?: string;
  readonly securityPolicy: SecurityPolicy;

  // sizes and times
  /** Total duration in ms (first byte received to last byte sent; for TCP, connection lifetime so far). */
  readonly durationMs: number;
  /** `x-envoy-upstream-service-time`: ms the upstream took, when there was one. */
  readonly upstreamServiceTimeMs?: number;
  /** HTTP: request body bytes; TCP: bytes received from downstream (delta, see TcpEvent). */
  readonly bytesReceived: number;
  /** HTTP: response body bytes; TCP: bytes sent to downstream (delta). */
  readonly bytesSent: number;

  // where it went
  readonly upstreamCluster?: string;
  /** `ip:port` of the chosen upstream host. */
  readonly upstreamHost?: string;
  readonly upstreamLocalAddress?: string;
  readonly downstreamLocalAddress?: string;
  readonly downstreamRemoteAddress?: string;
  /** SNI of the downstream TLS connection. */
  readonly requestedServerName?: string;
  readonly routeName?: string;

  // tracing
  readonly traceId?: string;
  readonly spanId?: string;
}

// ───────────────────────────── compact JSON for NATS ─────────────────────────────

/** Version of the compact encoding; decoders reject other versions. */
export const RECORD_ENCODING_VERSION = 1;

/** Longest path kept in an encoded record (characters); longer paths are cut. */
export const MAX_PATH_CHARS = 1024;
/** Longest value kept for every other string field (characters). */
export const MAX_FIELD_CHARS = 256;

type StrField = { key: string; short: string; max: number };
type NumField = { key: string; short: string; optional: boolean };

const PEER_FIELDS: readonly (readonly [keyof PeerInfo, string])[] = [
  ['workload', 'w'],
  ['namespace', 'n'],
  ['principal', 'p'],
  ['app', 'a'],
  ['version', 'v'],
  ['canonicalService', 'cs'],
  ['canonicalRevision', 'cr'],
  ['cluster', 'c'],
];

const SERVICE_FIELDS: readonly (readonly [keyof DestinationService, string])[] = [
  ['host', 'h'],
  ['name', 'n'],
  ['namespace', 'ns'],
];

// Short keys keep a fully populated request under 1 KB (mixer ingests ≥200k records/s).
const STRING_FIELDS: readonly StrField[] = [
  { key: 'method', short: 'm', max: 32 },
  { key: 'path', short: 'pa', max: MAX_PATH_CHARS },
  { key: 'authority', short: 'au', max: MAX_FIELD_CHARS },
  { key: 'httpProtocol', short: 'hp', max: 16 },
  { key: 'userAgent', short: 'ua', max: MAX_FIELD_CHARS },
  { key: 'xForwardedFor', short: 'xf', max: MAX_FIELD_CHARS },
  { key: 'requestId', short: 'id', max: 64 },
  { key: 'responseFlags', short: 'f', max: 64 },
  { key: 'responseCodeDetails', short: 'cd', max: MAX_FIELD_CHARS },
  { key: 'connectionTerminationDetails', short: 'ct', max: MAX_FIELD_CHARS },
  { key: 'upstreamTransportFailureReason', short: 'tf', max: MAX_FIELD_CHARS },
  { key: 'upstreamCluster', short: 'uc', max: MAX_FIELD_CHARS },
  { key: 'upstreamHost', short: 'uh', max: 64 },
  { key: 'upstreamLocalAddress', short: 'ul', max: 64 },
  { key: 'downstreamLocalAddress', short: 'dl', max: 64 },
  { key: 'downstreamRemoteAddress', short: 'dr', max: 64 },
  { key: 'requestedServerName', short: 'sn', max: MAX_FIELD_CHARS },
  { key: 'routeName', short: 'rn', max: MAX_FIELD_CHARS },
  { key: 'traceId', short: 'ti', max: 32 },
  { key: 'spanId', short: 'si', max: 16 },
];

const NUMBER_FIELDS: readonly NumField[] = [
  { key: 'startTime', short: 't', optional: false },
  { key: 'responseCode', short: 'rc', optional: false },
  { key: 'grpcStatus', short: 'gs', optional: true },
  { key: 'durationMs', short: 'du', optional: false },
  { key: 'upstreamServiceTimeMs', short: 'us', optional: true },
  { key: 'bytesReceived', short: 'br', optional: false },
  { key: 'bytesSent', short: 'bs', optional: false },
];

// The one-letter codes of the enum fields, shared by the compact form here and record-wire's v2
// (code → value to decode, value → code to encode).
export const REPORTER_BY_CODE: Record<string, Reporter> = { s: 'source', d: 'destination' };
export const PROTOCOL_BY_CODE: Record<string, RequestProtocol> = { h: 'http', g: 'grpc', t: 'tcp' };
export const POLICY_BY_CODE: Record<string, SecurityPolicy> = { m: 'mutual_tls', n: 'none', u: 'unknown' };
export const TCP_EVENT_BY_CODE: Record<string, TcpEvent> = { o: 'open', r: 'report', c: 'close' };
const invert = <V extends string>(m: Record<string, V>): Record<V, string> =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [v, k])) as Record<V, string>;
export const REPORTER_CODE = invert(REPORTER_BY_CODE);
export const PROTOCOL_CODE = invert(PROTOCOL_BY_CODE);
export const POLICY_CODE = invert(POLICY_BY_CODE);
export const TCP_EVENT_CODE = invert(TCP_EVENT_BY_CODE);


/** Number of string slots an encoded record can carry (peer ×2, service, plain strings). */
const STRING_SLOTS = 2 * PEER_FIELDS.length + SERVICE_FIELDS.length + STRING_FIELDS.length;

/**
 * Upper bound of one encoded record in bytes: every string at its cap, each character escaped to
 * six bytes (`\u0001`), plus keys, numbers and punctuation. encodeRecord never exceeds it.
 */
export const MAX_ENCODED_RECORD_BYTES =
  6 * (STRING_FIELDS.reduce((n, f) => n + f.max, 0) + (2 * PEER_FIELDS.length + SERVICE_FIELDS.length) * MAX_FIELD_CHARS) +
  STRING_SLOTS * 12 +
  NUMBER_FIELDS.length * 32 +
  128;

const str = (v: string | undefined, max: number): string | undefined => (v === undefined || v === '' ? undefined : v.length <= max ? v : v.slice(0, max));
const num = (v: number | undefined): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function encodePeer(p: PeerInfo): Record<string, string | undefined> {
  const m = MAX_FIELD_CHARS;
  return { w: str(p.workload, m), n: str(p.namespace, m), p: str(p.principal, m), a: str(p.app, m), v: str(p.version, m), cs: str(p.canonicalService, m), cr: str(p.canonicalRevision, m), c: str(p.cluster, m) };
}

/**
 * toCompact returns the record as a plain object with short keys, absent fields omitted (left
 * undefined, which JSON drops) and long strings cut (MAX_PATH_CHARS, MAX_FIELD_CHARS): the wire
 * form of one record on NATS. Written out as one literal rather than looping over the field
 * tables: a fixed object shape makes it several times faster, and the round-trip test checks it
 * against the tables decode uses.
 */
export function toCompact(r: RequestRecord): Record<string, unknown> {
  const m = MAX_FIELD_CHARS;
  const svc = r.destinationService;
  return {
    r: REPORTER_CODE[r.reporter],
    p: PROTOCOL_CODE[r.protocol],
    sp: POLICY_CODE[r.securityPolicy],
    te: r.tcpEvent && TCP_EVENT_CODE[r.tcpEvent],
    t: num(r.startTime),
    rc: num(r.responseCode),
    gs: num(r.grpcStatus),
    du: num(r.durationMs),
    us: num(r.upstreamServiceTimeMs),
    br: num(r.bytesReceived),
    bs: num(r.bytesSent),
    s: encodePeer(r.source),
    d: encodePeer(r.destination),
    ds: { h: str(svc.host, m), n: str(svc.name, m), ns: str(svc.namespace, m) },
    m: str(r.method, 32),
    pa: str(r.path, MAX_PATH_CHARS),
    au: str(r.authority, m),
    hp: str(r.httpProtocol, 16),
    ua: str(r.userAgent, m),
    xf: str(r.xForwardedFor, m),
    id: str(r.requestId, 64),
    f: str(r.responseFlags, 64),
    cd: str(r.responseCodeDetails, m),
    ct: str(r.connectionTerminationDetails, m),
    tf: str(r.upstreamTransportFailureReason, m),
    uc: str(r.upstreamCluster, m),
    uh: str(r.upstreamHost, 64),
    ul: str(r.upstreamLocalAddress, 64),
    dl: str(r.downstreamLocalAddress, 64),
    dr: str(r.downstreamRemoteAddress, 64),
    sn: str(r.requestedServerName, m),
    rn: str(r.routeName, m),
    ti: str(r.traceId, 32),
    si: str(r.spanId, 16),
  };
}

/** encodeRecord returns the compact JSON text of one record (at most MAX_ENCODED_RECORD_BYTES). */
export function encodeRecord(r: RequestRecord): string {
  return JSON.stringify(toCompact(r));
}

/** encodeRecordBatch returns one NATS message body for a batch: `{"v":1,"r":[…compact records]}`. */
export function encodeRecordBatch(records: readonly RequestRecord[]): string {
  return JSON.stringify({ v: RECORD_ENCODING_VERSION, r: records.map(toCompact) });
}

/** Decoding result (STYLE.md 7): the value, or every problem found with its field path. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; errors: string[] };

function decodePeer(v: unknown, path: string, fields: readonly (readonly [string, string])[], errors: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined) return out;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    errors.push(`${path}: not an object`);
    return out;
  }
  const o = v as Record<string, unknown>;
  for (const [k, s] of fields) {
    const x = o[s];
    if (x === undefined) continue;
    if (typeof x === 'string') out[k] = x;
    else errors.push(`${path}.${s}: not a string`);
  }
  return out;
}

function decodeEnum<V>(o: Record<string, unknown>, key: string, table: Record<string, V>, errors: string[], required: boolean): V | undefined {
  const x = o[key];
  if (x === undefined && !required) return undefined;
  if (typeof x === 'string' && Object.hasOwn(table, x)) return table[x];
  errors.push(`${key}: expected one of ${Object.keys(table).join('|')}`);
  return undefined;
}

/** fromCompact returns the record from its compact object form, or all field errors. */
export function fromCompact(v: unknown): Decoded<RequestRecord> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, errors: ['record: not an object'] };
  const o = v as Record<string, unknown>;
  const errors: string[] = [];
  const out: Record<string, unknown> = {
    reporter: decodeEnum(o, 'r', REPORTER_BY_CODE, errors, true),
    protocol: decodeEnum(o, 'p', PROTOCOL_BY_CODE, errors, true),
    securityPolicy: decodeEnum(o, 'sp', POLICY_BY_CODE, errors, true),
  };
  const te = decodeEnum(o, 'te', TCP_EVENT_BY_CODE, errors, false);
  if (te) out.tcpEvent = te;
  for (const f of NUMBER_FIELDS) {
    const x = o[f.short];
    if (x === undefined) {
      if (!f.optional) errors.push(`${f.short}: required number missing`);
      continue;
    }
    if (typeof x === 'number' && Number.isFinite(x)) out[f.key] = x;
    else errors.push(`${f.short}: not a finite number`);
  }
  out.source = decodePeer(o.s, 's', PEER_FIELDS, errors);
  out.destination = decodePeer(o.d, 'd', PEER_FIELDS, errors);
  out.destinationService = decodePeer(o.ds, 'ds', SERVICE_FIELDS, errors);
  for (const f of STRING_FIELDS) {
    const x = o[f.short];
    if (x === undefined) continue;
    if (typeof x === 'string') out[f.key] = x;
    else errors.push(`${f.short}: not a string`);
  }
  if (out.responseFlags === undefined) out.responseFlags = '-';
  return errors.length ? { ok: false, errors } : { ok: true, value: out as unknown as RequestRecord };
}

/** decodeRecord returns the record from one compact JSON text, or all field errors. */
export function decodeRecord(text: string): Decoded<RequestRecord> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [`record: not JSON (${(e as Error).message})`] };
  }
  return fromCompact(v);
}

/**
 * decodeRecordBatch returns the records of one NATS message body. Bad records are reported with
 * their index (`r[3].rc: …`) and skipped; the good ones are still returned, so one bad record does
 * not cost mixer a whole batch.
 */
export function decodeRecordBatch(text: string): { records: RequestRecord[]; errors: string[] } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { records: [], errors: [`batch: not JSON (${(e as Error).message})`] };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { records: [], errors: ['batch: not an object'] };
  const b = v as Record<string, unknown>;
  if (b.v !== RECORD_ENCODING_VERSION) return { records: [], errors: [`batch.v: unsupported version ${String(b.v)}`] };
  if (!Array.isArray(b.r)) return { records: [], errors: ['batch.r: not an array'] };
  const records: RequestRecord[] = [];
  const errors: string[] = [];
  b.r.forEach((x, i) => {
    const d = fromCompact(x);
    if (d.ok) records.push(d.value);
    else for (const e of d.errors) errors.push(`r[${i}].${e}`);
  });
  return { records, errors };
}

/** responseFlagsOf returns Envoy's `%RESPONSE_FLAGS%` text for a list of flags: `-` when none. */
export function responseFlagsOf(flags: readonly string[]): string {
  return flags.length === 0 ? '-' : flags.join(',');
}
