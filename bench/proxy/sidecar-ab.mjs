#!/usr/bin/env node
// Interleaved A/B of the shipped sidecar (apps/sidecar's binary configured by a real pilot from a
// ServiceEntry, Host-routed on its outbound port, as proxy.bench.mjs's `sidecar-process` row) against
// other builds of it and against the engine alone (proxy-entry.mjs, `meshwork`), in CPU per request.
// One HAProxy upstream (`http-request return`, 100 B), pilot and the load generator on core 0; every
// variant on core 1; each round runs every variant once, in a rotating order.
// Usage: node bench/proxy/sidecar-ab.mjs '<variants JSON>' [rounds=5] [seconds=4]
//   variants: [{"name":"engine","engine":true}, {"name":"old","root":"/tmp/snap-old"}, {"name":"new"}]
//   (`args`: more sidecar flags, e.g. ["--trace-sampling","0"]; `nodeArgs`, `env` for either kind)
//   `root` is a repository whose apps/sidecar and libs/*/dist are the build under test (default: this
//   one); a snapshot needs its own node_modules/@meshwork symlinks (see snapshotRepo in the docs).
// SIDECAR_AB_LOAD=rate (default): bench/proxy/rate-load.mjs at SIDECAR_AB_RATE rps (default 5000),
//   16 connections — the same offered rate for every variant, so CPU per request compares work, not
//   throughput; SIDECAR_AB_LOAD=wrk: wrk -t1 -c16 (saturating; rps is printed too).
// Prints per variant: CPU µs per request (median and every round; and the medians of user and
// system time apart), rps, p99 (rate) and peak RSS.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { freePort, median, pin, procStats, run, waitPort } from '../lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const variants = JSON.parse(process.argv[2] ?? '[{"name":"engine","engine":true},{"name":"sidecar"}]');
const ROUNDS = Number(process.argv[3] ?? 5);
const SECONDS = Number(process.argv[4] ?? 4);
const LOAD = process.env.SIDECAR_AB_LOAD ?? 'rate';
const RATE = Number(process.env.SIDECAR_AB_RATE ?? 5000);
const NODE_ARGS = (process.env.BENCH_PROXY_NODE_ARGS ?? '--max-semi-space-size=1').split(' ').filter(Boolean);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const HOST = 'bench.default.svc.cluster.local:9080';
/** User and system CPU ticks of a process: JavaScript changes move the first, socket work the second. */
const userSys = (pid) => {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]), Number(f[12])];
};

const children = [];
const start = (core, cmd, args, env) => {
  const [c, a] = pin(core, cmd, args);
  const p = spawn(c, a, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  children.push(p);
  return p;
};
process.on('exit', () => children.forEach((p) => p.exitCode === null && p.kill('SIGTERM')));
process.on('SIGINT', () => process.exit(130));

const status = (port, host) =>
  new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.setTimeout(2000, () => req.destroy(new Error('timeout')));
  });

