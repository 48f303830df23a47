/**
 * CustomResourceDefinitions for the kinds Meshwork ships (`crd: true`), derived from the
 * same zod schemas meshctl and pilot validate with, so that the Kubernetes API server
 * and Meshwork agree on shapes, types, enums, ranges and the CEL rules in `crdHints`.
 *
 * The output follows Kubernetes' structural-schema rules (every node typed, no $ref, no
 * `additionalProperties: false`, junctors only restrict fields declared beside them),
 * and Istio's conventions for what zod cannot say natively: protobuf oneofs become
 * `oneOf` of `required` lists, int-or-string and free-form fields use the
 * `x-kubernetes-*` markers.
 */
import * as z from 'zod';
import { stringify } from 'yaml';
import { ALL_KINDS, type KindDef } from './registry.js';
import { crdHints, type CrdHints } from './schema/dsl.js';
import { checkRe2 } from './fields/regex.js';

/** An OpenAPI v3 schema node as apiextensions.k8s.io/v1 accepts it (JSONSchemaProps). */
export interface JsonSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  format?: string;
  properties?: Record<string, JsonSchemaProps>;
  required?: string[];
  additionalProperties?: JsonSchemaProps;
  items?: JsonSchemaProps;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  oneOf?: JsonSchemaProps[];
  anyOf?: JsonSchemaProps[];
  allOf?: JsonSchemaProps[];
  not?: JsonSchemaProps;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-validations'?: { rule: string; message: string }[];
}

/**
 * Formats the API server knows (kube-openapi's strfmt registry plus the OpenAPI numeric
 * ones). Anything else is dropped: newer API servers warn on or reject unknown formats.
 */
export const KUBERNETES_FORMATS: ReadonlySet<string> = new Set([
  'bsonobjectid', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'cidr', 'mac', 'uuid', 'uuid3', 'uuid4', 'uuid5',
  'isbn', 'isbn10', 'isbn13', 'creditcard', 'ssn', 'hexcolor', 'rgbcolor', 'byte', 'password', 'date', 'duration',
  'datetime', 'date-time', 'int32', 'int64', 'float', 'double',
]);

// zod string formats that have a Kubernetes equivalent.
const ZOD_STRING_FORMATS: Record<string, string> = {
  email: 'email', uuid: 'uuid', guid: 'uuid', ipv4: 'ipv4', ipv6: 'ipv6', cidrv4: 'cidr', cidrv6: 'cidr',
  datetime: 'date-time', date: 'date', url: 'uri', base64: 'byte', hostname: 'hostname', mac: 'mac', duration: 'duration',
};

type Zod = z.core.$ZodType;
type AnyDef = Record<string, unknown> & { type: string };

// The schema behind z.lazy, as zod caches it (calling the getter again may build a new one).
function lazyInner(s: Zod): Zod {
  return (s._zod as unknown as { innerType: Zod }).innerType;
}

function defOf(s: Zod): AnyDef {
  return s._zod.def as unknown as AnyDef;
}

// A walk keeps the schemas on the current path: Kubernetes schemas cannot recurse, so
// a recursive zod schema (z.lazy) is cut off with x-kubernetes-preserve-unknown-fields.
interface Walk {
  readonly stack: Zod[];
}

/**
 * schemaOf returns the structural OpenAPI schema of a zod schema: the shape, types,
 * bounds and hints the API server can check.
 */
export function schemaOf(schema: Zod): JsonSchemaProps {
  return walk(schema, { stack: [] });
}

function walk(schema: Zod, w: Walk): JsonSchemaProps {
  if (w.stack.includes(schema)) {
    const t = defOf(defOf(schema).type === 'lazy' ? lazyInner(schema) : schema).type;
    return t === 'object' || t === 'record' ? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } : { 'x-kubernetes-preserve-unknown-fields': true };
  }
  w.stack.push(schema);
  try {
    const out = walkDef(schema, w);
    const hints = crdHints.get(schema);
    if (hints) applyHints(out, hints);
    const description = z.globalRegistry.get(schema)?.description;
    if (description) out.description = description;
    return out;
  } finally {
    w.stack.pop();
  }
}

