#!/usr/bin/env node
// Open-loop, rate-limited HTTP/1.1 load generator (wrk2's role; wrk2 is not packaged in Debian).
// Sends GET / at a fixed total rate over C keep-alive connections for D seconds. Each request has
// an intended start time on a fixed schedule. A request that finds its connection still busy
// queues and its latency counts from the intended time, so a stalled server is not hidden by the
// generator waiting for it (coordinated omission corrected, as wrk2 does); one sent right away
// counts from its send, so the generator's own timer lateness is not charged to the server. Usage: node rate-load.mjs <port> <rps> <seconds> [connections=16] [host header]
// Prints one JSON line: {rps, p50_ms, p99_ms, p999_ms, max_ms, requests, errors}.
import { connect } from 'node:net';

const [port, rate, seconds, conns = 16] = process.argv.slice(2, 6).map(Number);
const host = process.argv[6] ?? `127.0.0.1:${port}`;
const REQ = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: rate-load\r\n\r\n`);
const total = Math.round(rate * seconds);
const interval = 1000 / rate; // ms between intended starts, across all connections
const lat = new Float64Array(total);
const startAt = new Float64Array(total);
let done = 0;
let errors = 0;
let next = 0; // index of the next request to schedule
const t0 = performance.now() + 50;

function makeConn() {
  const s = connect(port, '127.0.0.1');
  s.setNoDelay(true);
  const c = { s, busy: false, queue: [], buf: Buffer.alloc(0), need: -1, cur: -1 };
  s.on('data', (d) => {
    c.buf = c.buf.length === 0 ? d : Buffer.concat([c.buf, d]);
    for (;;) {
      if (c.need === -1) {
        const end = c.buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = c.buf.toString('latin1', 0, end);
        const m = /content-length:\s*(\d+)/i.exec(head);
        if (!m || !head.startsWith('HTTP/1.1 200')) errors++;
        c.need = end + 4 + (m ? Number(m[1]) : 0);
      }
      if (c.buf.length < c.need) return;
      c.buf = c.buf.subarray(c.need);
      c.need = -1;
      lat[done++] = performance.now() - startAt[c.cur];
      c.busy = false;
      if (c.queue.length > 0) send(c, c.queue.shift());
      if (done === total) finish();
    }
  });
  s.on('error', () => errors++);
  return c;
}

function send(c, i) {
  c.busy = true;
  c.cur = i;
  c.s.write(REQ);
}

const pool = Array.from({ length: conns }, makeConn);
let rr = 0;

function tick() {
  const now = performance.now();
  while (next < total && t0 + next * interval <= now) {
    // The connection whose turn it is; a busy one queues the request (its latency keeps counting).
    const c = pool[rr++ % conns];
    if (c.busy) {
      startAt[next] = t0 + next * interval;
      c.queue.push(next);
    } else {
      startAt[next] = now;
      send(c, next);
    }
    next++;
  }
  if (next < total) setTimeout(tick, Math.max(0, Math.min(1, t0 + next * interval - performance.now())));
}

function finish() {
  const elapsed = (performance.now() - t0) / 1000;
  const sorted = lat.slice(0, done).sort();
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  process.stdout.write(JSON.stringify({ rps: done / elapsed, p50_ms: q(0.5), p99_ms: q(0.99), p999_ms: q(0.999), max_ms: sorted[sorted.length - 1], requests: done, errors }) + '\n');
  for (const c of pool) c.s.destroy();
}

setTimeout(tick, 50);
setTimeout(() => {
  if (done < total) {
    process.stderr.write(`rate-load: only ${done}/${total} answered\n`);
    finish();
    process.exit(1);
  }
}, (seconds + 10) * 1000).unref();
