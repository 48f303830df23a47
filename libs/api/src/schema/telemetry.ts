/**
 * telemetry.istio.io: Telemetry (versions v1 and v1alpha1).
 *
 * Rules follow Istio's ValidateTelemetry webhook and the CRD's OpenAPI/CEL rules; where the
 * two differ, whatever either rejects is rejected here.
 */
import * as z from 'zod';
import type { KindDef } from './kind.js';
import { anyJson, crossCheck, duration, obj, oneOf, percentValue } from './dsl.js';
import { oneTargetKind, POLICY_TARGET_FIELDS } from './common.js';
import { nonEmptyString, withCel } from './dsl.js';
import { istioMetadataRules } from './meta.js';

// ---------------------------------------------------------------------------
// CEL syntax (the access-log filter). Istio parses the expression with cel-go's parser
// (syntax and macros only, no type check), so this checker does the same: CEL's grammar,
// literals and escapes, reserved words, and the argument rules of the standard macros.
// ---------------------------------------------------------------------------

interface Tok {
  readonly t: 'id' | 'esc' | 'int' | 'uint' | 'float' | 'str' | 'op' | 'eof';
  readonly v: string;
  readonly pos: number;
}

class CelError extends Error {
  constructor(
    message: string,
    readonly pos: number,
  ) {
    super(message);
  }
}

const RESERVED = new Set(['as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void']);
const KEYWORDS = new Set(['true', 'false', 'null', 'in']);
const TWO_CHAR_OPS = ['||', '&&', '<=', '>=', '==', '!='];
const ONE_CHAR_OPS = '?:<>+-*/%!.,()[]{}';
const STRING_PREFIXES = new Set(['r', 'b', 'br', 'rb']);