function walkDef(schema: Zod, w: Walk): JsonSchemaProps {
  const def = defOf(schema);
  switch (def.type) {
    case 'string':
      return stringSchema(def);
    case 'number':
      return numberSchema(def);
    case 'int':
      return numberSchema(def);
    case 'bigint':
      return { type: 'integer', format: 'int64' };
    case 'boolean':
      return { type: 'boolean' };
    case 'object':
      return objectSchema(def, w);
    case 'record':
      return recordSchema(def, w);
    case 'array': {
      const out: JsonSchemaProps = { type: 'array', items: walk(def.element as Zod, w) };
      for (const c of checksOf(def)) {
        if (c.check === 'min_length') out.minItems = c.minimum as number;
        else if (c.check === 'max_length') out.maxItems = c.maximum as number;
        else if (c.check === 'length_equals') out.minItems = out.maxItems = c.length as number;
      }
      return out;
    }
    case 'enum':
      return valuesSchema(Object.values(def.entries as Record<string, unknown>));
    case 'literal':
      return valuesSchema(def.values as unknown[]);
    case 'optional':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
    case 'prefault':
      return walk(def.innerType as Zod, w);
    case 'default':
      // Not rendered as `default`: Istio's CRDs have none, and the API server would write
      // the value into stored objects; Meshwork applies defaults when it reads them.
      return walk(def.innerType as Zod, w);
    case 'nullable':
      return { ...walk(def.innerType as Zod, w), nullable: true };
    case 'lazy':
      return walk(lazyInner(schema), w);
    case 'pipe': {
      // Users write the input side of a pipe; a bare transform has no shape to show.
      const input = def.in as Zod;
      return defOf(input).type === 'transform' ? walk(def.out as Zod, w) : walk(input, w);
    }
    case 'union':
      return unionSchema((def.options as Zod[]).map((o) => walk(o, w)));
    case 'intersection':
      return mergeAll([walk(def.left as Zod, w), walk(def.right as Zod, w)], 'all');
    case 'template_literal':
      return { type: 'string', ...re2Pattern((schema._zod as unknown as { pattern?: RegExp }).pattern) };
    case 'tuple':
      return { type: 'array', items: unionSchema((def.items as Zod[]).map((o) => walk(o, w))) };
    case 'null':
      return { 'x-kubernetes-preserve-unknown-fields': true, nullable: true };
    default:
      // unknown, any, transform, custom, ...: any JSON value.
      return { 'x-kubernetes-preserve-unknown-fields': true };
  }
}

interface CheckDef {
  readonly check: string;
  readonly [k: string]: unknown;
}

function checksOf(def: AnyDef): CheckDef[] {
  const checks = ((def.checks as Zod[] | undefined) ?? []).map((c) => c._zod.def as unknown as CheckDef);
  // Format-typed schemas (z.email(), z.int32()) carry their format check in the def itself.
  if (typeof def.check === 'string') checks.unshift(def as unknown as CheckDef);
  return checks;
}

function re2Pattern(re: RegExp | undefined): { pattern?: string } {
  // The API server compiles `pattern` as a Go (RE2) regexp; JS-only syntax or flags are left out.
  if (!re || re.flags.replace(/[gy]/g, '') !== '' || checkRe2(re.source)) return {};
  return { pattern: re.source };
}

function stringSchema(def: AnyDef): JsonSchemaProps {
  const out: JsonSchemaProps = { type: 'string' };
  const patterns: string[] = [];
  for (const c of checksOf(def)) {
    switch (c.check) {
      case 'min_length':
        out.minLength = Math.max(out.minLength ?? 0, c.minimum as number);
        break;
      case 'max_length':
        out.maxLength = Math.min(out.maxLength ?? Infinity, c.maximum as number);
        break;
      case 'length_equals':
        out.minLength = out.maxLength = c.length as number;
        break;
      case 'string_format': {
        const format = ZOD_STRING_FORMATS[c.format as string];
        if (format) out.format = format;
        else {
          const p = re2Pattern(c.pattern as RegExp | undefined).pattern;
          if (p) patterns.push(p);
        }
        break;
      }
      default:
        // custom refinements and overwrites: their CRD form, if any, comes from crdHints.
        break;
    }
  }
  // OpenAPI has one `pattern`; further patterns are ANDed with lookahead-free CEL.
  if (patterns.length > 0) out.pattern = patterns[0];
  for (const p of patterns.slice(1)) addValidation(out, { rule: `self.matches(${celString(p)})`, message: `must match ${p}` });
  return out;
}

