/**
 * The NATS message a sidecar or gateway publishes for mixer: one batch of request/TCP records
 * behind a header saying who sent it, its place in the sender's sequence, and how many records
 * the sender had to drop.
 *
 * Why the header: JetStream delivers at least once, so mixer deduplicates by (sender, seq); and
 * the dropped counts travel with the data so mixer can report loss it never saw.
 *
 * Two versions; decodeWireBatch reads both (a fleet mid-upgrade sends both), encodeWireBatch
 * writes v2:
 *
 * - v1 `{"v":1,"h":{…},"r":[…]}`: records in the compact object form of request-record.ts (short
 *   keys, absent fields omitted); still reads with decodeRecordBatch.
 * - v2 `{"v":2,"s":[…],"p":[…],"ds":[…],"r":[…],"h":{…}}`: what repeats within a batch is sent
 *   once. `p` lists the peers (PeerInfo, as arrays in PEER_SLOTS order), `ds` the destination
 *   services (`[host, name, namespace]`), `s` repeated strings; each record is an array in
 *   RECORD_SLOTS order (trailing absent slots left out) whose peer and service slots are indexes
 *   into `p` and `ds`, and whose string slots are a string, an index into `s`, or null (absent).
 *   At Bookinfo-like traffic a record is ~200 bytes instead of ~800, and JSON.parse makes one
 *   object per peer per batch instead of two per record: mixer's decode is several times cheaper.
 *   Durations (`du`, `us`) are milliseconds rounded to whole microseconds (Envoy's resolution),
 *   so at most three decimals: cheaper to print and parse than performance.now()'s fractions.
 *   The header comes last so that code splicing v1 records into a v1 frame (`…"r":[]}`) fails
 *   loudly on a v2 frame instead of producing a mixed body.
 */
import { fromCompact, MAX_FIELD_CHARS, MAX_PATH_CHARS, POLICY_BY_CODE, POLICY_CODE, PROTOCOL_BY_CODE, PROTOCOL_CODE, RECORD_ENCODING_VERSION, REPORTER_BY_CODE, REPORTER_CODE, TCP_EVENT_BY_CODE, TCP_EVENT_CODE, toCompact, type DestinationService, type PeerInfo, type RequestRecord } from './request-record.js';

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

/** The wire version encodeWireBatch writes. */
export const WIRE_VERSION = 2;

const wireHeader = (header: BatchHeader) => ({ s: header.sender, q: header.seq, ns: header.namespace, w: header.workload, d: header.droppedTotal, dd: header.droppedDelta, t: header.sentAt });

/**
 * encodeWireBatchV1 returns a v1 body (records in the compact object form): what sidecars before
 * v2 send. Kept for tests and benches of the mixed-version fleet.
 */
export function encodeWireBatchV1(header: BatchHeader, records: readonly RequestRecord[]): string {
  return JSON.stringify({ v: RECORD_ENCODING_VERSION, h: wireHeader(header), r: records.map(toCompact) });
}

/** Peer fields in the order of a v2 peer entry. */
export const PEER_SLOTS = ['workload', 'namespace', 'principal', 'app', 'version', 'canonicalService', 'canonicalRevision', 'cluster'] as const;

/**
 * Slots of a v2 record, in order: [name used in error paths (v1's short key), how the slot is
 * encoded]. `enum` slots hold v1's one-letter codes; `peer`/`service` an index into `p`/`ds`;
 * `str` a string, an index into `s`, or null. The first eleven are always present; the rarely set
 * ones come last so that a typical record ends early.
 */
export const RECORD_SLOTS = [
  ['r', 'enum'], ['p', 'enum'], ['sp', 'enum'], ['t', 'num'], ['rc', 'num'], ['du', 'num'], ['br', 'num'], ['bs', 'num'],
  ['s', 'peer'], ['d', 'peer'], ['ds', 'service'],
  ['f', 'str'], ['m', 'str'], ['pa', 'str'], ['au', 'str'], ['hp', 'str'], ['ua', 'str'], ['id', 'str'], ['ti', 'str'], ['si', 'str'], ['uc', 'str'], ['uh', 'str'], ['rn', 'str'], ['cd', 'str'],
  ['us', 'optnum'], ['gs', 'optnum'], ['te', 'enum'],
  ['xf', 'str'], ['ct', 'str'], ['tf', 'str'], ['ul', 'str'], ['dl', 'str'], ['dr', 'str'], ['sn', 'str'],
] as const;

