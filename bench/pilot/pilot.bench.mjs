#!/usr/bin/env node
// Pilot convergence benchmark: one real meshwork-pilot process (config from a directory),
// P simulated ADS clients (bench/pilot/ack-client.mjs: wildcard CDS/LDS, ACK everything, SotW or
// Delta), S services (ServiceEntry + DestinationRule each). For each run it changes one
// DestinationRule on disk and times change → every client holds the new cluster; it samples
// pilot's RSS and CPU from /proc, and the CPU of this process (the simulated clients).
// Usage: npm run bench:pilot  [BENCH_MATRIX="100x100,500x100,1000x1000"] [BENCH_CHANGES=10]
//        [BENCH_MODES=sotw,delta] [BENCH_TIMEOUT_S=120] [BENCH_PILOT_NODE_ARGS="--cpu-prof"]
// Writes bench/results/pilot.json (BENCH_OUT=<file> to write elsewhere).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ackClient } from './ack-client.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const TYPES = [CDS, 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', 'type.googleapis.com/envoy.config.listener.v3.Listener', 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration'];
const MATRIX = (process.env.BENCH_MATRIX ?? '100x100,500x100,100x1000').split(',').map((c) => c.split('x').map(Number));
const CHANGES = Number(process.env.BENCH_CHANGES ?? 10);
const MODES = (process.env.BENCH_MODES ?? 'sotw,delta').split(',');
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 120) * 1000;
const OUT = process.env.BENCH_OUT ?? join(root, 'bench/results/pilot.json');
const WORKLOADS = 20; // distinct (namespace, labels) views among the proxies; replicas share translations

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const USER_HZ = 100; // Linux's clock ticks per second in /proc/<pid>/stat
function procStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { rssMb: rssKb / 1024, cpuS: (Number(stat[11]) + Number(stat[12])) / USER_HZ };
}

function serviceYaml(i, subset) {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-${i}, namespace: ns-${i % 10}}
spec:
  hosts: [svc-${i}.ns-${i % 10}.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 10.${(i >> 8) & 255}.${i & 255}.1, labels: {app: svc-${i}, version: v1}}
  - {address: 10.${(i >> 8) & 255}.${i & 255}.2, labels: {app: svc-${i}, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${i}, namespace: ns-${i % 10}}
spec:
  host: svc-${i}.ns-${i % 10}.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: ${subset}, labels: {version: v2}}]