const INT_FORMATS: Record<string, [number, number] | undefined> = {
  safeint: undefined,
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

function numberSchema(def: AnyDef): JsonSchemaProps {
  const out: JsonSchemaProps = { type: 'number' };
  for (const c of checksOf(def)) {
    switch (c.check) {
      case 'number_format': {
        const f = c.format as string;
        if (f in INT_FORMATS) {
          out.type = 'integer';
          const range = INT_FORMATS[f];
          if (range) tighten(out, range[0], range[1]);
          if (f === 'int32') out.format = 'int32';
        } else if (f === 'float32') out.format = 'float';
        else if (f === 'float64') out.format = 'double';
        break;
      }
      case 'greater_than':
        if (out.minimum === undefined || (c.value as number) >= out.minimum) {
          out.minimum = c.value as number;
          if (c.inclusive) delete out.exclusiveMinimum;
          else out.exclusiveMinimum = true;
        }
        break;
      case 'less_than':
        if (out.maximum === undefined || (c.value as number) <= out.maximum) {
          out.maximum = c.value as number;
          if (c.inclusive) delete out.exclusiveMaximum;
          else out.exclusiveMaximum = true;
        }
        break;
      case 'multiple_of':
        out.multipleOf = c.value as number;
        break;
      default:
        break;
    }
  }
  return out;
}

function tighten(out: JsonSchemaProps, min: number, max: number): void {
  if (out.minimum === undefined || out.minimum < min) out.minimum = min;
  if (out.maximum === undefined || out.maximum > max) out.maximum = max;
}

function valuesSchema(values: unknown[]): JsonSchemaProps {
  const nonNull = values.filter((v) => v !== null);
  const nullable = nonNull.length < values.length ? { nullable: true as const } : {};
  if (nonNull.every((v) => typeof v === 'string')) return { type: 'string', enum: nonNull, ...nullable };
  if (nonNull.every((v) => typeof v === 'number' && Number.isInteger(v))) return { type: 'integer', enum: nonNull, ...nullable };
  if (nonNull.every((v) => typeof v === 'number')) return { type: 'number', enum: nonNull, ...nullable };
  if (nonNull.every((v) => typeof v === 'boolean')) return { type: 'boolean', enum: nonNull, ...nullable };
  return { 'x-kubernetes-preserve-unknown-fields': true };
}

// True when a missing key passes the schema: optional, defaulted, or any-value fields.
function acceptsMissing(schema: Zod): boolean {
  const optin = schema._zod.optin;
  if (optin === 'optional' || optin === 'defaulted') return true;
  try {
    return z.safeParse(schema, undefined).success;
  } catch {
    return false;
  }
}

function objectSchema(def: AnyDef, w: Walk): JsonSchemaProps {
  const shape = def.shape as Record<string, Zod>;
  const out: JsonSchemaProps = { type: 'object' };
  const keys = Object.keys(shape);
  if (keys.length > 0) {
    out.properties = {};
    const required: string[] = [];
    for (const k of keys) {
      out.properties[k] = walk(shape[k], w);
      if (!acceptsMissing(shape[k])) required.push(k);
    }
    if (required.length > 0) out.required = required;
  }
  const catchall = def.catchall as Zod | undefined;
  const ct = catchall ? defOf(catchall).type : undefined;
  if (ct === undefined || ct === 'never') {
    // strict (unknown fields are errors) or stripped: both are the API server's default for
    // a typed object (strict field validation rejects, otherwise it prunes).
  } else if (catchall && ct !== 'unknown' && ct !== 'any' && keys.length === 0) {
    out.additionalProperties = walk(catchall, w);
  } else {
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  return out;
}

function recordSchema(def: AnyDef, w: Walk): JsonSchemaProps {
  const value = walk(def.valueType as Zod, w);
  const key = def.keyType as Zod;
  const kd = defOf(key);
  // A record over a closed set of keys is an object with those properties.
  if (kd.type === 'enum' || kd.type === 'literal') {
    const names = kd.type === 'enum' ? Object.values(kd.entries as Record<string, unknown>) : (kd.values as unknown[]);
    if (names.every((n) => typeof n === 'string')) {
      const properties: Record<string, JsonSchemaProps> = {};
      for (const n of names as string[]) properties[n] = structuredClone(value);
      return { type: 'object', properties, ...(def.partial ? {} : { required: [...(names as string[])] }) };
    }
  }
  return { type: 'object', additionalProperties: value };
}

function unionSchema(options: JsonSchemaProps[]): JsonSchemaProps {
  let nullable = false;
  const typed: JsonSchemaProps[] = [];
  for (const o of options) {
    if (o.nullable && !o.type && o['x-kubernetes-preserve-unknown-fields']) {
      nullable = true; // z.null() branch
      continue;
    }
    if (o.nullable) nullable = true;
    typed.push(o);
  }
  const out = mergeAll(typed, 'any');
  if (nullable && (out.type || out['x-kubernetes-int-or-string'])) out.nullable = true;
  return out;
}

/**
 * mergeAll folds several schemas into one a structural schema can express: for a union
 * ('any') the result accepts what any of them accepts (it may accept more; meshctl's
 * validation stays the precise one), for an intersection ('all') it has the fields of both.
 */
function mergeAll(schemas: JsonSchemaProps[], mode: 'any' | 'all'): JsonSchemaProps {
  if (schemas.length === 0) return { 'x-kubernetes-preserve-unknown-fields': true };
  if (schemas.length === 1) return structuredClone(schemas[0]);
  if (schemas.some((s) => !s.type && !s['x-kubernetes-int-or-string'])) return { 'x-kubernetes-preserve-unknown-fields': true };
  const types = new Set(schemas.map((s) => (s['x-kubernetes-int-or-string'] ? 'int-or-string' : s.type)));
  if (types.size > 1) {
    const numeric = [...types].every((t) => t === 'integer' || t === 'number');
    if (numeric) return { type: 'number' };
    const intOrString = [...types].every((t) => t === 'integer' || t === 'string' || t === 'int-or-string');
    if (intOrString) return intOrStringSchema();
    return { 'x-kubernetes-preserve-unknown-fields': true };
  }
  const [t] = types;
  if (t === 'int-or-string') return intOrStringSchema();
  if (t === 'object') return mergeObjects(schemas, mode);
  if (t === 'array') return { type: 'array', items: mergeAll(schemas.map((s) => s.items ?? {}), mode) };
  const out: JsonSchemaProps = { type: t as JsonSchemaProps['type'] };
  // Keep an enum only if every branch is an enum (union of literals, `z.enum().or(...)`).
  if (mode === 'any' && schemas.every((s) => s.enum)) out.enum = [...new Set(schemas.flatMap((s) => s.enum ?? []))];
  if (mode === 'all') return Object.assign(out, ...schemas.map((s) => structuredClone(s)));
  return out;
}

function mergeObjects(schemas: JsonSchemaProps[], mode: 'any' | 'all'): JsonSchemaProps {
  const out: JsonSchemaProps = { type: 'object' };
  if (schemas.some((s) => s['x-kubernetes-preserve-unknown-fields'])) out['x-kubernetes-preserve-unknown-fields'] = true;
  const byKey = new Map<string, JsonSchemaProps[]>();
  for (const s of schemas) for (const [k, v] of Object.entries(s.properties ?? {})) byKey.set(k, [...(byKey.get(k) ?? []), v]);
  if (byKey.size > 0) {
    out.properties = {};
    for (const [k, vs] of byKey) out.properties[k] = vs.length === 1 ? structuredClone(vs[0]) : mergeAll(vs, mode);
  }
  const additional = schemas.flatMap((s) => (s.additionalProperties ? [s.additionalProperties] : []));
  if (additional.length > 0) {
    if (out.properties) out['x-kubernetes-preserve-unknown-fields'] = true;
    else out.additionalProperties = mergeAll(additional, mode);
  }
  const reqs = schemas.map((s) => s.required ?? []);
  const required = mode === 'all' ? [...new Set(reqs.flat())] : reqs[0].filter((r) => reqs.every((q) => q.includes(r)));
  if (required.length > 0) out.required = required;
  return out;
}

function intOrStringSchema(): JsonSchemaProps {
  return { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true };
}

function addValidation(out: JsonSchemaProps, v: { rule: string; message: string }): void {
  const list = (out['x-kubernetes-validations'] ??= []);
  if (!list.some((x) => x.rule === v.rule)) list.push({ rule: v.rule, message: v.message });
}

function celString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function required(fields: readonly string[]): JsonSchemaProps[] {
  return fields.map((f) => ({ required: [f] }));
}

function applyHints(out: JsonSchemaProps, hints: CrdHints): void {
  if (hints.preserveUnknownFields) {
    for (const k of Object.keys(out) as (keyof JsonSchemaProps)[]) if (k !== 'description') delete out[k];
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  if (hints.intOrString) {
    const description = out.description;
    for (const k of Object.keys(out) as (keyof JsonSchemaProps)[]) delete out[k];
    Object.assign(out, intOrStringSchema(), description ? { description } : {});
  }
  if (hints.format) {
    // uint32 has no OpenAPI format; Istio renders it as an integer with bounds.
    if (hints.format === 'uint32' || hints.format === 'int32' || hints.format === 'int64') {
      if (out.type === 'number') out.type = 'integer';
      if (hints.format === 'uint32') tighten(out, 0, 4294967295);
      if (hints.format === 'int32') tighten(out, -2147483648, 2147483647);
    }
    if (KUBERNETES_FORMATS.has(hints.format)) out.format = hints.format;
  }
  for (const v of hints.validations ?? []) addValidation(out, v);
  // Oneof groups in Istio's form: none or exactly one of the fields (a `not anyOf`
  // branch for "none"), or exactly one when the group is required.
  const declared = new Set(Object.keys(out.properties ?? {}));
  const groups: JsonSchemaProps[] = [];
  const requiredGroup = hints.anyOfRequired?.filter((f) => declared.has(f));
  let requiredUsed = false;
  for (const g of hints.oneOf ?? []) {
    const fields = g.filter((f) => declared.has(f));
    if (fields.length === 0) continue;
    const isRequired = !!requiredGroup && requiredGroup.length === fields.length && fields.every((f) => requiredGroup.includes(f));
    if (isRequired) requiredUsed = true;
    groups.push({ oneOf: isRequired ? required(fields) : [{ not: { anyOf: required(fields) } }, ...required(fields)] });
  }
  if (requiredGroup && requiredGroup.length > 0 && !requiredUsed) groups.push({ anyOf: required(requiredGroup) });
  if (groups.length === 1 && !out.oneOf && !out.anyOf) Object.assign(out, groups[0]);
  else if (groups.length > 0) out.allOf = [...(out.allOf ?? []), ...groups];
}

const AGE_COLUMN = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the resource was created (metadata.creationTimestamp).',
};

/** crdName returns the CRD's object name, `<plural>.<group>`. */
export function crdName(def: KindDef): string {
  return `${def.plural}.${def.group}`;
}

/**
 * buildCrd returns the apiextensions.k8s.io/v1 CustomResourceDefinition for a kind:
 * names, scope, one entry per served version (the first one stored), the status
 * subresource, printer columns and the structural OpenAPI schema of the whole object.
 */
export function buildCrd(def: KindDef): Record<string, unknown> {
  const body = schemaOf(def.body);
  const root: JsonSchemaProps = {
    type: 'object',
    ...(body.properties?.spec?.description ? { description: body.properties.spec.description } : {}),
    properties: {
      apiVersion: { type: 'string', description: 'Versioned schema of this representation of an object.' },
      kind: { type: 'string', description: 'REST resource this object represents.' },
      metadata: { type: 'object' },
      ...body.properties,
    },
  };
  for (const k of ['required', 'oneOf', 'anyOf', 'allOf', 'x-kubernetes-validations'] as const) {
    if (body[k] !== undefined) (root as Record<string, unknown>)[k] = body[k];
  }
  const columns = [...(def.printerColumns ?? []).map((c) => ({ ...c })), AGE_COLUMN];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: crdName(def),
      labels: { 'app.kubernetes.io/part-of': 'meshwork' },
    },
    spec: {
      group: def.group,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        ...(def.shortNames?.length ? { shortNames: [...def.shortNames] } : {}),
        ...(def.categories?.length ? { categories: [...def.categories] } : {}),
      },
      scope: def.namespaced ? 'Namespaced' : 'Cluster',
      versions: def.versions.map((name, i) => ({
        name,
        served: true,
        storage: i === 0,
        subresources: { status: {} },
        additionalPrinterColumns: columns,
        schema: { openAPIV3Schema: structuredClone(root) },
      })),
    },
  };
}

