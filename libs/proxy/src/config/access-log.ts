/**
 * HCM `access_log` and `tracing` → what the proxy's telemetry stage needs: for each access log,
 * where it goes (Envoy's file logger: a path, `/dev/stdout` for Istio's `envoy` provider), its
 * format (Istio's default TEXT line, or JSON when the log format is a JSON map) and an optional
 * filter; and the random sampling percentage of tracing.
 *
 * Filters are Envoy's CEL access-log filter (`envoy.access_loggers.extension_filters.cel`,
 * which Istio emits for a Telemetry `accessLogging[].filter.expression`). This file compiles the
 * subset of CEL that access-log filters use, over Envoy's attribute names:
 *
 * - literals: int, uint (`1u`), double, string, bool, null, lists `[1, 2]`;
 * - operators: `||` `&&` `!` `==` `!=` `<` `<=` `>` `>=` `in` `+` `-` `*` `/` `%`, unary `-`, `? :`;
 * - selection `request.headers['x-user']`, `request.headers.x`, `has(request.headers.x)`;
 * - functions: `size`, `startsWith`, `endsWith`, `contains`, `matches` (RE2), `int`, `uint`,
 *   `double`, `string`.
 *
 * As in Envoy, an evaluation error (a missing attribute or key, a type mismatch) makes the
 * filter false: the request is not logged. Expressions outside the subset are compile errors.
 */
import type { RE2JS } from 're2js';
import { re2 } from './matchers.js';
import { at, objects, Problems, str, typeOf, type Obj } from './fields.js';

/** Envoy's attributes of a finished request, as access-log filters read them (absent fields: unset). */
export interface AccessLogAttributes {
  readonly request?: {
    readonly method?: string;
    readonly path?: string;
    readonly url_path?: string;
    readonly host?: string;
    readonly scheme?: string;
    readonly protocol?: string;
    readonly id?: string;
    readonly useragent?: string;
    readonly referer?: string;
    /** Request body bytes. */
    readonly size?: number;
    /** Lower-case header names. */
    readonly headers?: Readonly<Record<string, string>>;
    /** Total duration in milliseconds. Envoy's `request.duration` is a CEL duration, which the subset lacks; filters compare `request.duration_ms > 1000` instead. */
    readonly duration_ms?: number;
  };
  readonly response?: {
    readonly code?: number;
    readonly code_details?: string;
    /** Envoy's response flags as text (`UH`, `-`). Envoy's CEL has a bitmask here; the text is what Istio users read. */
    readonly flags?: string;
    readonly grpc_status?: number;
    readonly size?: number;
    readonly headers?: Readonly<Record<string, string>>;
  };
  readonly connection?: { readonly mtls?: boolean; readonly requested_server_name?: string };
  readonly source?: { readonly address?: string; readonly port?: number };
  readonly destination?: { readonly address?: string; readonly port?: number };
  readonly upstream?: { readonly address?: string; readonly port?: number };
  readonly xds?: { readonly cluster_name?: string; readonly route_name?: string };
}

/** A compiled filter: true when the request is logged. Never throws. */
export type AccessLogFilter = (attrs: AccessLogAttributes) => boolean;

/** One compiled access log of an HCM. */
export interface AccessLogPlan {
  /** Envoy's logger name (`envoy.access_loggers.file`). */
  readonly name: string;
  /** File path (`/dev/stdout`); the only sink the proxy writes. */
  readonly path: string;
  /** `text` (Istio's default format) or `json` (a json_format map). */
  readonly format: 'text' | 'json';
  /** The filter source, for config dumps and errors. */
  readonly expression?: string;
  readonly filter?: AccessLogFilter;
}

/** HCM telemetry the proxy applies. */
export interface HcmTelemetryPlan {
  readonly accessLogs: readonly AccessLogPlan[];
  /** tracing.random_sampling in percent, when the HCM sets it (else the proxy's own default). */
  readonly randomSamplingPercent?: number;
}

const FILE_LOG_TYPE = 'envoy.extensions.access_loggers.file.v3.FileAccessLog';
const CEL_FILTER_TYPE = 'envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter';
const TYPED_STRUCT_TYPES = new Set(['xds.type.v3.TypedStruct', 'udpa.type.v1.TypedStruct']);

/**
 * compileHcmTelemetry returns the access logs and sampling of one HCM (`typedConfig` object
 * form); problems go to `p` with field paths (`access_log[0].filter...`), and a log whose filter
 * does not compile is left out (the rest of the listener still applies).
 */
