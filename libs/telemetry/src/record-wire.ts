/**
 * The NATS message a sidecar or gateway publishes for mixer: one batch of request/TCP records
 * behind a header saying who sent it, its place in the sender's sequence, and how many records
 * the sender had to drop. Records use the compact form of request-record.ts (short keys, absent
 * fields omitted), so a batch body is `{"v":1,"h":{…},"r":[…]}` and still reads with
 * decodeRecordBatch.
 *
 * Why the header: JetStream delivers at least once, so mixer deduplicates by (sender, seq); and
 * the dropped counts travel with the data so mixer can report loss it never saw.
 */
import { fromCompact, RECORD_ENCODING_VERSION, toCompact, type PeerInfo, type RequestRecord } from './request-record.js';

/** The header of one batch. */
export interface BatchHeader {
  /**
   * Unique per publisher instance (`<ns>/<workload>/<boot id>`): a restarted sidecar starts a new
   * sequence under a new sender, so its seq 1 is never taken for a duplicate.
   */
  readonly sender: string;
  /** 1, 2, 3, … per sender, in publishing order. */
  readonly seq: number;
  /** Namespace and workload of the sender (mixer labels the dropped counter with them). */
  readonly namespace: string;
  readonly workload: string;
  /** Records this sender dropped since it started (buffer full, NATS slow or away). */
  readonly droppedTotal: number;
  /**
   * Records dropped that no earlier published batch reported: summing this over distinct batches
   * gives the sender's losses exactly, however replicas share the batches.
   */
  readonly droppedDelta: number;
  /** When the batch was handed to NATS, epoch ms (mixer's lag histogram). */
  readonly sentAt: number;
}

/** A decoded batch: the header, the good records, and every problem found (bad records are skipped). */
export interface WireBatch {
  readonly header: BatchHeader;
  readonly records: RequestRecord[];
  readonly errors: string[];
}

/** encodeWireBatch returns the body of one NATS message: the header and the compact records. */
export function encodeWireBatch(header: BatchHeader, records: readonly RequestRecord[]): string {
  const h = { s: header.sender, q: header.seq, ns: header.namespace, w: header.workload, d: header.droppedTotal, dd: header.droppedDelta, t: header.sentAt };
  return JSON.stringify({ v: RECORD_ENCODING_VERSION, h, r: records.map(toCompact) });
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

/**
 * decodeWireBatch returns the batch of one message body, or the reasons it cannot be read at all
 * (not JSON, other version, no usable header). Records that fail to decode are listed in
 * `errors` with their index and skipped; the rest are returned.
 */
export function decodeWireBatch(body: string | Uint8Array): { ok: true; value: WireBatch } | { ok: false; errors: string[] } {
  let v: unknown;
  try {
    v = JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body));
  } catch (e) {
    return { ok: false, errors: [`batch: not JSON (${(e as Error).message})`] };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, errors: ['batch: not an object'] };
  const b = v as Record<string, unknown>;
  if (b.v !== RECORD_ENCODING_VERSION) return { ok: false, errors: [`batch.v: unsupported version ${String(b.v)}`] };
  if (!Array.isArray(b.r)) return { ok: false, errors: ['batch.r: not an array'] };
  const h = b.h as Record<string, unknown> | undefined;
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return { ok: false, errors: ['batch.h: missing header'] };
  const errors: string[] = [];
  if (typeof h.s !== 'string' || h.s === '') errors.push('batch.h.s: sender must be a non-empty string');
  if (!isCount(h.q) || h.q < 1) errors.push('batch.h.q: seq must be a whole number ≥ 1');
  for (const k of ['d', 'dd', 't'] as const) if (!isCount(h[k])) errors.push(`batch.h.${k}: must be a whole number ≥ 0`);
  if (errors.length) return { ok: false, errors };
  const header: BatchHeader = {
    sender: h.s as string,
    seq: h.q as number,
    namespace: typeof h.ns === 'string' ? h.ns : '',
    workload: typeof h.w === 'string' ? h.w : '',
    droppedTotal: h.d as number,
    droppedDelta: h.dd as number,
    sentAt: h.t as number,
  };
  const records: RequestRecord[] = [];
  b.r.forEach((x, i) => {
    const fast = fastFromCompact(x);
    if (fast) {
      records.push(fast);
      return;
    }
    const d = fromCompact(x);
    if (d.ok) records.push(d.value);
    else for (const e of d.errors) errors.push(`r[${i}].${e}`);
  });
  return { ok: true, value: { header, records, errors } };
}

// ───────────── fast path (mixer decodes every record of every sidecar) ─────────────

