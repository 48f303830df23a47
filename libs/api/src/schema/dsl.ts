/**
 * The vocabulary the resource schemas are written in. Each builder returns a zod schema
 * that (a) validates with Istio's verdicts and messages, and (b) carries CRD hints in the
 * `crdHints` registry so that `crd.ts` renders the same rules as OpenAPI v3 / CEL for the
 * Kubernetes API server. One source of truth for meshctl and for the cluster.
 */
import * as z from 'zod';
import { checkDuration, type DurationRules } from '../fields/duration.js';
import { checkRe2 } from '../fields/regex.js';
import { checkWildcardHost, checkFqdn, checkDns1123Label } from '../fields/host.js';
import { checkCidr, checkIp, checkIpOrCidr } from '../fields/net.js';
import { checkLabelKey, checkLabelValue } from '../fields/labels.js';

/** Hints for the CRD generator, attached to schema nodes. */
export interface CrdHints {
  /** Kubernetes CEL rules (x-kubernetes-validations) equivalent to the code check. */
  readonly validations?: readonly { rule: string; message: string }[];
  /** OpenAPI `format` (e.g. `int32`, `uint32`, `double`). */
  readonly format?: string;
  /** Marks a field that accepts any JSON (x-kubernetes-preserve-unknown-fields). */
  readonly preserveUnknownFields?: boolean;
  /** Marks an int-or-string field (x-kubernetes-int-or-string). */
  readonly intOrString?: boolean;
  /** For objects: groups of fields of which at most one may be set (protobuf oneof). */
  readonly oneOf?: readonly (readonly string[])[];
  /** For objects: at least one of these must be set. */
  readonly anyOfRequired?: readonly string[];
}

/** The registry the CRD generator reads hints from. */
export const crdHints = z.registry<CrdHints>();

function hint<T extends z.ZodType>(schema: T, hints: CrdHints): T {
  const prev = crdHints.get(schema);
  crdHints.add(schema, { ...prev, ...hints, validations: [...(prev?.validations ?? []), ...(hints.validations ?? [])] });
  return schema;
}

/** A string checked by `check`, which returns the reason it is invalid or undefined. */
export function checkedString(check: (s: string) => string | undefined, hints: CrdHints = {}): z.ZodString {
  const s = z.string().superRefine((v, ctx) => {
    const reason = check(v);
    if (reason) ctx.addIssue({ code: 'custom', message: reason, input: v });
  });
  return hint(s, hints);
}

/**
 * A duration (`1.5s`, `100ms`, `1h`). Default rules follow Istio's ValidateDuration:
 * at least 1ms, whole milliseconds.
 */
export function duration(rules: DurationRules = { minNs: 1e6, msPrecision: true }): z.ZodString {
  const validations: { rule: string; message: string }[] = [];
  if (rules.minNs !== undefined) {
    validations.push({ rule: `duration(self) >= duration('${rules.minNs}ns')`, message: `must be a valid duration greater than or equal to ${rules.minNs / 1e6}ms` });
  } else {
    validations.push({ rule: `duration(self) >= duration('0s')`, message: 'must be a valid, non-negative duration' });
  }
  if (rules.maxNs !== undefined) {
    validations.push({ rule: `duration(self) <= duration('${rules.maxNs}ns')`, message: `must be at most ${rules.maxNs / 1e9}s` });
  }
  return checkedString((v) => checkDuration(v, rules), { validations });
}

/** An RE2 regular expression. */
export function re2(): z.ZodString {
  return checkedString(checkRe2);
}

/** A host name: FQDN, short name or wildcard (`*`, `*.example.com`). */
export function wildcardHost(): z.ZodString {
  return checkedString(checkWildcardHost);
}

/** A host name without wildcards. */
export function fqdn(): z.ZodString {
  return checkedString(checkFqdn);
}

/** A DNS-1123 label (namespace or Service name). */
export function dnsLabel(): z.ZodString {
  return checkedString(checkDns1123Label);
}

export const ipAddress = (): z.ZodString => checkedString(checkIp);
export const cidr = (): z.ZodString => checkedString(checkCidr);
export const ipOrCidr = (): z.ZodString => checkedString(checkIpOrCidr);

const U32 = 4294967295;
const I32 = 2147483647;

/** A protobuf uint32. */
export function uint32(): z.ZodNumber {
  return hint(z.number().int().min(0).max(U32), { format: 'uint32' });
}

/** A protobuf int32. */
export function int32(): z.ZodNumber {
  return hint(z.number().int().min(-I32 - 1).max(I32), { format: 'int32' });
}

/** A protobuf int64 (JSON numbers only; within the safe integer range). */
export function int64(): z.ZodNumber {
  return hint(z.number().int(), { format: 'int64' });
}

