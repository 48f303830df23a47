#!/usr/bin/env node
// bench:mixer — issue 7's three mixer figures in one run, with real processes throughout:
//
// 1. Ingestion: a real nats-server; the stream MESH_TELEMETRY (created by a first mixer start) is
//    pre-loaded with BENCH_RECORDS records (default 1,000,000) in 500-record record-wire batches
//    (bench/mixer/records.mjs: realistic Bookinfo-like records, both reports of each request),
//    then one mixer process pinned to core 1 drains it. Records/s from
//    the consumer's ack floor (read from NATS every 250 ms; mixer acks after a
//    checkpoint, so it trails by ≤ 1 s) from "mixer ready" to the last batch acked, and the
//    steady rate between 10 % and 90 %; mixer_records_ingested_total checked at the end; mixer's CPU from /proc (cores used over the drain). Target ≥ 200,000 records/s.
// 2. Lag under load: bench/mixer/load.mjs (8 RecordPublishers, the sidecar's publisher) offers
//    BENCH_LAG_RATE records/s (default 20,000) for BENCH_LAG_SECONDS (default 20) to the same
//    mixer; lag = mixer's mixer_ingest_lag_seconds histogram (publication time in the batch
//    header → applied), the increase over the run; p50/p99 as the histogram's bucket bounds
//    (Prometheus' histogram_quantile interpolation beside them).
// 3. Sidecar throughput with telemetry on vs off: a real pilot (config dir: one ServiceEntry whose
//    endpoint is an HAProxy answering 200 itself), two real sidecars (apps/sidecar bin) with the
//    same config, one with --nats-url (records published to MESH_TELEMETRY, consumed by the
//    mixer), one without; wrk -t1 -c16 through each one's outbound port (Host-routed),
//    BENCH_ROUNDS (default 5) interleaved rounds of BENCH_SECONDS (default 5). Reported: best and
//    median rps of each, the difference in percent, and CPU per 1,000 rps of each sidecar (the
//    steadiest comparison on a shared host); then the same fixed rate through both
//    (bench/mixer/rate.mjs, BENCH_SIDECAR_RATE, default 3,000 rps) for CPU per request like for
//    like. Target: ≤ 5 % difference. Mixer is paused (SIGSTOP) during the wrk rounds and consumes
//    during the fixed-rate ones: on two cores it shares core 0 with wrk, and consuming the
//    telemetry-on sidecar's records took a third of a core from wrk in those rounds only, so the
//    throughput difference measured the load generator (BENCH_SIDECAR_MIXER=consuming keeps it
//    consuming throughout). The stream keeps the records; mixer's catching up is checked after.
//
// Layout (taskset): nats-server, pilot, upstream HAProxy, the load generators (preload, load.mjs,
// wrk) on core 0; mixer on core 1 for parts 1–2; in part 3 both sidecars on core 1 (they take
// turns), mixer moved to core 0 (it is another host's work in a real mesh).
// BENCH_PARTS=ingest,lag,sidecar selects parts. Prints a table; writes bench/results/mixer.json.
// Needs: nats-server, haproxy, wrk on PATH; built apps (npm run bench:mixer builds).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { encodeWireBatch, encodeWireBatchV1, WIRE_VERSION } from '@meshwork/telemetry';
import { telemetrySubject } from '@meshwork/bus';
import { makeRecords, rng, SENDERS } from './records.mjs';
import { haveTaskset, pin, requireOnPath, freePort, waitPort } from '../lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const RECORDS = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const BATCH = 500;
const LAG_RATE = Number(process.env.BENCH_LAG_RATE ?? 20_000);
const LAG_SECONDS = Number(process.env.BENCH_LAG_SECONDS ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const FIXED_RATE = Number(process.env.BENCH_SIDECAR_RATE ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
// e.g. BENCH_MIXER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the mixer
const MIXER_NODE_ARGS = (process.env.BENCH_MIXER_NODE_ARGS ?? '').split(' ').filter(Boolean);
// e.g. BENCH_SIDECAR_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile both sidecars
const SIDECAR_NODE_ARGS = (process.env.BENCH_SIDECAR_NODE_ARGS ?? '').split(' ').filter(Boolean);
// BENCH_WIRE=v1: pre-load in the v1 wire format (what sidecars before v2 send) instead of encodeWireBatch's
const WIRE = process.env.BENCH_WIRE === 'v1' ? 1 : WIRE_VERSION;
const encodeBatch = WIRE === 1 ? encodeWireBatchV1 : encodeWireBatch;
const PARTS = new Set((process.env.BENCH_PARTS ?? 'ingest,lag,sidecar').split(','));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

requireOnPath('bench:mixer', ['nats-server', ...(PARTS.has('sidecar') ? ['haproxy', 'wrk'] : [])]);

const round = (x, d) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ───────────── processes ─────────────
const children = new Set();
let stopping = false;
/** start runs cmd pinned to core; resolves once its output contains `readyText` (if given). */
async function start(name, core, cmd, args, readyText, ms = 60_000) {
  const [c, a] = pin(core, cmd, args);
  const p = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(p);
  let out = '';
  p.stdout.on('data', (d) => (out = (out + d).slice(-200_000)));
  p.stderr.on('data', (d) => (out = (out + d).slice(-200_000)));
  p.on('exit', (code) => {
    children.delete(p);
    if (code !== 0 && code !== null && !stopping && !p.expectedExit) console.error(`${name} exited ${code}:\n${out.slice(-3000)}`);
  });
  const proc = { p, logs: () => out, name };
  if (readyText) {
    const until = Date.now() + ms;
    while (!out.includes(readyText)) {
      if (p.exitCode !== null) throw new Error(`${name} exited ${p.exitCode}: ${out.slice(-3000)}`);
      if (Date.now() > until) throw new Error(`${name} not ready in ${ms} ms: ${out.slice(-3000)}`);
      await sleep(50);
    }
  }
  return proc;
}
async function stop(proc) {
  const { p } = proc;
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.expectedExit = true;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const killer = setTimeout(() => p.kill('SIGKILL'), 15_000);
  await done;
  clearTimeout(killer);
}
function stopAll() {
  stopping = true;
  // only what is still running when this process exits early (the normal path stops each
  // process gracefully before): killed outright, since nothing here can wait for it
  for (const p of children) if (p.exitCode === null) p.kill('SIGKILL');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));
// a timeout(1) or a killed parent must not leave nats-server, mixer or sidecars running
process.on('SIGTERM', () => process.exit(143));

function run(core, cmd, args) {
  const [c, a] = pin(core, cmd, args);
  return new Promise((resolve, reject) => {
    const p = spawn(c, a, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(p);
    p.on('exit', () => children.delete(p));
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`))));
  });
}

/** CPU seconds (utime+stime) and RSS (MB) of a process, from /proc. taskset execs, so the pid is the program's. */
function procStats(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK, rssMb: rss ? Number(rss[1]) / 1024 : 0 };
}
/** Host-wide busy share of core `n` over an interval: /proc/stat cpuN (how much else ran there). */
function coreTicks(n) {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${n} `));
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + v[4];
  return { busy: v.reduce((a, b) => a + b, 0) - idle, total: v.reduce((a, b) => a + b, 0) };
}

// ───────────── metrics text ─────────────
function samples(text, name) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    out.push({ labels, value: Number(m[4]) });
  }
  return out;
}
const metricSum = (text, name) => samples(text, name).reduce((a, s) => a + s.value, 0);
/** Cumulative bucket counts of a histogram, by le. */
const buckets = (text, name) => Object.fromEntries(samples(text, `${name}_bucket`).map((s) => [s.labels.le, s.value]));
/** Quantile q of the increase between two bucket snapshots: the bucket bound (upper) and Prometheus-style interpolation. */
function quantile(before, after, q) {
  const les = Object.keys(after).sort((a, b) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)));
  const inc = les.map((le) => [le, (after[le] ?? 0) - (before[le] ?? 0)]);
  const total = inc[inc.length - 1][1];
  if (total <= 0) return { bound: null, interpolated: null, count: 0 };
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const [le, c] of inc) {
    if (c >= rank) {
      if (le === '+Inf') return { bound: Infinity, interpolated: prevLe, count: total };
      const upper = Number(le);
      return { bound: upper, interpolated: prevLe + ((upper - prevLe) * (rank - prevCount)) / Math.max(1e-9, c - prevCount), count: total };
    }
    prevLe = le === '+Inf' ? prevLe : Number(le);
    prevCount = c;
  }
  return { bound: null, interpolated: null, count: total };
}