function lexCel(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
  const isIdStart = (c: string | undefined): boolean => c !== undefined && /[A-Za-z_]/.test(c);
  const isIdChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c);
  while (i < src.length) {
    const c = src[i];
    if (' \t\n\r\f'.includes(c)) {
      i++;
      continue;
    }
    if (src.startsWith('//', i)) {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    const start = i;
    if (isDigit(c) || (c === '.' && isDigit(src[i + 1]))) {
      toks.push(lexNumber());
      continue;
    }
    if (isIdStart(c)) {
      while (isIdChar(src[i])) i++;
      const word = src.slice(start, i);
      if ((src[i] === '"' || src[i] === "'") && STRING_PREFIXES.has(word.toLowerCase())) {
        lexString(word.toLowerCase().includes('r'), word.toLowerCase().includes('b'));
        toks.push({ t: 'str', v: src.slice(start, i), pos: start });
      } else {
        toks.push({ t: 'id', v: word, pos: start });
      }
      continue;
    }
    if (c === '"' || c === "'") {
      lexString(false, false);
      toks.push({ t: 'str', v: src.slice(start, i), pos: start });
      continue;
    }
    if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0 || !/^[A-Za-z0-9_./ -]+$/.test(src.slice(i + 1, end))) throw new CelError('invalid quoted identifier', start);
      i = end + 1;
      toks.push({ t: 'esc', v: src.slice(start + 1, end), pos: start });
      continue;
    }
    const two = TWO_CHAR_OPS.find((op) => src.startsWith(op, i));
    if (two) {
      i += 2;
      toks.push({ t: 'op', v: two, pos: start });
      continue;
    }
    if (ONE_CHAR_OPS.includes(c)) {
      i++;
      toks.push({ t: 'op', v: c, pos: start });
      continue;
    }
    throw new CelError(`unexpected character ${JSON.stringify(c)}`, start);
  }
  toks.push({ t: 'eof', v: '', pos: src.length });
  return toks;

  function lexNumber(): Tok {
    const start = i;
    if (src[i] === '0' && (src[i + 1] === 'x' || src[i + 1] === 'X') && /[0-9a-fA-F]/.test(src[i + 2] ?? '')) {
      i += 2;
      while (/[0-9a-fA-F]/.test(src[i] ?? '')) i++;
      if (src[i] === 'u' || src[i] === 'U') {
        i++;
        return { t: 'uint', v: src.slice(start, i - 1), pos: start };
      }
      return { t: 'int', v: src.slice(start, i), pos: start };
    }
    while (isDigit(src[i])) i++;
    let float = false;
    if (src[i] === '.' && isDigit(src[i + 1])) {
      float = true;
      i++;
      while (isDigit(src[i])) i++;
    }
    if ((src[i] === 'e' || src[i] === 'E') && (isDigit(src[i + 1]) || ((src[i + 1] === '+' || src[i + 1] === '-') && isDigit(src[i + 2])))) {
      float = true;
      i += 2;
      while (isDigit(src[i])) i++;
    }
    if (float) return { t: 'float', v: src.slice(start, i), pos: start };
    if (src[i] === 'u' || src[i] === 'U') {
      i++;
      return { t: 'uint', v: src.slice(start, i - 1), pos: start };
    }
    return { t: 'int', v: src.slice(start, i), pos: start };
  }

  function lexString(raw: boolean, bytes: boolean): void {
    const q = src[i];
    const triple = src.startsWith(q.repeat(3), i);
    const close = triple ? q.repeat(3) : q;
    const start = i;
    i += close.length;
    for (;;) {
      if (i >= src.length) throw new CelError('unterminated string literal', start);
      if (src.startsWith(close, i)) {
        i += close.length;
        return;
      }
      const c = src[i];
      if (!triple && (c === '\n' || c === '\r')) throw new CelError('unterminated string literal', start);
      if (c === '\\' && !raw) {
        i += lexEscape(i, bytes);
        continue;
      }
      i++;
    }
  }

  /** Returns the length of the escape sequence at `at` (which holds the backslash). */
  function lexEscape(at: number, bytes: boolean): number {
    const e = src[at + 1];
    const hex = (n: number): boolean => new RegExp(`^[0-9a-fA-F]{${n}}$`).test(src.slice(at + 2, at + 2 + n));
    if (e !== undefined && '\\?"\'`abfnrtv'.includes(e)) return 2;
    if ((e === 'x' || e === 'X') && hex(2)) return 4;
    if (e === 'u' && !bytes && hex(4)) return 6;
    if (e === 'U' && !bytes && hex(8)) return 10;
    if (/^[0-3][0-7][0-7]$/.test(src.slice(at + 1, at + 4))) return 4;
    throw new CelError('invalid escape sequence in string literal', at);
  }
}

/** What the parser needs to know about a sub-expression to apply the macro rules. */
type Node = 'ident' | 'select' | 'other';

const MAX_DEPTH = 250;
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

class CelParser {
  private i = 0;
  private depth = 0;

  constructor(private readonly toks: readonly Tok[]) {}

  parse(): void {
    this.expr();
    const t = this.peek();
    if (t.t !== 'eof') throw new CelError(`unexpected ${describeTok(t)}`, t.pos);
  }

