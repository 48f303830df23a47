#!/usr/bin/env node
// CPU per record of the sidecar's RecordPublisher with JetStream publishing against a real
// nats-server, beside the same publisher whose publish is a no-op (encoding and framing only): what
// sending a batch costs the sidecar. Records in encode-cpu.mjs' fixed-rate shape, offered at
// BENCH_RATE records/s (default 3,000) in 10 ms ticks as a sidecar's requests come, for
// BENCH_SECONDS (default 5) per round, variants interleaved over BENCH_ROUNDS (default 5) rounds.
// CPU is process.cpuUsage() (user + system: GC and libuv threads count) over the round, less the
// round of a variant that only makes the records. BENCH_BATCHES=500,2000 adds a JetStream row per
// maxBatch. Not a test. Run after a build:
//   node --max-semi-space-size=1 bench/mixer/publish-cpu.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { RecordPublisher } from '@meshwork/agent';
import { makeRecords, rng } from './records.mjs';
import { freePort, median, paced, round } from '../lib.mjs';

const RATE = Number(process.env.BENCH_RATE ?? 3000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'publish-cpu-'));
const port = await freePort();
const nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')], { stdio: 'ignore' });
process.on('exit', () => {
  nats.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
let nc;
for (let i = 0; ; i++) {
  try {
    nc = await connect({ servers: `nats://127.0.0.1:${port}`, noAsyncTraces: true });
    break;
  } catch (err) {
    if (i > 100) throw err;
    await new Promise((r) => setTimeout(r, 100));
  }
}
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: 'MESH_TELEMETRY', subjects: ['mesh.telemetry.>'], max_bytes: 2 * 1024 ** 3, duplicate_window: 120e9 });

const rand = rng(5);
const one = makeRecords(1, rand)[0];
const CONNECTIONS = Array.from({ length: 16 }, (_, i) => `127.0.0.1:${50000 + i}`);
let n = 0;
/** A fixed-rate-shaped record (encode-cpu.mjs): fresh request and trace ids, fractional durations. */
const record = () => ({
  reporter: 'source', protocol: 'http', tcpEvent: undefined, startTime: Date.now(), source: one.source, destination: one.destination, destinationService: one.destinationService,
  method: 'GET', path: '/', authority: 'backend.default.svc.cluster.local:9080', httpProtocol: 'HTTP/1.1', userAgent: undefined, xForwardedFor: undefined,
  requestId: `${(n++).toString(16).padStart(8, '0')}-1234-4567-89ab-0123456789ab`, responseCode: 200, grpcStatus: undefined, responseFlags: '-', responseCodeDetails: 'via_upstream',
  connectionTerminationDetails: undefined, upstreamTransportFailureReason: undefined, securityPolicy: 'unknown', durationMs: 0.3 + Math.random(), upstreamServiceTimeMs: 0.2 + Math.random(),
  bytesReceived: 0, bytesSent: 100, upstreamCluster: 'outbound|9080||backend.default.svc.cluster.local', upstreamHost: '127.0.0.1:40123', upstreamLocalAddress: undefined,
  downstreamLocalAddress: '127.0.0.1:15001', downstreamRemoteAddress: CONNECTIONS[n & 15], requestedServerName: undefined, routeName: 'backend.default.svc.cluster.local:9080',
  traceId: `${n.toString(16).padStart(16, '0')}a3ce929d0e0e4736`, spanId: undefined,
});

const variants = {
  'make records only': () => ({ offer: () => true, close: () => Promise.resolve() }),
  'encode, publish a no-op': () => new RecordPublisher({ publish: () => Promise.resolve(), namespace: 'default', workload: 'client' }),
  'encode and publish (JetStream)': () => new RecordPublisher({ nc, namespace: 'default', workload: 'client' }),
  ...Object.fromEntries((process.env.BENCH_BATCHES ?? '').split(',').filter(Boolean).map((b) => [`JetStream, maxBatch ${b}`, () => new RecordPublisher({ nc, namespace: 'default', workload: 'client', maxBatch: Number(b) })])),
};
const us = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
let sink = 0;
for (let r = 0; r < ROUNDS + 1; r++) {
  for (const [name, make] of Object.entries(variants)) {
    const p = make();
    const c0 = process.cpuUsage();
    await paced(RATE, SECONDS, () => {
      const x = record();
      sink += x.requestId.length;
      p.offer(x);
    });
    await p.close();
    const c = process.cpuUsage(c0);
    if (r > 0) us[name].push((c.user + c.system) / (RATE * SECONDS)); // round 0 warms up
  }
}
const base = us['make records only'];
for (const [name, xs] of Object.entries(us)) console.log(`${name.padEnd(32)} ${round(median(xs), 2)} µs/record (${name === 'make records only' ? 'absolute' : `+${round(median(xs.map((x, i) => x - base[i])), 2)} over making them`}; rounds ${xs.map((x) => round(x, 2)).join(' ')})`);
await nc.close();
console.log(JSON.stringify({ rate: RATE, seconds: SECONDS, rounds: ROUNDS, sink }));
process.exit(0);
