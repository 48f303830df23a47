#!/usr/bin/env node
// Load-balancer pick rate of @meshwork/proxy: picks per second for each policy (round robin,
// weighted round robin, least request, random, ring hash, maglev) over 3, 100 and 1,000 hosts in
// one priority and locality, after a warm-up, in this single Node process. Also: ring/maglev
// build time (paid on every endpoint or ejection change) and hashRequest calls per second.
// Stats carry a `version` (as the outlier detector's) so a pick does not re-read ejections; the
// "unversioned" rows show the cost when it does. Run after a build: `npx tsc -b libs/proxy` then
// `node bench/proxy/lb.bench.mjs` (BENCH_MS per case, default 300). Figures only, no targets.
import { performance } from 'node:perf_hooks';
import { Headers, createLoadBalancer, hashRequest, hashString } from '@meshwork/proxy';

const MS = Number(process.env.BENCH_MS ?? 300);
const SIZES = [3, 100, 1000];

function endpoints(n, weighted) {
  return Array.from({ length: n }, (_, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: weighted ? 1 + (i % 3) : 1, healthy: true }));
}

let seed = 12345;
const clock = {
  now: () => performance.now(),
  random: () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 4294967296;
  },
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h),
};

function stats(versioned) {
  const s = { activeRequests: () => 0, isEjected: () => false };
  if (versioned) s.version = 1;
  return s;
}

/** rate runs fn in batches for about MS milliseconds and returns calls per second. */
function rate(fn) {
  for (let i = 0; i < 20_000; i++) fn(i);
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < MS) {
    for (let i = 0; i < 10_000; i++) fn(n + i);
    n += 10_000;
    now = performance.now();
  }
  return (n / (now - start)) * 1000;
}

const policies = [
  ['round-robin', { kind: 'round-robin' }, false],
  ['round-robin weighted', { kind: 'round-robin' }, true],
  ['least-request', { kind: 'least-request', choiceCount: 2 }, false],
  ['least-request weighted', { kind: 'least-request', choiceCount: 2 }, true],
  ['random', { kind: 'random' }, false],
  ['ring-hash', { kind: 'ring-hash', minimumRingSize: 1024, maximumRingSize: 8388608 }, false],
  ['maglev', { kind: 'maglev', tableSize: 65537 }, false],
];

const keys = Array.from({ length: 4096 }, (_, i) => hashString(`user-${i}`));
const rows = [];
for (const [name, policy, weighted] of policies) {
  for (const n of SIZES) {
    const set = { priorities: [[{ locality: { region: 'r', zone: 'z' }, endpoints: endpoints(n, weighted) }]] };
    const t0 = performance.now();
    const lb = createLoadBalancer(policy, set, stats(true), clock);
    lb.pick({ hash: 1 }); // builds the levels (ring / table)
    const buildMs = performance.now() - t0;
    const hashed = policy.kind === 'ring-hash' || policy.kind === 'maglev';
    const ctx = keys.map((hash) => ({ hash }));
    const pick = hashed ? (i) => lb.pick(ctx[i & 4095]) : () => lb.pick({});
    rows.push({ policy: name, hosts: n, picks_per_s: Math.round(rate(pick)), build_ms: +buildMs.toFixed(2) });
  }
}
for (const n of SIZES) {
  const set = { priorities: [[{ locality: {}, endpoints: endpoints(n, false) }]] };
  const lb = createLoadBalancer({ kind: 'round-robin' }, set, stats(false), clock);
  rows.push({ policy: 'round-robin unversioned', hosts: n, picks_per_s: Math.round(rate(() => lb.pick({}))), build_ms: NaN });
}

const req = { method: 'GET', path: '/reviews/1?user=jason', authority: 'reviews:9080', scheme: 'http', headers: new Headers(['x-user', 'jason', 'cookie', 'a=b; sid=0123456789abcdef', 'accept', '*/*']) };
const from = { remoteAddress: '10.1.2.3', remotePort: 40000 };
const hashRows = [
  ['header', [{ kind: 'header', name: 'x-user' }]],
  ['cookie', [{ kind: 'cookie', name: 'sid' }]],
  ['source-ip', [{ kind: 'source-ip' }]],
  ['query', [{ kind: 'query', name: 'user' }]],
  ['header+source-ip', [{ kind: 'header', name: 'x-user' }, { kind: 'source-ip' }]],
].map(([name, policies]) => ({ policy: `hashRequest ${name}`, calls_per_s: Math.round(rate(() => hashRequest(policies, req, from))) }));

console.log(`node ${process.version}, ${MS} ms per case, one process`);
console.table(rows);
console.table(hashRows);
