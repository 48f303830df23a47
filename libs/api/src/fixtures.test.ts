/**
 * Fixture-driven validation tests.
 *
 * - `testdata/valid/**` and the samples' configuration (`samples/bookinfo/{platform,networking,gateway-api,local.yaml}`): every document must validate with no error.
 * - `testdata/invalid/*.yaml`: each file starts with `# expect: <field path> | <reason>`
 *   lines (one per expected error, `<field path>` may be empty for the whole resource);
 *   the validator must report exactly that set of (path, reason) pairs, nothing more.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listResourceFiles } from './load.js';
import { validateText } from './validate.js';
import { formatDiagnostic } from './diagnostics.js';

const root = join(import.meta.dirname, '..', 'testdata');
const samples = join(import.meta.dirname, '..', '..', '..', 'samples');
// The samples' configuration directories (a sample's sources and package files are not mesh resources).
const sampleConfig = ['bookinfo/platform', 'bookinfo/networking', 'bookinfo/gateway-api', 'bookinfo/local.yaml'].map((d) => join(samples, d));
const validFiles = [...(await listResourceFiles(join(root, 'valid'))), ...(await Promise.all(sampleConfig.map((d) => listResourceFiles(d)))).flat()];
const invalidFiles = await listResourceFiles(join(root, 'invalid'));

describe('valid fixtures', () => {
  it.each(validFiles.map((f) => [f.startsWith(root) ? f.slice(root.length + 1) : f.slice(samples.length - 'samples'.length), f]))('%s validates', (_name, file) => {
    const { diagnostics, resources } = validateText(readFileSync(file, 'utf8'), file);
    expect(diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(resources.length).toBeGreaterThan(0);
  });
});

function expectations(text: string): { path: string; reason: string }[] {
  const out: { path: string; reason: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^# expect: (.*?) \| (.*)$/.exec(line);
    if (m) out.push({ path: m[1].trim(), reason: m[2].trim() });
  }
  return out;
}

describe('invalid fixtures', () => {
  it('has at least 60 of them', () => {
    expect(invalidFiles.length).toBeGreaterThanOrEqual(60);
  });
  it.each(invalidFiles.map((f) => [f.slice(root.length + 1), f]))('%s reports exactly the expected errors', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const expected = expectations(text);
    expect(expected.length, 'fixture must declare at least one "# expect: path | reason" line').toBeGreaterThan(0);
    const { diagnostics } = validateText(text, file);
    const got = diagnostics.map((d) => ({ path: d.path, reason: d.reason }));
    expect(got.sort(cmp)).toEqual(expected.sort(cmp));
    for (const d of diagnostics) {
      expect(d.line, `diagnostic without a line: ${formatDiagnostic(d)}`).toBeGreaterThan(0);
      expect(d.resource, `diagnostic without a resource: ${formatDiagnostic(d)}`).toBeDefined();
    }
  });
});

function cmp(a: { path: string; reason: string }, b: { path: string; reason: string }): number {
  return a.path.localeCompare(b.path) || a.reason.localeCompare(b.reason);
}
