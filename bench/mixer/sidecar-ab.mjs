#!/usr/bin/env node
// Same-run A/B of sidecar builds and flags at a fixed request rate: CPU per request of each
// variant, the variants' rounds interleaved (rotating order), so that what else runs on the
// shared host lands on all of them alike. Part 3 of mixer.bench.mjs (one telemetry-on and one
// telemetry-off sidecar) generalised to any number of sidecars, each from its own built tree.
//
//   node bench/mixer/sidecar-ab.mjs on=.:on off=.:off old=/tmp/old-tree:on
//
// A variant is name=<repo root>:<on|off>[:<extra sidecar flags, comma-separated>]; on adds
// --nats-url. A root other than this repo is a copy of a built tree (apps/, libs/ with dist/)
// whose node_modules/@meshwork links point into it (bench/mixer/tree-copy.sh makes one).
// Layout as part 3: nats-server, pilot, upstream HAProxy, mixer (consuming) and rate.mjs on
// core 0; every sidecar on core 1 (they take turns). Per round and variant: CPU (utime+stime from
// /proc) over the round / requests answered, and the main thread's share (the rest is V8's GC
// helpers and libuv). Prints per-round figures and per-variant medians, and each variant's
// difference from the first `off` variant.
// Env: BENCH_SIDECAR_RATE (3000), BENCH_SECONDS (5), BENCH_ROUNDS (6),
// BENCH_SIDECAR_NODE_ARGS (e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof'), BENCH_MIXER=off (no mixer
// consuming; the stream is created by one mixer start, then stopped), BENCH_TOGETHER=1 (every
// round loads all variants at the same time, each at the rate: on a host shared with other jobs
// the steadiest comparison, as they all see the same interference), BENCH_SIDECAR_LOG_DIR (each
// sidecar's whole output also goes to <dir>/<variant>.log, e.g. with --trace-gc).
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, median, pin, requireOnPath, round, run, waitPort } from '../lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const RATE = Number(process.env.BENCH_SIDECAR_RATE ?? 3000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const NODE_ARGS = (process.env.BENCH_SIDECAR_NODE_ARGS ?? '').split(' ').filter(Boolean);
const CLK_TCK = 100;
const HOST = 'backend.default.svc.cluster.local:9080';

const variants = process.argv.slice(2).map((a) => {
  const [name, spec] = a.split('=');
  const [dir, mode, extra] = (spec ?? '').split(':');
  if (!name || !dir || (mode !== 'on' && mode !== 'off')) throw new Error(`variant ${a}: expected name=<root>:<on|off>[:flags]`);
  return { name, root: resolve(dir), on: mode === 'on', extra: extra ? extra.split(',') : [] };
});
if (variants.length === 0) {
  console.error('usage: sidecar-ab.mjs name=<root>:<on|off>[:flags] …');
  process.exit(2);
}
requireOnPath('sidecar-ab', ['nats-server', 'haproxy']);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();
async function start(name, core, cmd, args, readyText, ms = 60_000, logFile = undefined) {
  const [c, a] = pin(core, cmd, args);
  const p = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(p);
  if (logFile) {
    const f = createWriteStream(logFile);
    p.stdout.pipe(f);
    p.stderr.pipe(f);
  }
  let out = '';
  p.stdout.on('data', (d) => (out = (out + d).slice(-100_000)));
  p.stderr.on('data', (d) => (out = (out + d).slice(-100_000)));
  p.on('exit', () => children.delete(p));
  const until = Date.now() + ms;
  while (readyText && !out.includes(readyText)) {
    if (p.exitCode !== null) throw new Error(`${name} exited ${p.exitCode}: ${out.slice(-3000)}`);
    if (Date.now() > until) throw new Error(`${name} not ready in ${ms} ms: ${out.slice(-3000)}`);
    await sleep(50);
  }
  return { p, logs: () => out };
}
async function stop({ p }) {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const killer = setTimeout(() => p.kill('SIGKILL'), 15_000);
  await done;
  clearTimeout(killer);
}
process.on('exit', () => {
  for (const p of children) if (p.exitCode === null) p.kill('SIGKILL');
});
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

/** threadTicks returns the process's CPU ticks: all threads, and the main thread's (tid = pid). */
function threadTicks(pid) {
  const ticksOf = (path) => {
    const s = readFileSync(path, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  let all = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      all += ticksOf(`/proc/${pid}/task/${t}/stat`);
    } catch {
      /* thread gone */
    }
  }
  // exited threads' time is in the process's stat only: take the larger
  return { all: Math.max(all, ticksOf(`/proc/${pid}/stat`)), main: ticksOf(`/proc/${pid}/task/${pid}/stat`) };
}