const cut = (v: string | undefined, max: number): string | null => (v === undefined || v === '' ? null : v.length <= max ? v : v.slice(0, max));
const finite = (v: number | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
/** Durations above this many ms (~31 years) are sent as they are: whole µs would need more than 15 digits. */
const MAX_MICROS_MS = 1e12;
/**
 * micros returns a duration (ms) rounded to whole microseconds, Envoy's own duration resolution
 * (null when not a finite number): what v2 sends in its `du` and `us` slots. The proxy measures
 * with performance.now(), whose 16–17-digit fractions cost a String() each to print; at most
 * three decimals print digit by digit (JsonWriter.millis).
 */
const micros = (v: number | undefined): number | null => (typeof v !== 'number' || !Number.isFinite(v) ? null : Math.abs(v) < MAX_MICROS_MS ? Math.round(v * 1000) / 1000 : v);

/** Most entries of a WireBatchEncoder's string table; further strings are written in place. */
export const MAX_TABLE_STRINGS = 4096;

const COMMA = 0x2c;
const utf8Out = new TextEncoder();

/**
 * JsonWriter is a growable byte buffer that JSON values are written into as UTF-8, each exactly
 * as JSON.stringify prints it: `bytes[0, used)` is the text so far. WireBatchEncoder.write puts a
 * record here without building its slot array, its JSON text or a UTF-8 copy of that text (each
 * garbage the sidecar's young generation had to collect, per request).
 */
export class JsonWriter {
  bytes: Uint8Array;
  used = 0;

  constructor(initialBytes = 64 * 1024) {
    this.bytes = new Uint8Array(Math.max(16, initialBytes));
  }

  /** reserve makes room for `n` more bytes. */
  reserve(n: number): void {
    if (this.used + n > this.bytes.length) {
      const next = new Uint8Array(Math.max(this.used + n, 2 * this.bytes.length));
      next.set(this.bytes.subarray(0, this.used));
      this.bytes = next;
    }
  }

  /** byte writes one ASCII character (punctuation). */
  byte(c: number): void {
    if (this.used >= this.bytes.length) this.reserve(1);
    this.bytes[this.used++] = c;
  }

  /** null writes `null`. */
  null(): void {
    this.reserve(4);
    const b = this.bytes;
    const p = this.used;
    b[p] = 0x6e;
    b[p + 1] = 0x75;
    b[p + 2] = 0x6c;
    b[p + 3] = 0x6c;
    this.used = p + 4;
  }

  /** number writes a finite number: safe integers digit by digit, others (and -0, which prints `0`) as String() prints them, which is JSON's form. */
  number(v: number): void {
    if ((v | 0) === v && v !== -2147483648) return this.int(v);
    if (!Number.isInteger(v) || v > Number.MAX_SAFE_INTEGER || v < -Number.MAX_SAFE_INTEGER) return this.ascii(String(v));
    if (v < 0) {
      this.byte(0x2d);
      v = -v;
    }
    // Past int32 (epoch ms): two int32 halves, as floating-point remainders are slow in V8 (a C call each).
    let high = Math.floor(v / 1e9);
    let low = v - high * 1e9;
    // The quotient can round up to the next integer; the products and differences are exact.
    if (low < 0) {
      high--;
      low += 1e9;
    }
    this.int(high);
    this.int9(low);
  }

  /**
   * millis writes a finite duration in ms as JSON.stringify prints it rounded to whole
   * microseconds (micros()): the integer part and up to three decimals, trailing zeros left out.
   * A multiple of 1/1000 below 10^12 has at most 15 significant digits, so that decimal is the
   * shortest that reads back as the same double, which is what JSON prints.
   */
  millis(v: number): void {
    if (!(Math.abs(v) < MAX_MICROS_MS)) return this.number(v);
    let k = Math.round(v * 1000);
    // -0 (a tiny negative rounded) prints `0`, as JSON does
    if (k < 0) {
      this.byte(0x2d);
      k = -k;
    }
    const whole = Math.floor(k / 1000);
    const frac = k - whole * 1000;
    this.number(whole);
    if (frac === 0) return;
    const d1 = (frac / 100) | 0;
    const rest = frac - d1 * 100;
    const d2 = (rest / 10) | 0;
    const d3 = rest - d2 * 10;
    this.reserve(4);
    const b = this.bytes;
    let p = this.used;
    b[p++] = 0x2e;
    b[p++] = 0x30 + d1;
    if (rest !== 0) {
      b[p++] = 0x30 + d2;
      if (d3 !== 0) b[p++] = 0x30 + d3;
    }
    this.used = p;
  }

  /** int writes an int32 other than -2^31 (whose negation is no int32). */
  private int(v: number): void {
    this.reserve(11);
    const b = this.bytes;
    let p = this.used;
    if (v < 0) {
      b[p++] = 0x2d;
      v = -v;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = (t / 10) | 0) digits++;
    p += digits;
    this.used = p;
    for (let t = v; digits > 0; digits--) {
      const q = (t / 10) | 0;
      b[--p] = 0x30 + t - q * 10;
      t = q;
    }
  }

  /** int9 writes a number below 10^9 as nine digits, zero-padded (the low half of a large integer). */
  private int9(v: number): void {
    this.reserve(9);
    const b = this.bytes;
    const end = this.used + 9;
    for (let p = end, t = v | 0; p > this.used; ) {
      const q = (t / 10) | 0;
      b[--p] = 0x30 + t - q * 10;
      t = q;
    }
    this.used = end;
  }

  /** ascii writes text known to be ASCII needing no escape (a number's digits). */
  private ascii(t: string): void {
    const n = t.length;
    this.reserve(n);
    const b = this.bytes;
    const p = this.used;
    for (let i = 0; i < n; i++) b[p + i] = t.charCodeAt(i);
    this.used = p + n;
  }

  /** string writes a JSON string: ASCII that needs no escape is copied as is; anything else goes through JSON.stringify (escapes, lone surrogates as \ud800) and is UTF-8 encoded. */
  string(s: string): void {
    const n = s.length;
    this.reserve(n + 2);
    const b = this.bytes;
    let p = this.used;
    b[p++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7f || c === 0x22 || c === 0x5c) return this.text(JSON.stringify(s));
      b[p++] = c;
    }
    b[p++] = 0x22;
    this.used = p;
  }

  /** value writes what JSON.stringify prints for `v` as an array element (undefined, functions and symbols print `null`). */
  value(v: unknown): void {
    if (typeof v === 'string') this.string(v);
    else if (typeof v === 'number') {
      if (Number.isFinite(v)) this.number(v);
      else this.null();
    } else if (v === null) this.null();
    else this.text(JSON.stringify(v) ?? 'null');
  }

  /** text writes JSON text as UTF-8 (the text is well-formed: JSON.stringify escapes lone surrogates). */
  private text(t: string): void {
    // At most 3 bytes per UTF-16 unit (a pair takes 4 for 2 units).
    this.reserve(3 * t.length);
    this.used += utf8Out.encodeInto(t, this.bytes.subarray(this.used)).written;
  }
}