const dir = mkdtempSync(join(tmpdir(), 'mixer-bench-'));
// the pre-loaded stream is hundreds of MB: removed however the run ends
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const natsPort = await freePort();
const natsUrl = `nats://127.0.0.1:${natsPort}`;
const nats = await start('nats-server', 0, 'nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', join(dir, 'js')], 'Server is ready');
const mixerBin = join(root, 'apps/mixer/bin/meshwork-mixer.js');
let replica = 0;
/** startMixer runs the mixer binary pinned to `core`; resolves with its process and metrics URL. */
async function startMixer(core) {
  const spawnedAt = performance.now();
  // the installed bin's node flag (its shebang): young generation room for a batch's records (GC ~30 % less CPU)
  const m = await start('mixer', core, process.execPath, ['--max-semi-space-size=32', ...MIXER_NODE_ARGS, mixerBin, '--nats-url', natsUrl, '--metrics-port', '0', '--ratelimit-port', '0', '--replica-name', `bench-${++replica}`, '--stream-max-bytes', String(8 * 1024 ** 3)], '"mixer ready"');
  const ready = JSON.parse(m.logs().split('\n').find((l) => l.includes('"mixer ready"')));
  m.url = `http://127.0.0.1:${ready.http.split(':').pop()}`;
  m.spawnedAt = spawnedAt;
  m.readyAt = performance.now();
  m.readyCpu = procStats(m.p.pid).cpu;
  return m;
}
const scrape = async (m) => (await fetch(`${m.url}/metrics`)).text();

