#!/usr/bin/env node
// Validation throughput of @meshwork/api: how long `meshctl validate` / pilot's config
// ingest take for a large mesh. Builds 10,000 realistic resources from the valid fixtures
// (VirtualService, DestinationRule, Gateway, ServiceEntry, AuthorizationPolicy,
// PeerAuthentication, ... with varied names and namespaces), then times in this single
// Node process, after a warm-up:
//   (a) parse + validate of one 10,000-document YAML text (validateText),
//   (b) validate of already-parsed objects (validateParsed),
// plus parse alone, to show the split. Prints a table and writes bench/results/api.json.
// Run with `npm run bench:api` (builds first). Target: (a) under 2 s.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { listResourceFiles, parseText, validateObject, validateParsed, validateText } from '@meshwork/api';

const RESOURCES = Number(process.env.BENCH_RESOURCES ?? 10_000);
const TARGET_MS = 2000;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixtures = join(root, 'libs', 'api', 'testdata', 'valid');

// Share of each kind in the generated mesh: routing and policy dominate real meshes.
const MIX = {
  VirtualService: 30,
  DestinationRule: 22,
  ServiceEntry: 8,
  Gateway: 5,
  AuthorizationPolicy: 14,
  PeerAuthentication: 8,
  RequestAuthentication: 3,
  Sidecar: 4,
  Telemetry: 2,
  WorkloadEntry: 4,
};

/** templatesByKind returns the valid fixture documents of each kind that validate cleanly. */
async function templatesByKind() {
  const byKind = new Map();
  for (const file of await listResourceFiles(fixtures)) {
    for (const raw of parseText(readFileSync(file, 'utf8'), file).objects) {
      const kind = raw.object?.kind;
      if (!(kind in MIX) || !validateObject(raw).ok) continue;
      byKind.set(kind, [...(byKind.get(kind) ?? []), raw.object]);
    }
  }
  return byKind;
}

/** generate returns `n` resources: copies of the templates, renamed and spread over namespaces. */
function generate(byKind, n) {
  const kinds = Object.keys(MIX).filter((k) => byKind.has(k));
  const total = kinds.reduce((s, k) => s + MIX[k], 0);
  // A deterministic weighted round-robin, so every run builds the same mesh.
  const slots = kinds.flatMap((k) => Array(MIX[k]).fill(k));
  const counters = new Map();
  const out = [];
  for (let i = 0; i < n; i++) {
    const kind = slots[(i * 7919) % total];
    const list = byKind.get(kind);
    const c = counters.get(kind) ?? 0;
    counters.set(kind, c + 1);
    const doc = structuredClone(list[c % list.length]);
    doc.metadata = { ...doc.metadata, name: `${doc.metadata?.name ?? kind.toLowerCase()}-${i}`, namespace: `team-${i % 97}` };
    out.push(doc);
  }
  return { docs: out, counts: Object.fromEntries([...counters].sort((a, b) => b[1] - a[1])) };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn, runs) {
  const ms = [];
  let result;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    result = fn();
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), result };
}

const byKind = await templatesByKind();
const { docs, counts } = generate(byKind, RESOURCES);
const text = docs.map((d) => stringify(d, { aliasDuplicateObjects: false })).join('---\n');
const parsed = parseText(text, 'bench.yaml');
if (parsed.objects.length !== RESOURCES || parsed.errors.length > 0) throw new Error(`generated text parsed into ${parsed.objects.length} objects, ${parsed.errors.length} errors`);

// Warm-up: let V8 optimise the parser and the schemas before timing.
const warmup = docs.slice(0, Math.ceil(RESOURCES / 10)).map((d) => stringify(d, { aliasDuplicateObjects: false })).join('---\n');
for (let i = 0; i < 3; i++) validateText(warmup, 'warmup.yaml');
validateParsed(parsed.objects);

const a = time(() => validateText(text, 'bench.yaml'), 3);
const b = time(() => validateParsed(parsed.objects), 5);
const p = time(() => parseText(text, 'bench.yaml'), 3);
for (const r of [a.result, b.result]) {
  if (r.resources.length !== RESOURCES || r.diagnostics.length > 0) {
    throw new Error(`expected ${RESOURCES} valid resources, got ${r.resources.length} and ${r.diagnostics.length} diagnostics (first: ${r.diagnostics[0]?.reason})`);
  }
}

const row = (name, ms) => ({ case: name, resources: RESOURCES, ms: Math.round(ms * 10) / 10, per_resource_us: Math.round((ms * 1000 / RESOURCES) * 10) / 10 });
const rows = [row('parse+validate (one YAML text)', a.ms), row('validate (already parsed)', b.ms), row('parse only', p.ms)];
const cpu = cpus()[0]?.model ?? 'unknown';

const w = [34, 10, 10, 16];
const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join(' ');
process.stdout.write(`@meshwork/api validation, ${RESOURCES} resources (${(text.length / 1e6).toFixed(1)} MB YAML), node ${process.version}, ${cpu}\n`);
process.stdout.write(`mix: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}\n\n`);
process.stdout.write(`${line(['case', 'resources', 'ms', 'µs/resource'])}\n`);
for (const r of rows) process.stdout.write(`${line([r.case, r.resources, r.ms, r.per_resource_us])}\n`);
process.stdout.write(`\ntarget: parse+validate under ${TARGET_MS} ms: ${a.ms < TARGET_MS ? 'met' : 'MISSED'}\n`);

const out = join(root, 'bench', 'results', 'api.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ rows, node: process.version, cpu, mix: counts }, null, 2)}\n`);
process.stdout.write(`wrote ${relative(process.cwd(), out)}\n`);