/** buildAllCrds returns the CRD of every kind Meshwork ships, ordered by group then kind. */
export function buildAllCrds(): Record<string, unknown>[] {
  return ALL_KINDS.filter((k) => k.crd)
    .sort((a, b) => a.group.localeCompare(b.group) || a.kind.localeCompare(b.kind))
    .map(buildCrd);
}

// kubectl's layout (list items not indented), no anchors, one line per scalar.
const YAML_OPTIONS = { sortMapEntries: true, lineWidth: 0, indentSeq: false, aliasDuplicateObjects: false } as const;

const HEADER = [
  '# Generated by `npm run gen:crds` (tools/gen-crds.mjs) from the zod schemas in libs/api/src/schema.',
  '# Do not edit: change the schema and regenerate.',
];

/**
 * renderCrdFiles returns the contents of deploy/k8s/crds: one multi-document YAML file per
 * API group (`<group>.yaml`, sorted by kind) and a kustomization listing them, keyed by
 * file name. Keys are sorted so the output is stable.
 */
export function renderCrdFiles(): Map<string, string> {
  const byGroup = new Map<string, Record<string, unknown>[]>();
  for (const crd of buildAllCrds()) {
    const group = (crd.spec as { group: string }).group;
    byGroup.set(group, [...(byGroup.get(group) ?? []), crd]);
  }
  const files = new Map<string, string>();
  const groups = [...byGroup.keys()].sort();
  for (const g of groups) {
    const docs = (byGroup.get(g) ?? []).map((d) => stringify(d, YAML_OPTIONS));
    files.set(`${g}.yaml`, `${HEADER.join('\n')}\n---\n${docs.join('---\n')}`);
  }
  const kustomization = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: groups.map((g) => `${g}.yaml`) };
  files.set('kustomization.yaml', `${HEADER.join('\n')}\n${stringify(kustomization, YAML_OPTIONS)}`);
  return files;
}