/** code writes an enum slot: one of v1's one-letter codes (an unknown value looks up undefined, or worse, and prints as JSON.stringify prints it). */
function code(w: JsonWriter, c: unknown): void {
  if (typeof c === 'string' && c.length === 1 && c !== '"' && c !== '\\' && c >= ' ' && c <= '~') {
    w.reserve(3);
    const b = w.bytes;
    b[w.used] = 0x22;
    b[w.used + 1] = c.charCodeAt(0);
    b[w.used + 2] = 0x22;
    w.used += 3;
  } else w.value(c);
}

/** num writes a number slot: finite() of it, so a non-number or non-finite value is null. */
function num(w: JsonWriter, v: unknown): void {
  if (typeof v === 'number' && Number.isFinite(v)) w.number(v);
  else w.null();
}

/** dur writes a duration slot: micros() of it, so a non-number or non-finite value is null. */
function dur(w: JsonWriter, v: unknown): void {
  if (typeof v === 'number' && Number.isFinite(v)) w.millis(v);
  else w.null();
}

/** Repeated-string fields in slot order, for the per-field last-value cache (RECORD_SLOTS' `str` slots). */
const STR_FIELDS = 15;

/**
 * WireBatchEncoder writes v2 records one at a time against tables it keeps: a publisher can
 * encode each record when it is offered (and let the object go) and frame the waiting ones into
 * a body later. The tables grow until reset(): call it when no encoded record is waiting, since
 * every record encoded since the last reset refers to them. A frame carries the whole tables,
 * so a batch taken from the front of the waiting records is still complete.
 */
export class WireBatchEncoder {
  private readonly strings: string[] = [];
  private readonly peers: (string | null)[][] = [];
  private readonly services: (string | null)[][] = [];
  private stringIndex = new Map<string, number>();
  // Proxies reuse one PeerInfo per workload, so identity finds most; content catches equal copies.
  private peerByRef = new Map<PeerInfo, number>();
  private serviceByRef = new Map<DestinationService, number>();
  private byContent = new Map<string, number>();
  // Per repeated-string field, the last value seen and its table index: a sidecar's records
  // mostly repeat the previous one's method, authority, cluster, route… (often the same string
  // object), and a comparison is cheaper than a Map lookup that hashes the string.
  private readonly lastValue: unknown[] = new Array<unknown>(STR_FIELDS).fill(undefined);
  private readonly lastIndex: number[] = new Array<number>(STR_FIELDS).fill(0);
  /** Absent slots (null) seen past the eleventh but not written yet: written before the next present slot, dropped at the record's end. */
  private pendingNulls = 0;
  /** About how many characters the tables add to a frame (each string's length and its quotes and comma; peers and services as their JSON): publishers bound a batch's size with it. */
  tableChars = 0;

  /** record returns the JSON text of one v2 record (an array) whose peer, service and repeated-string slots refer to this encoder's tables. */
  record(x: RequestRecord): string {
    return JSON.stringify(this.slots(x));
  }

