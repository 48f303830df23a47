import { describe, expect, it } from 'vitest';
import { decodeWireBatch, encodeWireBatch, encodeWireBatchV1, JsonWriter, MAX_TABLE_STRINGS, WireBatchEncoder, WireIntern, type BatchHeader } from './record-wire.js';
import { decodeRecordBatch, fromCompact, type DestinationService, type PeerInfo, type RequestRecord } from './request-record.js';
import { sampleHttpRecord, sampleTcpRecord, seededRandom } from './testing.js';

const header: BatchHeader = { sender: 'default/reviews-v2/7f3a', seq: 42, namespace: 'default', workload: 'reviews-v2', droppedTotal: 17, droppedDelta: 3, sentAt: 1_764_100_000_123 };

const sparse: RequestRecord = { reporter: 'source', protocol: 'tcp', tcpEvent: 'report', startTime: 1, source: {}, destination: { workload: 'x' }, destinationService: {}, responseCode: 0, responseFlags: '-', securityPolicy: 'none', durationMs: 0, bytesReceived: 1, bytesSent: 2 };
const mixed = (): RequestRecord[] => [sampleHttpRecord(), sampleTcpRecord(), sparse, sampleHttpRecord({ responseFlags: '', grpcStatus: 0, protocol: 'grpc' }), sampleHttpRecord({ path: '/x'.repeat(600), xForwardedFor: '10.0.0.1', upstreamTransportFailureReason: 'TLS error' })];