// Keywords that are not allowed anywhere in a structural schema.
const FORBIDDEN = ['$ref', 'definitions', 'dependencies', 'patternProperties', 'additionalItems', 'id', '$schema', 'uniqueItems'];
// Keywords not allowed inside allOf/anyOf/oneOf/not (they may only restrict).
const NOT_IN_JUNCTORS = ['type', 'additionalProperties', 'description', 'default', 'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-validations', 'x-kubernetes-embedded-resource'];
const JUNCTORS = ['allOf', 'anyOf', 'oneOf'] as const;
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

/**
 * structuralErrors returns every way `schema` breaks Kubernetes' rules for structural
 * schemas (apiextensions.k8s.io/v1), as `path: problem` lines; empty when it is valid.
 * `root` enables the rules for the top level (`apiVersion`, `kind`, `metadata`).
 */
export function structuralErrors(schema: JsonSchemaProps, root = true): string[] {
  const errs: string[] = [];
  checkNode(schema as Record<string, unknown>, root ? 'openAPIV3Schema' : '', errs);
  if (root) {
    if (schema.type !== 'object') errs.push('openAPIV3Schema: the root must be of type object');
    const md = schema.properties?.metadata;
    const mdProps = Object.keys(md?.properties ?? {});
    if (md && (Object.keys(md).some((k) => k !== 'type' && k !== 'description' && k !== 'properties') || mdProps.some((k) => k !== 'name' && k !== 'generateName'))) {
      errs.push('openAPIV3Schema.properties.metadata: only type and name/generateName restrictions are allowed');
    }
    for (const k of ['apiVersion', 'kind']) {
      const p = schema.properties?.[k];
      if (p && p.type !== 'string') errs.push(`openAPIV3Schema.properties.${k}: must be of type string`);
    }
  }
  return errs;
}

