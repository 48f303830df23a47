import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { IstioMetrics } from '@meshwork/telemetry';
import { sampleHttpRecord, sampleTcpRecord } from '@meshwork/telemetry/testing';
import { ExpositionRegistry } from './exposition.js';
import { IstioAggregate } from './istio-aggregate.js';

const records = [
  sampleHttpRecord(),
  sampleHttpRecord({ durationMs: 730, bytesSent: 12_000 }),
  sampleHttpRecord({ responseCode: 503, responseFlags: 'UF' }),
  sampleHttpRecord({ protocol: 'grpc', grpcStatus: 14, reporter: 'source' }),
  sampleTcpRecord(),
  sampleTcpRecord({ tcpEvent: 'close', bytesReceived: 10, bytesSent: 20 }),
];

/** Records sharing their peer and service objects, as decoding with a WireIntern gives them (the series cache keys on them). */
function sharedPeerRecords(): ReturnType<typeof sampleHttpRecord>[] {
  const h = sampleHttpRecord();
  const t = sampleTcpRecord();
  const same = { source: h.source, destination: h.destination, destinationService: h.destinationService };
  const tcp = { source: t.source, destination: t.destination, destinationService: t.destinationService };
  return [
    sampleHttpRecord(same),
    sampleHttpRecord({ ...same, responseCode: 503, responseFlags: 'UF' }),
    sampleHttpRecord({ ...same, responseCode: 503, responseFlags: 'URX' }),
    sampleHttpRecord({ ...same, reporter: 'source', securityPolicy: 'unknown' }),
    sampleHttpRecord({ ...same, protocol: 'grpc', grpcStatus: 14 }),
    sampleHttpRecord({ ...same, protocol: 'grpc', grpcStatus: 0 }),
    sampleHttpRecord({ ...same, protocol: 'grpc' }),
    sampleHttpRecord({ ...same, durationMs: 900 }),
    sampleTcpRecord(tcp),
    sampleTcpRecord({ ...tcp, tcpEvent: 'close', bytesSent: 5 }),
    sampleTcpRecord({ ...tcp, responseFlags: 'UF' }),
  ];
}

describe('IstioAggregate', () => {
  it('keeps records that share peer objects apart by every other label (the series cache), as a sidecar does', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const a = new IstioAggregate({ registry: ours });
    const m = new IstioMetrics({ registry: theirs });
    for (const r of [...sharedPeerRecords(), ...sharedPeerRecords()]) {
      a.record(r);
      m.record(r);
    }
    expect(a.seriesCount).toBe(9);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('after a restore, records with the same peer objects count on the restored series', async () => {
    const rs = sharedPeerRecords();
    const once = new IstioAggregate({ registry: new Registry() });
    for (const r of rs) once.record(r);
    const restored = new Registry();
    const b = new IstioAggregate({ registry: restored });
    for (const r of rs) b.record(r); // fills b's cache with series that restore replaces
    b.restore(once.snapshot());
    for (const r of rs) b.record(r);
    const twice = new Registry();
    const c = new IstioAggregate({ registry: twice });
    for (const r of [...rs, ...rs]) c.record(r);
    expect(await restored.metrics()).toBe(await twice.metrics());
  });

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

  it('renders the same exposition, byte for byte, through ExpositionRegistry (labels formatted once per series) as through prom-client', async () => {
    const odd = [
      ...records,
      // label values prom-client escapes: backslash, quote, newline
      sampleHttpRecord({ source: { workload: 'a"b\\c\nd' }, responseFlags: 'UF,"x"' }),
      sampleHttpRecord({ durationMs: Number.NaN, bytesSent: Number.POSITIVE_INFINITY }),
    ];
    const fast = new ExpositionRegistry();
    const plain = new Registry();
    const a = new IstioAggregate({ registry: fast });
    const b = new IstioAggregate({ registry: plain });
    new Counter({ name: 'other_total', help: 'a metric of prom-client\'s own', registers: [fast, plain] }).inc(2);
    for (const r of odd) {
      a.record(r);
      b.record(r);
    }
    const text = await fast.metrics();
    expect(text).toBe(await plain.metrics());
    expect(text).toContain('workload="a\\"b');
    // twice: the cached label texts give the same lines
    expect(await fast.metrics()).toBe(text);
    // default labels: prom-client formats everything
    fast.setDefaultLabels({ mesh: 'm1' });
    plain.setDefaultLabels({ mesh: 'm1' });
    expect(await fast.metrics()).toBe(await plain.metrics());
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