  /**
   * write appends the text record() returns for `x` (the same bytes, UTF-8) to `out`, without
   * building the slot array or the text. A record that makes it throw (malformed) leaves `out`
   * as it was.
   */
  write(x: RequestRecord, out: JsonWriter): void {
    const start = out.used;
    try {
      this.writeSlots(x, out);
    } catch (err) {
      out.used = start;
      throw err;
    }
  }

  private writeSlots(x: RequestRecord, w: JsonWriter): void {
    const m = MAX_FIELD_CHARS;
    // Evaluated in slots()'s order, so a malformed record adds the same table entries before it throws.
    w.byte(0x5b);
    code(w, REPORTER_CODE[x.reporter]);
    w.byte(COMMA);
    code(w, PROTOCOL_CODE[x.protocol]);
    w.byte(COMMA);
    code(w, POLICY_CODE[x.securityPolicy]);
    w.byte(COMMA);
    num(w, x.startTime);
    w.byte(COMMA);
    num(w, x.responseCode);
    w.byte(COMMA);
    dur(w, x.durationMs);
    w.byte(COMMA);
    num(w, x.bytesReceived);
    w.byte(COMMA);
    num(w, x.bytesSent);
    w.byte(COMMA);
    w.number(this.peer(x.source));
    w.byte(COMMA);
    w.number(this.peer(x.destination));
    w.byte(COMMA);
    w.number(this.service(x.destinationService));
    this.pendingNulls = 0;
    this.slot(w, this.str(x.responseFlags, 64, 0));
    this.slot(w, this.str(x.method, 32, 1));
    this.slot(w, this.str(x.path, MAX_PATH_CHARS, 2));
    this.slot(w, this.str(x.authority, m, 3));
    this.slot(w, this.str(x.httpProtocol, 16, 4));
    this.slot(w, this.str(x.userAgent, m, 5));
    this.slot(w, cut(x.requestId, 64));
    this.slot(w, cut(x.traceId, 32));
    this.slot(w, cut(x.spanId, 16));
    this.slot(w, this.str(x.upstreamCluster, m, 6));
    this.slot(w, this.str(x.upstreamHost, 64, 7));
    this.slot(w, this.str(x.routeName, m, 8));
    this.slot(w, this.str(x.responseCodeDetails, m, 9));
    this.slotMillis(w, x.upstreamServiceTimeMs);
    this.slot(w, finite(x.grpcStatus));
    this.slot(w, x.tcpEvent === undefined ? null : TCP_EVENT_CODE[x.tcpEvent]);
    this.slot(w, cut(x.xForwardedFor, m));
    this.slot(w, this.str(x.connectionTerminationDetails, m, 10));
    this.slot(w, this.str(x.upstreamTransportFailureReason, m, 11));
    this.slot(w, this.str(x.upstreamLocalAddress, 64, 12));
    this.slot(w, this.str(x.downstreamLocalAddress, 64, 13));
    this.slot(w, cut(x.downstreamRemoteAddress, 64));
    this.slot(w, this.str(x.requestedServerName, m, 14));
    w.byte(0x5d);
  }

  /** slot writes one of the slots after the eleventh; like slots()' trim, only null counts as absent (an unknown enum code, undefined, still prints null). */
  private slot(w: JsonWriter, v: unknown): void {
    if (v === null) {
      this.pendingNulls++;
      return;
    }
    this.openSlot(w);
    if (typeof v === 'number') w.number(v);
    else w.value(v);
  }

