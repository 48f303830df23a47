/**
 * Fixture-driven analyzer tests. Each directory under `testdata/analyze/<case>/` has:
 *
 * - `input.yaml`: resources; every one must pass validation;
 * - `expected.yaml`: the exact list of findings, each `{code, severity, resource, path}`
 *   (`resource` as `Kind namespace/name`) and optionally `reason` (compared exactly);
 *   `[]` for a case that must be clean;
 * - `options.yaml` (optional): AnalyzeOptions for the case.
 *
 * Set REFRESH_GOLDEN=1 to rewrite expected.yaml from the current findings (review the diff);
 * a case whose expected.yaml has reasons gets them rewritten too.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { formatDiagnostic, formatRef, type Diagnostic } from '../diagnostics.js';
import { parseText } from '../parse.js';
import { validateObject, type MeshResource } from '../validate.js';
import { analyze, ANALYZERS } from './index.js';
import type { AnalyzeOptions } from './types.js';

const root = join(import.meta.dirname, '..', '..', 'testdata', 'analyze');
const cases = readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

interface Expected {
  code: string;
  severity: string;
  resource: string;
  path: string;
  reason?: string;
}

function load(dir: string): { resources: MeshResource[]; invalid: string[] } {
  const file = join(dir, 'input.yaml');
  const parsed = parseText(readFileSync(file, 'utf8'), file);
  const resources: MeshResource[] = [];
  const invalid = parsed.errors.map(formatDiagnostic);
  for (const raw of parsed.objects) {
    const r = validateObject(raw);
    if (r.ok) resources.push(r.resource);
    else invalid.push(...r.diagnostics.map(formatDiagnostic));
  }
  return { resources, invalid };
}

function shape(d: Diagnostic, withReason: boolean): Expected {
  return { code: d.code, severity: d.severity, resource: d.resource ? formatRef(d.resource) : '', path: d.path, ...(withReason ? { reason: d.reason } : {}) };
}

function key(e: Expected): string {
  return `${e.resource} ${e.path} ${e.code}`;
}

describe('analyzer fixtures', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(20);
  });

  it.each(cases)('%s', (name) => {
    const dir = join(root, name);
    const { resources, invalid } = load(dir);
    expect(invalid, 'every input resource must validate').toEqual([]);
    const optsFile = join(dir, 'options.yaml');
    const opts = (existsSync(optsFile) ? parse(readFileSync(optsFile, 'utf8')) : {}) as AnalyzeOptions;
    const findings = analyze(resources, opts);
    const expectedFile = join(dir, 'expected.yaml');
    if (process.env.REFRESH_GOLDEN) {
      // A case that pins reasons keeps pinning them (with the current text).
      const pinned = existsSync(expectedFile) && /^[\s-]*reason:/m.test(readFileSync(expectedFile, 'utf8'));
      writeFileSync(expectedFile, stringify(findings.map((d) => shape(d, pinned)).sort((a, b) => key(a).localeCompare(key(b)))));
    }
    const expected = ((parse(readFileSync(expectedFile, 'utf8')) ?? []) as Expected[]).sort((a, b) => key(a).localeCompare(key(b)));
    const got = findings.map((d) => shape(d, false)).sort((a, b) => key(a).localeCompare(key(b)));
    expect(got, findings.map(formatDiagnostic).join('\n')).toEqual(expected.map(({ reason: _r, ...e }) => e));
    for (const e of expected.filter((x) => x.reason !== undefined)) {
      const d = findings.find((f) => key(shape(f, false)) === key(e));
      expect(d?.reason, key(e)).toBe(e.reason);
    }
    for (const d of findings) {
      expect(d.line, `finding without a line: ${formatDiagnostic(d)}`).toBeGreaterThan(0);
      expect(ANALYZERS.some((a) => a.code === d.code && a.severity === d.severity), `${d.code} is catalogued`).toBe(true);
    }
  });
});