const result = { conditions: {}, ingest: null, lag: null, sidecar: null };
console.log(`bench:mixer — nats-server and load generators on core 0, mixer on core 1${haveTaskset ? '' : ' (taskset missing: unpinned)'}; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);

// The first start creates MESH_TELEMETRY and the durable consumer; stopped again so the stream can be pre-loaded.
let mixer = await startMixer(1);
if (PARTS.has('ingest')) {
  // Mixer is frozen (SIGSTOP) while the stream is pre-loaded and let go (SIGCONT) to drain it: a
  // mixer *started* on a large backlog begins pulling while its extensions are still opening KV
  // buckets, and those time out (see docs/mixer.md, Performance).
  await sleep(1000);
  process.kill(mixer.p.pid, 'SIGSTOP');
  const nc = await connect({ servers: natsUrl, name: 'bench preload' });
  const js = jetstream(nc);
  const rand = rng(1);
  const t0 = performance.now();
  let seq = 0, inflight = [];
  const batches = Math.ceil(RECORDS / BATCH);
  // 48 senders, each its own sequence (as 48 sidecars would publish)
  const seqs = new Map();
  let bytes = 0;
  for (let b = 0; b < batches; b++) {
    const s = SENDERS[b % SENDERS.length];
    const sender = `${s.namespace}/${s.workload}/bench`;
    const q = (seqs.get(sender) ?? 0) + 1;
    seqs.set(sender, q);
    const n = Math.min(BATCH, RECORDS - b * BATCH);
    const body = encodeBatch({ sender, seq: q, namespace: s.namespace, workload: s.workload, droppedTotal: 0, droppedDelta: 0, sentAt: Date.now() }, makeRecords(n, rand));
    bytes += body.length;
    inflight.push(js.publish(telemetrySubject(s.namespace, s.workload), body, { msgID: `${sender}:${q}` }));
    seq++;
    if (inflight.length >= 32) {
      await Promise.all(inflight);
      inflight = [];
    }
  }
  await Promise.all(inflight);
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info('MESH_TELEMETRY');
  await nc.close();
  console.log(`pre-loaded ${RECORDS} records in ${seq} batches (${round(bytes / 1048576, 1)} MB, ${round(bytes / RECORDS, 0)} B/record) in ${round((performance.now() - t0) / 1000, 1)} s; stream holds ${info.state.messages} messages`);

  const lastSeq = info.state.last_seq;
  const pid = mixer.p.pid;
  const c1 = coreTicks(1);
  const c0 = coreTicks(0);
  const n0 = procStats(nats.p.pid);
  const s0 = procStats(pid);
  process.kill(pid, 'SIGCONT');
  // Progress is read from NATS (the consumer's ack floor), not from mixer's /metrics: a scrape of
  // ~1,000 Istio series per family is tens of MB of text and would cost mixer more than it
  // measures. Mixer acks a batch only once a checkpoint holds its effect, so the ack floor is
  // "applied and durable"; it trails application by at most one --checkpoint-interval (1 s).
  const nc2 = await connect({ servers: natsUrl, name: 'bench progress' });
  const jsm2 = await jetstreamManager(nc2);
  const series = [];
  let maxRss = s0.rssMb;
  const tStart = performance.now();
  const first = { t: tStart, n: 0, cpu: s0.cpu };
  let last = null;
  for (;;) {
    const ci = await jsm2.consumers.info('MESH_TELEMETRY', 'mixer');
    const acked = ci.ack_floor.stream_seq;
    const t = performance.now();
    const st = procStats(pid);
    maxRss = Math.max(maxRss, st.rssMb);
    // records acked so far (every batch but the last holds BATCH records)
    const n = Math.min(RECORDS, acked * BATCH);
    series.push([round((t - tStart) / 1000, 2), n, ci.delivered.stream_seq * BATCH]);
    if (series.length % 20 === 0) console.log(`  ${round((t - tStart) / 1000, 1)} s: ${n} records applied and acked (${Math.min(RECORDS, ci.delivered.stream_seq * BATCH)} delivered)`);
    if (acked >= lastSeq) {
      last = { t, n: RECORDS, cpu: st.cpu };
      break;
    }
    if (t - tStart > 600_000) throw new Error(`mixer acked only ${acked} of ${lastSeq} batches in 10 minutes: ${mixer.logs().slice(-2000)}`);
    await sleep(250);
  }
  await nc2.close();
  // checked once, at the end: mixer counted every record exactly once
  const text = await scrape(mixer);
  const counted = metricSum(text, 'mixer_records_ingested_total');
  if (process.env.BENCH_DUMP_METRICS) writeFileSync(process.env.BENCH_DUMP_METRICS, text);
  if (process.env.BENCH_MIXER_LOG) writeFileSync(process.env.BENCH_MIXER_LOG, mixer.logs());
  if (counted !== RECORDS) console.error(`  mixer_records_ingested_total ${counted}, expected ${RECORDS}`);
  const c1b = coreTicks(1);
  const c0b = coreTicks(0);
  const n1 = procStats(nats.p.pid);
  const secs = (last.t - first.t) / 1000;
  // steady rate: between 10 % and 90 % of the records (start-up and the last partial scrape left out)
  const at = (f) => series.find(([, n]) => n >= f * RECORDS) ?? [0, 0];
  const [ta, na] = at(0.1), [tb, nb] = at(0.9);
  const steady = tb > ta ? Math.round((nb - na) / (tb - ta)) : null;
  result.ingest = {
    records: RECORDS,
    mixer_records_ingested_total: counted,
    istio_requests_total_series: samples(text, 'istio_requests_total').length,
    metrics_exposition_mb: round(text.length / 1048576, 1),
    batch_records: BATCH,
    wire_version: WIRE,
    bytes_per_record: round(bytes / RECORDS, 0),
    seconds_to_all_acked: round(secs, 2),
    // wall clock, SIGCONT to last ack (includes the wait for the last checkpoint, ≤ 1 s)
    records_per_second: Math.round((last.n - first.n) / secs),
    // mixer's own CPU: records per CPU-second, the one-core capacity whatever else runs on core 1
    records_per_cpu_second: Math.round((last.n - first.n) / (last.cpu - first.cpu)),
    records_per_second_10_to_90pct: steady,
    mixer_cores: round((last.cpu - first.cpu) / secs, 3),
    mixer_cpu_us_per_record: round(((last.cpu - first.cpu) / (last.n - first.n)) * 1e6, 2),
    mixer_max_rss_mb: round(maxRss, 1),
    // before the drain (started, idle, extensions loaded): what the drain adds is the difference
    mixer_rss_mb_before_drain: round(s0.rssMb, 1),
    core1_busy_share: round((c1b.busy - c1.busy) / (c1b.total - c1.total), 3),
    // nats-server serves the drain from core 0: when that core is busy with other jobs, the wall rate is its
    core0_busy_share: round((c0b.busy - c0.busy) / (c0b.total - c0.total), 3),
    nats_server_cores: round((n1.cpu - n0.cpu) / secs, 3),
    // checkpoints gate the acks (and so the wall rate): how many, how long
    checkpoints_ok: samples(text, 'mixer_checkpoints_total').filter((x) => x.labels.result === 'ok').reduce((a, x) => a + x.value, 0),
    checkpoints_failed: samples(text, 'mixer_checkpoints_total').filter((x) => x.labels.result === 'failed').reduce((a, x) => a + x.value, 0),
    checkpoint_mean_seconds: round(metricSum(text, 'mixer_checkpoint_duration_seconds_sum') / Math.max(1, metricSum(text, 'mixer_checkpoint_duration_seconds_count')), 3),
    series,
    target_records_per_second: 200_000,
  };
  console.log(`ingest: ${result.ingest.records_per_second} records/s wall (10–90 %: ${result.ingest.records_per_second_10_to_90pct}/s), ${result.ingest.records_per_cpu_second} records per CPU-second, on one core; mixer ${result.ingest.mixer_cores} cores, ${result.ingest.mixer_cpu_us_per_record} µs CPU/record, max RSS ${result.ingest.mixer_max_rss_mb} MB; core 1 busy ${result.ingest.core1_busy_share}, core 0 busy ${result.ingest.core0_busy_share} (nats-server ${result.ingest.nats_server_cores} cores); ${result.ingest.checkpoints_ok} checkpoints (mean ${result.ingest.checkpoint_mean_seconds} s, ${result.ingest.checkpoints_failed} failed)`);
}

if (PARTS.has('lag')) {
  await sleep(1500);
  const before = await scrape(mixer);
  const b0 = buckets(before, 'mixer_ingest_lag_seconds');
  const n0 = metricSum(before, 'mixer_records_ingested_total');
  const s0 = procStats(mixer.p.pid);
  // A scrape of mixer's /metrics every second (one at a time: a slow scrape is not joined by
  // more), as a harsh Prometheus would: the exposition is ~48 MB at the bench's 1,152 series per
  // family, so this also measures what scraping costs ingestion.
  const pendings = [];
  const scrapeMs = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const ts = performance.now();
      try {
        pendings.push(metricSum(await scrape(mixer), 'mixer_consumer_pending_messages'));
        scrapeMs.push(performance.now() - ts);
      } catch {
        /* a scrape that fails under load is just a missing sample */
      }
      await sleep(Math.max(0, 1000 - (performance.now() - ts)));
    }
  })();
  // The consumer as JetStream sees it, every 250 ms from a connection of its own: delivery
  // stalls (pending batches while delivered stops advancing), un-acked and redelivered batches.
  const ncTrace = await connect({ servers: natsUrl, name: 'bench lag trace' });
  const jsmTrace = await jetstreamManager(ncTrace);
  const trace = [];
  let tracing = true;
  const t0 = performance.now();
  const tracer = (async () => {
    while (tracing) {
      try {
        const ci = await jsmTrace.consumers.info('MESH_TELEMETRY', 'mixer');
        trace.push({ t: round((performance.now() - t0) / 1000, 2), pending: ci.num_pending, ack_pending: ci.num_ack_pending, redelivered: ci.num_redelivered, waiting: ci.num_waiting, delivered: ci.delivered.stream_seq, acked: ci.ack_floor.stream_seq });
      } catch {
        /* a slow answer under load is a missing sample */
      }
      await sleep(250);
    }
  })();
  const out = await run(0, process.execPath, [join(here, 'load.mjs'), natsUrl, String(LAG_RATE), String(LAG_SECONDS), '8']);
  const load = JSON.parse(out.trim().split('\n').pop());
  // wait for mixer to apply everything published
  const until = Date.now() + 120_000;
  let after;
  for (;;) {
    after = await scrape(mixer);
    if (metricSum(after, 'mixer_records_ingested_total') - n0 >= load.published || Date.now() > until) break;
    await sleep(500);
  }
  sampling = false;
  await sampler;
  tracing = false;
  await tracer;
  await ncTrace.close();
  // the longest time delivery did not advance while batches were waiting in the stream
  let stall = 0;
  for (let i = 0, since = null; i < trace.length; i++) {
    const x = trace[i];
    if (x.pending > 0 && i > 0 && x.delivered === trace[i - 1].delivered) {
      since ??= trace[i - 1].t;
      stall = Math.max(stall, x.t - since);
    } else since = null;
  }
  if (process.env.BENCH_LAG_TRACE) writeFileSync(process.env.BENCH_LAG_TRACE, trace.map((x) => JSON.stringify(x)).join('\n') + '\n');
  if (process.env.BENCH_DEBUG) console.log(mixer.logs().slice(-4000));
  if (process.env.BENCH_MIXER_LOG) writeFileSync(`${process.env.BENCH_MIXER_LOG}.lag`, mixer.logs());
  const s1 = procStats(mixer.p.pid);
  const b1 = buckets(after, 'mixer_ingest_lag_seconds');
  const q50 = quantile(b0, b1, 0.5), q99 = quantile(b0, b1, 0.99);
  const ingested = metricSum(after, 'mixer_records_ingested_total') - n0;
  result.lag = {
    rate_records_per_second: LAG_RATE,
    seconds: LAG_SECONDS,
    publishers: 8,
    offered: load.offered,
    published: load.published,
    dropped_by_publishers: load.dropped,
    ingested,
    batches_observed: q50.count,
    lag_p50_seconds_bucket_bound: q50.bound,
    lag_p99_seconds_bucket_bound: q99.bound,
    lag_p50_seconds_interpolated: round(q50.interpolated, 4),
    lag_p99_seconds_interpolated: round(q99.interpolated, 4),
    histogram_buckets: Object.fromEntries(Object.keys(b1).map((le) => [le, b1[le] - (b0[le] ?? 0)])),
    max_pending_batches: pendings.length ? Math.max(...pendings) : null,
    // the 1 s scrapes: how many, and the slowest (request to text parsed, from the bench)
    scrapes: scrapeMs.length,
    scrape_max_seconds: scrapeMs.length ? round(Math.max(...scrapeMs) / 1000, 3) : null,
    // from the consumer info read every 250 ms
    max_pending_batches_250ms: trace.length ? Math.max(...trace.map((x) => x.pending)) : null,
    max_ack_pending_batches: trace.length ? Math.max(...trace.map((x) => x.ack_pending)) : null,
    redelivered_batches: trace.length ? trace.at(-1).redelivered : null,
    longest_delivery_stall_seconds: round(stall, 2),
    checkpoints_failed: samples(after, 'mixer_checkpoints_total').filter((x) => x.labels.result === 'failed').reduce((a, x) => a + x.value, 0) - samples(before, 'mixer_checkpoints_total').filter((x) => x.labels.result === 'failed').reduce((a, x) => a + x.value, 0),
    mixer_cores: round((s1.cpu - s0.cpu) / ((performance.now() - t0) / 1000), 3),
  };
  console.log(`lag at ${LAG_RATE} records/s for ${LAG_SECONDS} s: p50 ≤ ${q50.bound} s (≈${result.lag.lag_p50_seconds_interpolated}), p99 ≤ ${q99.bound} s (≈${result.lag.lag_p99_seconds_interpolated}); published ${load.published}, dropped ${load.dropped}, ingested ${ingested}; max pending ${result.lag.max_pending_batches} batches (250 ms: ${result.lag.max_pending_batches_250ms}), max un-acked ${result.lag.max_ack_pending_batches}, redelivered ${result.lag.redelivered_batches}, longest delivery stall ${result.lag.longest_delivery_stall_seconds} s, ${result.lag.checkpoints_failed} checkpoints failed; ${result.lag.scrapes} scrapes (slowest ${result.lag.scrape_max_seconds} s); mixer ${result.lag.mixer_cores} cores`);
}

if (PARTS.has('sidecar')) {
  // mixer keeps consuming the sidecar's records, on core 0 (in a mesh it runs on another host)
  await stop(mixer);
  mixer = await startMixer(0);
  const upstreamPort = await freePort();
  writeFileSync(join(dir, 'body.txt'), 'x'.repeat(100));
  writeFileSync(
    join(dir, 'upstream.cfg'),
    ['global', '  nbthread 1', '  maxconn 4096', 'defaults', '  mode http', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s', '  option http-keep-alive', `frontend up`, `  bind 127.0.0.1:${upstreamPort}`, `  http-request return status 200 content-type text/plain file ${join(dir, 'body.txt')}`, ''].join('\n'),
  );
  await start('upstream haproxy', 0, 'haproxy', ['-db', '-f', join(dir, 'upstream.cfg')]);
  await waitPort(upstreamPort, 15_000);
  const cfg = join(dir, 'mesh');
  mkdirSync(cfg);
  writeFileSync(
    join(cfg, 'mesh.yaml'),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: backend, namespace: default}
spec:
  hosts: [backend.default.svc.cluster.local]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${upstreamPort}}}
`,
  );
  const pilot = await start('pilot', 0, process.execPath, [join(root, 'apps/pilot/bin/meshwork-pilot.js'), '--config-dir', cfg, '--xds-port', '0', '--monitoring-port', '0'], 'pilot ready');
  const xdsPort = JSON.parse(pilot.logs().split('\n').find((l) => l.includes('pilot ready'))).xds.split(':').pop();
  const sidecars = {};
  for (const [name, extra] of [
    ['telemetry-on', ['--nats-url', natsUrl]],
    ['telemetry-off', []],
  ]) {
    const port = await freePort();
    // the installed bin's node flag (its shebang), as e2e/sidecar-support.ts starts it
    const sc = await start(`sidecar ${name}`, 1, process.execPath, ['--max-semi-space-size=1', ...SIDECAR_NODE_ARGS, join(root, 'apps/sidecar/bin/meshwork-sidecar.js'), '--pilot', `127.0.0.1:${xdsPort}`, '--workload', 'client-v1', '--labels', 'app=client,version=v1', '--outbound-port', String(port), '--admin-port', '0', '--health-port', '0', '--stats-port', '0', '--agent-port', '0', '--drain-duration', '1s', ...extra], '"sidecar ready"');
    const started = sc.logs().split('\n').find((l) => l.includes('"sidecar started"'));
    sidecars[name] = { ...sc, port, statsPort: started ? JSON.parse(started).stats?.split(':').pop() : undefined };
  }
  const names = Object.keys(sidecars);
  const wrk = async (port) => {
    const out = await run(0, 'wrk', ['-t1', '-c16', `-d${SECONDS}s`, '-H', 'Host: backend.default.svc.cluster.local:9080', `http://127.0.0.1:${port}/`]);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    if (non2xx) console.error(`  wrk on ${port}: ${non2xx} non-2xx responses`);
    return { rps: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])), non2xx };
  };
  // check the route answers 200 before measuring
  for (const n of names) {
    const probe = await run(0, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: backend.default.svc.cluster.local:9080', `http://127.0.0.1:${sidecars[n].port}/`]);
    if (probe !== '200') throw new Error(`sidecar ${n} route answers ${probe}: ${sidecars[n].logs().slice(-2000)}`);
  }
  for (const n of names) await wrk(sidecars[n].port); // warm-up (JIT, pools)
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  const ingestedBefore = metricSum(await scrape(mixer), 'mixer_records_ingested_total');
  // Mixer is stopped (SIGSTOP) during the wrk rounds and catches up in the fixed-rate ones (the
  // stream keeps the records), so that its ingestion does not take core 0 from wrk during the
  // telemetry-on rounds only; BENCH_SIDECAR_MIXER=consuming keeps it running.
  const mixerPaused = process.env.BENCH_SIDECAR_MIXER !== 'consuming';
  if (mixerPaused) process.kill(mixer.p.pid, 'SIGSTOP');
  for (let i = 0; i < ROUNDS; i++) {
    for (let k = 0; k < names.length; k++) {
      const n = names[(i + k) % names.length];
      const pid = sidecars[n].p.pid;
      const a = procStats(pid), c = coreTicks(1), t = performance.now();
      // what mixer and nats-server take of core 0 (wrk's core) meanwhile
      const ma = procStats(mixer.p.pid).cpu, na = procStats(nats.p.pid).cpu;
      const r = await wrk(sidecars[n].port);
      const b = procStats(pid), c2 = coreTicks(1), secs = (performance.now() - t) / 1000;
      const mixerCores = round((procStats(mixer.p.pid).cpu - ma) / secs, 3), natsCores = round((procStats(nats.p.pid).cpu - na) / secs, 3);
      runs[n].push({ ...r, cores: round((b.cpu - a.cpu) / secs, 3), core1_busy: round((c2.busy - c.busy) / (c2.total - c.total), 3), rss_mb: round(b.rssMb, 1), mixer_cores: mixerCores, nats_cores: natsCores });
      console.log(`  round ${i + 1} ${n.padEnd(13)} ${String(r.rps).padStart(6)} rps  sidecar ${runs[n].at(-1).cores} cores  core 1 busy ${runs[n].at(-1).core1_busy}  core 0: mixer ${mixerCores} nats ${natsCores} cores`);
    }
  }
  if (mixerPaused) process.kill(mixer.p.pid, 'SIGCONT');
  // the same fixed rate through both (interleaved): CPU per request like for like, mixer consuming
  const fixed = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < ROUNDS; i++) {
    for (let k = 0; k < names.length; k++) {
      const n = names[(i + k) % names.length];
      const pid = sidecars[n].p.pid;
      const a = procStats(pid), t = performance.now();
      const r = JSON.parse((await run(0, process.execPath, [join(here, 'rate.mjs'), String(sidecars[n].port), 'backend.default.svc.cluster.local:9080', String(FIXED_RATE), String(SECONDS)])).trim().split('\n').pop());
      const b = procStats(pid), secs = (performance.now() - t) / 1000;
      fixed[n].push({ rps: Math.round(r.rps), errors: r.errors, cores: round((b.cpu - a.cpu) / secs, 3), cpu_cores_per_1000rps: round(((b.cpu - a.cpu) / secs / r.rps) * 1000, 4) });
      console.log(`  fixed ${FIXED_RATE} rps round ${i + 1} ${n.padEnd(13)} ${Math.round(r.rps)} rps ok, ${r.errors} errors, sidecar ${fixed[n].at(-1).cores} cores`);
    }
  }
  // the publishing sidecar's own counters (published, dropped), from its stats port, once its last batch went out (≤ 1 s)
  await sleep(1500);
  const stats = sidecars['telemetry-on'].statsPort ? await fetch(`http://127.0.0.1:${sidecars['telemetry-on'].statsPort}/stats/prometheus`).then((r) => r.text()).catch(() => '') : '';
  // mixer has ingested everything the sidecar published (or 60 s passed)
  let text = '';
  for (const until = Date.now() + 60_000; ; ) {
    await sleep(2500);
    text = await scrape(mixer);
    if (metricSum(text, 'mixer_records_ingested_total') - ingestedBefore >= metricSum(stats, 'sidecar_telemetry_records_published_total') || Date.now() > until) break;
  }
  const ingested = metricSum(text, 'mixer_records_ingested_total') - ingestedBefore;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const summary = Object.fromEntries(
    names.map((n) => {
      const rs = runs[n];
      const cpuPer1000 = rs.map((x) => (x.cores / x.rps) * 1000);
      return [n, { rps_best: Math.max(...rs.map((x) => x.rps)), rps_median: median(rs.map((x) => x.rps)), cpu_cores_per_1000rps_median: round(median(cpuPer1000), 4), max_rss_mb: Math.max(...rs.map((x) => x.rss_mb)), rounds: rs }];
    }),
  );
  const on = summary['telemetry-on'], off = summary['telemetry-off'];
  result.sidecar = {
    load: `wrk -t1 -c16 ${SECONDS}s × ${ROUNDS} interleaved rounds, 100 B responses, keep-alive`,
    mixer: mixerPaused ? 'paused (SIGSTOP) during the wrk rounds, consuming on core 0 during the fixed-rate rounds' : 'consuming on core 0 during all rounds',
    ...summary,
    difference_pct_best: round(((off.rps_best - on.rps_best) / off.rps_best) * 100, 2),
    difference_pct_median: round(((off.rps_median - on.rps_median) / off.rps_median) * 100, 2),
    fixed_rate_cpu_per_request_difference_pct: round(((median(fixed['telemetry-on'].map((x) => x.cpu_cores_per_1000rps)) - median(fixed['telemetry-off'].map((x) => x.cpu_cores_per_1000rps))) / median(fixed['telemetry-off'].map((x) => x.cpu_cores_per_1000rps))) * 100, 2),
    cpu_per_request_difference_pct: round(((on.cpu_cores_per_1000rps_median - off.cpu_cores_per_1000rps_median) / off.cpu_cores_per_1000rps_median) * 100, 2),
    fixed_rate: FIXED_RATE,
    fixed_rate_cpu_cores_per_1000rps_median: Object.fromEntries(names.map((n) => [n, median(fixed[n].map((x) => x.cpu_cores_per_1000rps))])),
    fixed_rate_rounds: fixed,
    records_ingested_by_mixer: ingested,
    telemetry_on_published: metricSum(stats, 'sidecar_telemetry_records_published_total') || null,
    telemetry_on_dropped: metricSum(stats, 'sidecar_telemetry_records_dropped_total'),
    target_difference_pct: 5,
  };
  console.log(`sidecar at a fixed ${FIXED_RATE} rps: CPU per request ${result.sidecar.fixed_rate_cpu_per_request_difference_pct} % more with telemetry on`);
  console.log(`sidecar: telemetry on ${on.rps_best} rps (median ${on.rps_median}), off ${off.rps_best} rps (median ${off.rps_median}): ${result.sidecar.difference_pct_best} % fewer (median ${result.sidecar.difference_pct_median} %); CPU per request ${result.sidecar.cpu_per_request_difference_pct} % more; mixer ingested ${ingested} records`);
  for (const n of names) await stop(sidecars[n]);
  await stop(pilot);
}

