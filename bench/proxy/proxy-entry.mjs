#!/usr/bin/env node
// The bench's Meshwork proxy: one process, the HTTP/1.1 listener of @meshwork/proxy (built dist).
// Usage: node proxy-entry.mjs <listenPort>:<upstreamPort> ...  Prints `ready <port> <port> ...`.
//
// BENCH_ROUTE=engine (default): the listener as the sidecar runs it — filters hook, decide() over
// a compiled route table (one virtual host, a prefix route with Istio's default retry policy and
// `timeout: 0s`, as translate emits when a VirtualService sets none), one STATIC cluster per
// upstream with its circuit breakers and outlier detection, the attempt loop, response header
// operations and the exchange record. BENCH_ROUTE=fixed: a fixed synchronous route (no engine),
// the transport alone, as earlier results were measured. BENCH_ROUTE=sidecar: the engine plus
// what the sidecar adds per request (libs/agent): the tracing stage (Istio's default 1% sampling,
// spans dropped) and ProxyTelemetry (Istio metrics; no access log, Istio's default) on every record.
// It loads the modules it uses from dist (BENCH_FULL_ENGINE=1: the whole package index, which also
// loads the HTTP/2 parts, ~10 MB more RSS at idle that this bench does not exercise).
const full = process.env.BENCH_FULL_ENGINE === '1';
const dist = '../../libs/proxy/dist';
const { createHttp1Proxy } = full ? await import('@meshwork/proxy') : await import(`${dist}/listeners/http1-proxy.js`);
const mode = process.env.BENCH_ROUTE ?? 'engine';

const pairs = process.argv.slice(2).map((a) => a.split(':').map(Number));
const ports = [];
const proxies = [];
const batchWrites = process.env.BENCH_BATCH_WRITES !== '0';
let onExchange;
let sidecar;
if (mode === 'sidecar') {
  const agent = '../../libs/agent/dist';
  const { ProxyTracing } = await import(`${agent}/proxy-tracing.js`);
  const { ProxyTelemetry } = await import(`${agent}/proxy-telemetry.js`);
  const listener = { name: 'virtualOutbound', trafficDirection: 'OUTBOUND' };
  sidecar = { listener, ProxyTracing, ProxyTelemetry };
}
if (mode === 'engine') {
  // The sidecar passes every record to telemetry; count them here so the cost of building one stays in.
  let n = 0;
  onExchange = () => void n++;
}
for (const [listen, upstream] of pairs) {
  let proxy;
  if (mode === 'engine' || mode === 'sidecar') {
    const { compileConfig } = full ? await import('@meshwork/proxy') : await import(`${dist}/config/compile.js`);
    const { ClusterManager } = full ? await import('@meshwork/proxy') : await import(`${dist}/engine/clusters.js`);
    const clock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h) };
    const retryPolicy = {
      retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
      numRetries: { value: 2 },
      retryHostPredicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }],
      hostSelectionRetryMaxAttempts: 5,
      retriableStatusCodes: [503],
    };
    const compiled = compileConfig({
      listeners: [],
      routes: [{ name: 'routes', virtualHosts: [{ name: 'up', domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: 'up', timeout: { seconds: 0 }, retryPolicy } }] }] }],
      clusters: [
        {
          name: 'up',
          type: 'STATIC',
          connectTimeout: { seconds: 10 },
          circuitBreakers: { thresholds: [{ maxConnections: { value: 4294967295 }, maxPendingRequests: { value: 4294967295 }, maxRequests: { value: 4294967295 }, maxRetries: { value: 4294967295 } }] },
          outlierDetection: {},
          loadAssignment: { clusterName: 'up', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: upstream } } } }] }] },
        },
      ],
      endpoints: [],
    });
    if (!compiled.ok) throw new Error(compiled.errors.join('; '));
    const clusters = new ClusterManager(clock);
    clusters.apply(compiled.value);
    const table = compiled.value.routeTables.get('routes');
    let filters = [];
    if (sidecar !== undefined) {
      const self = { workload: 'bench-v1', namespace: 'default', app: 'bench', version: 'v1', canonicalService: 'bench', canonicalRevision: 'v1' };
      const tracing = new sidecar.ProxyTracing({ identity: { nodeId: 'sidecar~127.0.0.1~bench-v1.default~default.svc.cluster.local', namespace: 'default' }, samplingPercent: 1, onSpans: () => undefined });
      const telemetry = new sidecar.ProxyTelemetry({ self, clusters });
      filters = [tracing.stage(sidecar.listener)];
      onExchange = (r) => {
        tracing.end(r);
        telemetry.http(r, sidecar.listener);
      };
    }
    proxy = createHttp1Proxy({ engine: { routeTable: () => table, filters: () => filters, cluster: (n) => clusters.get(n), clock }, onExchange, batchWrites });
  } else {
    const decision = { kind: 'forward', address: '127.0.0.1', port: upstream };
    proxy = createHttp1Proxy({ route: () => decision, batchWrites });
  }
  proxies.push(proxy);
  ports.push((await proxy.listen(listen)).port);
}
process.stdout.write(`ready ${ports.join(' ')}\n`);
process.on('SIGTERM', async () => {
  await Promise.all(proxies.map((p) => p.close()));
  process.exit(0);
});