describe('record wire batches', () => {
  it('round-trips the header and every field issue 7 lists (HTTP, gRPC, TCP)', () => {
    const grpc = sampleHttpRecord({ protocol: 'grpc', grpcStatus: 14, responseCode: 200, responseFlags: 'URX,UF', reporter: 'source', securityPolicy: 'unknown' });
    const records = [sampleHttpRecord(), grpc, sampleTcpRecord({ tcpEvent: 'close', bytesReceived: 1200, bytesSent: 80, durationMs: 5300 })];
    const d = decodeWireBatch(encodeWireBatch(header, records));
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.header).toEqual(header);
    expect(d.value.errors).toEqual([]);
    expect(d.value.records).toEqual(records);
    // the fields mixer's metrics and graph read
    const g = d.value.records[1];
    expect([g.source.principal, g.destination.version, g.destinationService.host, g.protocol, g.grpcStatus, g.responseFlags, g.securityPolicy, g.traceId, g.reporter]).toEqual([
      'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
      'v2',
      'reviews.default.svc.cluster.local',
      'grpc',
      14,
      'URX,UF',
      'unknown',
      '4bf92f3577b34da6a3ce929d0e0e4736',
      'source',
    ]);
    expect(d.value.records[2].tcpEvent).toBe('close');
  });

  it('decodes a v1 body (a sidecar from before v2) from bytes, which stays readable by decodeRecordBatch', () => {
    const text = encodeWireBatchV1(header, [sampleHttpRecord()]);
    const d = decodeWireBatch(new TextEncoder().encode(text));
    expect(d.ok && d.value.records.length).toBe(1);
    expect(decodeRecordBatch(text).records).toEqual([sampleHttpRecord()]);
  });

  it('decodes the same records as fromCompact, sparse or full (the v1 fast path)', () => {
    const text = encodeWireBatchV1(header, mixed());
    const d = decodeWireBatch(text);
    const slow = (JSON.parse(text) as { r: unknown[] }).r.map((x) => fromCompact(x));
    expect(d.ok && d.value.records).toEqual(slow.map((x) => x.ok && x.value));
  });

  it('decodes v2 and v1 bodies of the same records to equal records (a fleet mid-upgrade), long strings cut alike', () => {
    const v2 = decodeWireBatch(encodeWireBatch(header, mixed()));
    const v1 = decodeWireBatch(encodeWireBatchV1(header, mixed()));
    expect(v2.ok && v2.value.errors).toEqual([]);
    expect(v2.ok && v2.value.records).toEqual(v1.ok && v1.value.records);
    expect(v2.ok && v2.value.records[4].path).toHaveLength(1024);
  });

  it('sends each peer, service and repeated string once per batch (v2), the header last', () => {
    const text = encodeWireBatch(header, [sampleHttpRecord(), sampleHttpRecord({ reporter: 'source', destinationService: { ...sampleHttpRecord().destinationService } }), sampleHttpRecord()]);
    const body = JSON.parse(text) as { v: number; s: string[]; p: unknown[][]; ds: unknown[][]; r: unknown[][] };
    expect(body.v).toBe(2);
    expect(body.p).toHaveLength(2);
    // equal content, another object: still one entry
    expect(body.ds).toEqual([['reviews.default.svc.cluster.local', 'reviews', 'default']]);
    expect(body.s.filter((x) => x === 'GET')).toHaveLength(1);
    expect(body.r[0].slice(8, 11)).toEqual([0, 1, 0]);
    expect(text.startsWith('{"v":2,')).toBe(true);
    expect(text.endsWith(`"h":{"s":"default/reviews-v2/7f3a","q":42,"ns":"default","w":"reviews-v2","d":17,"dd":3,"t":1764100000123}}`)).toBe(true);
    expect(text.length).toBeLessThan(encodeWireBatchV1(header, [sampleHttpRecord(), sampleHttpRecord(), sampleHttpRecord()]).length / 2);
  });

  it('with a WireIntern, equal peers and services are one object across batches', () => {
    const intern = new WireIntern();
    const a = decodeWireBatch(encodeWireBatch(header, [sampleHttpRecord()]), intern);
    const b = decodeWireBatch(encodeWireBatch({ ...header, seq: 43 }, [sampleHttpRecord()]), intern);
    const c = decodeWireBatch(encodeWireBatchV1({ ...header, seq: 44 }, [sampleHttpRecord()]), intern);
    const plain = decodeWireBatch(encodeWireBatch(header, [sampleHttpRecord()]));
    if (!a.ok || !b.ok || !c.ok || !plain.ok) throw new Error('not decoded');
    const [ra, rb, rc] = [a.value.records[0], b.value.records[0], c.value.records[0]];
    expect(rb.source).toBe(ra.source);
    expect(rc.source).toBe(ra.source);
    expect(rb.destinationService).toBe(ra.destinationService);
    expect(plain.value.records[0].source).not.toBe(ra.source);
    expect(plain.value.records[0].source).toEqual(ra.source);
  });

  it.each([
    ['a number as text', (r: unknown[]) => (r[4] = '200'), 'r[1][4] (rc): not a finite number'],
    ['an unknown reporter', (r: unknown[]) => (r[0] = 'toString'), 'r[1][0] (r): expected one of s|d'],
    ['a peer index out of the table', (r: unknown[]) => (r[9] = 7), 'r[1][9] (d): not an index into batch.p (2 peers)'],
    ['a string index out of the table', (r: unknown[]) => (r[12] = 99), 'r[1][12] (m): not a string, null or an index into batch.s'],
    ['a bad tcp event', (r: unknown[]) => (r[26] = 'x'), 'r[1][26] (te): expected one of o|r|c'],
    ['too few slots', (r: unknown[]) => (r.length = 5), 'r[1]: 5 slots, expected 11 to 34'],
  ])('skips a v2 record with %s, naming its index and slot, and keeps the rest', (_name, spoil, error) => {
    const body = JSON.parse(encodeWireBatch(header, [sampleHttpRecord(), sampleHttpRecord()])) as { r: unknown[][] };
    spoil(body.r[1]);
    const d = decodeWireBatch(JSON.stringify(body));
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.records).toEqual([sampleHttpRecord()]);
    expect(d.value.errors).toHaveLength(1);
    expect(d.value.errors[0]).toContain(error);
  });

  it.each([
    ['a peer field that is not a string', (b: Record<string, unknown[]>) => ((b.p[0] as unknown[])[2] = 5), 'batch.p[0][2]: not a string or null'],
    ['a string table entry that is not a string', (b: Record<string, unknown[]>) => (b.s[0] = {}), 'batch.s[0]: not a string'],
    ['no service table', (b: Record<string, unknown[]>) => delete b.ds, 'batch.ds: not an array'],
  ])('rejects a v2 batch with %s (its records would point at the wrong values)', (_name, spoil, error) => {
    const body = JSON.parse(encodeWireBatch(header, [sampleHttpRecord()])) as Record<string, unknown[]>;
    spoil(body);
    const d = decodeWireBatch(JSON.stringify(body));
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.errors).toContain(error);
  });

  it('skips a bad v1 record with its index and keeps the rest', () => {
    const body = JSON.parse(encodeWireBatchV1(header, [sampleHttpRecord(), sampleHttpRecord()])) as { r: Record<string, unknown>[] };
    body.r[1].rc = 'x';
    const d = decodeWireBatch(JSON.stringify(body));
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.records).toHaveLength(1);
    expect(d.value.errors).toEqual(['r[1].rc: not a finite number']);
  });

  it.each([
    ['not JSON', '{', 'batch: not JSON'],
    ['wrong version', '{"v":9,"h":{},"r":[]}', 'batch.v: unsupported version 9'],
    ['no header', '{"v":1,"r":[]}', 'batch.h: missing header'],
    ['seq 0', '{"v":1,"h":{"s":"a","q":0,"d":0,"dd":0,"t":0},"r":[]}', 'batch.h.q: seq must be a whole number ≥ 1'],
    ['negative drop count', '{"v":1,"h":{"s":"a","q":1,"d":-1,"dd":0,"t":0},"r":[]}', 'batch.h.d: must be a whole number ≥ 0'],
  ])('rejects a batch with %s', (_name, body, error) => {
    const d = decodeWireBatch(body);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.errors[0]).toContain(error);
  });
});

