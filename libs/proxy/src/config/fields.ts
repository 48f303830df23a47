/**
 * Readers for the protobufjs object form of Envoy resources (libs/xds README, "Resource object
 * form"): camelCase keys, Durations `{seconds, nanos}`, wrappers `{value}`, enums by name, 64-bit
 * integers as numbers or decimal strings. Every reader checks the type it expects and records a
 * field-path error (proto field names, snake_case) instead of throwing, so one pass collects all
 * the problems of a resource (STYLE.md 7).
 */

export type Obj = Record<string, unknown>;

/** Where errors of one resource go: `where` names the resource (`route_config outbound|9080||reviews`). */
export class Problems {
  constructor(
    readonly where: string,
    readonly errors: string[],
    readonly warnings: string[] = [],
  ) {}

  error(path: string, reason: string): void {
    this.errors.push(path ? `${this.where}: ${path}: ${reason}` : `${this.where}: ${reason}`);
  }

  warn(path: string, reason: string): void {
    this.warnings.push(path ? `${this.where}: ${path}: ${reason}` : `${this.where}: ${reason}`);
  }

  /** A view over the same lists for another resource. */
  for(where: string): Problems {
    return new Problems(where, this.errors, this.warnings);
  }
}

/** snake turns a camelCase object-form key back into its proto field name for error paths. */
export function snake(key: string): string {
  let s = SNAKE.get(key);
  if (s === undefined) {
    s = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    SNAKE.set(key, s);
  }
  return s;
}

// Field names are a small fixed set; converting each once keeps path building cheap (compile of
// a few thousand services reads tens of thousands of fields).
const SNAKE = new Map<string, string>();

/** at appends a field (camelCase key, written snake_case) or an index to a path. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const k = snake(key);
  return path ? `${path}.${k}` : k;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** obj returns `o[key]` when it is a message, undefined when unset; anything else is an error. */