await stop(mixer);
await stop(nats);
stopAll();
rmSync(dir, { recursive: true, force: true });
result.conditions = {
  host: `${execFileSync('nproc').toString().trim()} cores shared with other jobs`,
  loadavg_at_end: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  layout: 'nats-server, pilot, upstream HAProxy, preload/load.mjs/wrk on core 0; mixer on core 1 (parts 1-2) and core 0 (part 3); both sidecars on core 1 in turn',
  pinned: haveTaskset,
  node: process.version,
  nats_server: execFileSync('nats-server', ['--version']).toString().trim(),
  parts: [...PARTS],
  date: new Date().toISOString(),
};
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
// A partial run (BENCH_PARTS) replaces only its parts in the results file; the others keep their
// last figures, and parts_run_at says when each part was measured.
const file = join(root, 'bench', 'results', 'mixer.json');
let previous = {};
try {
  previous = JSON.parse(readFileSync(file, 'utf8'));
} catch {
  /* no results yet */
}
const merged = { ...previous, conditions: result.conditions, parts_run_at: { ...previous.parts_run_at } };
for (const part of PARTS) {
  merged[part] = result[part];
  merged.parts_run_at[part] = result.conditions.date;
}
writeFileSync(file, JSON.stringify(merged, null, 2) + '\n');
console.log(`wrote ${[...PARTS].join(', ')} to bench/results/mixer.json`);
if (PARTS.size < 3) console.log(JSON.stringify(result, (k, v) => (k === 'series' ? undefined : v), 2));