describe('WireBatchEncoder (records encoded one at a time, framed later)', () => {
  const decoded = (body: string) => {
    const d = decodeWireBatch(body);
    if (!d.ok) throw new Error(d.errors.join('; '));
    expect(d.value.errors).toEqual([]);
    return d.value.records;
  };

  it('frames any front part of the records encoded since the last reset; the same bytes as batch() for all of them', () => {
    const rs = mixed();
    const e = new WireBatchEncoder();
    const texts = rs.map((r) => e.record(r));
    // a batch of the first two, taken after all five were encoded (the tables hold more than they need)
    const f = e.frame(header);
    expect(decoded(f.head + texts.slice(0, 2).join(',') + f.tail)).toEqual(decoded(encodeWireBatch(header, rs.slice(0, 2))));
    expect(decoded(f.head + texts.slice(2).join(',') + f.tail)).toEqual(decoded(encodeWireBatch(header, rs.slice(2))));
    expect(f.head + texts.join(',') + f.tail).toBe(new WireBatchEncoder().batch(header, rs));
    e.reset();
    const again = e.record(sparse);
    const g = e.frame(header);
    // only what the record after the reset needs
    expect(JSON.parse(g.head + g.tail) as { p: unknown[] }).toMatchObject({ s: ['-'], ds: [[null, null, null]] });
    expect((JSON.parse(g.head + g.tail) as { p: unknown[] }).p).toHaveLength(2);
    expect(decoded(g.head + again + g.tail)).toEqual(decoded(encodeWireBatch(header, [sparse])));
  });

  it(`writes strings in place once its table holds ${MAX_TABLE_STRINGS}`, () => {
    const e = new WireBatchEncoder();
    const rs = Array.from({ length: MAX_TABLE_STRINGS + 10 }, (_, i) => sampleHttpRecord({ path: `/p/${i}` }));
    const texts = rs.map((r) => e.record(r));
    const { head, tail } = e.frame(header);
    const body = head + texts.join(',') + tail;
    expect((JSON.parse(body) as { s: string[] }).s).toHaveLength(MAX_TABLE_STRINGS);
    expect(decoded(body).map((r) => r.path)).toEqual(rs.map((r) => r.path));
  });
});

