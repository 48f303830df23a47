/**
 * Envoy matchers compiled to closures over a RequestHead: string matchers (`StringMatcher`), header
 * matchers (`HeaderMatcher`), query parameter matchers, path matchers (`RouteMatch`) and runtime
 * fractions. Compilation checks everything once; the closures only compare.
 *
 * Regular expressions follow RE2 (Envoy's `safe_regex`, `google_re2`): every pattern is compiled
 * with re2js, so what RE2 rejects (lookaround, backreferences) is an error here as in Envoy, and
 * matching is a full match of the whole value. Full matches of patterns made only of a
 * conservative subset of the syntax, where RE2 and a JavaScript `u`-flag RegExp agree and where
 * backtracking stays linear (one unbounded quantifier, a few bounded ones, no quantified group), run on the
 * JavaScript engine (about 5× faster: 0.13 µs against 0.6 µs on a 20-character path); everything
 * else, and every substitution, runs on re2js, whose time is linear whatever the pattern.
 */
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';
import type { Headers, RequestHead } from '../model.js';
import { at, bool, describe, int, isMessage, list, obj, objects, oneof, Problems, runtimeFraction, str, wrappedBool, type Obj } from './fields.js';

/** A compiled regular expression with RE2 semantics. */
export interface CompiledRegex {
  readonly source: string;
  /** Number of capturing groups (a substitution may name \\0 to this). */
  readonly groups: number;
  /** Which engine runs fullMatch: the JavaScript fast path or re2js. */
  readonly engine: 'js' | 're2';
  /** fullMatch tells whether the whole value matches (Envoy's safe_regex matching). */
  fullMatch(value: string): boolean;
  /** replaceAll substitutes every match; `substitution` uses Envoy's syntax (`\1` for group 1). */
  replaceAll(value: string, substitution: string): string;
}

// Literals, `.`, quantifiers, groups without `(?`, alternation, simple classes and escapes of
// punctuation, \d and \w: where a `u`-flag JavaScript RegExp and RE2 give the same answer.
const JS_SAFE = /^(?:[A-Za-z0-9_\-/.:,;=@~%!#&<>'" *+?()|{}[\]^$]|\\[dDwW./\-*+?()[\]{}|^$\\])*$/;

let re2js: typeof RE2JS | undefined;
/**
 * re2 returns the re2js engine, loaded on first use: most configurations have no regex, and the
 * package is ~2 MB of RSS in every proxy otherwise (docs/proxy.md, hot path decisions). Loaded
 * synchronously (compilation is synchronous) through its CommonJS build.
 */
export function re2(): typeof RE2JS {
  re2js ??= (createRequire(import.meta.url)('re2js') as { RE2JS: typeof RE2JS }).RE2JS;
  return re2js;
}

/**
 * compileRegex compiles an RE2 pattern; a syntax error is recorded at `path` and undefined returned.
 */
export function compileRegex(p: Problems, regex: string, path: string, ignoreCase = false): CompiledRegex | undefined {
  let compiled: RE2JS;
  try {
    const engine = re2();
    compiled = engine.compile(regex, ignoreCase ? engine.CASE_INSENSITIVE : 0);
  } catch (err) {
    p.error(path, `invalid RE2 regex ${JSON.stringify(regex)}: ${(err as Error).message}`);
    return undefined;
  }
  let js: RegExp | undefined;
  if (JS_SAFE.test(regex) && !regex.includes('(?') && !regex.includes('[[') && linearBacktracking(regex, ignoreCase)) {
    try {
      js = new RegExp(`^(?:${regex})$`, ignoreCase ? 'iu' : 'u');
    } catch {
      js = undefined;
    }
  }
  return {
    source: regex,
    groups: compiled.groupCount(),
    engine: js ? 'js' : 're2',
    fullMatch: js ? (v) => js.test(v) : (v) => compiled.matches(v),
    replaceAll: (v, sub) => compiled.matcher(v).replaceAll(re2Substitution(sub)),
  };
}

/**
 * linearBacktracking tells whether an anchored JavaScript match of `regex` cannot blow up: at most
 * one unbounded quantifier (`*`, `+`, `{n,}`) outside character classes, at most three quantifiers
 * in all (`{n,m}` spanning at most 16), and no quantifier on a group. Nested or repeated unbounded quantifiers (`(a+)+`, `.*a.*b`) can take exponential or
 * polynomial time in a backtracking engine — the denial of service RE2 exists to prevent.
 */
export function linearBacktracking(regex: string, ignoreCase = false): boolean {
  const seq = atomSequence(regex);
  if (seq) return deterministicSequence(seq, ignoreCase);
  let unbounded = 0;
  let bounded = 0;
  let inClass = false;
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      if (regex[i + 1] === '^') i++;
      if (regex[i + 1] === ']') i++;
      continue;
    }
    if (c === ')' && /[*+?{]/.test(regex[i + 1] ?? '')) return false;
    if (c === '*' || c === '+') unbounded++;
    if (c === '?' && regex[i - 1] !== '(' && !/[*+?}]/.test(regex[i - 1] ?? '')) bounded++;
    if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(regex.slice(i));
      if (m && m[2] !== undefined && m[3] === '') unbounded++;
      else if (m && m[3] !== undefined && Number(m[3]) - Number(m[1]) > 16) return false;
      else if (m) bounded++;
    }
  }
  // Optional pieces multiply the ways to split a value: a few are harmless, many are not.
  return unbounded <= 1 && unbounded + bounded <= 3;
}

