import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AccessLogWriter, formatAccessLog, formatAccessLogText } from './access-log.js';
import { sampleHttpRecord, sampleTcpRecord } from './testing.js';

describe('formatAccessLog (Istio JSON encoding)', () => {
  it('maps a request to Envoy operator values under Istio keys, sorted', () => {
    const line = formatAccessLog(sampleHttpRecord({ xForwardedFor: '10.0.0.1' }));
    expect(line).toBe(
      JSON.stringify({
        authority: 'reviews:9080',
        bytes_received: 0,
        bytes_sent: 295,
        connection_termination_details: null,
        downstream_local_address: '10.1.2.3:9080',
        downstream_remote_address: '10.1.2.9:51234',
        duration: 7,
        method: 'GET',
        path: '/reviews/0',
        protocol: 'HTTP/1.1',
        request_id: '5c3e2f5a-0d3c-4b8e-9d1a-6f1b2c3d4e5f',
        requested_server_name: 'outbound_.9080_.v2_.reviews.default.svc.cluster.local',
        response_code: 200,
        response_code_details: 'via_upstream',
        response_flags: '-',
        route_name: 'default',
        start_time: '2026-11-26T01:02:03.456Z',
        upstream_cluster: 'inbound|9080||',
        upstream_host: '10.1.2.3:9080',
        upstream_local_address: '127.0.0.6:45123',
        upstream_service_time: '5',
        upstream_transport_failure_reason: null,
        user_agent: 'python-requests/2.31',
        x_forwarded_for: '10.0.0.1',
      }),
    );
    const keys = Object.keys(JSON.parse(line));
    expect(keys).toEqual([...keys].sort());
    expect(line).not.toContain('\n');
  });

  it('a local reply with no upstream: nulls, flags, details', () => {
    const e = JSON.parse(
      formatAccessLog(
        sampleHttpRecord({ responseCode: 503, responseFlags: 'UH', responseCodeDetails: 'no_healthy_upstream', upstreamHost: undefined, upstreamServiceTimeMs: undefined, upstreamLocalAddress: undefined, userAgent: '' }),
      ),
    );
    expect(e).toMatchObject({ response_code: 503, response_flags: 'UH', response_code_details: 'no_healthy_upstream', upstream_host: null, upstream_service_time: null, upstream_local_address: null, user_agent: null });
  });

  it('a TCP connection: no method, path, protocol; code 0', () => {
    const e = JSON.parse(formatAccessLog(sampleTcpRecord({ tcpEvent: 'close', bytesReceived: 12, bytesSent: 34, durationMs: 1500.9, httpProtocol: 'HTTP/1.1' })));
    expect(e).toMatchObject({ method: null, path: null, protocol: null, response_code: 0, bytes_received: 12, bytes_sent: 34, duration: 1500, upstream_cluster: 'outbound|27017||mongodb.default.svc.cluster.local' });
  });

  it('TEXT encoding prints Istio default format with - for absent values', () => {
    expect(formatAccessLogText(sampleHttpRecord())).toBe(
      '[2026-11-26T01:02:03.456Z] "GET /reviews/0 HTTP/1.1" 200 - via_upstream - "-" 0 295 7 5 "-" "python-requests/2.31" ' +
        '"5c3e2f5a-0d3c-4b8e-9d1a-6f1b2c3d4e5f" "reviews:9080" "10.1.2.3:9080" inbound|9080|| 127.0.0.6:45123 10.1.2.3:9080 ' +
        '10.1.2.9:51234 outbound_.9080_.v2_.reviews.default.svc.cluster.local default',
    );
  });
});

describe('AccessLogWriter', () => {
  it('writes batches of lines to the stream, one write per batch', async () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        chunks.push(String(chunk));
        cb();
      },
    });
    const w = new AccessLogWriter({ stream, maxBatch: 3, flushIntervalMs: 10_000 });
    for (let i = 0; i < 5; i++) w.log(sampleHttpRecord({ responseCode: 200 + i }));
    await w.close();
    expect(chunks).toHaveLength(2);
    const lines = chunks.join('').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l).response_code)).toEqual([200, 201, 202, 203, 204]);
    expect(w.written).toBe(5);
  });

  it('a stream that does not drain makes it drop and count, never block', async () => {
    // highWaterMark 1 and nobody reading: the first write fills it and 'drain' never comes.
    const stream = new PassThrough({ highWaterMark: 1 });
    const w = new AccessLogWriter({ stream, maxBatch: 2, maxBuffered: 4, flushIntervalMs: 10_000 });
    const accepted: boolean[] = [];
    for (let i = 0; i < 20; i++) accepted.push(w.log(sampleHttpRecord()));
    await new Promise((r) => setImmediate(r));
    expect(accepted.filter(Boolean)).toHaveLength(6); // 2 handed to the stream + 4 waiting
    expect(w.dropped).toBe(14);
    // Once the stream is read, the backlog goes out.
    stream.resume();
    await w.close();
    expect(w.written).toBe(6);
  });
});