export function compileHcmTelemetry(p: Problems, hcm: Obj, path: string): HcmTelemetryPlan {
  const accessLogs: AccessLogPlan[] = [];
  const logs = objects(p, hcm, 'accessLog', path);
  logs.forEach(({ v: log, path: lp }) => {
    const name = str(p, log, 'name', lp) ?? '';
    const tc = log.typedConfig as Obj | undefined;
    if (!tc || typeOf(tc) !== FILE_LOG_TYPE) {
      p.warn(lp, `access logger ${name || typeOf(tc ?? {}) || '?'} is not supported (only ${FILE_LOG_TYPE}); ignored`);
      return;
    }
    const filePath = str(p, tc, 'path', at(lp, 'typedConfig')) ?? '/dev/stdout';
    const lf = tc.logFormat as Obj | undefined;
    const format: 'text' | 'json' = lf && (lf.jsonFormat !== undefined || (lf.textFormatSource === undefined && lf.json_format !== undefined)) ? 'json' : 'text';
    const f = log.filter as Obj | undefined;
    if (!f) {
      accessLogs.push({ name, path: filePath, format });
      return;
    }
    const expr = celFilterExpression(p, f, at(lp, 'filter'));
    if (expr === undefined) return;
    const compiled = compileCelFilter(expr);
    if (!compiled.ok) {
      p.error(at(lp, 'filter'), `CEL expression "${expr}": ${compiled.error}`);
      return;
    }
    accessLogs.push({ name, path: filePath, format, expression: expr, filter: compiled.filter });
  });
  const tracing = hcm.tracing as Obj | undefined;
  const rs = (tracing?.randomSampling as Obj | undefined)?.value;
  return { accessLogs, ...(typeof rs === 'number' ? { randomSamplingPercent: rs } : {}) };
}

/** celFilterExpression returns the CEL expression of an AccessLogFilter (`extension_filter` with an ExpressionFilter, directly or in a TypedStruct). */
function celFilterExpression(p: Problems, f: Obj, path: string): string | undefined {
  const ext = f.extensionFilter as Obj | undefined;
  const tc = ext?.typedConfig as Obj | undefined;
  if (!tc) {
    p.error(path, `only extension_filter with ${CEL_FILTER_TYPE} is supported`);
    return undefined;
  }
  const t = typeOf(tc);
  if (t === CEL_FILTER_TYPE && typeof tc.expression === 'string') return tc.expression;
  if (t && TYPED_STRUCT_TYPES.has(t) && typeof tc.typeUrl === 'string' && tc.typeUrl.endsWith(CEL_FILTER_TYPE)) {
    const v = (tc.value as Obj | undefined)?.expression;
    if (typeof v === 'string') return v;
  }
  p.error(path, `only extension_filter with ${CEL_FILTER_TYPE} is supported`);
  return undefined;
}

// ───────────────────────────── CEL subset ─────────────────────────────

type Value = null | boolean | number | bigint | string | Value[] | { readonly [k: string]: unknown };
type Node =
  | { k: 'lit'; v: Value }
  | { k: 'id'; name: string }
  | { k: 'sel'; of: Node; field: string }
  | { k: 'idx'; of: Node; index: Node }
  | { k: 'call'; fn: string; target?: Node; args: Node[] }
  | { k: 'un'; op: string; a: Node }
  | { k: 'bin'; op: string; a: Node; b: Node }
  | { k: 'cond'; c: Node; t: Node; f: Node }
  | { k: 'list'; items: Node[] };

class CelError extends Error {}