  /** slotMillis writes the upstream service time slot as slot(w, micros(v)) does. */
  private slotMillis(w: JsonWriter, v: number | undefined): void {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.pendingNulls++;
      return;
    }
    this.openSlot(w);
    w.millis(v);
  }

  /** openSlot writes the nulls of the absent slots before this one, then this slot's comma. */
  private openSlot(w: JsonWriter): void {
    for (; this.pendingNulls > 0; this.pendingNulls--) {
      w.byte(COMMA);
      w.null();
    }
    w.byte(COMMA);
  }

  /** batch returns the whole body of `records` and these tables: one JSON.stringify, cheaper than record() per record when all of them are at hand. */
  batch(header: BatchHeader, records: readonly RequestRecord[]): string {
    const r = new Array<unknown[]>(records.length);
    for (let i = 0; i < records.length; i++) r[i] = this.slots(records[i]);
    return JSON.stringify({ v: WIRE_VERSION, s: this.strings, p: this.peers, ds: this.services, r, h: wireHeader(header) });
  }

  /** slots returns one record's v2 slots (trailing absent ones left out), adding to the tables. */
  private slots(x: RequestRecord): unknown[] {
    const m = MAX_FIELD_CHARS;
    const a: unknown[] = [
      REPORTER_CODE[x.reporter],
      PROTOCOL_CODE[x.protocol],
      POLICY_CODE[x.securityPolicy],
      finite(x.startTime),
      finite(x.responseCode),
      micros(x.durationMs),
      finite(x.bytesReceived),
      finite(x.bytesSent),
      this.peer(x.source),
      this.peer(x.destination),
      this.service(x.destinationService),
      this.str(x.responseFlags, 64, 0),
      this.str(x.method, 32, 1),
      this.str(x.path, MAX_PATH_CHARS, 2),
      this.str(x.authority, m, 3),
      this.str(x.httpProtocol, 16, 4),
      this.str(x.userAgent, m, 5),
      cut(x.requestId, 64),
      cut(x.traceId, 32),
      cut(x.spanId, 16),
      this.str(x.upstreamCluster, m, 6),
      this.str(x.upstreamHost, 64, 7),
      this.str(x.routeName, m, 8),
      this.str(x.responseCodeDetails, m, 9),
      micros(x.upstreamServiceTimeMs),
      finite(x.grpcStatus),
      x.tcpEvent === undefined ? null : TCP_EVENT_CODE[x.tcpEvent],
      cut(x.xForwardedFor, m),
      this.str(x.connectionTerminationDetails, m, 10),
      this.str(x.upstreamTransportFailureReason, m, 11),
      this.str(x.upstreamLocalAddress, 64, 12),
      this.str(x.downstreamLocalAddress, 64, 13),
      cut(x.downstreamRemoteAddress, 64),
      this.str(x.requestedServerName, m, 14),
    ];
    let n = a.length;
    while (n > 11 && a[n - 1] === null) n--;
    a.length = n;
    return a;
  }

  /**
   * frame returns what goes before and after the records of a body (comma-separated record()
   * texts): `{"v":2,"s":…,"p":…,"ds":…,"r":[` and `],"h":{…}}`.
   */
  frame(header: BatchHeader): { head: string; tail: string } {
    return { head: `{"v":${WIRE_VERSION},"s":${JSON.stringify(this.strings)},"p":${JSON.stringify(this.peers)},"ds":${JSON.stringify(this.services)},"r":[`, tail: `],"h":${JSON.stringify(wireHeader(header))}}` };
  }

  /** reset empties the tables: only when every record encoded since the last reset is in a body already framed (frame() after reset() would not have their entries). */
  reset(): void {
    this.strings.length = 0;
    this.peers.length = 0;
    this.services.length = 0;
    this.stringIndex = new Map();
    this.peerByRef = new Map();
    this.serviceByRef = new Map();
    this.byContent = new Map();
    this.lastValue.fill(undefined);
    this.tableChars = 0;
  }

  /**
   * str returns a repeated-string slot: the (cut) value's index in the string table, the value
   * itself once the table is full, or null when absent. `field` numbers the field for the
   * last-value cache (each field its own).
   */
  private str(v: string | undefined, max: number, field: number): number | string | null {
    // Only strings are cached: equal strings cut alike, so they have the same index.
    if (v === this.lastValue[field] && typeof v === 'string') return this.lastIndex[field];
    const x = cut(v, max);
    if (x === null) return null;
    let i = this.stringIndex.get(x);
    if (i === undefined) {
      if (this.strings.length >= MAX_TABLE_STRINGS) return x;
      i = this.strings.length;
      this.strings.push(x);
      this.stringIndex.set(x, i);
      this.tableChars += x.length + 3;
    }
    this.lastValue[field] = v;
    this.lastIndex[field] = i;
    return i;
  }
  private peer(p: PeerInfo): number {
    let i = this.peerByRef.get(p);
    if (i === undefined) {
      const m = MAX_FIELD_CHARS;
      i = this.entry(this.peers, 'p', [cut(p.workload, m), cut(p.namespace, m), cut(p.principal, m), cut(p.app, m), cut(p.version, m), cut(p.canonicalService, m), cut(p.canonicalRevision, m), cut(p.cluster, m)]);
      this.peerByRef.set(p, i);
    }
    return i;
  }

  private service(d: DestinationService): number {
    let i = this.serviceByRef.get(d);
    if (i === undefined) {
      const m = MAX_FIELD_CHARS;
      i = this.entry(this.services, 'd', [cut(d.host, m), cut(d.name, m), cut(d.namespace, m)]);
      this.serviceByRef.set(d, i);
    }
    return i;
  }

  /** entry returns the index of an equal entry of `table`, adding this one when there is none. */
  private entry(table: (string | null)[][], kind: string, e: (string | null)[]): number {
    const key = kind + JSON.stringify(e);
    let i = this.byContent.get(key);
    if (i === undefined) {
      i = table.length;
      table.push(e);
      this.byContent.set(key, i);
      this.tableChars += key.length;
    }
    return i;
  }
}

