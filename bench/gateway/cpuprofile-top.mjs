#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): self time by area (our libs, Node's TLS, Node's
// net/stream layer, GC, native "(program)") and the top functions by self time, as shares of the
// busy time (idle samples excluded). Samples before the first request (the first stack with a frame
// of the proxy's listeners) are left out, so start-up (module loading, xDS) does not dilute the
// shares; ALL=1 keeps them. Usage: node bench/gateway/cpuprofile-top.mjs <file> [top=25]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: cpuprofile-top.mjs <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parentOf = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
const serving = (id) => {
  for (let at = id; at !== undefined; at = parentOf.get(at)) if (/\/libs\/proxy\/.*listeners?\//.test(byId.get(at).callFrame.url ?? '')) return true;
  return false;
};
const first = process.env.ALL === '1' ? 0 : Math.max(0, prof.samples.findIndex(serving));
const self = new Map();
let skippedUs = 0;
for (let i = 0; i < prof.samples.length; i++) {
  if (i < first) {
    skippedUs += prof.timeDeltas[i] ?? 0;
    continue;
  }
  self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
}

/** The area a frame belongs to, from its URL: where in the stack the time goes. */
function area(cf) {
  const u = cf.url ?? '';
  if (!u) return cf.functionName.startsWith('(') ? cf.functionName : '(native/builtin)';
  if (u.includes('/libs/')) return `libs/${u.split('/libs/')[1].split('/')[0]}`;
  if (u.includes('/apps/')) return `apps/${u.split('/apps/')[1].split('/')[0]}`;
  if (u.includes('node_modules')) return `node_modules/${u.split('node_modules/')[1].split('/')[0]}`;
  if (/_tls_|internal\/tls|tls\.js/.test(u)) return 'node:tls';
  if (/net\.js|stream|internal\/streams/.test(u)) return 'node:net+streams';
  return 'node:other';
}

const areas = new Map();
const funcs = new Map();
let busy = 0;
let idle = 0;
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  if (cf.functionName === '(idle)') {
    idle += us;
    continue;
  }
  busy += us;
  const a = area(cf);
  areas.set(a, (areas.get(a) ?? 0) + us);
  const where = cf.url ? `${cf.url.replace(/^.*\/(libs|apps|node_modules)\//, '$1/').replace(/^node:internal\//, 'internal/')}:${cf.lineNumber + 1}` : '';
  const key = `${cf.functionName || '(anonymous)'} ${where}`;
  funcs.set(key, (funcs.get(key) ?? 0) + us);
}
// Inclusive time: a function's self time plus everything it called (each function counted once
// per stack, so recursion does not inflate it).
const incl = new Map();
const parent = parentOf;
const keyOf = (cf) => `${cf.functionName || '(anonymous)'} ${cf.url ? `${cf.url.replace(/^.*\/(libs|apps|node_modules)\//, '$1/').replace(/^node:internal\//, 'internal/')}:${cf.lineNumber + 1}` : ''}`;
for (const [id, us] of self) {
  if (byId.get(id).callFrame.functionName === '(idle)') continue;
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const k = keyOf(byId.get(at).callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + us);
  }
}
const pct = (us) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
console.log(`from the first request: busy ${(busy / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s (${(skippedUs / 1e6).toFixed(2)} s of start-up left out)`);
console.log('\nself time by area:');
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1])) console.log(`  ${pct(us)}  ${a}`);
console.log(`\ntop ${top} functions by self time:`);
for (const [f, us] of [...funcs].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`  ${pct(us)}  ${f}`);
console.log(`\ntop ${top} functions by inclusive time (our code and Node's net/tls layer):`);
const ours = [...incl].filter(([k]) => /libs\/|apps\/|_tls_|internal\/tls|node:net|\(garbage|\(program/.test(k));
for (const [f, us] of ours.sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`  ${pct(us)}  ${f}`);
