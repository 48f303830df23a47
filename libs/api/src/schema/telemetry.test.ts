import { describe, expect, it } from 'vitest';
import { validateText } from '../validate.js';
import { findKindByName } from '../registry.js';
import { checkCelSyntax } from './telemetry.js';

function errorsOf(spec: unknown, apiVersion = 'telemetry.istio.io/v1'): string[] {
  const doc = JSON.stringify({ apiVersion, kind: 'Telemetry', metadata: { name: 't', namespace: 'istio-system' }, spec });
  return validateText(doc).diagnostics.map((d) => `${d.path} | ${d.reason}`);
}

describe('checkCelSyntax', () => {
  it.each([
    'response.code >= 400',
    "connection.mtls && request.url_path.contains('v1beta3')",
    '!has(request.useragent) || !(request.useragent.startsWith("Amazon-Route53-Health-Check-Service"))',
    "request.headers['x-debug'] == 'on'",
    'response.code in [500, 502, 503]',
    'a ? b : c ? d : e',
    '-1 < x && x <= 0x7fu',
    '1.5e3 + .5 - 2e-1',
    '"""multi\nline""" + r"raw \\d" + b\'\\x00\' + \'\\u00e9\'',
    '{"a": 1, "b": [1, 2,],}.size() == 2',
    'google.protobuf.Duration{seconds: 1}',
    '.root.field',
    'list.all(x, x > 0) && list.exists_one(y, y == 1) && list.map(z, z * 2).filter(w, w > 2).size() > 0',
    'list.map(k, k > 0, k)',
    'x.`field-with-dash`',
    '!-1',
    '-9223372036854775808',
    '18446744073709551615u',
    '// a comment\nresponse.code == 200',
    'has(a.b.c)',
    'has((a.b))',
  ])('accepts %j', (expr) => {
    expect(checkCelSyntax(expr)).toBeUndefined();
  });

  it.each([
    ['', 'unexpected end of expression'],
    ['response.code >= ', 'unexpected end of expression'],
    ['response.code = 500', 'unexpected character "="'],
    ['a | b', 'unexpected character "|"'],
    ['a && ', 'unexpected end of expression'],
    ['f(a,)', 'unexpected ")"'],
    ['(a', 'expected ")"'],
    ['a b', 'unexpected "b"'],
    ['has(a)', 'invalid argument to has() macro'],
    ['has(a[0])', 'invalid argument to has() macro'],
    ['l.all(1, true)', 'argument to all() must be a simple name'],
    ['l.exists(x.y, true)', 'argument to exists() must be a simple name'],
    ["'unterminated", 'unterminated string literal'],
    ["'line\nbreak'", 'unterminated string literal'],
    ["'\\q'", 'invalid escape sequence'],
    ["b'\\u00e9'", 'invalid escape sequence'],
    ['9223372036854775808', 'invalid int literal'],
    ['18446744073709551616u', 'invalid uint literal'],
    ['if', 'reserved identifier: if'],
    ['a.?b', 'optional field selection'],
    ['a[?0]', 'optional index'],
    ['!-x', 'unexpected "-"'],
    ['a.true', 'expected a field name'],
    ['#', 'unexpected character "#"'],
  ])('rejects %j (%s)', (expr, why) => {
    expect(checkCelSyntax(expr)).toContain(why);
  });

  it('points at the line and column of the problem', () => {
    expect(checkCelSyntax('a &&\n  = b')).toBe('must be a valid CEL expression: unexpected character "=" at line 2, column 3');
    expect(checkCelSyntax('a = b')).toBe('must be a valid CEL expression: unexpected character "=" at column 3');
  });

  it('refuses runaway nesting instead of overflowing the stack', () => {
    expect(checkCelSyntax(`${'('.repeat(300)}1${')'.repeat(300)}`)).toContain('recursion limit');
  });
});

describe('Telemetry', () => {
  it('is served as v1 and v1alpha1 under its Istio names', () => {
    const def = findKindByName('telemetry');
    expect(def?.kind).toBe('Telemetry');
    expect(def?.versions).toEqual(['v1', 'v1alpha1']);
    expect(findKindByName('telemetries.telemetry.istio.io')).toBe(def);
    expect(errorsOf({ tracing: [{ randomSamplingPercentage: 5 }] }, 'telemetry.istio.io/v1alpha1')).toEqual([]);
  });

  it('treats an override without operation as UPSERT, which needs a value', () => {
    expect(errorsOf({ metrics: [{ overrides: [{ tagOverrides: { a: {}, b: { value: 'request.host' } } }] }] })).toEqual([
      'spec.metrics[0].overrides[0].tagOverrides.a.value | value must be set when operation is UPSERT',
    ]);
  });

  it('accepts a custom tag with no source, as Istio does', () => {
    expect(errorsOf({ tracing: [{ customTags: { empty: {} } }] })).toEqual([]);
  });

  it('does not check tag override values as CEL (Istio evaluates them in the proxy only)', () => {
    expect(errorsOf({ metrics: [{ overrides: [{ tagOverrides: { a: { value: 'not ( cel' } } }] }] })).toEqual([]);
  });
});