/**
 * encodeWireBatch returns the body of one NATS message: the header and the records in wire
 * version 2 (module comment). Strings are cut as in v1 (MAX_PATH_CHARS, MAX_FIELD_CHARS and
 * request-record.ts' per-field caps); per-request values (request, trace and span ids,
 * x-forwarded-for, the downstream address) are written in place, the others through `s`.
 */
export function encodeWireBatch(header: BatchHeader, records: readonly RequestRecord[]): string {
  return new WireBatchEncoder().batch(header, records);
}

const utf8 = new TextDecoder();
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

/**
 * WireIntern makes decoded peers and destination services with equal fields the same object
 * across batches (up to `max` distinct workloads and hosts; then it starts over), so mixer's
 * aggregations can key their caches on object identity instead of joining label values per
 * record. Decoded objects are shared: readers must not modify them (their fields are readonly).
 */
export class WireIntern {
  // By workload (host), then the other fields compared: no key string built per lookup (v1 looks up two peers per record).
  private readonly peers = new Map<string | undefined, PeerInfo[]>();
  private readonly services = new Map<string | undefined, DestinationService[]>();
  constructor(private readonly max = 10_000) {}

  /** peer returns the interned peer with these fields. */
  peer(workload: string | undefined, namespace: string | undefined, principal: string | undefined, app: string | undefined, version: string | undefined, canonicalService: string | undefined, canonicalRevision: string | undefined, cluster: string | undefined): PeerInfo {
    let list = this.peers.get(workload);
    if (list === undefined) {
      if (this.peers.size >= this.max) this.peers.clear();
      this.peers.set(workload, (list = []));
    }
    for (const p of list)
      if (p.namespace === namespace && p.principal === principal && p.app === app && p.version === version && p.canonicalService === canonicalService && p.canonicalRevision === canonicalRevision && p.cluster === cluster) return p;
    const p: PeerInfo = { workload, namespace, principal, app, version, canonicalService, canonicalRevision, cluster };
    // A workload seen under many other field values (e.g. principals) must not grow a list without bound.
    if (list.length >= 64) list.length = 0;
    list.push(p);
    return p;
  }

  /** service returns the interned destination service with these fields. */
  service(host: string | undefined, name: string | undefined, namespace: string | undefined): DestinationService {
    let list = this.services.get(host);
    if (list === undefined) {
      if (this.services.size >= this.max) this.services.clear();
      this.services.set(host, (list = []));
    }
    for (const d of list) if (d.name === name && d.namespace === namespace) return d;
    const d: DestinationService = { host, name, namespace };
    if (list.length >= 64) list.length = 0;
    list.push(d);
    return d;
  }
}

/**
 * decodeWireBatch returns the batch of one message body, v1 or v2, or the reasons it cannot be
 * read at all (not JSON, other version, no usable header, a malformed v2 table). Records that
 * fail to decode are listed in `errors` with their index and field and skipped; the rest are
 * returned. With `intern`, equal peers and services are the same objects across batches.
 */