/** A protobuf double. */
export function double(): z.ZodNumber {
  return hint(z.number(), { format: 'double' });
}

/** A TCP/UDP port number, 1..65535 (Istio's ValidatePort). */
export function port(): z.ZodNumber {
  return hint(
    z.number().int().superRefine((v, ctx) => {
      if (v < 1 || v > 65535) ctx.addIssue({ code: 'custom', message: `port number ${v} must be in the range 1..65535`, input: v });
    }),
    { format: 'uint32', validations: [{ rule: '0 < self && self <= 65535', message: 'port must be between 1-65535' }] },
  );
}

/** A percentage 0..100 as a double (istio.networking.v1.Percent.value). */
export function percentValue(): z.ZodNumber {
  return hint(
    z.number().superRefine((v, ctx) => {
      if (v < 0 || v > 100) ctx.addIssue({ code: 'custom', message: `percentage ${v} must be in the range [0, 100]`, input: v });
    }),
    { format: 'double', validations: [{ rule: 'self >= 0 && self <= 100', message: 'percentage must be in the range [0, 100]' }] },
  );
}

/** Kubernetes labels: qualified-name keys and label values. */
export function labelMap(): z.ZodRecord<z.ZodString, z.ZodString> {
  return z.record(z.string(), z.string()).superRefine((m, ctx) => {
    if (typeof m !== 'object' || m === null) return;
    for (const [k, v] of Object.entries(m)) {
      const kr = checkLabelKey(k);
      if (kr) ctx.addIssue({ code: 'custom', message: kr, path: [k], input: k });
      const vr = typeof v === 'string' ? checkLabelValue(v) : undefined;
      if (vr) ctx.addIssue({ code: 'custom', message: vr, path: [k], input: v });
    }
  }, { when: () => true });
}

/** A string → string map (headers, annotations). */
export function stringMap(): z.ZodRecord<z.ZodString, z.ZodString> {
  return z.record(z.string(), z.string());
}

/** A field that accepts any JSON value (`status`, free-form structs). */
export function anyJson(): z.ZodUnknown {
  return hint(z.unknown(), { preserveUnknownFields: true });
}

/** An object that rejects unknown fields, as Kubernetes' strict field validation does. */
export const obj = z.strictObject;

/**
 * crossCheck adds a cross-field rule to an object schema. Unlike a plain zod refinement
 * it also runs when some fields already failed (so every error is reported at once);
 * the value may therefore be partly invalid, and an exception thrown on such a value is
 * ignored (the field's own error has been reported already).
 */
export function crossCheck<T extends z.ZodType>(schema: T, rule: (value: z.output<T>, ctx: z.core.$RefinementCtx<z.output<T>>) => void): T {
  return schema.superRefine(
    (v, ctx) => {
      if (typeof v !== 'object' || v === null) return;
      try {
        rule(v, ctx);
      } catch {
        // partly invalid input; its own errors are already reported
      }
    },
    { when: () => true },
  ) as T;
}

/** True when a field counts as "set" for oneof purposes (protobuf JSON presence). */
export function isSet(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/**
 * oneOf marks `fields` as a protobuf oneof on an object schema: at most one may be set;
 * with `required`, exactly one. Errors point at the second field set.
 */
export function oneOf<T extends z.ZodObject>(schema: T, fields: readonly string[], opts: { required?: boolean } = {}): T {
  const refined = crossCheck(schema, (v: Record<string, unknown>, ctx) => {
    const set = fields.filter((f) => isSet(v[f]));
    if (set.length > 1) {
      ctx.addIssue({
        code: 'custom',
        message: `only one of ${fields.join(', ')} may be set, found ${set.join(' and ')}`,
        path: [set[1]],
        input: v,
      });
    } else if (opts.required && set.length === 0) {
      ctx.addIssue({ code: 'custom', message: `one of ${fields.join(', ')} must be set`, input: v });
    }
  });
  const prev = crdHints.get(schema);
  return hint(refined, {
    oneOf: [...(prev?.oneOf ?? []), fields],
    ...(opts.required ? { anyOfRequired: fields } : {}),
  });
}

/** A required, non-empty list. */
export function nonEmptyArray<T extends z.ZodType>(item: T, what = 'at least one item is required'): z.ZodArray<T> {
  return z.array(item).min(1, { error: what });
}

/** withCel records a CEL rule for the CRD generator on a schema whose check is done in code. */
export function withCel<T extends z.ZodType>(schema: T, rule: string, message: string): T {
  return hint(schema, { validations: [{ rule, message }] });
}

/** A string that must not be empty (Istio's `MinLength=1` and "must be non-empty string" checks). */
export function nonEmptyString(): z.ZodString {
  return withCel(checkedString((s) => (s === '' ? 'must not be empty' : undefined)), 'self.size() > 0', 'must not be empty');
}