interface Atom {
  readonly src: string;
  /** A single literal character (plain or escaped punctuation), not a class. */
  readonly literal?: string;
  readonly min: number;
  readonly max: number;
}

/** atomSequence splits a pattern without groups or alternation into quantified atoms; undefined otherwise. */
function atomSequence(regex: string): Atom[] | undefined {
  const out: Atom[] = [];
  let i = 0;
  if (regex[0] === '^') i = 1;
  const end = regex.endsWith('$') && !regex.endsWith('\\$') ? regex.length - 1 : regex.length;
  while (i < end) {
    const c = regex[i];
    let src: string;
    let literal: string | undefined;
    if (c === '(' || c === ')' || c === '|' || c === '^' || c === '$') return undefined;
    if (c === '\\') {
      src = regex.slice(i, i + 2);
      if (!/[dDwWsSbB]/.test(regex[i + 1] ?? '')) literal = regex[i + 1];
      i += 2;
    } else if (c === '[') {
      let j = i + 1;
      if (regex[j] === '^') j++;
      if (regex[j] === ']') j++;
      while (j < end && regex[j] !== ']') j += regex[j] === '\\' ? 2 : 1;
      if (j >= end) return undefined;
      src = regex.slice(i, j + 1);
      i = j + 1;
    } else if ('*+?{'.includes(c)) return undefined;
    else {
      src = c;
      if (c !== '.') literal = c;
      i++;
    }
    let min = 1;
    let max = 1;
    const q = /^(?:([*+?])|\{(\d+)(,(\d*))?\})\??/.exec(regex.slice(i, end));
    if (q) {
      if (q[1] === '*') [min, max] = [0, Infinity];
      else if (q[1] === '+') [min, max] = [1, Infinity];
      else if (q[1] === '?') [min, max] = [0, 1];
      else {
        min = Number(q[2]);
        max = q[3] === undefined ? min : q[4] === '' ? Infinity : Number(q[4]);
      }
      i += q[0].length;
    }
    out.push({ src, ...(literal !== undefined ? { literal } : {}), min, max });
  }
  return out;
}

/**
 * deterministicSequence: a variable-length atom followed by a required literal it cannot match
 * (`[0-9]+` then `/`, `[^/]*` then `/`) has one way to end, so the engine tries it once. Any other
 * variable atom multiplies the work of everything after it, so it may only be the last variable
 * atom (the work stays linear), or a short optional piece (`x?`, `x{1,3}`) whose choices multiply
 * to at most 16.
 */
