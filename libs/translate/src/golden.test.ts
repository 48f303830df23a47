import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { stringify, parse } from 'yaml';
import { generateAll } from './generators.js';
import { simulate } from './simulate.js';
import { loadCase } from './testing.js';

// Golden files (STYLE.md 15): testdata/<case>/input.yaml → expected.yaml (sorted keys).
// REFRESH_GOLDEN=1 rewrites expected.yaml; review the diff before committing.
const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');
const REFRESH = process.env.REFRESH_GOLDEN === '1';
const cases = readdirSync(TESTDATA, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

const loaded = new Map<string, { c: ReturnType<typeof loadCase>; out: ReturnType<typeof generateAll> }>();

/** A case and its generated output (keyed by type URL), computed once per file run. */
function caseAndOutput(dir: string): { c: ReturnType<typeof loadCase>; out: ReturnType<typeof generateAll> } {
  let v = loaded.get(dir);
  if (!v) {
    const c = loadCase(readFileSync(join(TESTDATA, dir, 'input.yaml'), 'utf8'));
    v = { c, out: generateAll(c.proxy, c.snapshot, { 'type.googleapis.com/envoy.config.listener.v3.Listener': c.listenerNames }) };
    loaded.set(dir, v);
  }
  return v;
}

function outputFor(dir: string): Record<string, unknown> {
  return caseAndOutput(dir).out;
}

describe('golden translation', () => {
  test('there are at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });
  for (const dir of cases) {
    test(dir, () => {
      const out = outputFor(dir);
      const text = stringify(out, { sortMapEntries: true, lineWidth: 0, aliasDuplicateObjects: false });
      const file = join(TESTDATA, dir, 'expected.yaml');
      if (REFRESH) writeFileSync(file, text);
      expect(existsSync(file), `${file} is missing: run with REFRESH_GOLDEN=1 and review it`).toBe(true);
      expect(parse(text)).toEqual(parse(readFileSync(file, 'utf8')));
    });
  }
});

describe('simulation of golden cases', () => {
  for (const dir of cases) {
    const { c } = caseAndOutput(dir);
    for (const [i, s] of (c.raw.simulate ?? []).entries()) {
      test(`${dir}: ${s.name ?? `#${i}`}`, () => {
        const r = simulate(caseAndOutput(dir).out, s.request);
        if (s.error) expect(r.error?.code).toBe(s.error);
        else expect(r.error, r.error?.message).toBeUndefined();
        if (s.cluster !== undefined) expect(r.cluster).toBe(s.cluster);
        if (s.status !== undefined) expect(r.directResponse?.status).toBe(s.status);
        if (s.redirect !== undefined) expect(r.redirect !== undefined).toBe(s.redirect);
      });
    }
  }
});

// What a proxy would refuse or trip over, checked on every case: duplicate resource names,
// one domain in two virtual hosts of a RouteConfiguration (Envoy NACKs it), an RDS name no
// route configuration answers, an EDS cluster without a load assignment.
describe('invariants of golden outputs', () => {
  for (const dir of cases) {
    test(dir, () => {
      const out = outputFor(dir) as Record<string, Record<string, unknown>[]>;
      const problems: string[] = [];
      for (const [type, list] of Object.entries(out)) {
        const names = list.map((r) => String(r.name ?? r.clusterName));
        const dup = names.filter((n, i) => names.indexOf(n) !== i);
        if (dup.length > 0) problems.push(`${type}: duplicate names ${dup.join(', ')}`);
      }
      const routes = out['type.googleapis.com/envoy.config.route.v3.RouteConfiguration'];
      for (const rc of routes) {
        const seen = new Set<string>();
        for (const vh of rc.virtualHosts as { domains: string[] }[]) {
          for (const d of vh.domains) {
            if (seen.has(d)) problems.push(`${String(rc.name)}: domain ${d} in two virtual hosts`);
            seen.add(d);
          }
        }
      }
      const routeNames = new Set(routes.map((r) => r.name));
      for (const m of JSON.stringify(out['type.googleapis.com/envoy.config.listener.v3.Listener']).matchAll(/"routeConfigName":"([^"]+)"/g)) {
        if (!routeNames.has(m[1])) problems.push(`listener RDS ${m[1]} has no route configuration`);
      }
      const cla = new Set(out['type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment'].map((e) => e.clusterName));
      for (const c of out['type.googleapis.com/envoy.config.cluster.v3.Cluster']) if (c.type === 'EDS' && !cla.has(c.name)) problems.push(`EDS cluster ${String(c.name)} has no load assignment`);
      expect(problems).toEqual([]);
    });
  }
});