export function obj(p: Problems, o: Obj, key: string, path: string): Obj | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) {
    p.error(at(path, key), `expected a message, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

/** list returns `o[key]` when it is a list, [] when unset; anything else is an error. */
export function list(p: Problems, o: Obj, key: string, path: string): unknown[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    p.error(at(path, key), `expected a list, got ${describe(v)}`);
    return [];
  }
  return v;
}

/** objects returns the messages of a repeated message field with their paths; non-messages are errors. */
export function objects(p: Problems, o: Obj, key: string, path: string): { v: Obj; path: string; i: number }[] {
  const out: { v: Obj; path: string; i: number }[] = [];
  list(p, o, key, path).forEach((v, i) => {
    const ip = at(at(path, key), i);
    if (isObj(v)) out.push({ v, path: ip, i });
    else p.error(ip, `expected a message, got ${describe(v)}`);
  });
  return out;
}

/** str returns a string field; unset gives undefined. */
export function str(p: Problems, o: Obj, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    p.error(at(path, key), `expected a string, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

/** strings returns a repeated string field. */
export function strings(p: Problems, o: Obj, key: string, path: string): string[] {
  const out: string[] = [];
  list(p, o, key, path).forEach((v, i) => {
    if (typeof v === 'string') out.push(v);
    else p.error(at(at(path, key), i), `expected a string, got ${describe(v)}`);
  });
  return out;
}

/** bool returns a bool field. */
export function bool(p: Problems, o: Obj, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    p.error(at(path, key), `expected a boolean, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return undefined;
}

/** int returns an integer field (numbers or decimal strings, as 64-bit integers may be). */
export function int(p: Problems, o: Obj, key: string, path: string, min = -Infinity, max = Infinity): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const n = toNumber(v);
  if (n === undefined || !Number.isInteger(n)) {
    p.error(at(path, key), `expected an integer, got ${describe(v)}`);
    return undefined;
  }
  if (n < min || n > max) {
    p.error(at(path, key), `${n} is out of range [${min}, ${max}]`);
    return undefined;
  }
  return n;
}

/** wrapped returns the integer inside a wrapper message (`UInt32Value` and friends: `{value}`). */
export function wrapped(p: Problems, o: Obj, key: string, path: string, min = -Infinity, max = Infinity): number | undefined {
  const w = obj(p, o, key, path);
  if (!w) return undefined;
  // Errors name the wrapper field itself (`max_connections: ...`), as Envoy's messages do.
  const n = int(p, { [key]: w.value }, key, path, min, max);
  return n ?? (w.value === undefined || w.value === null ? (0 >= min && 0 <= max ? 0 : undefined) : undefined);
}

/** wrappedBool returns the boolean inside a `BoolValue`. */
export function wrappedBool(p: Problems, o: Obj, key: string, path: string): boolean | undefined {
  const w = obj(p, o, key, path);
  if (!w) return undefined;
  return bool(p, w, 'value', at(path, key)) ?? false;
}

/** duration returns a `google.protobuf.Duration` in milliseconds; negative durations are errors. */
export function duration(p: Problems, o: Obj, key: string, path: string): number | undefined {
  const d = obj(p, o, key, path);
  if (!d) return undefined;
  const dp = at(path, key);
  const before = p.errors.length;
  const s = int(p, d, 'seconds', dp) ?? 0;
  const n = int(p, d, 'nanos', dp, -999_999_999, 999_999_999) ?? 0;
  if (p.errors.length !== before) return undefined;
  const ms = s * 1000 + n / 1e6;
  if (ms < 0) {
    p.error(dp, 'must not be negative');
    return undefined;
  }
  return ms;
}

/** enumName returns an enum field given by name (or number), checked against the allowed names (index = number). */
export function enumName<T extends string>(p: Problems, o: Obj, key: string, path: string, names: readonly T[]): T | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && names[v] !== undefined) return names[v];
  if (typeof v === 'string' && (names as readonly string[]).includes(v)) return v as T;
  p.error(at(path, key), `unknown value ${describe(v)} (expected one of ${names.filter((n) => n).join(', ')})`);
  return undefined;
}

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/**
 * fraction returns a `FractionalPercent` (`{numerator, denominator}`) as 0..1, capped at 1 as
 * Envoy does; undefined when unset. An unset numerator is 0 and an unset denominator HUNDRED.
 */
export function fraction(p: Problems, o: Obj, key: string, path: string): number | undefined {
  const f = obj(p, o, key, path);
  if (!f) return undefined;
  const fp = at(path, key);
  const num = int(p, f, 'numerator', fp, 0, 0xffffffff) ?? 0;
  const den = enumName(p, f, 'denominator', fp, ['HUNDRED', 'TEN_THOUSAND', 'MILLION']) ?? 'HUNDRED';
  return Math.min(1, num / DENOMINATORS[den]);
}

/** runtimeFraction reads a `RuntimeFractionalPercent` (`{defaultValue, runtimeKey}`): only the default applies (no runtime layer here). */
export function runtimeFraction(p: Problems, o: Obj, key: string, path: string): number | undefined {
  const r = obj(p, o, key, path);
  if (!r) return undefined;
  return fraction(p, r, 'defaultValue', at(path, key)) ?? 0;
}

/** typeOf returns the `@type` of a nested Any without its `type.googleapis.com/` prefix. */
export function typeOf(any: Obj): string | undefined {
  const t = any['@type'];
  if (typeof t !== 'string') return undefined;
  const slash = t.lastIndexOf('/');
  return slash < 0 ? t : t.slice(slash + 1);
}

/** oneof checks that at most one of `keys` is set in `o` and returns the one that is. */
export function oneof(p: Problems, o: Obj, keys: readonly string[], path: string, required: string | undefined): string | undefined {
  const set = keys.filter((k) => o[k] !== undefined && o[k] !== null);
  if (set.length > 1) {
    p.error(path, `only one of ${set.map(snake).join(', ')} may be set`);
    return undefined;
  }
  if (set.length === 0 && required !== undefined) p.error(path, `one of ${keys.map(snake).join(', ')} is required${required ? ` (${required})` : ''}`);
  return set[0];
}

export function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a message';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return `${typeof v} ${String(v)}`;
}

export const isMessage = isObj;