describe('WireBatchEncoder.write (records straight into bytes)', () => {
  const utf8 = new TextDecoder();
  const text = (w: JsonWriter, from = 0): string => utf8.decode(w.bytes.subarray(from, w.used));

  // Odd values for every kind of slot: what JSON.stringify escapes, what UTF-8 needs several bytes
  // for, what a cut can split (a surrogate pair at the cap), and numbers JSON prints unusually.
  const ODD_STRINGS = ['', 'GET', '-', 'a"b', 'back\\slash', 'tab\there', 'nul\u0000', '\u001f', 'del\u007f', 'é', 'ünïcode/路径', '\u2028\u2029', '😀', 'lone\ud800', '\udfff', 'x\ud83d', `${'p'.repeat(1023)}😀`, '/'.repeat(2000), '</script>', '{"json":1}'];
  const ODD_NUMBERS = [0, -0, 1, -1, 200, 1_764_100_000_123, 0.1, 1.5e-7, 12.345678901234567, 1e21, -1e21, 123456789012345680000, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER, 5e-324, Number.MAX_VALUE, NaN, Infinity, -Infinity];
  const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

  /** A record with random, often odd, fields; a few are malformed (unknown codes, wrong types) as a buggy caller could hand over. */
  function oddRecord(rand: () => number, peers: PeerInfo[], services: DestinationService[]): RequestRecord {
    const s = (): string | undefined => {
      const u = rand();
      if (u < 0.25) return undefined;
      if (u < 0.55) return pick(rand, ODD_STRINGS);
      if (u < 0.8) return `v${Math.floor(rand() * 5000)}`; // high cardinality: fills the string table
      return pick(rand, ODD_STRINGS) + pick(rand, ODD_STRINGS);
    };
    const n = (): number => (rand() < 0.5 ? pick(rand, ODD_NUMBERS) : Math.floor(rand() * 1e6) * (rand() < 0.3 ? 0.001 : 1));
    const r: Record<string, unknown> = {
      reporter: rand() < 0.97 ? pick(rand, ['source', 'destination']) : pick(rand, ['toString', '__proto__', 'other']),
      protocol: rand() < 0.97 ? pick(rand, ['http', 'grpc', 'tcp']) : 'sctp',
      securityPolicy: pick(rand, ['mutual_tls', 'none', 'unknown']),
      startTime: n(),
      responseCode: rand() < 0.97 ? n() : '200',
      durationMs: n(),
      bytesReceived: n(),
      bytesSent: n(),
      source: pick(rand, peers),
      destination: rand() < 0.5 ? pick(rand, peers) : { ...pick(rand, peers) },
      destinationService: pick(rand, services),
      responseFlags: s(),
      method: s(),
      path: s(),
      authority: s(),
      httpProtocol: s(),
      userAgent: s(),
      requestId: s(),
      traceId: s(),
      spanId: s(),
      upstreamCluster: s(),
      upstreamHost: s(),
      routeName: s(),
      responseCodeDetails: s(),
      xForwardedFor: s(),
      connectionTerminationDetails: s(),
      upstreamTransportFailureReason: s(),
      upstreamLocalAddress: s(),
      downstreamLocalAddress: s(),
      downstreamRemoteAddress: s(),
      requestedServerName: s(),
    };
    if (rand() < 0.5) r.upstreamServiceTimeMs = n();
    if (rand() < 0.3) r.grpcStatus = n();
    if (rand() < 0.3) r.tcpEvent = rand() < 0.9 ? pick(rand, ['open', 'report', 'close']) : 'bogus';
    // Often only the first fields: the trailing absent slots are trimmed.
    if (rand() < 0.3) for (const k of ['xForwardedFor', 'connectionTerminationDetails', 'upstreamTransportFailureReason', 'upstreamLocalAddress', 'downstreamLocalAddress', 'downstreamRemoteAddress', 'requestedServerName']) delete r[k];
    return r as unknown as RequestRecord;
  }

  it('writes exactly the bytes of record() (JSON.stringify of the slots), for thousands of odd records, and the same tables', () => {
    const rand = seededRandom(7);
    const peers: PeerInfo[] = [{}, { workload: 'w"1', namespace: 'ns', principal: 'spiffe://x/😀' }, { workload: 'w\u0000', app: 'é', cluster: 'c\ud800' }];
    const services: DestinationService[] = [{}, { host: 'a.svc', name: 'a', namespace: 'ns' }, { host: 'b\\svc' }];
    const ref = new WireBatchEncoder();
    const enc = new WireBatchEncoder();
    const w = new JsonWriter(16); // starts tiny: every kind of write has to grow it
    const records: RequestRecord[] = [];
    for (let i = 0; i < 6000; i++) {
      const x = oddRecord(rand, peers, services);
      const before = w.used;
      enc.write(x, w);
      expect(text(w, before)).toBe(ref.record(x));
      w.byte(0x2c);
      records.push(x);
    }
    w.used--; // the last comma
    const { head, tail } = enc.frame(header);
    expect(enc.frame(header)).toEqual(ref.frame(header));
    expect(head + text(w) + tail).toBe(new WireBatchEncoder().batch(header, records));
    expect((JSON.parse(head + tail) as { s: string[] }).s).toHaveLength(MAX_TABLE_STRINGS);
  });

  it.each([
    ['only the eleven fixed slots', { ...sparse, responseFlags: '' }],
    ['a null before the last present slot', { ...sparse, responseFlags: '', requestedServerName: 'sni' }],
    ['an unknown tcp event (undefined in slots(): printed null, not trimmed)', { ...sparse, responseFlags: '', tcpEvent: 'bogus' }],
    ['non-finite numbers', { ...sparse, durationMs: NaN, startTime: Infinity, grpcStatus: -Infinity, upstreamServiceTimeMs: -0 }],
  ])('writes a record with %s as record() does', (_name, x) => {
    const w = new JsonWriter();
    new WireBatchEncoder().write(x as RequestRecord, w);
    expect(text(w)).toBe(new WireBatchEncoder().record(x as RequestRecord));
  });

  it('repeats the index of a field that repeats its last value, and starts over after reset', () => {
    const e = new WireBatchEncoder();
    const w = new JsonWriter();
    const ref = new WireBatchEncoder();
    const rs = [sampleHttpRecord(), sampleHttpRecord({ method: 'POST' }), sampleHttpRecord(), sampleHttpRecord({ method: 'POST', routeName: 'GET' })];
    const texts = rs.map((r) => {
      const from = w.used;
      e.write(r, w);
      return text(w, from);
    });
    expect(texts).toEqual(rs.map((r) => ref.record(r)));
    e.reset();
    ref.reset();
    const from = w.used;
    e.write(sampleHttpRecord({ method: 'POST' }), w);
    expect(text(w, from)).toBe(ref.record(sampleHttpRecord({ method: 'POST' })));
    expect(e.frame(header)).toEqual(ref.frame(header));
  });

  it('leaves the writer as it was when a malformed record throws, and later records still match record()', () => {
    const ref = new WireBatchEncoder();
    const enc = new WireBatchEncoder();
    const w = new JsonWriter();
    enc.write(sampleHttpRecord(), w);
    const used = w.used;
    for (const bad of [{ ...sampleHttpRecord(), source: undefined }, { ...sampleHttpRecord(), path: 5 }, { ...sampleHttpRecord(), destination: { workload: 'new' }, destinationService: null }] as unknown as RequestRecord[]) {
      expect(() => ref.record(bad)).toThrow(TypeError);
      expect(() => enc.write(bad, w)).toThrow(TypeError);
      expect(w.used).toBe(used);
    }
    ref.record(sampleHttpRecord());
    const good = sampleHttpRecord({ path: '/after' });
    enc.write(good, w);
    expect(text(w, used)).toBe(ref.record(good));
    expect(enc.frame(header)).toEqual(ref.frame(header));
  });
});

