#!/usr/bin/env node
// The sidecar's tracing stage per request (libs/agent proxy-tracing.ts), as the HTTP/1.1 listener
// calls it: stage.run on the request head, then end() with the exchange record. Cases: a request
// without trace context at Istio's default 1% sampling (the common case at a mesh's edge and for
// every outbound call of an uninstrumented app), and one carrying an unsampled B3 context.
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
const stage = t.stage({ name: 'virtualOutbound', trafficDirection: 'OUTBOUND' });
const down = { remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 15001 };
const cases = {
  'no context, 1% sampling': () => ['host', 'reviews:9080', 'user-agent', 'wrk', 'x-request-id', '9d3c7a4e-8f1b-4c2d-9e6f-0a1b2c3d4e5f'],
  'B3 context, not sampled': () => ['host', 'reviews:9080', 'x-request-id', '9d3c7a4e-8f1b-4c2d-9e6f-0a1b2c3d4e5f', 'x-b3-traceid', '4bf92f3577b34da6a3ce929d0e0e4736', 'x-b3-spanid', '00f067aa0ba902b7', 'x-b3-sampled', '0'],
};
for (const [name, headers] of Object.entries(cases)) {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const req = { method: 'GET', path: '/reviews/1', authority: 'reviews:9080', scheme: 'http', headers: new Headers(headers()) };
      stage.run({ req, down, state: undefined });
      t.end({ request: req, downstream: down, protocol: 'HTTP/1.1', grpc: false, status: 200, flags: [], cluster: 'outbound|9080||reviews', attempts: 1, requestBodyBytes: 0, responseBodyBytes: 100, startTime: Date.now(), durationMs: 1 });
    }
    best = Math.min(best, ((performance.now() - t0) * 1e6) / N);
  }
  console.log(`${name.padEnd(26)} ${best.toFixed(0)} ns per request (incl. ~request object), spans exported so far ${exported}`);
}
