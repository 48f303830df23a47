#!/usr/bin/env node
// What Node itself reaches terminating TLS, as a reference for bench:gateway's ratio: HAProxy
// (nbthread 1) and a bare Node tls.Server (tls-floor-server.mjs) each answering HTTPS requests
// with a fixed 100 B response themselves (no upstream, no routing), on core 1 in turn, wrk -t1
// on core 0, in one run. Cases as bench:gateway's: `new-conn c16` (`Connection: close`: a TCP
// connect and a resumed TLS 1.3 handshake per request; both servers renew session tickets) and
// `keep-alive c64`. BENCH_ROUNDS (default 5) interleaved rounds of BENCH_SECONDS (default 3);
// best round and CPU per request (from /proc) of each. The Node figure is a ceiling for any
// Node proxy on the same work: the gateway also parses, routes, proxies and records.
// Prints a table and writes bench/results/gateway-tls-floor.json (BENCH_OUT overrides).
// Needs: haproxy, wrk, openssl; built libs (npm run bench:gateway builds).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pin, requireOnPath, freePort, waitPort, procStats, run, round, median } from '../lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const OUT = process.env.BENCH_OUT ?? join(root, 'bench', 'results', 'gateway-tls-floor.json');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
requireOnPath('bench:gateway (tls floor)', ['haproxy', 'wrk', 'openssl']);

const dir = mkdtempSync(join(tmpdir(), 'bench-tls-floor-'));
const key = join(dir, 'key.pem');
const cert = join(dir, 'cert.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=bench.example.com'], { stdio: 'ignore' });
writeFileSync(join(dir, 'both.pem'), readFileSync(key, 'utf8') + readFileSync(cert, 'utf8'));

const ports = { haproxy: await freePort(), node: await freePort() };
writeFileSync(
  join(dir, 'haproxy.cfg'),
  `global
  nbthread 1
defaults
  mode http
  timeout client 30s
  timeout server 30s
  timeout connect 5s
frontend tls
  bind 127.0.0.1:${ports.haproxy} ssl crt ${join(dir, 'both.pem')} alpn http/1.1
  http-request return status 200 content-type text/plain string "${'x'.repeat(100)}"
`,
);
const children = [];
const start = (cmd, args) => {
  const [c, a] = pin(1, cmd, args);
  const p = spawn(c, a, { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(p);
  return p;
};
const pids = {
  haproxy: start('haproxy', ['-f', join(dir, 'haproxy.cfg')]).pid,
  node: start(process.execPath, [join(here, 'tls-floor-server.mjs'), String(ports.node), key, cert]).pid,
};
const stop = () => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', stop);
await waitPort(ports.haproxy);
await waitPort(ports.node);

const cases = { 'new-conn c16': ['-c16', '-H', 'Connection: close'], 'keep-alive c64': ['-c64'] };
async function wrk(port, args, seconds) {
  const out = await run(0, 'wrk', ['-t1', ...args, `-d${seconds}s`, `https://127.0.0.1:${port}/`]);
  const n = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out)?.[0];
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), n, errors };
}

console.log(`bench:gateway tls floor — ${SECONDS}s per case × ${ROUNDS} rounds; servers on core 1 in turn, wrk on core 0`);
for (const t of ['haproxy', 'node']) for (const args of Object.values(cases)) await wrk(ports[t], args, 3);
const rows = [];
for (const [name, args] of Object.entries(cases)) {
  const runs = { haproxy: [], node: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of ['haproxy', 'node']) {
      const before = procStats(pids[t]).ticks;
      const w = await wrk(ports[t], args, SECONDS);
      const ms = ((procStats(pids[t]).ticks - before) / CLK_TCK) * 1000;
      runs[t].push({ rps: w.rps, cpuMsPerReq: w.n > 0 ? ms / w.n : null });
      if (w.errors) console.log(`  ${name} ${t}: ${w.errors}`);
    }
  }
  for (const t of ['haproxy', 'node']) {
    const row = { case: name, server: t, rps: round(Math.max(...runs[t].map((x) => x.rps)), 0), rps_median: round(median(runs[t].map((x) => x.rps)), 0), cpu_ms_per_request_median: round(median(runs[t].map((x) => x.cpuMsPerReq)), 4) };
    rows.push(row);
    console.log(`  ${name.padEnd(15)} ${t.padEnd(8)} ${String(row.rps).padStart(7)} rps (median ${row.rps_median})  CPU ${row.cpu_ms_per_request_median} ms/request  (rounds: ${runs[t].map((x) => round(x.rps, 0)).join(' ')})`);
  }
}
const find = (c, t) => rows.find((r) => r.case === c && r.server === t);
const ratios = Object.fromEntries(
  Object.keys(cases).map((c) => [c, { throughput: round(find(c, 'node').rps / find(c, 'haproxy').rps, 3), throughput_median: round(find(c, 'node').rps_median / find(c, 'haproxy').rps_median, 3), cpu_capacity: round(find(c, 'haproxy').cpu_ms_per_request_median / find(c, 'node').cpu_ms_per_request_median, 3) }]),
);
console.log(`\nbare node / haproxy: ${JSON.stringify(ratios)}`);
writeFileSync(OUT, `${JSON.stringify({ rows, ratios_node_vs_haproxy: ratios, conditions: { seconds: SECONDS, rounds: ROUNDS, node: process.version, date: new Date().toISOString() } }, null, 2)}\n`);
console.log(`wrote ${OUT}`);
process.exit(0);