const TOKEN = /\s*(?:(\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)|(0x[0-9a-fA-F]+|\d+)([uU]?)|("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|([A-Za-z_][A-Za-z0-9_]*)|(\|\||&&|==|!=|<=|>=|[-+*/%<>!?:.,()[\]]))/y;

type Tok = { t: 'num' | 'int' | 'uint' | 'str' | 'id' | 'op' | 'eof'; v: string; pos: number };

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  for (;;) {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(src);
    if (!m) {
      if (/^\s*$/.test(src.slice(i))) break;
      throw new CelError(`unexpected character at column ${src.slice(0, i).length + 1 + (src.slice(i).length - src.slice(i).trimStart().length)}`);
    }
    const pos = m.index + (m[0].length - m[0].trimStart().length);
    if (m[1]) out.push({ t: 'num', v: m[1], pos });
    else if (m[2]) out.push({ t: m[3] ? 'uint' : 'int', v: m[2], pos });
    else if (m[4]) out.push({ t: 'str', v: unquote(m[4]), pos });
    else if (m[5]) out.push({ t: 'id', v: m[5], pos });
    else out.push({ t: 'op', v: m[6], pos });
    i = TOKEN.lastIndex;
  }
  out.push({ t: 'eof', v: '', pos: src.length });
  return out;
}

function unquote(q: string): string {
  const body = q.slice(1, -1);
  return body.replace(/\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)/g, (_, e: string) => {
    if (e[0] === 'u' || e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" } as Record<string, string>)[e] ?? e;
  });
}

const LEVELS: readonly (readonly string[])[] = [['||'], ['&&'], ['==', '!=', '<', '<=', '>', '>=', 'in'], ['+', '-'], ['*', '/', '%']];

function parse(src: string): Node {
  const toks = lex(src);
  let i = 0;
  const peek = (): Tok => toks[i];
  const isOp = (v: string): boolean => peek().t === 'op' && peek().v === v;
  const expect = (v: string): void => {
    if (!isOp(v)) throw new CelError(`expected "${v}" at column ${peek().pos + 1}`);
    i++;
  };
  const expr = (): Node => {
    const c = binary(0);
    if (!isOp('?')) return c;
    i++;
    const t = binary(0);
    expect(':');
    return { k: 'cond', c, t, f: expr() };
  };
  const binary = (level: number): Node => {
    if (level === LEVELS.length) return unary();
    let a = binary(level + 1);
    for (;;) {
      const t = peek();
      const op = (t.t === 'op' || (t.t === 'id' && t.v === 'in')) && LEVELS[level].includes(t.v) ? t.v : undefined;
      if (!op) return a;
      i++;
      a = { k: 'bin', op, a, b: binary(level + 1) };
    }
  };
  const unary = (): Node => {
    if (isOp('!') || isOp('-')) {
      const op = peek().v;
      i++;
      return { k: 'un', op, a: unary() };
    }
    return member();
  };
  const args = (close: string): Node[] => {
    const out: Node[] = [];
    if (isOp(close)) {
      i++;
      return out;
    }
    for (;;) {
      out.push(expr());
      if (isOp(close)) {
        i++;
        return out;
      }
      expect(',');
    }
  };
  const member = (): Node => {
    let n = primary();
    for (;;) {
      if (isOp('.')) {
        i++;
        const f = peek();
        if (f.t !== 'id') throw new CelError(`expected a field name at column ${f.pos + 1}`);
        i++;
        if (isOp('(')) {
          i++;
          n = { k: 'call', fn: f.v, target: n, args: args(')') };
        } else n = { k: 'sel', of: n, field: f.v };
      } else if (isOp('[')) {
        i++;
        const index = expr();
        expect(']');
        n = { k: 'idx', of: n, index };
      } else return n;
    }
  };
  const primary = (): Node => {
    const t = peek();
    i++;
    switch (t.t) {
      case 'num':
        return { k: 'lit', v: Number(t.v) };
      case 'int':
        return { k: 'lit', v: BigInt(t.v) };
      case 'uint':
        return { k: 'lit', v: Number(t.v) }; // uints compare as numbers with ints here (CEL's heterogeneous equality)
      case 'str':
        return { k: 'lit', v: t.v };
      case 'id':
        if (t.v === 'true' || t.v === 'false') return { k: 'lit', v: t.v === 'true' };
        if (t.v === 'null') return { k: 'lit', v: null };
        if (isOp('(')) {
          i++;
          return { k: 'call', fn: t.v, args: args(')') };
        }
        return { k: 'id', name: t.v };
      case 'op':
        if (t.v === '(') {
          const e = expr();
          expect(')');
          return e;
        }
        if (t.v === '[') return { k: 'list', items: args(']') };
        break;
      default:
        break;
    }
    throw new CelError(t.t === 'eof' ? 'unexpected end of expression' : `unexpected "${t.v}" at column ${t.pos + 1}`);
  };
  const root = expr();
  if (peek().t !== 'eof') throw new CelError(`unexpected "${peek().v}" at column ${peek().pos + 1}`);
  return root;
}

const ROOTS = new Set(['request', 'response', 'connection', 'source', 'destination', 'upstream', 'xds']);
const FUNCTIONS = new Set(['size', 'startsWith', 'endsWith', 'contains', 'matches', 'int', 'uint', 'double', 'string', 'has']);

/** check rejects, at compile time, what the evaluator does not know (unknown roots and functions, bad has(), bad regexes). */
function check(n: Node): void {
  switch (n.k) {
    case 'id':
      if (!ROOTS.has(n.name)) throw new CelError(`undeclared reference to "${n.name}" (attributes: ${[...ROOTS].join(', ')})`);
      return;
    case 'sel':
      return check(n.of);
    case 'idx':
      check(n.of);
      return check(n.index);
    case 'call':
      if (!FUNCTIONS.has(n.fn)) throw new CelError(`function "${n.fn}" is not supported in access-log filters`);
      if (n.fn === 'has' && (n.target || n.args.length !== 1 || n.args[0].k !== 'sel')) throw new CelError('has() takes one field selection, e.g. has(request.headers.x)');
      if (n.fn === 'matches') {
        const re = n.args[0];
        if (re?.k === 'lit' && typeof re.v === 'string') {
          try {
            re2().compile(re.v);
          } catch (err) {
            throw new CelError(`invalid RE2 regex "${re.v}": ${(err as Error).message}`);
          }
        }
      }
      if (n.target) check(n.target);
      n.args.forEach(check);
      return;
    case 'un':
      return check(n.a);
    case 'bin':
      check(n.a);
      return check(n.b);
    case 'cond':
      check(n.c);
      check(n.t);
      return check(n.f);
    case 'list':
      return n.items.forEach(check);
    case 'lit':
      return;
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  throw new CelError('no such overload');
};
const isNum = (v: unknown): boolean => typeof v === 'number' || typeof v === 'bigint';

function equal(a: unknown, b: unknown): boolean {
  if (isNum(a) && isNum(b)) return num(a) === num(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  return a === b;
}

/** Whole-number attributes are CEL ints (response.code / 100 is integer division, as in Envoy). */
const attrValue = (v: unknown): unknown => (typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : v);

const regexes = new Map<string, RE2JS>();

function evaluate(n: Node, attrs: AccessLogAttributes): unknown {
  switch (n.k) {
    case 'lit':
      return n.v;
    case 'id': {
      const v = (attrs as Record<string, unknown>)[n.name];
      return v === undefined ? {} : v; // an absent attribute group reads as empty: its fields are "no such key"
    }
    case 'sel': {
      const o = evaluate(n.of, attrs);
      if (!isMap(o) || o[n.field] === undefined) throw new CelError(`no such key: ${n.field}`);
      return attrValue(o[n.field]);
    }
    case 'idx': {
      const o = evaluate(n.of, attrs);
      const k = evaluate(n.index, attrs);
      if (Array.isArray(o)) {
        const i = num(k);
        if (i < 0 || i >= o.length) throw new CelError('index out of range');
        return o[i];
      }
      if (!isMap(o) || typeof k !== 'string' || o[k] === undefined) throw new CelError(`no such key: ${String(k)}`);
      return attrValue(o[k]);
    }
    case 'list':
      return n.items.map((x) => evaluate(x, attrs));
    case 'cond': {
      const c = evaluate(n.c, attrs);
      if (typeof c !== 'boolean') throw new CelError('condition is not a bool');
      return evaluate(c ? n.t : n.f, attrs);
    }
    case 'un': {
      const a = evaluate(n.a, attrs);
      if (n.op === '!') {
        if (typeof a !== 'boolean') throw new CelError('no such overload');
        return !a;
      }
      if (typeof a === 'bigint') return -a;
      return -num(a);
    }
    case 'bin':
      return binaryOp(n, attrs);
    case 'call':
      return call(n, attrs);
  }
}

function binaryOp(n: Extract<Node, { k: 'bin' }>, attrs: AccessLogAttributes): unknown {
  // CEL's logical operators are commutative over errors: `error || true` is true.
  if (n.op === '||' || n.op === '&&') {
    const want = n.op === '||';
    let err: unknown;
    for (const side of [n.a, n.b]) {
      try {
        const v = evaluate(side, attrs);
        if (typeof v !== 'boolean') throw new CelError('no such overload');
        if (v === want) return want;
      } catch (e) {
        err = e;
      }
    }
    if (err) throw err;
    return !want;
  }
  const a = evaluate(n.a, attrs);
  const b = evaluate(n.b, attrs);
  switch (n.op) {
    case '==':
      return equal(a, b);
    case '!=':
      return !equal(a, b);
    case 'in':
      if (Array.isArray(b)) return b.some((x) => equal(a, x));
      if (isMap(b) && typeof a === 'string') return Object.hasOwn(b, a);
      throw new CelError('no such overload');
    case '<':
    case '<=':
    case '>':
    case '>=': {
      let c: number;
      if (typeof a === 'string' && typeof b === 'string') c = a < b ? -1 : a > b ? 1 : 0;
      else c = num(a) - num(b);
      return n.op === '<' ? c < 0 : n.op === '<=' ? c <= 0 : n.op === '>' ? c > 0 : c >= 0;
    }
    case '+':
      if (typeof a === 'string' && typeof b === 'string') return a + b;
      if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
      return arith(a, b, (x, y) => x + y, (x, y) => x + y);
    case '-':
      return arith(a, b, (x, y) => x - y, (x, y) => x - y);
    case '*':
      return arith(a, b, (x, y) => x * y, (x, y) => x * y);
    case '/':
      if ((typeof b === 'bigint' && b === 0n) || b === 0) throw new CelError('division by zero');
      return arith(a, b, (x, y) => x / y, (x, y) => x / y);
    case '%':
      if ((typeof b === 'bigint' && b === 0n) || b === 0) throw new CelError('modulus by zero');
      return arith(a, b, (x, y) => x % y, (x, y) => x % y);
  }
  throw new CelError(`unknown operator ${n.op}`);
}

function arith(a: unknown, b: unknown, big: (x: bigint, y: bigint) => bigint, dbl: (x: number, y: number) => number): unknown {
  if (typeof a === 'bigint' && typeof b === 'bigint') return big(a, b);
  return dbl(num(a), num(b));
}

function call(n: Extract<Node, { k: 'call' }>, attrs: AccessLogAttributes): unknown {
  if (n.fn === 'has') {
    const sel = n.args[0] as Extract<Node, { k: 'sel' }>;
    const o = evaluate(sel.of, attrs);
    return isMap(o) && o[sel.field] !== undefined;
  }
  const target = n.target ? evaluate(n.target, attrs) : undefined;
  const args = n.args.map((a) => evaluate(a, attrs));
  const s = (v: unknown): string => {
    if (typeof v !== 'string') throw new CelError('no such overload');
    return v;
  };
  switch (n.fn) {
    case 'size': {
      const v = n.target ? target : args[0];
      if (typeof v === 'string') return BigInt([...v].length);
      if (Array.isArray(v)) return BigInt(v.length);
      if (isMap(v)) return BigInt(Object.keys(v).length);
      throw new CelError('no such overload');
    }
    case 'startsWith':
      return s(target).startsWith(s(args[0]));
    case 'endsWith':
      return s(target).endsWith(s(args[0]));
    case 'contains':
      return s(target).includes(s(args[0]));
    case 'matches': {
      const pattern = s(args[0]);
      let re = regexes.get(pattern);
      if (!re) {
        re = re2().compile(pattern);
        if (regexes.size < 1000) regexes.set(pattern, re);
      }
      // CEL's matches is a search (RE2 partial match), not a full match.
      return re.matcher(s(target)).find();
    }
    case 'int':
    case 'uint': {
      const v = args[0];
      if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
      if (isNum(v)) return BigInt(Math.trunc(num(v)));
      throw new CelError('no such overload');
    }
    case 'double': {
      const v = args[0];
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      return num(v);
    }
    case 'string': {
      const v = args[0];
      if (typeof v === 'string') return v;
      if (isNum(v) || typeof v === 'boolean') return String(v);
      throw new CelError('no such overload');
    }
  }
  throw new CelError(`unknown function ${n.fn}`);
}

/** compileCelFilter returns the filter for a CEL expression, or why it cannot be compiled. */
export function compileCelFilter(expression: string): { ok: true; filter: AccessLogFilter } | { ok: false; error: string } {
  let root: Node;
  try {
    root = parse(expression);
    check(root);
  } catch (err) {
    if (err instanceof CelError) return { ok: false, error: err.message };
    throw err;
  }
  return {
    ok: true,
    filter: (attrs) => {
      try {
        return evaluate(root, attrs) === true;
      } catch {
        return false; // Envoy: expression errors are considered false
      }
    },
  };
}