function deterministicSequence(seq: readonly Atom[], ignoreCase: boolean): boolean {
  let last = -1;
  for (let k = 0; k < seq.length; k++) if (seq[k].min !== seq[k].max) last = k;
  let choices = 1;
  for (let k = 0; k < last; k++) {
    const a = seq[k];
    if (a.min === a.max) continue;
    if (a.max !== Infinity && a.max - a.min > 16) return false;
    const next = seq[k + 1];
    if (next.literal !== undefined && next.min >= 1 && !atomAccepts(a.src, next.literal, ignoreCase)) continue;
    if (a.max === Infinity) return false;
    choices *= a.max - a.min + 1;
  }
  if (last >= 0 && seq[last].max !== Infinity && seq[last].max - seq[last].min > 16) return false;
  return choices <= 16;
}

function atomAccepts(src: string, ch: string, ignoreCase: boolean): boolean {
  try {
    const re = new RegExp(`^(?:${src})$`, ignoreCase ? 'iu' : 'u');
    return re.test(ch) || (ignoreCase && (re.test(ch.toLowerCase()) || re.test(ch.toUpperCase())));
  } catch {
    return true;
  }
}

/**
 * Envoy substitutions are RE2's: `\0` the whole match, `\1`…`\9` groups, `\\` a backslash.
 * re2js (outside Java mode, like JavaScript's replace) wants `$&`, `$1`, `\` and `$$` for a dollar.
 */
function re2Substitution(sub: string): string {
  let out = '';
  for (let i = 0; i < sub.length; i++) {
    const c = sub[i];
    if (c === '$') out += '$$';
    else if (c === '\\' && i + 1 < sub.length) {
      const n = sub[++i];
      if (n >= '0' && n <= '9') out += n === '0' ? '$&' : `$${n}`;
      else out += n === '$' ? '$$' : n;
    } else out += c;
  }
  return out;
}

/** regexMatcher reads a `RegexMatcher` message (`{regex, googleRe2}`). */
export function regexMatcher(p: Problems, m: Obj, path: string, ignoreCase = false): CompiledRegex | undefined {
  const regex = str(p, m, 'regex', path);
  if (regex === undefined) {
    p.error(at(path, 'regex'), 'is required');
    return undefined;
  }
  return compileRegex(p, regex, at(path, 'regex'), ignoreCase);
}

/** A compiled string matcher: true when the value matches. */
export type StringPredicate = (value: string) => boolean;

const STRING_KINDS = ['exact', 'prefix', 'suffix', 'contains', 'safeRegex'] as const;

/**
 * stringMatcher compiles an Envoy `StringMatcher` (exact, prefix, suffix, contains, safe_regex,
 * with ignore_case for all but the regex, as Envoy).
 */
export function stringMatcher(p: Problems, m: Obj, path: string): StringPredicate | undefined {
  const kind = oneof(p, m, [...STRING_KINDS, 'custom'], path, '');
  const ignoreCase = bool(p, m, 'ignoreCase', path) ?? false;
  switch (kind) {
    case 'exact':
    case 'prefix':
    case 'suffix':
    case 'contains': {
      const raw = str(p, m, kind, path);
      if (raw === undefined) return undefined;
      if (raw === '' && kind !== 'exact') {
        p.error(at(path, kind), 'must not be empty');
        return undefined;
      }
      return textPredicate(kind, raw, ignoreCase);
    }
    case 'safeRegex': {
      const r = obj(p, m, 'safeRegex', path);
      const re = r && regexMatcher(p, r, at(path, 'safeRegex'));
      return re ? (v) => re.fullMatch(v) : undefined;
    }
    case 'custom':
      p.error(at(path, 'custom'), 'custom string matchers are not supported');
      return undefined;
    default:
      return undefined;
  }
}

