#!/usr/bin/env node
// Interleaved A/B of proxy builds on one upstream (the method docs/proxy.md asks for on this
// shared host): one HAProxy upstream (`http-request return`, 100 B) and wrk on core 0, every
// variant on core 1, each round runs every variant once in a rotating order.
// Usage: node bench/proxy/ab.mjs '<variants JSON>' [rounds] [seconds] [conns]
//   variants: [{"name":"A","entry":"/tmp/abA/bench/proxy/proxy-entry.mjs","env":{"BENCH_ROUTE":"engine"}}, ...]
//   An entry is a copy of proxy-entry.mjs whose ../../libs/proxy/dist is the build under test.
// Prints rps per round, best and median per variant, peak RSS (MB) and CPU µs per request.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const variants = JSON.parse(process.argv[2]);
const ROUNDS = Number(process.argv[3] ?? 5);
const SECONDS = Number(process.argv[4] ?? 3);
const CONNS = Number(process.argv[5] ?? 16);
const BODY = Number(process.env.AB_BODY ?? 100);
const NODE_ARGS = (process.env.BENCH_PROXY_NODE_ARGS ?? '--max-semi-space-size=1').split(' ').filter(Boolean);

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const waitPort = (port) =>
  new Promise((resolve, reject) => {
    const until = Date.now() + 10_000;
    const attempt = () => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve()));
      s.once('error', () => (s.destroy(), Date.now() > until ? reject(new Error(`port ${port}`)) : setTimeout(attempt, 50)));
    };
    attempt();
  });
const children = [];
process.on('exit', () => children.forEach((p) => p.exitCode === null && p.kill('SIGTERM')));
process.on('SIGINT', () => process.exit(130));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const ticks = (pid) => {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
};
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const dir = mkdtempSync(join(tmpdir(), 'proxy-ab-'));
writeFileSync(join(dir, 'body.txt'), 'x'.repeat(BODY));
const up = await freePort();
writeFileSync(join(dir, 'up.cfg'), ['global', '  nbthread 1', '  maxconn 4096', 'defaults', '  mode http', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s', `frontend up`, `  bind 127.0.0.1:${up}`, `  http-request return status 200 content-type text/plain file ${join(dir, 'body.txt')}`, ''].join('\n'));
children.push(spawn('taskset', ['-c', '0', 'haproxy', '-db', '-f', join(dir, 'up.cfg')], { stdio: 'ignore' }));
await waitPort(up);
for (const v of variants) {
  v.port = await freePort();
  const p = spawn('taskset', ['-c', '1', process.execPath, ...NODE_ARGS, ...(v.nodeArgs ?? []), v.entry, `${v.port}:${up}`], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...(v.env ?? {}) } });
  children.push(p);
  v.pid = p.pid;
  v.rounds = [];
  v.us = [];
  v.rss = 0;
  await waitPort(v.port);
}
const wrk = (port, secs) => {
  const out = execFileSync('taskset', ['-c', '0', 'wrk', '-t1', `-c${CONNS}`, `-d${secs}s`, `http://127.0.0.1:${port}/`]).toString();
  if (/Non-2xx|Socket errors/.test(out)) process.stderr.write(out);
  return { rps: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])), n: Number(/(\d+) requests in/.exec(out)?.[1]) };
};
for (const v of variants) wrk(v.port, 2); // warm-up
for (let i = 0; i < ROUNDS; i++) {
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(i + k) % variants.length];
    const t = setInterval(() => (v.rss = Math.max(v.rss, rss(v.pid))), 250);
    const t0 = ticks(v.pid);
    const r = wrk(v.port, SECONDS);
    v.rounds.push(r.rps);
    // CPU time per request (µs): the proxy's efficiency, less sensitive than rps to other jobs on the host
    v.us.push(Math.round(((ticks(v.pid) - t0) / CLK_TCK / r.n) * 1e7) / 10);
    clearInterval(t);
    v.rss = Math.max(v.rss, rss(v.pid));
  }
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
for (const v of variants) console.log(`${v.name.padEnd(12)} best ${Math.max(...v.rounds)}  median ${med(v.rounds)}  rss ${v.rss.toFixed(1)} MB  rounds ${v.rounds.join(' ')}  cpu µs/req median ${med(v.us)} (${v.us.join(' ')})`);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
