import { describe, expect, it } from 'vitest';
import { decodeWireBatch, encodeWireBatch, type BatchHeader } from './record-wire.js';
import { decodeRecordBatch, fromCompact, type RequestRecord } from './request-record.js';
import { sampleHttpRecord, sampleTcpRecord } from './testing.js';

const header: BatchHeader = { sender: 'default/reviews-v2/7f3a', seq: 42, namespace: 'default', workload: 'reviews-v2', droppedTotal: 17, droppedDelta: 3, sentAt: 1_764_100_000_123 };

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

  it('decodes from bytes (a NATS payload) and stays readable by decodeRecordBatch', () => {
    const text = encodeWireBatch(header, [sampleHttpRecord()]);
    const d = decodeWireBatch(new TextEncoder().encode(text));
    expect(d.ok && d.value.records.length).toBe(1);
    expect(decodeRecordBatch(text).records).toEqual([sampleHttpRecord()]);
  });

  it('decodes the same records as fromCompact, sparse or full (the fast path)', () => {
    const sparse: RequestRecord = { reporter: 'source', protocol: 'tcp', tcpEvent: 'report', startTime: 1, source: {}, destination: { workload: 'x' }, destinationService: {}, responseCode: 0, responseFlags: '-', securityPolicy: 'none', durationMs: 0, bytesReceived: 1, bytesSent: 2 };
    const records = [sampleHttpRecord(), sampleTcpRecord(), sparse, sampleHttpRecord({ responseFlags: '', grpcStatus: 0, protocol: 'grpc' })];
    const text = encodeWireBatch(header, records);
    const d = decodeWireBatch(text);
    const slow = (JSON.parse(text) as { r: unknown[] }).r.map((x) => fromCompact(x));
    expect(d.ok && d.value.records).toEqual(slow.map((x) => x.ok && x.value));
  });

  it('skips a bad record with its index and keeps the rest', () => {
    const body = JSON.parse(encodeWireBatch(header, [sampleHttpRecord(), sampleHttpRecord()])) as { r: Record<string, unknown>[] };
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
