// Realistic request records for bench:mixer: a Bookinfo-sized mesh (8 apps × 3 versions in 2
// namespaces), both reporters, mostly 200s with some 404/503, log-normal-ish durations, request
// ids and trace ids on every record — what a sidecar's ProxyTelemetry hands RecordPublisher.
// Label cardinality matters to mixer (series per family, graph edges), so it is bounded the way a
// real mesh's is: 48 workloads, 144 edges, a handful of codes.
import { randomBytes } from 'node:crypto';

const APPS = ['productpage', 'reviews', 'ratings', 'details', 'cart', 'checkout', 'payments', 'search'];
const VERSIONS = ['v1', 'v2', 'v3'];
const NAMESPACES = ['default', 'shop'];
const CODES = [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 404, 503, 201];
const PATHS = ['/', '/api/v1/items', '/api/v1/items/42', '/health', '/reviews/7', '/ratings/7'];

/** A deterministic xorshift PRNG: the same run publishes the same records. */
export function rng(seed = 1) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const peers = [];
for (const ns of NAMESPACES)
  for (const app of APPS)
    for (const version of VERSIONS)
      peers.push({ workload: `${app}-${version}`, namespace: ns, app, version, canonicalService: app, canonicalRevision: version, principal: `spiffe://cluster.local/ns/${ns}/sa/${app}`, cluster: 'Kubernetes' });

// A sparse call graph, as in a real mesh: each workload calls three others (144 edges), so the
// Istio series number ~1,200 per family (2 reporters × ~4 codes per edge), not 48².
const CALLEES = peers.map((_, i) => [0, 1, 2].map((k) => (i * 7 + k * 11 + 1) % peers.length));

// Ids unique per process without a crypto call per record: a random prefix and a counter.
const boot = randomBytes(8).toString('hex');
let counter = 0;
const uniq = (w) => (counter++).toString(16).padStart(w, '0');

/**
 * makeRecords returns n request records, in pairs: the source and the destination report of one
 * request (same request id, as two sidecars send them; mixer's graph joins them). `now` is the
 * end time of each (ms).
 */
export function makeRecords(n, rand, now = Date.now()) {
  const out = new Array(n);
  for (let i = 0; i < n; i += 2) {
    const si = Math.floor(rand() * peers.length);
    const src = peers[si];
    const dst = peers[CALLEES[si][Math.floor(rand() * CALLEES[si].length)]];
    const code = CODES[Math.floor(rand() * CODES.length)];
    const durationMs = Math.round(Math.exp(rand() * 6)); // 1 ms … ~400 ms
    const svc = dst.app;
    const id = uniq(12);
    const rec = {
      reporter: 'source',
      protocol: 'http',
      startTime: now - durationMs,
      source: src,
      destination: dst,
      destinationService: { host: `${svc}.${dst.namespace}.svc.cluster.local`, name: svc, namespace: dst.namespace },
      method: rand() < 0.9 ? 'GET' : 'POST',
      path: PATHS[Math.floor(rand() * PATHS.length)],
      authority: `${svc}.${dst.namespace}.svc.cluster.local:9080`,
      httpProtocol: 'HTTP/1.1',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) bench',
      requestId: `${boot.slice(0, 8)}-${boot.slice(8, 12)}-4${boot.slice(13, 16)}-8000-${id}`,
      responseCode: code,
      responseFlags: code === 503 ? 'UF' : '-',
      securityPolicy: 'mutual_tls',
      durationMs,
      upstreamServiceTimeMs: Math.max(0, durationMs - 1),
      bytesReceived: Math.floor(rand() * 512),
      bytesSent: Math.floor(rand() * 8192),
      upstreamCluster: `outbound|9080|${dst.version}|${svc}.${dst.namespace}.svc.cluster.local`,
      upstreamHost: `10.0.${Math.floor(rand() * 8)}.${Math.floor(rand() * 250)}:9080`,
      routeName: 'default',
      traceId: `${boot}${id.slice(-16).padStart(16, '0')}`,
      spanId: uniq(16),
    };
    out[i] = rec;
    if (i + 1 < n) out[i + 1] = { ...rec, reporter: 'destination', spanId: uniq(16), upstreamServiceTimeMs: undefined, upstreamCluster: `inbound|9080||${svc}.${dst.namespace}.svc.cluster.local` };
  }
  return out;
}

/** The workloads records are published as (sender ns/workload). */
export const SENDERS = peers;