export function decodeWireBatch(body: string | Uint8Array, intern?: WireIntern): { ok: true; value: WireBatch } | { ok: false; errors: string[] } {
  let v: unknown;
  try {
    v = JSON.parse(typeof body === 'string' ? body : utf8.decode(body));
  } catch (e) {
    return { ok: false, errors: [`batch: not JSON (${(e as Error).message})`] };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, errors: ['batch: not an object'] };
  const b = v as Record<string, unknown>;
  if (b.v !== RECORD_ENCODING_VERSION && b.v !== WIRE_VERSION) return { ok: false, errors: [`batch.v: unsupported version ${String(b.v)}`] };
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
  if (b.v === WIRE_VERSION) return decodeV2(b, header, intern);
  const records: RequestRecord[] = [];
  b.r.forEach((x, i) => {
    const fast = fastFromCompact(x, intern);
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

// ───────────── v2 decoding ─────────────

/** The code table's value for `x`, only for its own keys (never `toString` and the like). */
const codeOf = <V>(table: Readonly<Record<string, V>>, x: unknown): V | undefined => (typeof x === 'string' && Object.hasOwn(table, x) ? table[x] : undefined);

/** A v2 table entry's fields (each a string or null), or undefined with the problem in `errors`. */
function tableEntry(x: unknown, width: number, path: string, errors: string[]): (string | undefined)[] | undefined {
  if (!Array.isArray(x) || x.length > width) {
    errors.push(`${path}: not an array of at most ${width} strings`);
    return undefined;
  }
  const out = new Array<string | undefined>(width);
  for (let k = 0; k < width; k++) {
    const f = x[k] as unknown;
    if (f === undefined || f === null) out[k] = undefined;
    else if (typeof f === 'string') out[k] = f;
    else {
      errors.push(`${path}[${k}]: not a string or null`);
      return undefined;
    }
  }
  return out;
}

/** decodeV2 reads the tables (a fault there fails the batch: records would point at the wrong values), then each record. */
function decodeV2(b: Record<string, unknown>, header: BatchHeader, intern: WireIntern | undefined): { ok: true; value: WireBatch } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const strings = b.s === undefined ? [] : b.s;
  if (!Array.isArray(strings)) errors.push('batch.s: not an array');
  else for (let i = 0; i < strings.length; i++) if (typeof strings[i] !== 'string') errors.push(`batch.s[${i}]: not a string`);
  const peers: PeerInfo[] = [];
  if (!Array.isArray(b.p)) errors.push('batch.p: not an array');
  else
    for (let i = 0; i < b.p.length; i++) {
      const e = tableEntry(b.p[i], PEER_SLOTS.length, `batch.p[${i}]`, errors);
      if (!e) continue;
      peers.push(intern ? intern.peer(e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]) : { workload: e[0], namespace: e[1], principal: e[2], app: e[3], version: e[4], canonicalService: e[5], canonicalRevision: e[6], cluster: e[7] });
    }
  const services: DestinationService[] = [];
  if (!Array.isArray(b.ds)) errors.push('batch.ds: not an array');
  else
    for (let i = 0; i < b.ds.length; i++) {
      const e = tableEntry(b.ds[i], 3, `batch.ds[${i}]`, errors);
      if (!e) continue;
      services.push(intern ? intern.service(e[0], e[1], e[2]) : { host: e[0], name: e[1], namespace: e[2] });
    }
  if (errors.length) return { ok: false, errors };
  const rs = b.r as unknown[];
  const records: RequestRecord[] = [];
  for (let i = 0; i < rs.length; i++) {
    const r = decodeV2Record(rs[i], strings as string[], peers, services);
    if (typeof r === 'string') errors.push(`r[${i}]${r}`);
    else records.push(r);
  }
  return { ok: true, value: { header, records, errors } };
}

/** slotError returns the error text of record slot `k`: `[4] (rc): not a finite number`. */
const slotError = (k: number, what: string): string => `[${k}] (${RECORD_SLOTS[k][0]}): ${what}`;
const isFiniteNum = (y: unknown): y is number => typeof y === 'number' && Number.isFinite(y);

/**
 * decodeV2Record returns the record of one v2 record array, or the error of its first bad slot.
 * One pass and a fixed object shape (absent fields present as undefined, as fastFromCompact
 * makes them).
 */
function decodeV2Record(x: unknown, strings: readonly string[], peers: readonly PeerInfo[], services: readonly DestinationService[]): RequestRecord | string {
  if (!Array.isArray(x)) return ': not an array';
  if (x.length < 11 || x.length > RECORD_SLOTS.length) return `: ${x.length} slots, expected 11 to ${RECORD_SLOTS.length}`;
  const reporter = codeOf(REPORTER_BY_CODE, x[0]);
  if (reporter === undefined) return slotError(0, 'expected one of s|d');
  const protocol = codeOf(PROTOCOL_BY_CODE, x[1]);
  if (protocol === undefined) return slotError(1, 'expected one of h|g|t');
  const securityPolicy = codeOf(POLICY_BY_CODE, x[2]);
  if (securityPolicy === undefined) return slotError(2, 'expected one of m|n|u');
  for (let k = 3; k < 8; k++) if (!isFiniteNum(x[k])) return slotError(k, 'not a finite number');
  const source = typeof x[8] === 'number' ? peers[x[8]] : undefined;
  if (source === undefined) return slotError(8, `not an index into batch.p (${peers.length} peers)`);
  const destination = typeof x[9] === 'number' ? peers[x[9]] : undefined;
  if (destination === undefined) return slotError(9, `not an index into batch.p (${peers.length} peers)`);
  const destinationService = typeof x[10] === 'number' ? services[x[10]] : undefined;
  if (destinationService === undefined) return slotError(10, `not an index into batch.ds (${services.length} services)`);
  let tcpEvent: RequestRecord['tcpEvent'];
  const te = x[26] as unknown;
  if (te !== undefined && te !== null) {
    tcpEvent = codeOf(TCP_EVENT_BY_CODE, te);
    if (tcpEvent === undefined) return slotError(26, 'expected one of o|r|c');
  }
  const us = x[24] as unknown;
  const gs = x[25] as unknown;
  if (us !== undefined && us !== null && !isFiniteNum(us)) return slotError(24, 'not a finite number');
  if (gs !== undefined && gs !== null && !isFiniteNum(gs)) return slotError(25, 'not a finite number');
  // String slots: a string, an index into `s`, or null/absent.
  for (let k = 11; k < x.length; k++) {
    if (RECORD_SLOTS[k][1] !== 'str') continue;
    const y = x[k] as unknown;
    if (y === null || typeof y === 'string') continue;
    if (typeof y !== 'number' || strings[y] === undefined) return slotError(k, `not a string, null or an index into batch.s (${strings.length} strings)`);
  }
  const str = (y: unknown): string | undefined => (y === null || y === undefined ? undefined : typeof y === 'string' ? y : strings[y as number]);
  return {
    reporter,
    protocol,
    securityPolicy,
    tcpEvent,
    startTime: x[3] as number,
    responseCode: x[4] as number,
    grpcStatus: gs === null ? undefined : (gs as number | undefined),
    durationMs: x[5] as number,
    upstreamServiceTimeMs: us === null ? undefined : (us as number | undefined),
    bytesReceived: x[6] as number,
    bytesSent: x[7] as number,
    source,
    destination,
    destinationService,
    method: str(x[12]),
    path: str(x[13]),
    authority: str(x[14]),
    httpProtocol: str(x[15]),
    userAgent: str(x[16]),
    xForwardedFor: str(x[27]),
    requestId: str(x[17]),
    responseFlags: str(x[11]) ?? '-',
    responseCodeDetails: str(x[23]),
    connectionTerminationDetails: str(x[28]),
    upstreamTransportFailureReason: str(x[29]),
    upstreamCluster: str(x[20]),
    upstreamHost: str(x[21]),
    upstreamLocalAddress: str(x[30]),
    downstreamLocalAddress: str(x[31]),
    downstreamRemoteAddress: str(x[32]),
    requestedServerName: str(x[33]),
    routeName: str(x[22]),
    traceId: str(x[18]),
    spanId: str(x[19]),
  };
}

// ───────────── v1 fast path (mixer decodes every record of every old sidecar) ─────────────

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A string field or absent; `false` when present with another type. */
const optStr = (v: unknown): string | undefined | false => (v === undefined || typeof v === 'string' ? v : false);
const optNum = (v: unknown): number | undefined | false => (v === undefined || (typeof v === 'number' && Number.isFinite(v)) ? v : false);
const reqNum = (v: unknown): number | false => (typeof v === 'number' && Number.isFinite(v) ? v : false);

function fastPeer(v: unknown, intern: WireIntern | undefined): PeerInfo | undefined {
  if (v === undefined) return intern ? intern.peer(undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined) : {};
  if (!isObj(v)) return undefined;
  const w = optStr(v.w), n = optStr(v.n), p = optStr(v.p), a = optStr(v.a), ver = optStr(v.v), cs = optStr(v.cs), cr = optStr(v.cr), c = optStr(v.c);
  if (w === false || n === false || p === false || a === false || ver === false || cs === false || cr === false || c === false) return undefined;
  return intern ? intern.peer(w, n, p, a, ver, cs, cr, c) : { workload: w, namespace: n, principal: p, app: a, version: ver, canonicalService: cs, canonicalRevision: cr, cluster: c };
}

/**
 * fastFromCompact returns the record of a well-formed compact object in one pass (a fixed object
 * shape, no field tables; absent fields are present as undefined rather than missing, which keeps
 * the shape fixed for the readers), or undefined for anything unusual — the caller then runs
 * fromCompact, which names every problem. The round-trip test checks both give equal records.
 */
function fastFromCompact(x: unknown, intern: WireIntern | undefined): RequestRecord | undefined {
  if (!isObj(x)) return undefined;
  const reporter = codeOf(REPORTER_BY_CODE, x.r);
  const protocol = codeOf(PROTOCOL_BY_CODE, x.p);
  const securityPolicy = codeOf(POLICY_BY_CODE, x.sp);
  if (!reporter || !protocol || !securityPolicy) return undefined;
  let tcpEvent: RequestRecord['tcpEvent'];
  if (x.te !== undefined) {
    tcpEvent = codeOf(TCP_EVENT_BY_CODE, x.te);
    if (!tcpEvent) return undefined;
  }
  const startTime = reqNum(x.t), responseCode = reqNum(x.rc), durationMs = reqNum(x.du), bytesReceived = reqNum(x.br), bytesSent = reqNum(x.bs);
  const grpcStatus = optNum(x.gs), upstreamServiceTimeMs = optNum(x.us);
  if (startTime === false || responseCode === false || durationMs === false || bytesReceived === false || bytesSent === false || grpcStatus === false || upstreamServiceTimeMs === false) return undefined;
  const source = fastPeer(x.s, intern);
  const destination = fastPeer(x.d, intern);
  if (!source || !destination) return undefined;
  let destinationService: RequestRecord['destinationService'];
  if (x.ds !== undefined) {
    if (!isObj(x.ds)) return undefined;
    const h = optStr(x.ds.h), n = optStr(x.ds.n), ns = optStr(x.ds.ns);
    if (h === false || n === false || ns === false) return undefined;
    destinationService = intern ? intern.service(h, n, ns) : { host: h, name: n, namespace: ns };
  } else destinationService = intern ? intern.service(undefined, undefined, undefined) : {};
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
