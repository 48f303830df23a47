#!/usr/bin/env node
// CPU of mixer's ingestion hot path in-process, without NATS: decodeWireBatch (with a WireIntern,
// as the Ingestor decodes), then IstioAggregate.record, TopologyStore.add and RecentLogs.addAll,
// over bench/mixer/records.mjs batches (500 records) in wire v1 and v2. Prints µs of CPU per
// record for each step added, twice (the second pass is warm). The figures docs/mixer.md quotes as
// "in-process"; run with mixer's node flag for the same young generation:
//   node --max-semi-space-size=32 bench/mixer/ingest-cpu.mjs [records=200000] [v1,v2]
import { decodeWireBatch, encodeWireBatch, encodeWireBatchV1, WireIntern } from '@meshwork/telemetry';
import { MixerMetrics, RecentLogs, TopologyStore } from '@meshwork/mixer-core';
import { makeRecords, rng, SENDERS } from './records.mjs';

const N = Number(process.argv[2] ?? 200_000);
const BATCH = 500;
const versions = (process.argv[3] ?? 'v1,v2').split(',');
const cpuUs = (from) => {
  const c = process.cpuUsage(from);
  return c.user + c.system;
};

for (const version of versions) {
  const encode = version === 'v1' ? encodeWireBatchV1 : encodeWireBatch;
  const rand = rng(1);
  const bodies = [];
  let encodeCpu = 0;
  for (let b = 0; b < N / BATCH; b++) {
    const s = SENDERS[b % SENDERS.length];
    const records = makeRecords(BATCH, rand);
    const c0 = process.cpuUsage();
    const body = encode({ sender: `${s.namespace}/${s.workload}/bench`, seq: b + 1, namespace: s.namespace, workload: s.workload, droppedTotal: 0, droppedDelta: 0, sentAt: Date.now() }, records);
    encodeCpu += cpuUs(c0);
    bodies.push(Buffer.from(body));
  }
  const bytes = bodies.reduce((a, b) => a + b.length, 0);
  console.log(`${version}: ${Math.round(bytes / N)} bytes/record, encode ${(encodeCpu / N).toFixed(2)} µs/record`);
  const intern = new WireIntern();
  const metrics = new MixerMetrics();
  const topology = new TopologyStore();
  const logs = new RecentLogs();
  const steps = [
    ['decode', (b) => decodeWireBatch(b)],
    ['decode (interned)', (b) => decodeWireBatch(b, intern)],
    ['+ Istio metrics', (b) => { for (const r of decodeWireBatch(b, intern).value.records) metrics.istio.record(r); }],
    ['+ graph', (b) => { for (const r of decodeWireBatch(b, intern).value.records) { metrics.istio.record(r); topology.add(r); } }],
    ['+ logs (the Ingestor\'s work)', (b) => { const { records } = decodeWireBatch(b, intern).value; for (const r of records) { metrics.istio.record(r); topology.add(r); } logs.addAll(records); }],
  ];
  for (let pass = 1; pass <= 2; pass++) {
    for (const [name, fn] of steps) {
      const c0 = process.cpuUsage();
      for (const b of bodies) fn(b);
      console.log(`  pass ${pass} ${name.padEnd(30)} ${(cpuUs(c0) / N).toFixed(2)} µs CPU/record`);
    }
  }
}
