import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateEnvoyResource } from '@meshwork/xds';
import { describe, expect, test } from 'vitest';
import { generateAll } from './generators.js';
import { LISTENER_TYPE } from './envoy.js';
import { loadCase } from './testing.js';

// The contract with libs/xds: every resource translation produces for the golden cases must
// encode with libs/xds's strict encoder (the one ADS uses), so a misspelled field or enum name
// fails here rather than at a proxy.
const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');
const cases = readdirSync(TESTDATA, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe('golden outputs pass libs/xds validateEnvoyResource', () => {
  for (const dir of cases) {
    test(dir, () => {
      const c = loadCase(readFileSync(join(TESTDATA, dir, 'input.yaml'), 'utf8'));
      const out = generateAll(c.proxy, c.snapshot, { [LISTENER_TYPE]: c.listenerNames });
      const errors: string[] = [];
      for (const [typeUrl, list] of Object.entries(out)) {
        for (const r of list) {
          const v = validateEnvoyResource(typeUrl, r);
          if (!v.ok) errors.push(...v.errors);
        }
      }
      expect(errors).toEqual([]);
    });
  }
});
