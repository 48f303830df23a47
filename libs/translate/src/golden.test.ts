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

/** The generated output for a case, keyed by type URL. */
function outputFor(dir: string): Record<string, unknown> {
  const c = loadCase(readFileSync(join(TESTDATA, dir, 'input.yaml'), 'utf8'));
  const all = generateAll(c.proxy, c.snapshot, { 'type.googleapis.com/envoy.config.listener.v3.Listener': c.listenerNames });
  return all;
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
    const c = loadCase(readFileSync(join(TESTDATA, dir, 'input.yaml'), 'utf8'));
    for (const [i, s] of (c.raw.simulate ?? []).entries()) {
      test(`${dir}: ${s.name ?? `#${i}`}`, () => {
        const out = generateAll(c.proxy, c.snapshot, { 'type.googleapis.com/envoy.config.listener.v3.Listener': c.listenerNames });
        const r = simulate(out, s.request);
        if (s.error) expect(r.error?.code).toBe(s.error);
        else expect(r.error, r.error?.message).toBeUndefined();
        if (s.cluster !== undefined) expect(r.cluster).toBe(s.cluster);
        if (s.status !== undefined) expect(r.directResponse?.status).toBe(s.status);
        if (s.redirect !== undefined) expect(r.redirect !== undefined).toBe(s.redirect);
      });
    }
  }
});
