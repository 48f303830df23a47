#!/usr/bin/env node
// The sidecar's tracing stage per request (libs/agent proxy-tracing.ts), as the HTTP/1.1 listener
// calls it: stage.run on the request head, then end() with the exchange record. Cases: a request
// without trace context at Istio's default 1% sampling (the common case at a mesh's edge and for
// every outbound call of an uninstrumented app), one carrying an unsampled B3 context, and a
// sampled one (a tracer at 100%: the cost of each span the 1% makes, the event loop turned every
// 100 requests so span exports finish as they do in the sidecar).
// Prints ns per request (best of BENCH_ROUNDS rounds of N requests). Needs a built libs/agent.
// Usage: node bench/proxy/tracing.bench.mjs [dist root, default libs/agent/dist]
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';

const dist = process.argv[2] ?? join(import.meta.dirname, '..', '..', 'libs', 'agent', 'dist');
const { ProxyTracing } = await import(join(dist, 'proxy-tracing.js'));
const { Headers } = await import('@meshwork/proxy');
const N = Number(process.env.BENCH_N ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
let exported = 0;
const t = new ProxyTracing({ identity: { nodeId: 'sidecar~127.0.0.1~bench.default~default.svc.cluster.local', namespace: 'default' }, samplingPercent: 1, onSpans: (s) => void (exported += s.length) });
const outbound = { name: 'virtualOutbound', trafficDirection: 'OUTBOUND' };
const stage = t.stage(outbound);
const all = new ProxyTracing({ identity: { nodeId: 'sidecar~127.0.0.1~bench.default~default.svc.cluster.local', namespace: 'default' }, samplingPercent: 100, onSpans: (s) => void (exported += s.length) });
const sampledStage = all.stage(outbound);
const down = { remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 15001 };
const cases = {
  'no context, 1% sampling': () => ['host', 'reviews:9080', 'user-agent', 'wrk', 'x-request-id', '9d3c7a4e-8f1b-4c2d-9e6f-0a1b2c3d4e5f'],
  'B3 context, not sampled': () => ['host', 'reviews:9080', 'x-request-id', '9d3c7a4e-8f1b-4c2d-9e6f-0a1b2c3d4e5f', 'x-b3-traceid', '4bf92f3577b34da6a3ce929d0e0e4736', 'x-b3-spanid', '00f067aa0ba902b7', 'x-b3-sampled', '0'],
};
const turn = () => new Promise((r) => setImmediate(r));
const SAMPLED = 'no context, sampled (100%)';
cases[SAMPLED] = cases['no context, 1% sampling'];
for (const [name, headers] of Object.entries(cases)) {
  const [tr, st, n] = name === SAMPLED ? [all, sampledStage, Math.ceil(N / 10)] : [t, stage, N];
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    let busy = 0;
    for (let i = 0; i < n; i += 100) {
      const t0 = performance.now();
      for (let j = i; j < Math.min(n, i + 100); j++) {
        const req = { method: 'GET', path: '/reviews/1', authority: 'reviews:9080', scheme: 'http', headers: new Headers(headers()) };
        st.run({ req, down, state: undefined });
        tr.end({ request: req, downstream: down, protocol: 'HTTP/1.1', grpc: false, status: 200, flags: [], cluster: 'outbound|9080||reviews', attempts: 1, requestBodyBytes: 0, responseBodyBytes: 100, startTime: Date.now(), durationMs: 1 });
      }
      busy += performance.now() - t0;
      if (name === SAMPLED) {
        // the exports' promise callbacks run at the turn, as between the sidecar's reads
        const t1 = performance.now();
        await turn();
        busy += performance.now() - t1;
      }
    }
    best = Math.min(best, (busy * 1e6) / n);
  }
  console.log(`${name.padEnd(26)} ${best.toFixed(0)} ns per request (incl. ~request object), spans exported so far ${exported}`);
}