const dir = mkdtempSync(join(tmpdir(), 'sidecar-ab-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const natsPort = await freePort();
const natsUrl = `nats://127.0.0.1:${natsPort}`;
const nats = await start('nats-server', 0, 'nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', join(dir, 'js')], 'Server is ready');
// mixer creates MESH_TELEMETRY and its consumer; it keeps consuming on core 0 unless BENCH_MIXER=off
const mixer = await start('mixer', 0, process.execPath, ['--max-semi-space-size=32', join(root, 'apps/mixer/bin/meshwork-mixer.js'), '--nats-url', natsUrl, '--metrics-port', '0', '--ratelimit-port', '0', '--replica-name', 'ab', '--stream-max-bytes', String(4 * 1024 ** 3)], '"mixer ready"');
if (process.env.BENCH_MIXER === 'off') await stop(mixer);

const upstreamPort = await freePort();
writeFileSync(join(dir, 'body.txt'), 'x'.repeat(100));
writeFileSync(join(dir, 'upstream.cfg'), ['global', '  nbthread 1', '  maxconn 4096', 'defaults', '  mode http', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s', '  option http-keep-alive', 'frontend up', `  bind 127.0.0.1:${upstreamPort}`, `  http-request return status 200 content-type text/plain file ${join(dir, 'body.txt')}`, ''].join('\n'));
const upstream = await start('upstream haproxy', 0, 'haproxy', ['-db', '-f', join(dir, 'upstream.cfg')]);
await waitPort(upstreamPort, 15_000);
const cfg = join(dir, 'mesh');
mkdirSync(cfg);
writeFileSync(join(cfg, 'mesh.yaml'), `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: backend, namespace: default}
spec:
  hosts: [backend.default.svc.cluster.local]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${upstreamPort}}}
`);
const pilot = await start('pilot', 0, process.execPath, [join(root, 'apps/pilot/bin/meshwork-pilot.js'), '--config-dir', cfg, '--xds-port', '0', '--monitoring-port', '0'], 'pilot ready');
const xdsPort = JSON.parse(pilot.logs().split('\n').find((l) => l.includes('pilot ready'))).xds.split(':').pop();

for (const v of variants) {
  v.port = await freePort();
  // the installed bin's node flag (its shebang), as mixer.bench.mjs part 3 starts it
  v.proc = await start(`sidecar ${v.name}`, 1, process.execPath, ['--max-semi-space-size=1', ...NODE_ARGS, join(v.root, 'apps/sidecar/bin/meshwork-sidecar.js'), '--pilot', `127.0.0.1:${xdsPort}`, '--workload', `client-${v.name}`, '--labels', 'app=client,version=v1', '--outbound-port', String(v.port), '--admin-port', '0', '--health-port', '0', '--stats-port', '0', '--agent-port', '0', '--drain-duration', '1s', ...(v.on ? ['--nats-url', natsUrl] : []), ...v.extra], '"sidecar ready"', 60_000, process.env.BENCH_SIDECAR_LOG_DIR ? join(process.env.BENCH_SIDECAR_LOG_DIR, `${v.name}.log`) : undefined);
  v.rounds = [];
}
const rate = async (v, seconds) => JSON.parse((await run(0, process.execPath, [join(here, 'rate.mjs'), String(v.port), HOST, String(RATE), String(seconds)])).trim().split('\n').pop());
for (const v of variants) {
  const r = await rate(v, 2); // warm-up (JIT, pools) and a route check
  if (r.ok === 0 || r.errors > 0) throw new Error(`sidecar ${v.name}: ${JSON.stringify(r)}: ${v.proc.logs().slice(-2000)}`);
}
console.log(`sidecar-ab: ${variants.map((v) => v.name).join(', ')} at ${RATE} rps, ${ROUNDS} rounds of ${SECONDS} s, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
/** measure drives `v` at RATE for SECONDS and records its CPU per request. */
async function measure(v, i) {
  const pid = v.proc.p.pid;
  const a = threadTicks(pid);
  const r = await rate(v, SECONDS);
  const b = threadTicks(pid);
  const us = (ticks) => round(((ticks / CLK_TCK) * 1e6) / r.ok, 2);
  v.rounds.push({ ok: r.ok, errors: r.errors, us: us(b.all - a.all), mainUs: us(b.main - a.main) });
  console.log(`  round ${i + 1} ${v.name.padEnd(12)} ${r.ok} ok ${r.errors} errors  ${v.rounds.at(-1).us} µs CPU/request (main thread ${v.rounds.at(-1).mainUs})`);
}
for (let i = 0; i < ROUNDS; i++) {
  // BENCH_TOGETHER=1: all variants loaded at once (each at RATE), so that whatever else the host
  // runs meanwhile lands on every one of them alike; else one after another, rotating the order.
  if (process.env.BENCH_TOGETHER === '1') await Promise.all(variants.map((v) => measure(v, i)));
  else for (let k = 0; k < variants.length; k++) await measure(variants[(i + k) % variants.length], i);
}
const base = variants.find((v) => !v.on);
const summary = variants.map((v) => ({ name: v.name, telemetry: v.on, us_per_request_median: median(v.rounds.map((x) => x.us)), main_thread_us_median: median(v.rounds.map((x) => x.mainUs)), rounds: v.rounds }));
const baseUs = base ? summary[variants.indexOf(base)].us_per_request_median : null;
for (const s of summary) {
  // paired per round against the baseline too: the round's own noise cancels
  const paired = base ? s.rounds.map((x, i) => (x.us - base.rounds[i].us) / base.rounds[i].us) : [];
  s.vs_off_pct = baseUs ? round(((s.us_per_request_median - baseUs) / baseUs) * 100, 1) : null;
  s.vs_off_paired_median_pct = base ? round(median(paired) * 100, 1) : null;
  console.log(`${s.name.padEnd(12)} ${s.us_per_request_median} µs/request (main ${s.main_thread_us_median})${base ? `  vs ${base.name}: ${s.vs_off_pct} % (per-round paired median ${s.vs_off_paired_median_pct} %)` : ''}`);
}
console.log(JSON.stringify({ rate: RATE, seconds: SECONDS, rounds: ROUNDS, date: new Date().toISOString(), loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '), summary }));
for (const v of variants) await stop(v.proc);
await stop(pilot);
await stop(mixer);
await stop(upstream);
await stop(nats);