describe('JsonWriter', () => {
  const written = (f: (w: JsonWriter) => void): string => {
    const w = new JsonWriter(1);
    f(w);
    return new TextDecoder().decode(w.bytes.subarray(0, w.used));
  };

  it.each([0, -0, 7, -7, 10, 99, 100, 1_764_100_000_123, -1_764_100_000_123, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, 1e21, 0.5, -0.000001, 1e-7, 5e-324, 1.7976931348623157e308, 3.14159])('prints the number %s as JSON.stringify does', (v) => {
    expect(written((w) => w.number(v))).toBe(JSON.stringify(v));
  });

  it.each(['', 'plain ascii ~', '"', '\\', '\n\r\t\b\f', '\u0000\u0001\u001f', '\u007f', 'é', '€', '😀', '\ud800', '\udc00x', 'a\ud83d\ude00b'])('prints the string %j as JSON.stringify does', (s) => {
    expect(written((w) => w.string(s))).toBe(JSON.stringify(s));
  });

  it.each([[undefined], [null], [NaN], [() => 1], [Symbol('s')], [{ a: [1, '😀'] }], [[1, null]], [true]])('prints %s as an array element as JSON.stringify does', (v) => {
    expect(written((w) => w.value(v))).toBe(JSON.stringify([v]).slice(1, -1));
  });
});