  private peek(k = 0): Tok {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)];
  }

  private isOp(v: string, k = 0): boolean {
    const t = this.peek(k);
    return t.t === 'op' && t.v === v;
  }

  private accept(v: string): boolean {
    if (!this.isOp(v)) return false;
    this.i++;
    return true;
  }

  private expect(v: string): void {
    if (this.accept(v)) return;
    const t = this.peek();
    throw new CelError(`expected "${v}", found ${describeTok(t)}`, t.pos);
  }

  private expr(): Node {
    if (++this.depth > MAX_DEPTH) throw new CelError('expression recursion limit exceeded', this.peek().pos);
    let n = this.binary(0);
    if (this.accept('?')) {
      this.binary(0);
      this.expect(':');
      this.expr();
      n = 'other';
    }
    this.depth--;
    return n;
  }

  // Precedence levels, loosest first: ||, &&, relations, + -, * / %.
  private static readonly LEVELS: readonly (readonly string[])[] = [['||'], ['&&'], ['<', '<=', '>', '>=', '==', '!=', 'in'], ['+', '-'], ['*', '/', '%']];

  private binary(level: number): Node {
    if (level === CelParser.LEVELS.length) return this.unary();
    let n = this.binary(level + 1);
    for (;;) {
      const t = this.peek();
      const isOperator = (t.t === 'op' || (t.t === 'id' && t.v === 'in')) && CelParser.LEVELS[level].includes(t.v);
      if (!isOperator) return n;
      this.i++;
      this.binary(level + 1);
      n = 'other';
    }
  }

  private unary(): Node {
    if (this.isOp('!') || (this.isOp('-') && !this.isSignedLiteral())) {
      const op = this.peek().v;
      while (this.isOp(op) && !(op === '-' && this.isSignedLiteral())) this.i++;
      this.member();
      return 'other';
    }
    return this.member();
  }

  /** A `-` directly before an int or double literal belongs to the literal (CEL's grammar). */
  private isSignedLiteral(): boolean {
    const next = this.peek(1).t;
    return this.isOp('-') && (next === 'int' || next === 'float');
  }

  private member(): Node {
    let n = this.primary();
    for (;;) {
      if (this.accept('.')) {
        const t = this.peek();
        if (t.t === 'op' && t.v === '?') throw new CelError('optional field selection is not enabled', t.pos);
        if (t.t === 'esc') {
          this.i++;
          n = 'select';
          continue;
        }
        if (t.t !== 'id' || KEYWORDS.has(t.v)) throw new CelError(`expected a field name, found ${describeTok(t)}`, t.pos);
        this.i++;
        if (this.accept('(')) {
          const args = this.list(')');
          this.checkReceiverMacro(t, args);
          n = 'other';
        } else {
          n = 'select';
        }
      } else if (this.accept('[')) {
        const t = this.peek();
        if (t.t === 'op' && t.v === '?') throw new CelError('optional index is not enabled', t.pos);
        this.expr();
        this.expect(']');
        n = 'other';
      } else {
        return n;
      }
    }
  }

  private primary(): Node {
    const t = this.peek();
    if (t.t === 'op' && t.v === '-' && this.isSignedLiteral()) {
      this.i++;
      this.literal(this.peek(), true);
      return 'other';
    }
    const leadingDot = t.t === 'op' && t.v === '.' && this.peek(1).t === 'id';
    const id = leadingDot ? this.peek(1) : t;
    if (id.t === 'id' && !KEYWORDS.has(id.v)) {
      if (RESERVED.has(id.v)) throw new CelError(`reserved identifier: ${id.v}`, id.pos);
      this.i += leadingDot ? 2 : 1;
      if (this.accept('(')) {
        const args = this.list(')');
        if (id.v === 'has' && !leadingDot && args.length === 1 && args[0] !== 'select') throw new CelError('invalid argument to has() macro', id.pos);
        return 'other';
      }
      // A (qualified) message name followed by `{` is a message construction.
      let k = 0;
      while (this.isOp('.', k) && this.peek(k + 1).t === 'id') k += 2;
      if (this.isOp('{', k)) {
        this.i += k + 1;
        this.fieldInits();
        return 'other';
      }
      return 'ident';
    }
    if (this.accept('(')) {
      const n = this.expr();
      this.expect(')');
      return n;
    }
    if (this.accept('[')) {
      this.list(']');
      return 'other';
    }
    if (this.accept('{')) {
      this.mapInits();
      return 'other';
    }
    this.literal(t, false);
    return 'other';
  }

  private literal(t: Tok, negative: boolean): void {
    if (t.t === 'int' || t.t === 'uint') {
      const n = BigInt(t.v);
      const max = t.t === 'uint' ? UINT64_MAX : negative ? INT64_MAX + 1n : INT64_MAX;
      if (n > max) throw new CelError(`invalid ${t.t} literal`, t.pos);
    } else if (!(t.t === 'float' || t.t === 'str' || (t.t === 'id' && (t.v === 'true' || t.v === 'false' || t.v === 'null')))) {
      throw new CelError(`unexpected ${describeTok(t)}`, t.pos);
    }
    this.i++;
  }

  /** Comma-separated expressions up to `close`, trailing comma allowed in lists only (as cel-go). */
  private list(close: ')' | ']'): Node[] {
    const out: Node[] = [];
    if (this.accept(close)) return out;
    for (;;) {
      out.push(this.expr());
      if (this.accept(close)) return out;
      this.expect(',');
      if (close === ']' && this.accept(']')) return out;
    }
  }

  private mapInits(): void {
    if (this.accept('}')) return;
    for (;;) {
      this.expr();
      this.expect(':');
      this.expr();
      if (this.accept('}')) return;
      this.expect(',');
      if (this.accept('}')) return;
    }
  }

  private fieldInits(): void {
    if (this.accept('}')) return;
    for (;;) {
      const f = this.peek();
      if (!((f.t === 'id' && !KEYWORDS.has(f.v)) || f.t === 'esc')) throw new CelError(`expected a field name, found ${describeTok(f)}`, f.pos);
      this.i++;
      this.expect(':');
      this.expr();
      if (this.accept('}')) return;
      this.expect(',');
      if (this.accept('}')) return;
    }
  }

  /** The comprehension macros need a plain variable name as their first argument. */
  private checkReceiverMacro(fn: Tok, args: readonly Node[]): void {
    const arity: Record<string, readonly number[]> = { all: [2], exists: [2], exists_one: [2], filter: [2], map: [2, 3] };
    if (arity[fn.v]?.includes(args.length) && args[0] !== 'ident') throw new CelError(`argument to ${fn.v}() must be a simple name`, fn.pos);
  }
}

