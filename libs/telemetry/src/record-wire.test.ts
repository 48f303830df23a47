import { describe, expect, it } from 'vitest';
import { decodeWireBatch, encodeWireBatch, encodeWireBatchV1, MAX_TABLE_STRINGS, WireBatchEncoder, WireIntern, type BatchHeader } from './record-wire.js';
import { decodeRecordBatch, fromCompact, type RequestRecord } from './request-record.js';
import { sampleHttpRecord, sampleTcpRecord } from './testing.js';

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
