// CPU per record of encoding request records the way the sidecar's RecordPublisher does (record-wire
// v2, one encoder per 500 records, every batch framed into a body), records made fresh per batch as
// the proxy makes them. Variants run interleaved, several rounds, in one process; CPU time is
// process.cpuUsage() (user + system, so GC threads count), minus the round's cost of only making
// the records (noisy when that is large: read min and max too). Not a test. Run after a build:
//   npx tsc -b libs/telemetry/tsconfig.json && node --max-semi-space-size=1 bench/mixer/encode-cpu.mjs
// (the sidecar's young generation). BENCH_OLD=<an esbuild bundle of an older record-wire.ts, or the
// built dist/record-wire.js of a tree-copy.sh copy> adds that encoder as the "before" rows; BENCH_SHAPES=bench,sidecar,sidecar-us,fixed-rate the record shapes;
// BENCH_ONLY=<part of a name> one variant; BENCH_KEEP=1 encodes the same 40 batches over and over
// (encoding alone, no fresh records for the collector).
import { makeRecords, rng } from './records.mjs';
import { JsonWriter, WireBatchEncoder } from '@meshwork/telemetry';

const BATCH = 500;
const BATCHES = Number(process.env.BENCH_BATCHES ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const Old = process.env.BENCH_OLD ? (await import(process.env.BENCH_OLD)).WireBatchEncoder : undefined;
const header = { sender: 'default/reviews-v2/boot', seq: 1, namespace: 'default', workload: 'reviews-v2', droppedTotal: 0, droppedDelta: 0, sentAt: Date.now() };

/**
 * records returns a batch of fresh records. `bench`: bench/mixer/records.mjs' (every string and
 * destination service made per record). `sidecar`: what ProxyTelemetry.record makes: peers,
 * service, cluster, upstream host, route, flags and connection addresses shared (cached per
 * cluster, endpoint, connection); path, authority, user agent, request id and trace id fresh per
 * request (parsed from header bytes); durations from performance.now(), so fractions.
 */
function records(rand, shape) {
  const rs = makeRecords(BATCH, rand);
  if (shape === 'bench') return rs;
  if (shape === 'fixed-rate') return fixedRate(rs, rand);
  // sidecar-us: durations rounded to whole microseconds (3 decimals), which String() and JSON print faster.
  const us = shape === 'sidecar-us' ? (d) => Math.round(d * 1000) / 1000 : (d) => d;
  const fresh = freshStrings(rs.flatMap((r) => [r.path, r.authority, r.userAgent, r.requestId]));
  let k = 0;
  // One object literal with every field, as ProxyTelemetry.record builds it.
  return rs.map((r) => ({
    reporter: r.reporter,
    protocol: r.protocol,
    tcpEvent: undefined,
    startTime: r.startTime,
    source: r.source,
    destination: r.destination,
    destinationService: shared(r.destinationService.host, () => r.destinationService),
    method: r.method,
    path: fresh[k++],
    authority: fresh[k++],
    httpProtocol: 'HTTP/1.1',
    userAgent: fresh[k++],
    xForwardedFor: undefined,
    requestId: fresh[k++],
    responseCode: r.responseCode,
    grpcStatus: undefined,
    responseFlags: r.responseFlags,
    responseCodeDetails: r.responseCode === 503 ? 'upstream_reset_before_response_started' : 'via_upstream',
    connectionTerminationDetails: undefined,
    upstreamTransportFailureReason: undefined,
    securityPolicy: r.securityPolicy,
    durationMs: us(r.durationMs + 0.123456789 * rand()),
    upstreamServiceTimeMs: us(r.upstreamServiceTimeMs + 0.987654321 * rand()),
    bytesReceived: r.bytesReceived,
    bytesSent: r.bytesSent,
    upstreamCluster: shared(r.upstreamCluster, () => r.upstreamCluster),
    upstreamHost: shared(r.upstreamHost, () => r.upstreamHost),
    upstreamLocalAddress: undefined,
    downstreamLocalAddress: LOCAL,
    downstreamRemoteAddress: REMOTE,
    requestedServerName: undefined,
    routeName: r.routeName,
    traceId: r.traceId,
    spanId: undefined,
  }));
}
/**
 * `fixed-rate`: the records of mixer.bench's part 3 and sidecar-ab.mjs (rate.mjs through one
 * sidecar to one HAProxy endpoint): one peer pair, service, cluster, host and route; path and
 * authority the same text on every request but fresh strings (parsed from its bytes); a fresh
 * request id (UUID) and trace id; 16 keep-alive connections' addresses; no user agent;
 * performance.now() durations.
 */
function fixedRate(rs, rand) {
  const s = rs[0];
  const fresh = freshStrings(rs.flatMap((r) => ['/', 'backend.default.svc.cluster.local:9080', r.requestId, r.traceId]));
  let k = 0;
  return rs.map((r) => ({
    reporter: 'source',
    protocol: 'http',
    tcpEvent: undefined,
    startTime: r.startTime,
    source: s.source,
    destination: s.destination,
    destinationService: shared('fixed-rate service', () => s.destinationService),
    method: 'GET',
    path: fresh[k++],
    authority: fresh[k++],
    httpProtocol: 'HTTP/1.1',
    userAgent: undefined,
    xForwardedFor: undefined,
    requestId: fresh[k++],
    responseCode: 200,
    grpcStatus: undefined,
    responseFlags: '-',
    responseCodeDetails: 'via_upstream',
    connectionTerminationDetails: undefined,
    upstreamTransportFailureReason: undefined,
    securityPolicy: 'unknown',
    durationMs: 0.3 + rand(),
    upstreamServiceTimeMs: 0.2 + rand(),
    bytesReceived: 0,
    bytesSent: 100,
    upstreamCluster: 'outbound|9080||backend.default.svc.cluster.local',
    upstreamHost: '127.0.0.1:40123',
    upstreamLocalAddress: undefined,
    downstreamLocalAddress: '127.0.0.1:15001',
    downstreamRemoteAddress: CONNECTIONS[Math.floor(rand() * CONNECTIONS.length)],
    requestedServerName: undefined,
    routeName: 'backend.default.svc.cluster.local:9080',
    traceId: fresh[k++],
    spanId: undefined,
  }));
}
const CONNECTIONS = Array.from({ length: 16 }, (_, i) => `127.0.0.1:${50000 + i}`);
const LOCAL = '10.0.0.9:15006';
const REMOTE = '10.0.3.7:41234';
const sharedByKey = new Map();
const shared = (key, make) => {
  let v = sharedByKey.get(key);
  if (v === undefined) sharedByKey.set(key, (v = make()));
  return v;
};
/** New string objects with the same text, cut from one string decoded from bytes, as header values are parsed from a request's bytes. */
function freshStrings(xs) {
  const all = Buffer.from(xs.join(''), 'latin1').toString('latin1');
  let at = 0;
  return xs.map((x) => all.slice(at, (at += x.length)));
}

/** Text per record (encoder.record), UTF-8 into a growable Buffer, then framed: RecordPublisher before write(). */
function viaText(Encoder) {
  let bytes = Buffer.allocUnsafe(64 * 1024);
  return (rs) => {
    const e = new Encoder();
    let used = 0;
    for (const r of rs) {
      const t = e.record(r);
      if (used + 3 * t.length + 1 > bytes.length) {
        const next = Buffer.allocUnsafe(2 * bytes.length + 3 * t.length);
        bytes.copy(next, 0, 0, used);
        bytes = next;
      }
      used += bytes.write(t, used);
      bytes[used++] = 0x2c;
    }
    const { head, tail } = e.frame(header);
    return Buffer.concat([Buffer.from(head), bytes.subarray(0, used - 1), Buffer.from(tail)]).length;
  };
}

/** write() straight into a JsonWriter, then framed: RecordPublisher now. */
function viaBytes(Encoder = WireBatchEncoder) {
  const w = new JsonWriter(64 * 1024);
  return (rs) => {
    const e = new Encoder();
    w.used = 0;
    for (const r of rs) {
      e.write(r, w);
      w.byte(0x2c);
    }
    const { head, tail } = e.frame(header);
    return Buffer.concat([Buffer.from(head), w.bytes.subarray(0, w.used - 1), Buffer.from(tail)]).length;
  };
}

const allVariants = [
  ...(Old ? [['before: record() text + Buffer.write (BENCH_OLD encoder)', viaText(Old)], ['before: write() into JsonWriter (BENCH_OLD encoder)', viaBytes(Old)]] : []),
  ['record() text + Buffer.write (this encoder: last-value cache)', viaText(WireBatchEncoder)],
  ['write() into JsonWriter (this encoder)', viaBytes()],
];

const variants = allVariants.filter(([name]) => !process.env.BENCH_ONLY || name.includes(process.env.BENCH_ONLY));

// BENCH_KEEP=1: the same 40 batches made once and encoded over and over (encoding alone, no fresh records for the collector).
const kept = new Map();
function batchesOf(shape) {
  if (!kept.has(shape)) {
    const rand = rng(42);
    kept.set(shape, Array.from({ length: 40 }, () => records(rand, shape)));
  }
  return kept.get(shape);
}

function run(fn, shape) {
  const rand = rng(42);
  let sink = 0;
  const keep = process.env.BENCH_KEEP === '1' ? batchesOf(shape) : undefined;
  const c0 = process.cpuUsage();
  if (keep) for (let b = 0; b < BATCHES; b++) sink += fn(keep[b % keep.length]);
  else for (let b = 0; b < BATCHES; b++) sink += fn(records(rand, shape));
  const c = process.cpuUsage(c0);
  return { us: c.user + c.system, sink };
}

for (const shape of (process.env.BENCH_SHAPES ?? 'bench,sidecar,sidecar-us').split(',')) {
  const totals = new Map([['make records only', []], ...variants.map(([name]) => [name, []])]);
  for (let round = 0; round < ROUNDS + 1; round++) {
    const base = run(() => 0, shape).us;
    if (round > 0) totals.get('make records only').push(base);
    for (const [name, fn] of variants) {
      const { us } = run(fn, shape);
      if (round > 0) totals.get(name).push(us - base); // round 0 warms up
    }
  }
  const perRecord = (us) => (us / (BATCHES * BATCH)) * 1000; // ns
  const rows = [...totals].map(([name, xs]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { variant: name, ns_per_record_median: Math.round(perRecord(s[s.length >> 1])), min: Math.round(perRecord(s[0])), max: Math.round(perRecord(s[s.length - 1])) };
  });
  console.log(`\nrecords shaped as: ${shape}`);
  console.table(rows);
}
console.log(JSON.stringify({ node: process.version, batches: BATCHES, batch: BATCH, rounds: ROUNDS }));