function checkNode(node: Record<string, unknown>, path: string, errs: string[]): void {
  const at = (m: string): void => void errs.push(`${path || '<root>'}: ${m}`);
  for (const k of FORBIDDEN) if (k in node) at(`"${k}" is not allowed`);
  const intOrString = node['x-kubernetes-int-or-string'];
  const preserve = node['x-kubernetes-preserve-unknown-fields'];
  if (preserve !== undefined && preserve !== true) at('x-kubernetes-preserve-unknown-fields must be true when set');
  if (intOrString !== undefined && intOrString !== true) at('x-kubernetes-int-or-string must be true when set');
  if (intOrString && node.type !== undefined) at('x-kubernetes-int-or-string must not have a type');
  if (node.type === undefined) {
    if (!intOrString && !preserve) at('type is missing (only int-or-string or preserve-unknown-fields nodes may omit it)');
  } else if (typeof node.type !== 'string' || !TYPES.has(node.type)) at(`type ${JSON.stringify(node.type)} is not a valid type`);
  if (node.additionalProperties === false) at('additionalProperties: false is not allowed (unknown fields are pruned or rejected anyway)');
  if (node.additionalProperties !== undefined && node.properties !== undefined) at('properties and additionalProperties are mutually exclusive');
  if ((node.properties !== undefined || node.additionalProperties !== undefined) && node.type !== 'object') at('properties/additionalProperties require type object');
  if (node.items !== undefined && node.type !== 'array') at('items requires type array');
  if (node.type === 'array' && (node.items === undefined || Array.isArray(node.items))) at('an array must have a single items schema');
  if (typeof node.format === 'string' && !KUBERNETES_FORMATS.has(node.format)) at(`format "${node.format}" is not known to Kubernetes`);
  if (typeof node.pattern === 'string') {
    const bad = checkRe2(node.pattern);
    if (bad) at(`pattern is not RE2: ${bad}`);
  }
  if (Array.isArray(node.enum)) {
    for (const v of node.enum) {
      const t = v === null ? 'null' : Number.isInteger(v) ? 'integer' : typeof v;
      const ok = node.type === t || (node.type === 'number' && t === 'integer') || (v === null && node.nullable === true);
      if (!ok) at(`enum value ${JSON.stringify(v)} does not match type ${String(node.type)}`);
    }
  }
  if (node.required !== undefined) {
    const props = (node.properties ?? {}) as Record<string, unknown>;
    for (const r of node.required as string[]) if (!(r in props)) at(`required field "${r}" is not declared in properties`);
  }
  for (const v of (node['x-kubernetes-validations'] as { rule?: unknown; message?: unknown }[] | undefined) ?? []) {
    if (typeof v.rule !== 'string' || v.rule === '') at('x-kubernetes-validations entry without a rule');
  }
  for (const [k, v] of Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>)) checkNode(v, `${path}.properties.${k}`, errs);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') checkNode(node.additionalProperties as Record<string, unknown>, `${path}.additionalProperties`, errs);
  if (node.items && typeof node.items === 'object' && !Array.isArray(node.items)) checkNode(node.items as Record<string, unknown>, `${path}.items`, errs);
  // Junctors may only restrict what is declared beside them.
  const isIntOrStringAnyOf = (j: string): boolean =>
    j === 'anyOf' && intOrString === true && JSON.stringify(node.anyOf) === JSON.stringify([{ type: 'integer' }, { type: 'string' }]);
  for (const j of JUNCTORS) {
    const list = node[j];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      at(`${j} must be a list`);
      continue;
    }
    if (isIntOrStringAnyOf(j)) continue;
    list.forEach((s, i) => checkJunctor(s as Record<string, unknown>, node, `${path}.${j}[${i}]`, errs));
  }
  if (node.not !== undefined) checkJunctor(node.not as Record<string, unknown>, node, `${path}.not`, errs);
}

