import { RE2JS } from 're2js';
import { describe, expect, test } from 'vitest';
import { Headers, type RequestHead } from '../model.js';
import { Problems, type Obj } from './fields.js';
import { compileRegex, headerMatcher, pathOnly, queryParameterMatcher, queryValue, routeMatch, stringMatcher } from './matchers.js';

const head = (path: string, headers: Record<string, string | string[]> = {}, extra: Partial<RequestHead> = {}): RequestHead => ({
  method: 'GET',
  path,
  authority: 'reviews:9080',
  scheme: 'http',
  headers: new Headers(Object.entries(headers).flatMap(([k, v]) => (Array.isArray(v) ? v.flatMap((x) => [k, x]) : [k, v]))),
  ...extra,
});

function problems(): Problems {
  return new Problems('route_config r', []);
}

describe('stringMatcher', () => {
  const cases: [Obj, string, boolean][] = [
    [{ exact: 'abc' }, 'abc', true],
    [{ exact: 'abc' }, 'ABC', false],
    [{ exact: 'abc', ignoreCase: true }, 'ABC', true],
    [{ exact: '' }, '', true],
    [{ prefix: '/api' }, '/api/v1', true],
    [{ prefix: '/api' }, '/API/v1', false],
    [{ prefix: '/api', ignoreCase: true }, '/API/v1', true],
    [{ suffix: '.js' }, 'app.js', true],
    [{ suffix: '.JS', ignoreCase: true }, 'app.js', true],
    [{ suffix: '.js' }, 'app.css', false],
    [{ contains: 'mid' }, 'amidb', true],
    [{ contains: 'MID', ignoreCase: true }, 'amidb', true],
    [{ contains: 'x' }, 'abc', false],
    [{ safeRegex: { regex: 'v[0-9]+' } }, 'v12', true],
    [{ safeRegex: { regex: 'v[0-9]+' } }, 'xv12', false], // full match, not search
    [{ safeRegex: { regex: '(?i)abc' } }, 'ABC', true], // RE2 flag syntax (re2js path)
    [{ safeRegex: { regex: '\\pL+' } }, 'héllo', true], // RE2 Unicode class
    [{ safeRegex: { regex: 'a.c' } }, 'a😀c', true], // `.` is a code point, as RE2
  ];
  for (const [m, v, want] of cases) {
    test(`${JSON.stringify(m)} on ${JSON.stringify(v)} → ${want}`, () => {
      const p = problems();
      const t = stringMatcher(p, m, 'm');
      expect(p.errors).toEqual([]);
      expect(t?.(v)).toBe(want);
    });
  }

  const bad: [Obj, string][] = [
    [{}, 'route_config r: m: one of exact, prefix, suffix, contains, safe_regex, custom is required'],
    [{ exact: 'a', prefix: 'b' }, 'route_config r: m: only one of exact, prefix may be set'],
    [{ prefix: '' }, 'route_config r: m.prefix: must not be empty'],
    [{ exact: 3 }, 'route_config r: m.exact: expected a string, got number 3'],
    [{ safeRegex: { regex: '(?=x)' } }, 'route_config r: m.safe_regex.regex: invalid RE2 regex "(?=x)"'],
    [{ safeRegex: { regex: '(a)\\1' } }, 'route_config r: m.safe_regex.regex: invalid RE2 regex "(a)\\\\1"'],
    [{ safeRegex: {} }, 'route_config r: m.safe_regex.regex: is required'],
  ];
  for (const [m, want] of bad) {
    test(`rejects ${JSON.stringify(m)}`, () => {
      const p = problems();
      expect(stringMatcher(p, m, 'm')).toBeUndefined();
      expect(p.errors.length).toBe(1);
      expect(p.errors[0].startsWith(want)).toBe(true);
    });
  }
});