function textPredicate(kind: 'exact' | 'prefix' | 'suffix' | 'contains', raw: string, ignoreCase: boolean): StringPredicate {
  if (ignoreCase) {
    const t = raw.toLowerCase();
    switch (kind) {
      case 'exact':
        return (v) => v.length === t.length && v.toLowerCase() === t;
      case 'prefix':
        return (v) => v.length >= t.length && v.slice(0, t.length).toLowerCase() === t;
      case 'suffix':
        return (v) => v.length >= t.length && v.slice(v.length - t.length).toLowerCase() === t;
      case 'contains':
        return (v) => v.toLowerCase().includes(t);
    }
  }
  switch (kind) {
    case 'exact':
      return (v) => v === raw;
    case 'prefix':
      return (v) => v.startsWith(raw);
    case 'suffix':
      return (v) => v.endsWith(raw);
    case 'contains':
      return (v) => v.includes(raw);
  }
}

/** A compiled request predicate. */
export type RequestPredicate = (req: RequestHead) => boolean;

/**
 * headerValue returns what an Envoy header matcher sees for `name`: pseudo-headers from the head
 * (`:authority`, `:method`, `:path`, `:scheme`; `host` is `:authority` as in Envoy), otherwise
 * every value of the header joined with `,` (Envoy's getAllOfHeaderAsString), or undefined.
 */
export function headerValue(req: RequestHead, name: string): string | undefined {
  switch (name) {
    case ':authority':
    case 'host':
      return req.authority;
    case ':method':
      return req.method;
    case ':path':
      return req.path;
    case ':scheme':
      return req.scheme;
    default:
      return joined(req.headers, name);
  }
}

function joined(h: Headers, name: string): string | undefined {
  const l = h.list;
  let out: string | undefined;
  for (let i = 0; i < l.length; i += 2) {
    if (l[i] === name) out = out === undefined ? l[i + 1] : `${out},${l[i + 1]}`;
  }
  return out;
}

const HEADER_KINDS = ['exactMatch', 'safeRegexMatch', 'rangeMatch', 'presentMatch', 'prefixMatch', 'suffixMatch', 'containsMatch', 'stringMatch'] as const;

/**
 * headerMatcher compiles an Envoy `HeaderMatcher`. As Envoy: an absent header matches only
 * `present_match: false` (or, inverted, `present_match: true`) unless
 * treat_missing_header_as_empty; otherwise the value (all values joined by `,`) is tested and the
 * result inverted by invert_match. No match specifier means "present".
 */
export function headerMatcher(p: Problems, h: Obj, path: string): RequestPredicate | undefined {
  const rawName = str(p, h, 'name', path);
  if (!rawName) {
    p.error(at(path, 'name'), 'is required');
    return undefined;
  }
  const name = rawName.toLowerCase();
  const invert = bool(p, h, 'invertMatch', path) ?? false;
  const missingAsEmpty = bool(p, h, 'treatMissingHeaderAsEmpty', path) ?? false;
  const kind = oneof(p, h, HEADER_KINDS, path, undefined);
  let test: StringPredicate | undefined;
  let present = true;
  let isPresent = kind === undefined;
  switch (kind) {
    case 'exactMatch': {
      const v = str(p, h, kind, path);
      if (v === undefined) return undefined;
      // Envoy: an empty legacy exact_match matches any value of a present header.
      test = v === '' ? () => true : (x) => x === v;
      break;
    }
    case 'prefixMatch':
    case 'suffixMatch':
    case 'containsMatch': {
      const v = str(p, h, kind, path);
      if (v === undefined) return undefined;
      if (v === '') {
        p.error(at(path, kind), 'must not be empty');
        return undefined;
      }
      test = textPredicate(kind === 'prefixMatch' ? 'prefix' : kind === 'suffixMatch' ? 'suffix' : 'contains', v, false);
      break;
    }
    case 'safeRegexMatch': {
      const r = obj(p, h, kind, path);
      const re = r && regexMatcher(p, r, at(path, kind));
      if (!re) return undefined;
      test = (x) => re.fullMatch(x);
      break;
    }
    case 'rangeMatch': {
      const r = obj(p, h, kind, path);
      if (!r) return undefined;
      const rp = at(path, kind);
      const start = int(p, r, 'start', rp) ?? 0;
      const end = int(p, r, 'end', rp) ?? 0;
      if (start >= end) {
        p.error(rp, `start ${start} must be less than end ${end}`);
        return undefined;
      }
      // Envoy: the value must be a whole signed integer in [start, end).
      test = (x) => /^-?\d+$/.test(x) && Number(x) >= start && Number(x) < end;
      break;
    }
    case 'presentMatch':
      present = bool(p, h, kind, path) ?? true;
      isPresent = true;
      break;
    case 'stringMatch': {
      const m = obj(p, h, kind, path);
      test = m && stringMatcher(p, m, at(path, kind));
      if (!test) return undefined;
      break;
    }
  }
  const t = test;
  return (req) => {
    let v = headerValue(req, name);
    if (v === undefined) {
      if (!missingAsEmpty) return isPresent && (invert ? present : !present);
      v = '';
    }
    const matched = isPresent ? present : (t as StringPredicate)(v);
    return matched !== invert;
  };
}

