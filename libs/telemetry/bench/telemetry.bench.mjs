// Micro benchmark of the telemetry hot path (one core): what the proxy's telemetry stage pays
// per request. Not a test; prints a table. Run after a build:
//   npx tsc -b libs/telemetry/tsconfig.json && taskset -c 0 node libs/telemetry/bench/telemetry.bench.mjs
// Reference row: the same four metric updates done the plain prom-client way (labels object per call).
import { Counter, Histogram, Registry } from 'prom-client';
import {
  BufferedPublisher,
  DURATION_BUCKETS_MS,
  BYTES_BUCKETS,
  HTTP_LABELS,
  IstioMetrics,
  encodeRecord,
  extractTraceContext,
  formatAccessLog,
  injectTraceContext,
  requestLabels,
} from '../dist/index.js';
import { sampleHttpRecord } from '../dist/testing.js';

const N = Number(process.env.BENCH_N ?? 300_000);

function bench(name, setup) {
  const fn = setup();
  for (let i = 0; i < Math.min(N, 50_000); i++) fn(i); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  return { case: name, ns_per_op: Math.round(ns), ops_per_s: Math.round(1e9 / ns) };
}

// A realistic mix: 4 response codes, 2 destinations, reused PeerInfo objects (as the proxy does).
const base = sampleHttpRecord();
const other = { ...base.destination, workload: 'reviews-v3', version: 'v3' };
const records = [];
for (let i = 0; i < 64; i++) {
  records.push({
    ...base,
    destination: i % 2 ? base.destination : other,
    responseCode: [200, 200, 200, 404, 503, 200, 201, 200][i % 8],
    durationMs: (i * 7.3) % 300,
    bytesSent: (i * 131) % 5000,
  });
}
// The same records with fresh peer objects each (what mixer sees after decoding).
const fresh = records.map((r) => ({ ...r, source: { ...r.source }, destination: { ...r.destination }, destinationService: { ...r.destinationService } }));

const rows = [];
rows.push(
  bench('IstioMetrics.recordRequest (reused peers)', () => {
    const m = new IstioMetrics({ registry: new Registry() });
    return (i) => m.recordRequest(records[i & 63]);
  }),
);
rows.push(
  bench('IstioMetrics.recordRequest (fresh peer objects, first sight)', () => {
    const m = new IstioMetrics({ registry: new Registry() });
    // New objects every call: measures the content-key path (WeakMap miss + join).
    return (i) => {
      const r = fresh[i & 63];
      m.recordRequest({ ...r, source: { ...r.source }, destination: { ...r.destination }, destinationService: { ...r.destinationService } });
    };
  }),
);
rows.push(
  bench('reference: prom-client inc/observe with labels object', () => {
    const registers = [new Registry()];
    const c = new Counter({ name: 'c_total', help: 'h', labelNames: HTTP_LABELS, registers });
    const h1 = new Histogram({ name: 'h1', help: 'h', labelNames: HTTP_LABELS, buckets: DURATION_BUCKETS_MS, registers });
    const h2 = new Histogram({ name: 'h2', help: 'h', labelNames: HTTP_LABELS, buckets: BYTES_BUCKETS, registers });
    const h3 = new Histogram({ name: 'h3', help: 'h', labelNames: HTTP_LABELS, buckets: BYTES_BUCKETS, registers });
    const labels = records.map(requestLabels); // labels prebuilt: only prom-client's own cost is measured
    return (i) => {
      const r = records[i & 63];
      const l = labels[i & 63];
      c.inc(l);
      h1.observe(l, r.durationMs);
      h2.observe(l, r.bytesReceived);
      h3.observe(l, r.bytesSent);
    };
  }),
);
rows.push(bench('formatAccessLog (JSON line)', () => (i) => formatAccessLog(records[i & 63])));
rows.push(bench('encodeRecord (compact JSON for NATS)', () => (i) => encodeRecord(records[i & 63])));
rows.push(
  bench('BufferedPublisher.offer', () => {
    const p = new BufferedPublisher({ sink: () => Promise.resolve(), maxBatch: 500, maxBuffered: 10_000 });
    return (i) => p.offer(i);
  }),
);
rows.push(
  bench('extract traceparent + inject W3C and B3 multi', () => {
    const list = ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'];
    const get = (n) => (n === list[0] ? list[1] : undefined);
    const out = [];
    const set = (n, v) => out.push(n, v);
    return () => {
      out.length = 0;
      injectTraceContext(extractTraceContext(get), set);
    };
  }),
);

console.table(rows);
console.log(JSON.stringify({ node: process.version, n: N, rows }));