describe('JsonWriter integers', () => {
  it('prints every integer of a sweep across int32 and the safe range (and its negatives) as JSON.stringify does', () => {
    const w = new JsonWriter(1);
    const rand = seededRandom(3);
    const xs = [-2147483648, 2147483647, 2147483648, -2147483649, 999_999_999, 1_000_000_000, 1_000_000_001, 8_999_999_999_999_999, 9_007_199_000_000_000, 9_007_198_999_999_999];
    for (let e = 0; e < 53; e++) xs.push(2 ** e, 2 ** e - 1, 2 ** e + 1, Math.floor(rand() * 2 ** e));
    for (let k = 0; k < 2000; k++) xs.push(Math.floor(rand() * 9_007) * 1e12 + Math.floor(rand() * 1e12), Math.floor(rand() * 1e7) * 1e9 - 1);
    const all = xs.flatMap((x) => [x, -x]).filter((x) => Number.isSafeInteger(x));
    for (const x of all) {
      w.number(x);
      w.byte(0x2c);
    }
    expect(new TextDecoder().decode(w.bytes.subarray(0, w.used))).toBe(all.map((x) => `${JSON.stringify(x)},`).join(''));
  });
});

describe('JsonWriter fractions', () => {
  it('prints a hundred thousand non-integers of every magnitude as JSON.stringify does', () => {
    const rand = seededRandom(11);
    const xs = [0.1, 0.2, 0.1 + 0.2, 1 / 3, 2 / 3, 0.000001, 0.0000011, 9.999999e-7, 1.5e-7, 2147483647.5, 2147483648.5, 4503599627370495.5, 123.456, 7.4, 0.5, 1e-6 + 1e-22, 1 - 2 ** -53, 1 + 2 ** -52, 2 ** 31 - 2 ** -21];
    const start = 1_000_000 * rand();
    for (let i = 0; i < 20_000; i++) {
      // durations as the sidecar takes them: differences of performance.now() readings
      const t0 = start + i * 0.37 * rand();
      xs.push(t0 + 40 * rand() - t0, t0);
      // any mantissa at magnitudes 1e-7 … 1e10
      xs.push(rand() * 10 ** Math.floor(rand() * 17 - 7), -rand() * 10 ** Math.floor(rand() * 17 - 7));
      // short decimals, which have many shorter neighbours
      xs.push(Math.round(rand() * 1e6) / 10 ** Math.floor(rand() * 8));
    }
    const w = new JsonWriter(1);
    const fractions = xs.filter((x) => !Number.isInteger(x));
    for (const x of fractions) {
      w.number(x);
      w.byte(0x2c);
    }
    const got = new TextDecoder().decode(w.bytes.subarray(0, w.used)).split(',');
    got.pop();
    const want = fractions.map((x) => JSON.stringify(x));
    const wrong = fractions.map((x, i) => [x, got[i], want[i]]).filter(([, g, e]) => g !== e);
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(got).toHaveLength(fractions.length);
  });
});