/**
 * queryValue returns the first value of a query parameter in the request path (percent-decoded,
 * `+` as space), or undefined. Envoy compares decoded values.
 */
export function queryValue(path: string, name: string): string | undefined {
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  const end = path.indexOf('#', q);
  return new URLSearchParams(path.slice(q + 1, end < 0 ? undefined : end)).get(name) ?? undefined;
}

/** queryParameterMatcher compiles an Envoy `QueryParameterMatcher` (string_match or present_match). */
export function queryParameterMatcher(p: Problems, m: Obj, path: string): RequestPredicate | undefined {
  const name = str(p, m, 'name', path);
  if (!name) {
    p.error(at(path, 'name'), 'is required');
    return undefined;
  }
  const kind = oneof(p, m, ['stringMatch', 'presentMatch'], path, undefined);
  if (kind === 'presentMatch') {
    const want = bool(p, m, 'presentMatch', path) ?? false;
    return (req) => (queryValue(req.path, name) !== undefined) === want;
  }
  if (kind === 'stringMatch') {
    const sm = obj(p, m, 'stringMatch', path);
    const test = sm && stringMatcher(p, sm, at(path, 'stringMatch'));
    if (!test) return undefined;
    return (req) => {
      const v = queryValue(req.path, name);
      return v !== undefined && test(v);
    };
  }
  // Neither: Envoy treats the parameter as required to be present.
  return (req) => queryValue(req.path, name) !== undefined;
}

// Envoy draws one random value per request for every runtime_fraction it meets, so two routes
// at 50 % split requests between them instead of letting a quarter fall through both.
const REQUEST_RANDOM = new WeakMap<RequestHead, number>();

function requestRandom(req: RequestHead, random: () => number): number {
  let v = REQUEST_RANDOM.get(req);
  if (v === undefined) {
    v = random();
    REQUEST_RANDOM.set(req, v);
  }
  return v;
}

/** pathOnly returns the path of an origin-form target without query or fragment (what Envoy's path matchers see). */
export function pathOnly(target: string): string {
  let end = target.length;
  const q = target.indexOf('?');
  if (q >= 0) end = q;
  const h = target.indexOf('#');
  if (h >= 0 && h < end) end = h;
  return end === target.length ? target : target.slice(0, end);
}

/** A compiled route match: the matched prefix ('' when not a prefix match) or undefined. */
export type RouteMatcher = (req: RequestHead) => string | undefined;

const PATH_KINDS = ['prefix', 'path', 'safeRegex', 'connectMatcher', 'pathSeparatedPrefix', 'pathMatchPolicy'] as const;

/**
 * routeMatch compiles an Envoy `RouteMatch`: the path specifier (prefix, path, safe_regex,
 * path_separated_prefix; case_sensitive applies to prefix and path, not to the regex, as Envoy),
 * headers, query parameters, `grpc` (content-type application/grpc*) and runtime_fraction. `random`
 * is the source of randomness for runtime fractions (injected, so tests control it).
 */