const dir = mkdtempSync(join(tmpdir(), 'sidecar-ab-'));
writeFileSync(join(dir, 'body.txt'), 'x'.repeat(100));
const up = await freePort();
writeFileSync(join(dir, 'up.cfg'), ['global', '  nbthread 1', '  maxconn 4096', 'defaults', '  mode http', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s', 'frontend up', `  bind 127.0.0.1:${up}`, `  http-request return status 200 content-type text/plain file ${join(dir, 'body.txt')}`, ''].join('\n'));
start(0, 'haproxy', ['-db', '-f', join(dir, 'up.cfg')]);
await waitPort(up);
mkdirSync(join(dir, 'mesh'));
writeFileSync(
  join(dir, 'mesh', 'bench.yaml'),
  `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bench, namespace: default}
spec:
  hosts: [${HOST.split(':')[0]}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${up}}}
`,
);
const xds = await freePort();
start(0, process.execPath, [join(root, 'apps/pilot/bin/meshwork-pilot.js'), '--config-dir', join(dir, 'mesh'), '--xds-port', String(xds), '--monitoring-port', String(await freePort()), '--secure-xds-port', '0']);
await waitPort(xds, 30_000);

for (const v of variants) {
  v.port = await freePort();
  if (v.engine) {
    const p = start(1, process.execPath, [...NODE_ARGS, ...(v.nodeArgs ?? []), join(v.root ?? root, 'bench/proxy/proxy-entry.mjs'), `${v.port}:${up}`], v.env);
    v.pid = p.pid;
    await waitPort(v.port);
  } else {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const p = start(1, process.execPath, [...NODE_ARGS, ...(v.nodeArgs ?? []), join(v.root ?? root, 'apps/sidecar/bin/meshwork-sidecar.js'), '--pilot', `127.0.0.1:${xds}`, '--workload', 'bench-client-1', '--labels', 'app=bench-client,version=v1', '--outbound-port', String(v.port), '--admin-port', String(ports[0]), '--health-port', String(ports[1]), '--stats-port', String(ports[2]), '--agent-port', String(ports[3]), '--log-level', 'warn', ...(v.args ?? [])], v.env);
    v.pid = p.pid;
    v.host = HOST;
    const until = Date.now() + 60_000;
    while (!(await status(v.port, HOST).then((c) => c === 200, () => false))) {
      if (p.exitCode !== null || Date.now() > until) throw new Error(`${v.name}: the sidecar never routed ${HOST} (exit ${p.exitCode})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  Object.assign(v, { us: [], user: [], sys: [], rps: [], p99: [], rss: 0 });
}

const wrk = async (v, secs) => {
  const out = await run(0, 'wrk', ['-t1', '-c16', `-d${secs}s`, ...(v.host ? ['-H', `Host: ${v.host}`] : []), `http://127.0.0.1:${v.port}/`]);
  if (/Non-2xx|Socket errors/.test(out)) process.stderr.write(out);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), n: Number(/(\d+) requests in/.exec(out)?.[1]), p99: null };
};
const rate = async (v, secs) => {
  const out = await run(0, process.execPath, [join(here, 'rate-load.mjs'), String(v.port), String(RATE), String(secs), '16', ...(v.host ? [v.host] : [])]);
  const r = JSON.parse(out.trim().split('\n').pop());
  if (r.errors > 0) process.stderr.write(`${v.name}: ${r.errors} errors\n`);
  return { rps: r.rps, n: r.requests, p99: r.p99_ms };
};
const load = LOAD === 'wrk' ? wrk : rate;

for (const v of variants) await wrk(v, 2); // warm-up: JIT, pools
for (let i = 0; i < ROUNDS; i++) {
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(i + k) % variants.length];
    const t = setInterval(() => (v.rss = Math.max(v.rss, procStats(v.pid).rssMb)), 250);
    const [u0, s0] = userSys(v.pid);
    const r = await load(v, SECONDS);
    clearInterval(t);
    const [u1, s1] = userSys(v.pid);
    v.rss = Math.max(v.rss, procStats(v.pid).rssMb);
    const perReq = (ticks) => Math.round((ticks / CLK_TCK / r.n) * 1e7) / 10;
    v.us.push(perReq(u1 - u0 + s1 - s0));
    v.user.push(perReq(u1 - u0));
    v.sys.push(perReq(s1 - s0));
    v.rps.push(Math.round(r.rps));
    if (r.p99 !== null) v.p99.push(Math.round(r.p99 * 100) / 100);
  }
}
const load1 = execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
console.log(`${LOAD === 'wrk' ? 'wrk -c16' : `rate ${RATE} rps, 16 conns`}, ${ROUNDS} × ${SECONDS} s, load average ${load1}`);
for (const v of variants) console.log(`${v.name.padEnd(12)} cpu µs/req median ${median(v.us)} (${v.us.join(' ')})  user ${median(v.user)} sys ${median(v.sys)}  rps median ${median(v.rps)} (${v.rps.join(' ')})${v.p99.length ? `  p99 ms median ${median(v.p99)}` : ''}  rss max ${v.rss.toFixed(1)} MB`);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