describe('JsonWriter durations (whole microseconds)', () => {
  const micros = (v: number): number => (Math.abs(v) < 1e12 ? Math.round(v * 1000) / 1000 : v);

  it('prints a hundred thousand durations of every magnitude as JSON.stringify prints them rounded to whole µs', () => {
    const rand = seededRandom(13);
    const xs = [0, -0, 0.0004, 0.0005, -0.0004, -0.0005, -0.0006, 0.001, 0.0015, 0.0099, 0.01, 0.1, 0.999, 0.9995, 0.9999, 1, 1.0005, 9.9995, 10.05, 1.23, 123.456, 2147483.6475, 2147483.648, 2147483647.9996, 4294967296.0001, 999_999_999_999.9994, 999_999_999_999.9996, 1e12, -1e12, 1e12 + 0.5, 1e15 + 0.25, 1.5e300, 5e-324, -5e-324];
    const start = 1_000_000 * rand();
    for (let i = 0; i < 20_000; i++) {
      // as the sidecar takes them: differences of performance.now() readings
      const t0 = start + i * 0.37 * rand();
      xs.push(t0 + 40 * rand() - t0, t0 + 30_000 * rand() - t0);
      // any mantissa at magnitudes 1e-7 … 1e12, and negatives
      xs.push(rand() * 10 ** Math.floor(rand() * 20 - 7), -rand() * 10 ** Math.floor(rand() * 20 - 7));
      // exact and near-halfway thousandths
      xs.push(Math.floor(rand() * 1e9) / 1000 + (rand() < 0.5 ? 0.0005 : 0));
    }
    const w = new JsonWriter(1);
    for (const x of xs) {
      w.millis(x);
      w.byte(0x2c);
    }
    const got = new TextDecoder().decode(w.bytes.subarray(0, w.used)).split(',');
    got.pop();
    const want = xs.map((x) => JSON.stringify(micros(x)));
    const wrong = xs.map((x, i) => [x, got[i], want[i]]).filter(([, g, e]) => g !== e);
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(got).toHaveLength(xs.length);
  });

  it('sends durations and upstream service times rounded to whole µs (v2), read back as such', () => {
    const r = sampleHttpRecord({ durationMs: 12.345678901234567, upstreamServiceTimeMs: 0.00049 });
    const text = encodeWireBatch(header, [r, sampleHttpRecord({ durationMs: 7.0004999, upstreamServiceTimeMs: 3.2105 })]);
    const d = decodeWireBatch(text);
    expect(d.ok && d.value.records.map((x) => [x.durationMs, x.upstreamServiceTimeMs])).toEqual([
      [12.346, 0],
      [7, 3.211],
    ]);
    const w = new JsonWriter();
    new WireBatchEncoder().write(r, w);
    expect(new TextDecoder().decode(w.bytes.subarray(0, w.used))).toContain(',12.346,');
  });
});

describe('WireBatchEncoder.tableChars', () => {
  it('counts about the characters the tables add to a frame, and starts over after reset', () => {
    const e = new WireBatchEncoder();
    const w = new JsonWriter();
    e.write(sampleHttpRecord(), w);
    const { head } = e.frame(header);
    const tables = head.length - '{"v":2,"s":,"p":,"ds":,"r":['.length;
    expect(e.tableChars).toBeGreaterThan(tables * 0.8);
    expect(e.tableChars).toBeLessThan(tables * 1.5);
    const before = e.tableChars;
    e.write(sampleHttpRecord(), w);
    expect(e.tableChars).toBe(before);
    e.reset();
    expect(e.tableChars).toBe(0);
  });
});