function describeTok(t: Tok): string {
  return t.t === 'eof' ? 'end of expression' : `"${t.t === 'esc' ? `\`${t.v}\`` : t.v}"`;
}

/**
 * checkCelSyntax returns why `src` is not a syntactically valid CEL expression (the check
 * Istio applies to access-log filters), or undefined when it parses.
 */
export function checkCelSyntax(src: string): string | undefined {
  try {
    new CelParser(lexCel(src)).parse();
    return undefined;
  } catch (err) {
    if (!(err instanceof CelError)) throw err;
    const before = src.slice(0, err.pos);
    const line = before.split('\n').length;
    const col = err.pos - (before.lastIndexOf('\n') + 1) + 1;
    return `must be a valid CEL expression: ${err.message} at ${line > 1 ? `line ${line}, ` : ''}column ${col}`;
  }
}

// ---------------------------------------------------------------------------
// Telemetry
// ---------------------------------------------------------------------------

const WorkloadMode = z.enum(['CLIENT_AND_SERVER', 'CLIENT', 'SERVER']);

/** istio.telemetry.v1alpha1.ProviderRef: a provider named in MeshConfig's extensionProviders. */
const ProviderRef = obj({ name: nonEmptyString() });

/** Tracing.CustomTag: a span tag from a literal, an environment variable, a request header or a formatter (at most one). */
export const TracingCustomTag = oneOf(
  obj({
    literal: obj({ value: nonEmptyString() }).optional(),
    environment: obj({ name: nonEmptyString(), defaultValue: z.string().optional() }).optional(),
    header: obj({ name: nonEmptyString(), defaultValue: z.string().optional() }).optional(),
    formatter: obj({ value: nonEmptyString() }).optional(),
  }),
  ['literal', 'environment', 'header', 'formatter'],
);

/** istio.telemetry.v1alpha1.Tracing. */
export const TelemetryTracing = obj({
  match: obj({ mode: WorkloadMode.optional() }).optional(),
  providers: z.array(ProviderRef).optional(),
  randomSamplingPercentage: percentValue().optional(),
  disableSpanReporting: z.boolean().optional(),
  customTags: crossCheck(z.record(z.string(), TracingCustomTag), (m, ctx) => {
    if (Object.hasOwn(m, '')) ctx.addIssue({ code: 'custom', message: 'tag name must not be empty', path: [''] });
  }).optional(),
  useRequestIdForTraceSampling: z.boolean().optional(),
  enableIstioTags: z.boolean().optional(),
  disableContextPropagation: z.boolean().optional(),
});