const REPORTERS: Record<string, RequestRecord['reporter']> = { s: 'source', d: 'destination' };
const PROTOCOLS: Record<string, RequestRecord['protocol']> = { h: 'http', g: 'grpc', t: 'tcp' };
const POLICIES: Record<string, RequestRecord['securityPolicy']> = { m: 'mutual_tls', n: 'none', u: 'unknown' };
const TCP_EVENTS: Record<string, NonNullable<RequestRecord['tcpEvent']>> = { o: 'open', r: 'report', c: 'close' };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A string field or absent; `false` when present with another type. */
const optStr = (v: unknown): string | undefined | false => (v === undefined || typeof v === 'string' ? v : false);
const optNum = (v: unknown): number | undefined | false => (v === undefined || (typeof v === 'number' && Number.isFinite(v)) ? v : false);
const reqNum = (v: unknown): number | false => (typeof v === 'number' && Number.isFinite(v) ? v : false);

function fastPeer(v: unknown): PeerInfo | undefined {
  if (v === undefined) return {};
  if (!isObj(v)) return undefined;
  const w = optStr(v.w), n = optStr(v.n), p = optStr(v.p), a = optStr(v.a), ver = optStr(v.v), cs = optStr(v.cs), cr = optStr(v.cr), c = optStr(v.c);
  if (w === false || n === false || p === false || a === false || ver === false || cs === false || cr === false || c === false) return undefined;
  return { workload: w, namespace: n, principal: p, app: a, version: ver, canonicalService: cs, canonicalRevision: cr, cluster: c };
}

/**
 * fastFromCompact returns the record of a well-formed compact object in one pass (a fixed object
 * shape, no field tables; absent fields are present as undefined rather than missing, which keeps
 * the shape fixed for the readers), or undefined for anything unusual — the caller then runs
 * fromCompact, which names every problem. The round-trip test checks both give equal records.
 */
function fastFromCompact(x: unknown): RequestRecord | undefined {
  if (!isObj(x)) return undefined;
  const reporter = REPORTERS[x.r as string];
  const protocol = PROTOCOLS[x.p as string];
  const securityPolicy = POLICIES[x.sp as string];
  if (!reporter || !protocol || !securityPolicy) return undefined;
  let tcpEvent: RequestRecord['tcpEvent'];
  if (x.te !== undefined) {
    tcpEvent = TCP_EVENTS[x.te as string];
    if (!tcpEvent) return undefined;
  }
  const startTime = reqNum(x.t), responseCode = reqNum(x.rc), durationMs = reqNum(x.du), bytesReceived = reqNum(x.br), bytesSent = reqNum(x.bs);
  const grpcStatus = optNum(x.gs), upstreamServiceTimeMs = optNum(x.us);
  if (startTime === false || responseCode === false || durationMs === false || bytesReceived === false || bytesSent === false || grpcStatus === false || upstreamServiceTimeMs === false) return undefined;
  const source = fastPeer(x.s);
  const destination = fastPeer(x.d);
  if (!source || !destination) return undefined;
  let destinationService: RequestRecord['destinationService'] = {};
  if (x.ds !== undefined) {
    if (!isObj(x.ds)) return undefined;
    const h = optStr(x.ds.h), n = optStr(x.ds.n), ns = optStr(x.ds.ns);
    if (h === false || n === false || ns === false) return undefined;
    destinationService = { host: h, name: n, namespace: ns };
  }
  const strs = [x.m, x.pa, x.au, x.hp, x.ua, x.xf, x.id, x.f, x.cd, x.ct, x.tf, x.uc, x.uh, x.ul, x.dl, x.dr, x.sn, x.rn, x.ti, x.si];
  for (const v of strs) if (v !== undefined && typeof v !== 'string') return undefined;
  const str = (v: unknown): string | undefined => v as string | undefined;
  return {
    reporter,
    protocol,
    securityPolicy,
    tcpEvent,
    startTime,
    responseCode,
    grpcStatus,
    durationMs,
    upstreamServiceTimeMs,
    bytesReceived,
    bytesSent,
    source,
    destination,
    destinationService,
    method: str(x.m),
    path: str(x.pa),
    authority: str(x.au),
    httpProtocol: str(x.hp),
    userAgent: str(x.ua),
    xForwardedFor: str(x.xf),
    requestId: str(x.id),
    responseFlags: str(x.f) ?? '-',
    responseCodeDetails: str(x.cd),
    connectionTerminationDetails: str(x.ct),
    upstreamTransportFailureReason: str(x.tf),
    upstreamCluster: str(x.uc),
    upstreamHost: str(x.uh),
    upstreamLocalAddress: str(x.ul),
    downstreamLocalAddress: str(x.dl),
    downstreamRemoteAddress: str(x.dr),
    requestedServerName: str(x.sn),
    routeName: str(x.rn),
    traceId: str(x.ti),
    spanId: str(x.si),
  };
}