`;
}

class TimedOut extends Error {}
/** Polls until pred() holds; throws TimedOut after TIMEOUT_MS so one slow case cannot hang the matrix. */
async function until(pred, every) {
  const end = performance.now() + TIMEOUT_MS;
  while (!pred()) {
    if (performance.now() > end) throw new TimedOut();
    await sleep(every);
  }
}

async function runCase(proxies, services, mode) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-pilot-'));
  for (let i = 0; i < services; i++) writeFileSync(join(dir, `svc-${i}.yaml`), serviceYaml(i, 'v2'));
  const pilot = spawn(process.execPath, [...(process.env.BENCH_PILOT_NODE_ARGS ?? '').split(' ').filter(Boolean), join(root, 'apps/pilot/bin/meshwork-pilot.js'), '--config-dir', dir, '--xds-port', '0', '--monitoring-port', '0', '--debounce-after', '100ms'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  pilot.stdout.on('data', (d) => (out += d));
  while (!out.includes('pilot ready')) await sleep(20);
  const ready = JSON.parse(out.split('\n').find((l) => l.includes('pilot ready')));
  const target = `127.0.0.1:${ready.xds.split(':').pop()}`;
  const clients = [];
  const load0 = loadavg()[0];
  const t0 = performance.now();
  for (let p = 0; p < proxies; p++) {
    const w = p % WORKLOADS;
    clients.push(ackClient(target, { id: `sidecar~10.200.${p >> 8}.${p & 255}~app${w}-${p}.ns-${w % 10}~ns-${w % 10}.svc.cluster.local`, metadata: { NAMESPACE: `ns-${w % 10}`, LABELS: { app: `app${w}` } } }, TYPES, { delta: mode === 'delta' }));
  }
  const haveAll = (pred) => clients.every(pred);
  const samples = [];
  let peakRss = 0;
  let initialMs;
  let cpuPerChange;
  let benchCpuPerChange;
  let wallS;
  let timedOut = false;
  try {
    await until(() => haveAll((c) => c.clusters.size >= services), 20);
    initialMs = performance.now() - t0;
    peakRss = procStats(pilot.pid).rssMb;
    const cpu0 = procStats(pilot.pid).cpuS;
    const bench0 = process.cpuUsage();
    const w0 = performance.now();
    for (let k = 0; k < CHANGES; k++) {
      const i = k % services;
      const subset = `v${3 + k}`;
      const name = `outbound|8080|${subset}|svc-${i}.ns-${i % 10}.svc.cluster.local`;
      const start = performance.now();
      writeFileSync(join(dir, `svc-${i}.yaml`), serviceYaml(i, subset));
      await until(() => haveAll((c) => c.clusters.has(name)), 2);
      samples.push(performance.now() - start);
      peakRss = Math.max(peakRss, procStats(pilot.pid).rssMb);
      await sleep(150);
    }
    cpuPerChange = (procStats(pilot.pid).cpuS - cpu0) / CHANGES;
    const b = process.cpuUsage(bench0);
    benchCpuPerChange = (b.user + b.system) / 1e6 / CHANGES;
    wallS = (performance.now() - w0) / 1000;
  } catch (err) {
    if (!(err instanceof TimedOut)) throw err;
    timedOut = true;
  }
  for (const c of clients) c.close();
  pilot.kill('SIGTERM');
  await new Promise((r) => pilot.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  const r3 = (x) => (x === undefined ? null : Math.round(x * 1000) / 1000);
  // The machine's 1-minute load average at the start and end of the case: other work on the cores shows here.
  const load = [r3(load0), r3(loadavg()[0])];
  if (timedOut) return { proxies, services, mode, timed_out_after_s: TIMEOUT_MS / 1000, initial_sync_ms: initialMs === undefined ? null : Math.round(initialMs), changes_done: samples.length, pilot_rss_mb: Math.round(peakRss), load_avg_1m: load };
  samples.sort((a, b) => a - b);
  const pct = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { proxies, services, mode, initial_sync_ms: Math.round(initialMs), p50_ms: Math.round(pct(0.5)), p99_ms: Math.round(pct(0.99)), max_ms: Math.round(samples[samples.length - 1]), pilot_rss_mb: Math.round(peakRss), pilot_cpu_s_per_change: r3(cpuPerChange), clients_cpu_s_per_change: r3(benchCpuPerChange), changes: CHANGES, wall_s: Math.round(wallS * 10) / 10, load_avg_1m: load };
}

const rows = [];
for (const [p, s] of MATRIX) {
  for (const mode of MODES) {
    const r = await runCase(p, s, mode);
    rows.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}
const w = [8, 9, 6, 16, 10, 10, 8, 14, 14];
const line = (cells) => cells.map((c, i) => String(c ?? '-').padStart(w[i])).join(' ');
const conditions = `node ${process.version}, ${cpus().length} cores, ${WORKLOADS} distinct workloads, debounce 100ms, ${CHANGES} changes per case`;
process.stdout.write(`\npilot convergence (change on disk → every proxy has the new cluster), ${conditions}\n`);
process.stdout.write(`${line(['proxies', 'services', 'mode', 'initial sync ms', 'p50 ms', 'p99 ms', 'RSS MB', 'pilot CPU s', 'clients CPU s'])}\n`);
for (const r of rows) process.stdout.write(`${line([r.proxies, r.services, r.mode, r.initial_sync_ms, r.timed_out_after_s ? `>${r.timed_out_after_s}s` : r.p50_ms, r.p99_ms, r.pilot_rss_mb, r.pilot_cpu_s_per_change, r.clients_cpu_s_per_change])}\n`);
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(
  OUT,
  `${JSON.stringify(
    {
      rows,
      node: process.version,
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      workloads: WORKLOADS,
      debounce_ms: 100,
      note: 'latency = DestinationRule file rewritten → every simulated proxy holds the new cluster (p99 over `changes` samples: with 10 changes it is the slowest but one). Simulated proxies: one ADS stream each (own HTTP/2 connection), all in the bench process, wildcard CDS/LDS (EDS/RDS subscribed with no names, so they carry nothing), responses scanned from the wire format, every response ACKed. sotw = StreamAggregatedResources, delta = DeltaAggregatedResources. Pilot and the clients share the cores.',
    },
    null,
    2,
  )}\n`,
);