describe('compileRegex', () => {
  test('replaceAll uses Envoy substitutions (\\1) on both engines', () => {
    const p = problems();
    const js = compileRegex(p, '/v([0-9]+)/(\\w+)', 'r');
    const re2 = compileRegex(p, '(?i)/V([0-9]+)/(\\w+)', 'r');
    expect(p.errors).toEqual([]);
    expect(js?.replaceAll('/v1/books', '/books/\\2/\\1')).toBe('/books/books/1');
    expect(re2?.replaceAll('/v1/books', '/books/\\2/\\1')).toBe('/books/books/1');
    expect(js?.replaceAll('/v1/a', '$\\1')).toBe('$1');
    expect(js?.replaceAll('/v1/a', '[\\0]')).toBe('[/v1/a]');
    expect(re2?.replaceAll('/v1/a', '[\\0]\\\\')).toBe('[/v1/a]\\');
    expect(js?.groups).toBe(2);
  });
  // The JavaScript fast path must agree with RE2 on every pattern it accepts: random patterns from
  // the accepted alphabet, random inputs, both engines compared (matching and substitution).
  test('the JavaScript fast path agrees with RE2 (differential, 3000 patterns)', () => {
    let seed = 11;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const atoms = ['a', 'b', '/', '.', '\\d', '\\w', '\\.', '[a-c]', '[^/]', '-', '_', 'A', '0', ':', '%'];
    const quant = ['', '', '', '*', '+', '?', '{1,2}', '{2}', '*?'];
    const inputs = ['', 'a', 'ab', 'abc', '/a/b', 'A0', 'a.b', 'a-b_c', '//', 'aaa', 'b1/', 'x:%', '/api/v1/x', 'é', '😀', 'a\nb'];
    let checked = 0;
    let onFastPath = 0;
    for (let i = 0; i < 3000; i++) {
      let pat = '';
      const n = 1 + rnd(4);
      for (let k = 0; k < n; k++) {
        let piece = atoms[rnd(atoms.length)];
        if (rnd(5) === 0) piece = `(${piece}${atoms[rnd(atoms.length)]})`;
        if (rnd(7) === 0) piece = `(${piece}|${atoms[rnd(atoms.length)]})`;
        pat += piece + quant[rnd(quant.length)];
      }
      if (rnd(6) === 0) pat = `^${pat}`;
      if (rnd(6) === 0) pat += '$';
      const ic = rnd(4) === 0;
      let re2: RE2JS;
      try {
        re2 = RE2JS.compile(pat, ic ? RE2JS.CASE_INSENSITIVE : 0);
      } catch {
        continue;
      }
      const p = problems();
      const c = compileRegex(p, pat, 'r', ic);
      expect(p.errors).toEqual([]);
      if (c?.engine === 'js') onFastPath++;
      for (const input of inputs) {
        expect(c?.fullMatch(input), `${pat} on ${JSON.stringify(input)}`).toBe(re2.matches(input));
        if (input === '/a/b' || input === 'a-b_c') expect(c?.replaceAll(input, '<\\0>')).toBe(re2.matcher(input).replaceAll('<$&>'));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10_000);
    expect(onFastPath).toBeGreaterThan(500);
  }, 60_000); // CPU-bound (3000 patterns on two engines): generous on a loaded machine
  test('patterns that could backtrack badly run on re2js, simple ones on the fast path', () => {
    const engine = (re: string): string | undefined => compileRegex(problems(), re, 'r')?.engine;
    expect(engine('/api/v[0-9]+/x')).toBe('js');
    expect(engine('/api/v[0-9]+/.*')).toBe('js'); // `[0-9]+` then `/`: one way to split
    expect(engine('^/reviews/[^/]+/ratings/[0-9]+$')).toBe('js');
    expect(engine('[a-z]*[a-z]*x')).toBe('re2'); // overlapping: quadratic
    expect(engine('a*a')).toBe('js'); // the last variable atom: linear
    expect(engine('a*a*b')).toBe('re2'); // an ambiguous star before another variable atom: quadratic
    expect(engine('A*aa*')).toBe('js'); // `A*` then `a`: deterministic (case-sensitive)
    expect(compileRegex(problems(), 'A*aa*', 'r', true)?.engine).toBe('re2'); // not when ignoring case
    expect(engine('/reviews/[^/]*')).toBe('js');
    expect(engine('a|b')).toBe('js');
    expect(engine('(a+)+$')).toBe('re2');
    expect(engine('(ab)*')).toBe('re2');
    expect(engine('.*a.*b')).toBe('re2');
    expect(engine('a+b{2,}')).toBe('js'); // `a+` then `b`: deterministic
    expect(engine('a+.{2,}')).toBe('re2');
    expect(engine('[*+]+x')).toBe('js'); // quantifier characters inside a class do not count
    expect(engine('(?i)abc')).toBe('re2');
    expect(engine('a?a?a?a?aaaa')).toBe('js'); // 8 ways to split
    expect(engine('a?a?a?a?a?a?aaaa')).toBe('re2'); // 32
    expect(engine('v[0-9]{1,3}')).toBe('js');
    expect(engine('x{1,100}')).toBe('re2');
    expect(compileRegex(problems(), '(a+)+$', 'r')?.fullMatch(`${'a'.repeat(5000)}!`)).toBe(false);
  });
  test('ignoreCase', () => {
    const r = compileRegex(problems(), 'abc', 'r', true);
    expect(r?.fullMatch('AbC')).toBe(true);
  });
});

describe('headerMatcher', () => {
  const cases: [string, Obj, Record<string, string | string[]>, boolean][] = [
    ['exact', { name: 'x-user', stringMatch: { exact: 'jason' } }, { 'x-user': 'jason' }, true],
    ['exact miss', { name: 'x-user', stringMatch: { exact: 'jason' } }, { 'x-user': 'bob' }, false],
    ['name is case-insensitive', { name: 'X-User', stringMatch: { exact: 'jason' } }, { 'x-user': 'jason' }, true],
    ['absent header does not match', { name: 'x-user', stringMatch: { exact: 'jason' } }, {}, false],
    ['absent header does not match even inverted (Envoy)', { name: 'x-user', stringMatch: { exact: 'jason' }, invertMatch: true }, {}, false],
    ['inverted value', { name: 'x-user', stringMatch: { exact: 'jason' }, invertMatch: true }, { 'x-user': 'bob' }, true],
    ['present', { name: 'x-canary', presentMatch: true }, { 'x-canary': '' }, true],
    ['present, absent', { name: 'x-canary', presentMatch: true }, {}, false],
    ['present inverted, absent', { name: 'x-canary', presentMatch: true, invertMatch: true }, {}, true],
    ['present inverted, present', { name: 'x-canary', presentMatch: true, invertMatch: true }, { 'x-canary': '1' }, false],
    ['present false, absent', { name: 'x-canary', presentMatch: false }, {}, true],
    ['no specifier = present', { name: 'x-canary' }, { 'x-canary': 'a' }, true],
    ['missing as empty', { name: 'x-a', stringMatch: { exact: '' }, treatMissingHeaderAsEmpty: true }, {}, true],
    ['legacy exact_match', { name: 'x-a', exactMatch: 'v' }, { 'x-a': 'v' }, true],
    ['legacy empty exact_match matches any present value (Envoy)', { name: 'x-a', exactMatch: '' }, { 'x-a': 'v' }, true],
    ['string_match exact "" matches only the empty value', { name: 'x-a', stringMatch: { exact: '' } }, { 'x-a': 'v' }, false],
    ['legacy prefix_match', { name: 'x-a', prefixMatch: 'v' }, { 'x-a': 'v1' }, true],
    ['legacy suffix_match', { name: 'x-a', suffixMatch: '1' }, { 'x-a': 'v1' }, true],
    ['legacy contains_match', { name: 'x-a', containsMatch: 'b' }, { 'x-a': 'abc' }, true],
    ['regex', { name: 'x-a', safeRegexMatch: { regex: 'v[12]' } }, { 'x-a': 'v2' }, true],
    ['range in', { name: 'x-n', rangeMatch: { start: '10', end: 20 } }, { 'x-n': '19' }, true],
    ['range end is exclusive', { name: 'x-n', rangeMatch: { start: 10, end: 20 } }, { 'x-n': '20' }, false],
    ['range non-number', { name: 'x-n', rangeMatch: { start: 10, end: 20 } }, { 'x-n': '1x' }, false],
    ['repeated values joined by comma', { name: 'x-a', stringMatch: { exact: 'a,b' } }, { 'x-a': ['a', 'b'] }, true],
    [':method pseudo-header', { name: ':method', stringMatch: { exact: 'GET' } }, {}, true],
    [':authority pseudo-header', { name: ':authority', stringMatch: { prefix: 'reviews' } }, {}, true],
    [':scheme pseudo-header', { name: ':scheme', stringMatch: { exact: 'https' } }, {}, false],
    [':path pseudo-header', { name: ':path', stringMatch: { exact: '/p?q=1' } }, {}, true],
  ];
  for (const [name, m, headers, want] of cases) {
    test(name, () => {
      const p = problems();
      const f = headerMatcher(p, m, 'h');
      expect(p.errors).toEqual([]);
      expect(f?.(head('/p?q=1', headers))).toBe(want);
    });
  }
  test('errors carry paths', () => {
    const p = problems();
    headerMatcher(p, { stringMatch: { exact: 'a' } }, 'match.headers[0]');
    headerMatcher(p, { name: 'x', rangeMatch: { start: 5, end: 5 } }, 'match.headers[1]');
    headerMatcher(p, { name: 'x', exactMatch: 'a', prefixMatch: 'b' }, 'match.headers[2]');
    expect(p.errors).toEqual([
      'route_config r: match.headers[0].name: is required',
      'route_config r: match.headers[1].range_match: start 5 must be less than end 5',
      'route_config r: match.headers[2]: only one of exact_match, prefix_match may be set',
    ]);
  });
});

describe('query parameters', () => {
  test('queryValue decodes and takes the first value', () => {
    expect(queryValue('/p?a=1&a=2', 'a')).toBe('1');
    expect(queryValue('/p?n=hello%20world', 'n')).toBe('hello world');
    expect(queryValue('/p?x', 'x')).toBe('');
    expect(queryValue('/p', 'x')).toBeUndefined();
    expect(queryValue('/p?a=1#frag', 'a')).toBe('1');
  });
  const cases: [Obj, string, boolean][] = [
    [{ name: 'v', stringMatch: { exact: '2' } }, '/p?v=2', true],
    [{ name: 'v', stringMatch: { exact: '2' } }, '/p?v=3', false],
    [{ name: 'v', stringMatch: { exact: '2' } }, '/p', false],
    [{ name: 'v', stringMatch: { safeRegex: { regex: '[0-9]+' } } }, '/p?v=42', true],
    [{ name: 'v', presentMatch: true }, '/p?v', true],
    [{ name: 'v', presentMatch: true }, '/p?w=1', false],
    [{ name: 'v' }, '/p?v=1', true],
  ];
  for (const [m, path, want] of cases) {
    test(`${JSON.stringify(m)} on ${path}`, () => {
      const p = problems();
      expect(queryParameterMatcher(p, m, 'q')?.(head(path))).toBe(want);
      expect(p.errors).toEqual([]);
    });
  }
});

describe('routeMatch', () => {
  const cases: [string, Obj, RequestHead, string | undefined][] = [
    ['prefix returns the matched prefix', { prefix: '/api' }, head('/api/v1?x=1'), '/api'],
    ['prefix ignores the query', { prefix: '/api?' }, head('/api?x'), undefined],
    ['prefix case-insensitive returns the request text', { prefix: '/API', caseSensitive: { value: false } }, head('/api/v1'), '/api'],
    ['path exact', { path: '/bin' }, head('/bin?x=1'), ''],
    ['path exact miss', { path: '/bin' }, head('/bin/'), undefined],
    ['path case-insensitive', { path: '/BIN', caseSensitive: { value: false } }, head('/bin'), ''],
    ['an empty BoolValue is false', { path: '/BIN', caseSensitive: {} }, head('/bin'), ''],
    ['safe_regex full match on the path only', { safeRegex: { regex: '/reviews/[0-9]+' } }, head('/reviews/12?a=b'), ''],
    ['safe_regex ignores case_sensitive (Envoy)', { safeRegex: { regex: '/r' }, caseSensitive: { value: false } }, head('/R'), undefined],
    ['path_separated_prefix exact', { pathSeparatedPrefix: '/api' }, head('/api'), '/api'],
    ['path_separated_prefix segment', { pathSeparatedPrefix: '/api' }, head('/api/x'), '/api'],
    ['path_separated_prefix not a segment', { pathSeparatedPrefix: '/api' }, head('/apix'), undefined],
    ['headers all must match', { prefix: '/', headers: [{ name: 'a', stringMatch: { exact: '1' } }, { name: 'b', presentMatch: true }] }, head('/', { a: '1' }), undefined],
    ['headers match', { prefix: '/', headers: [{ name: 'a', stringMatch: { exact: '1' } }, { name: 'b', presentMatch: true }] }, head('/', { a: '1', b: '' }), '/'],
    ['query', { prefix: '/', queryParameters: [{ name: 'v', stringMatch: { exact: '1' } }] }, head('/x?v=1'), '/'],
    ['grpc', { prefix: '/', grpc: {} }, head('/svc/M', { 'content-type': 'application/grpc+proto' }), '/'],
    ['grpc miss', { prefix: '/', grpc: {} }, head('/svc/M', { 'content-type': 'application/json' }), undefined],
    ['runtime fraction 100%', { prefix: '/', runtimeFraction: { defaultValue: { numerator: 100 } } }, head('/'), '/'],
  ];
  for (const [name, m, req, want] of cases) {
    test(name, () => {
      const p = problems();
      const f = routeMatch(p, m, 'match', () => 0.5);
      expect(p.errors).toEqual([]);
      expect(f?.(req)).toBe(want);
    });
  }
  test('runtime fraction draws from the injected random source, once per request (Envoy)', () => {
    const p = problems();
    let r = 0.2;
    let draws = 0;
    const random = (): number => {
      draws++;
      return r;
    };
    const f = routeMatch(p, { prefix: '/', runtimeFraction: { defaultValue: { numerator: 25, denominator: 'HUNDRED' } } }, 'match', random);
    const g = routeMatch(p, { prefix: '/', runtimeFraction: { defaultValue: { numerator: 50, denominator: 'HUNDRED' } } }, 'match', random);
    expect(f?.(head('/'))).toBe('/');
    r = 0.3;
    const req = head('/');
    expect(f?.(req)).toBeUndefined();
    r = 0.1; // a second route sees the same draw for the same request
    expect(g?.(req)).toBe('/');
    expect(draws).toBe(2);
  });
  test('errors', () => {
    const p = problems();
    expect(routeMatch(p, { headers: [{ name: 'a' }] }, 'vh[0].routes[1].match', Math.random)).toBeUndefined();
    expect(routeMatch(p, { prefix: '/', path: '/a' }, 'm', Math.random)).toBeUndefined();
    expect(routeMatch(p, { safeRegex: { regex: '[' } }, 'm', Math.random)).toBeUndefined();
    expect(routeMatch(p, { pathSeparatedPrefix: '/a/' }, 'm', Math.random)).toBeUndefined();
    expect(routeMatch(p, { prefix: '/', headers: {} }, 'm', Math.random)).toBeUndefined();
    expect(p.errors.map((e) => e.split(': ').slice(0, 2).join(': '))).toEqual([
      'route_config r: vh[0].routes[1].match',
      'route_config r: m',
      'route_config r: m.safe_regex.regex',
      'route_config r: m.path_separated_prefix',
      'route_config r: m.headers',
    ]);
  });
  test('pathOnly strips query and fragment', () => {
    expect(pathOnly('/a?b#c')).toBe('/a');
    expect(pathOnly('/a#c?d')).toBe('/a');
    expect(pathOnly('/a')).toBe('/a');
  });
});