function checkJunctor(j: Record<string, unknown>, outer: Record<string, unknown>, path: string, errs: string[]): void {
  for (const k of NOT_IN_JUNCTORS) if (k in j) errs.push(`${path}: "${k}" is not allowed inside a logical junctor`);
  for (const k of FORBIDDEN) if (k in j) errs.push(`${path}: "${k}" is not allowed`);
  const outerProps = (outer.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const r of (j.required as string[] | undefined) ?? []) {
    if (!(r in outerProps)) errs.push(`${path}: required field "${r}" is not declared outside the junctor`);
  }
  for (const [k, v] of Object.entries((j.properties ?? {}) as Record<string, Record<string, unknown>>)) {
    if (!(k in outerProps)) errs.push(`${path}.properties.${k}: not declared outside the junctor`);
    else checkJunctor(v, outerProps[k], `${path}.properties.${k}`, errs);
  }
  if (j.items !== undefined) {
    if (!outer.items) errs.push(`${path}.items: items not declared outside the junctor`);
    else checkJunctor(j.items as Record<string, unknown>, outer.items as Record<string, unknown>, `${path}.items`, errs);
  }
  for (const jj of JUNCTORS) for (const [i, s] of ((j[jj] as Record<string, unknown>[] | undefined) ?? []).entries()) checkJunctor(s, outer, `${path}.${jj}[${i}]`, errs);
  if (j.not !== undefined) checkJunctor(j.not as Record<string, unknown>, outer, `${path}.not`, errs);
}
