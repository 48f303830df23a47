#!/usr/bin/env node
// Fixed-rate telemetry load for bench:mixer's lag part: P RecordPublishers (the sidecar's own
// publisher, libs/agent) in this process, each offering records like a sidecar at RATE/P records
// per second for SECONDS, in 10 ms ticks. Prints one JSON line: offered, published, dropped.
// usage: load.mjs <nats-url> <rate> <seconds> <publishers>
import { connect } from '@nats-io/transport-node';
import { RecordPublisher } from '@meshwork/agent';
import { Registry } from 'prom-client';
import { makeRecords, rng, SENDERS } from './records.mjs';
import { paced } from '../lib.mjs';

const [url, rateArg, secondsArg, pubArg] = process.argv.slice(2);
const RATE = Number(rateArg), SECONDS = Number(secondsArg), P = Number(pubArg ?? 8);
const pubs = [];
for (let i = 0; i < P; i++) {
  const s = SENDERS[i % SENDERS.length];
  const nc = await connect({ servers: url, name: `bench load ${i}` });
  // a registry each: every sidecar has its own (the metric names are the same)
  const registry = new Registry();
  pubs.push({ nc, registry, p: new RecordPublisher({ nc, namespace: s.namespace, workload: s.workload, registry }) });
}
const rand = rng(7);
// records are made ahead (a pool) so that making them does not limit the offered rate
const pool = makeRecords(20_000, rand);
let offered = 0, refused = 0, k = 0;
const t0 = performance.now();
await paced(RATE, SECONDS, (i) => {
  const r = pool[k++ % pool.length];
  // fresh times (mixer's windows) and a fresh request id per request pair
  const rec = { ...r, startTime: Date.now() - r.durationMs, requestId: `${r.requestId.slice(0, 24)}${(i >> 1).toString(16).padStart(12, '0')}` };
  if (!pubs[(i >> 1) % P].p.offer(rec)) refused++;
  offered++;
});
for (const { p, nc } of pubs) {
  await p.close();
  await nc.close();
}
let metricTotal = 0;
const metric = async (name) => {
  metricTotal = 0;
  for (const { registry } of pubs) metricTotal += (await registry.getSingleMetric(name)?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;
  return metricTotal;
};
console.log(JSON.stringify({ offered, refused, published: await metric('sidecar_telemetry_records_published_total'), dropped: await metric('sidecar_telemetry_records_dropped_total'), seconds: (performance.now() - t0) / 1000 }));
