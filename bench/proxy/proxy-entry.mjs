#!/usr/bin/env node
// The bench's Meshwork proxy: one process, the HTTP/1.1 listener of @meshwork/proxy (built dist)
// with a fixed route per listening port. Usage: node proxy-entry.mjs <listenPort>:<upstreamPort> ...
// Prints one line `ready <port> <port> ...` when listening.
// It loads the listener module alone (BENCH_FULL_ENGINE=1: the whole package): the package's
// index also loads the config compiler and HTTP/2 parts (re2js, node:http2), ~10 MB more RSS at
// idle that this bench does not exercise; proxy.bench.mjs reports that figure separately.
const { createHttp1Proxy } = process.env.BENCH_FULL_ENGINE === '1' ? await import('@meshwork/proxy') : await import('../../libs/proxy/dist/listeners/http1-proxy.js');

const pairs = process.argv.slice(2).map((a) => a.split(':').map(Number));
const ports = [];
const proxies = [];
for (const [listen, upstream] of pairs) {
  const decision = { kind: 'forward', address: '127.0.0.1', port: upstream };
  const proxy = createHttp1Proxy({ route: () => decision, batchWrites: process.env.BENCH_BATCH_WRITES !== '0' });
  proxies.push(proxy);
  ports.push((await proxy.listen(listen)).port);
}
process.stdout.write(`ready ${ports.join(' ')}\n`);
process.on('SIGTERM', async () => {
  await Promise.all(proxies.map((p) => p.close()));
  process.exit(0);
});