export function routeMatch(p: Problems, m: Obj, path: string, random: () => number): RouteMatcher | undefined {
  const errorsBefore = p.errors.length;
  const kind = oneof(p, m, PATH_KINDS, path, 'path_specifier');
  const caseSensitive = wrappedBool(p, m, 'caseSensitive', path) ?? true;
  let pathTest: ((path: string) => string | undefined) | undefined;
  switch (kind) {
    case 'prefix': {
      const v = str(p, m, kind, path);
      if (v === undefined) break;
      if (caseSensitive) pathTest = (x) => (x.startsWith(v) ? v : undefined);
      else {
        const lv = v.toLowerCase();
        pathTest = (x) => (x.length >= lv.length && x.slice(0, lv.length).toLowerCase() === lv ? x.slice(0, lv.length) : undefined);
      }
      break;
    }
    case 'path': {
      const v = str(p, m, kind, path);
      if (v === undefined) break;
      const lv = v.toLowerCase();
      pathTest = caseSensitive ? (x) => (x === v ? '' : undefined) : (x) => (x.toLowerCase() === lv ? '' : undefined);
      break;
    }
    case 'pathSeparatedPrefix': {
      const v = str(p, m, kind, path);
      if (v === undefined) break;
      if (!v.startsWith('/') || (v.length > 1 && v.endsWith('/')) || /[?#]/.test(v)) {
        p.error(at(path, kind), `${JSON.stringify(v)} must start with / and not end with /, and have no ? or #`);
        break;
      }
      const lv = caseSensitive ? v : v.toLowerCase();
      pathTest = (x) => {
        const c = caseSensitive ? x : x.toLowerCase();
        return c === lv || (c.startsWith(lv) && c.charCodeAt(lv.length) === 47) ? x.slice(0, v.length) : undefined;
      };
      break;
    }
    case 'safeRegex': {
      const r = obj(p, m, kind, path);
      const re = r && regexMatcher(p, r, at(path, kind));
      if (re) pathTest = (x) => (re.fullMatch(x) ? '' : undefined);
      break;
    }
    case 'connectMatcher':
      // CONNECT requests never reach this proxy's routes (no CONNECT support): matches nothing.
      pathTest = () => undefined;
      break;
    case 'pathMatchPolicy':
      p.error(at(path, kind), 'path match policies (URI templates) are not supported');
      break;
  }
  const checks: RequestPredicate[] = [];
  for (const h of objects(p, m, 'headers', path)) {
    const c = headerMatcher(p, h.v, h.path);
    if (c) checks.push(c);
  }
  for (const q of objects(p, m, 'queryParameters', path)) {
    const c = queryParameterMatcher(p, q.v, q.path);
    if (c) checks.push(c);
  }
  if (m.grpc !== undefined && m.grpc !== null) {
    if (!isMessage(m.grpc)) p.error(at(path, 'grpc'), `expected a message, got ${describe(m.grpc)}`);
    checks.push((req) => (req.headers.get('content-type') ?? '').startsWith('application/grpc'));
  }
  const rf = runtimeFraction(p, m, 'runtimeFraction', path);
  if (rf !== undefined && rf < 1) checks.push((req) => requestRandom(req, random) < rf);
  for (const k of ['dynamicMetadata', 'filterState'] as const) if (list(p, m, k, path).length > 0) p.error(at(path, k), 'not supported');
  if (obj(p, m, 'tlsContext', path)) p.error(at(path, 'tlsContext'), 'not supported');
  if (p.errors.length !== errorsBefore || !pathTest) return undefined;
  const pt = pathTest;
  if (checks.length === 0) return (req) => pt(pathOnly(req.path));
  return (req) => {
    const r = pt(pathOnly(req.path));
    if (r === undefined) return undefined;
    for (let i = 0; i < checks.length; i++) if (!checks[i](req)) return undefined;
    return r;
  };
}
