import { describe, expect, it } from 'vitest';
import {
  MAX_ENCODED_RECORD_BYTES,
  MAX_FIELD_CHARS,
  MAX_PATH_CHARS,
  decodeRecord,
  decodeRecordBatch,
  encodeRecord,
  encodeRecordBatch,
  responseFlagsOf,
  type RequestRecord,
} from './request-record.js';
import { sampleHttpRecord } from './testing.js';

const sample = sampleHttpRecord();

describe('compact record encoding', () => {
  it('round-trips every field', () => {
    const text = encodeRecord(sample);
    const d = decodeRecord(text);
    expect(d).toEqual({ ok: true, value: sample });
    expect(text.length).toBeLessThan(1024);
  });

  it('round-trips a record with every optional field set', () => {
    const all = sampleHttpRecord({
      protocol: 'grpc',
      grpcStatus: 14,
      tcpEvent: 'report',
      xForwardedFor: '10.0.0.1, 10.0.0.2',
      connectionTerminationDetails: 'rbac_access_denied',
      upstreamTransportFailureReason: 'TLS error: 268435581:SSL routines',
    });
    expect(decodeRecord(encodeRecord(all))).toEqual({ ok: true, value: all });
  });

  it('omits absent fields and keeps a TCP event', () => {
    const tcp: RequestRecord = {
      reporter: 'source',
      protocol: 'tcp',
      tcpEvent: 'close',
      startTime: 1,
      source: {},
      destination: { workload: 'mongodb-v1' },
      destinationService: { host: 'mongodb.default.svc.cluster.local' },
      responseCode: 0,
      responseFlags: '-',
      securityPolicy: 'unknown',
      durationMs: 100,
      bytesReceived: 10,
      bytesSent: 20,
    };
    const text = encodeRecord(tcp);
    expect(JSON.parse(text)).toEqual({ r: 's', p: 't', sp: 'u', te: 'c', t: 1, rc: 0, du: 100, br: 10, bs: 20, s: {}, d: { w: 'mongodb-v1' }, ds: { h: 'mongodb.default.svc.cluster.local' }, f: '-' });
    expect(decodeRecord(text)).toEqual({ ok: true, value: tcp });
  });

  it('cuts long strings and stays under the size bound in the worst case', () => {
    const huge = '\u0001'.repeat(5000);
    const peer = { workload: huge, namespace: huge, principal: huge, app: huge, version: huge, canonicalService: huge, canonicalRevision: huge, cluster: huge };
    const worst: RequestRecord = {
      ...sample,
      source: peer,
      destination: peer,
      destinationService: { host: huge, name: huge, namespace: huge },
      method: huge,
      path: huge,
      authority: huge,
      httpProtocol: huge,
      userAgent: huge,
      xForwardedFor: huge,
      requestId: huge,
      responseFlags: huge,
      responseCodeDetails: huge,
      connectionTerminationDetails: huge,
      upstreamTransportFailureReason: huge,
      upstreamCluster: huge,
      upstreamHost: huge,
      upstreamLocalAddress: huge,
      downstreamLocalAddress: huge,
      downstreamRemoteAddress: huge,
      requestedServerName: huge,
      routeName: huge,
      traceId: huge,
      spanId: huge,
      startTime: -Number.MAX_VALUE,
      durationMs: -Number.MAX_VALUE,
      bytesReceived: -Number.MAX_VALUE,
      bytesSent: -Number.MAX_VALUE,
      upstreamServiceTimeMs: -Number.MAX_VALUE,
      grpcStatus: -Number.MAX_VALUE,
      responseCode: -Number.MAX_VALUE,
    };
    const text = encodeRecord(worst);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_ENCODED_RECORD_BYTES);
    const back = decodeRecord(text);
    if (!back.ok) throw new Error(back.errors.join('; '));
    expect(back.value.path).toHaveLength(MAX_PATH_CHARS);
    expect(back.value.userAgent).toHaveLength(MAX_FIELD_CHARS);
    expect(back.value.source.workload).toHaveLength(MAX_FIELD_CHARS);
    expect(back.value.spanId).toHaveLength(16);
  });

  it('reports every bad field with its path', () => {
    const d = decodeRecord(JSON.stringify({ r: 'x', p: 'h', sp: 'm', t: 'now', rc: 200, du: 1, br: 0, bs: 0, s: { w: 3 }, ds: [], m: 1 }));
    expect(d).toEqual({ ok: false, errors: ['r: expected one of s|d', 't: not a finite number', 's.w: not a string', 'ds: not an object', 'm: not a string'] });
    expect(decodeRecord('{').ok).toBe(false);
    expect(decodeRecord('[]')).toEqual({ ok: false, errors: ['record: not an object'] });
  });

  it('decodes a batch, skipping bad records with their index', () => {
    const text = encodeRecordBatch([sample, sample]);
    const parsed = JSON.parse(text);
    parsed.r.splice(1, 0, { r: 's' });
    const { records, errors } = decodeRecordBatch(JSON.stringify(parsed));
    expect(records).toEqual([sample, sample]);
    expect(errors[0]).toMatch(/^r\[1\]\.p: /);
    expect(decodeRecordBatch(JSON.stringify({ v: 2, r: [] })).errors).toEqual(['batch.v: unsupported version 2']);
  });

  it('joins response flags as Envoy prints them', () => {
    expect(responseFlagsOf([])).toBe('-');
    expect(responseFlagsOf(['URX', 'UF'])).toBe('URX,UF');
  });
});
