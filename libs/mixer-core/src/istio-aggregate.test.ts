import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { IstioMetrics } from '@meshwork/telemetry';
import { sampleHttpRecord, sampleTcpRecord } from '@meshwork/telemetry/testing';
import { IstioAggregate } from './istio-aggregate.js';

const records = [
  sampleHttpRecord(),
  sampleHttpRecord({ durationMs: 730, bytesSent: 12_000 }),
  sampleHttpRecord({ responseCode: 503, responseFlags: 'UF' }),
  sampleHttpRecord({ protocol: 'grpc', grpcStatus: 14, reporter: 'source' }),
  sampleTcpRecord(),
  sampleTcpRecord({ tcpEvent: 'close', bytesReceived: 10, bytesSent: 20 }),
];

describe('IstioAggregate', () => {
  it('exposes exactly what a sidecar\'s IstioMetrics exposes for the same records', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const a = new IstioAggregate({ registry: ours });
    const m = new IstioMetrics({ registry: theirs });
    for (const r of records) {
      a.record(r);
      m.record(r);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('restores a snapshot to the same exposition', async () => {
    const r1 = new Registry();
    const a = new IstioAggregate({ registry: r1 });
    for (const r of records) a.record(r);
    const r2 = new Registry();
    const b = new IstioAggregate({ registry: r2 });
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    expect(await r2.metrics()).toBe(await r1.metrics());
    // new records after a restore land in the restored series, not in look-alike new ones
    for (const r of records) {
      a.record(r);
      b.record(r);
    }
    expect(b.seriesCount).toBe(a.seriesCount);
    expect(await r2.metrics()).toBe(await r1.metrics());
  });

  it('keeps absent, empty and "unknown" values in one series, as their labels are the same', () => {
    const a = new IstioAggregate({ registry: new Registry() });
    a.record(sampleHttpRecord({ source: {} }));
    a.record(sampleHttpRecord({ source: { workload: '', app: 'unknown', canonicalRevision: 'latest' } }));
    expect(a.seriesCount).toBe(1);
  });

  it('stops adding label tuples at maxSeries and counts the overflow', () => {
    const a = new IstioAggregate({ registry: new Registry(), maxSeries: 2 });
    for (const code of [200, 201, 202, 200]) a.record(sampleHttpRecord({ responseCode: code }));
    expect([a.seriesCount, a.overflowed]).toEqual([2, 1]);
  });
});