/** MetricSelector.IstioMetric: Istio's standard metrics. */
export const IstioMetric = z.enum([
  'ALL_METRICS',
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS',
  'TCP_SENT_BYTES',
  'TCP_RECEIVED_BYTES',
  'GRPC_REQUEST_MESSAGES',
  'GRPC_RESPONSE_MESSAGES',
]);

/** MetricsOverrides.TagOverride: UPSERT needs a value expression, REMOVE must not have one. */
export const MetricTagOverride = withCel(
  withCel(
    crossCheck(obj({ operation: z.enum(['UPSERT', 'REMOVE']).optional(), value: z.string().optional() }), (t, ctx) => {
      // UPSERT is the proto default, so an override with neither field is an UPSERT without a value.
      const op = t.operation ?? 'UPSERT';
      if (op === 'UPSERT' && !t.value) ctx.addIssue({ code: 'custom', message: 'value must be set when operation is UPSERT', path: ['value'], input: t.value });
      if (op === 'REMOVE' && t.value !== undefined) ctx.addIssue({ code: 'custom', message: 'value must not be set when operation is REMOVE', path: ['value'], input: t.value });
    }),
    "(has(self.operation) ? self.operation : '') == 'UPSERT' ? self.value != '' : true",
    'value must be set when operation is UPSERT',
  ),
  "(has(self.operation) ? self.operation : '') == 'REMOVE' ? !has(self.value) : true",
  'value must not be set when operation is REMOVE',
);

/** istio.telemetry.v1alpha1.Metrics. */
export const TelemetryMetrics = obj({
  providers: z.array(ProviderRef).optional(),
  overrides: z
    .array(
      obj({
        match: oneOf(obj({ metric: IstioMetric.optional(), customMetric: nonEmptyString().optional(), mode: WorkloadMode.optional() }), ['metric', 'customMetric']).optional(),
        disabled: z.boolean().optional(),
        tagOverrides: z.record(z.string(), MetricTagOverride).optional(),
      }),
    )
    .optional(),
  // The CRD requires at least 1ms; unlike most Istio durations it does not demand whole milliseconds.
  reportingInterval: duration({ minNs: 1e6 }).optional(),
});

/** AccessLogging.Filter: a CEL expression choosing which requests are logged. */
const AccessLogFilter = crossCheck(obj({ expression: z.string().optional() }), (f, ctx) => {
  // An absent expression is the empty string to Istio, which is not valid CEL either.
  const expr = f.expression ?? '';
  if (typeof expr !== 'string') return;
  const reason = checkCelSyntax(expr);
  if (reason) ctx.addIssue({ code: 'custom', message: reason, path: ['expression'], input: expr });
});

/** istio.telemetry.v1alpha1.AccessLogging. */
export const TelemetryAccessLogging = obj({
  match: obj({ mode: WorkloadMode.optional() }).optional(),
  providers: z.array(ProviderRef).optional(),
  disabled: z.boolean().optional(),
  filter: AccessLogFilter.optional(),
});

/** telemetry.istio.io Telemetry spec. */
export const TelemetrySpec = oneTargetKind(
  obj({
    ...POLICY_TARGET_FIELDS,
    tracing: z.array(TelemetryTracing).optional(),
    metrics: z.array(TelemetryMetrics).optional(),
    accessLogging: z.array(TelemetryAccessLogging).optional(),
  }),
);
export type TelemetrySpec = z.output<typeof TelemetrySpec>;

export const TELEMETRY_KINDS: KindDef[] = [
  {
    group: 'telemetry.istio.io',
    kind: 'Telemetry',
    // Istio stores v1alpha1 and serves both; v1 is listed first so tools print the current name.
    versions: ['v1', 'v1alpha1'],
    plural: 'telemetries',
    singular: 'telemetry',
    shortNames: ['telemetry'],
    categories: ['istio-io', 'telemetry-istio-io'],
    namespaced: true,
    crd: true,
    body: obj({ spec: TelemetrySpec, status: anyJson().optional() }),
    metadataRules: istioMetadataRules(false),
    printerColumns: [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
  },
];
