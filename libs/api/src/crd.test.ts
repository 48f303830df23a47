/**
 * CRD generation: the committed deploy/k8s/crds are what the schemas produce, they are
 * structural, kustomize renders them, and an OpenAPI validation against them agrees with
 * meshctl's validation on the fixtures (accepts the valid ones, rejects the purely
 * structural mistakes: unknown field, wrong type, bad enum).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { buildAllCrds, KUBERNETES_FORMATS, renderCrdFiles, schemaOf, structuralErrors, type JsonSchemaProps } from './crd.js';
import { listResourceFiles } from './load.js';
import { parseText } from './parse.js';
import { findKind, splitApiVersion } from './registry.js';
import { anyJson, duration, int32, obj, oneOf, port, uint32 } from './schema/dsl.js';
import { validateObject } from './validate.js';

const repo = join(import.meta.dirname, '..', '..', '..');
const crdDir = join(repo, 'deploy', 'k8s', 'crds');
const testdata = join(import.meta.dirname, '..', 'testdata');

describe('schemaOf (zod → structural OpenAPI)', () => {
  type Lazy = { name: string; child?: Lazy };
  const Tree: z.ZodType<Lazy> = z.lazy(() => obj({ name: z.string(), child: Tree.optional() }));
  const cases: [string, z.ZodType, JsonSchemaProps][] = [
    ['string bounds', z.string().min(1).max(9), { type: 'string', minLength: 1, maxLength: 9 }],
    ['RE2-compatible regex becomes pattern', z.string().regex(/^[a-z]+$/), { type: 'string', pattern: '^[a-z]+$' }],
    ['lookahead regex is left to meshctl', z.string().regex(/^(?!x)/), { type: 'string' }],
    ['int → integer', z.number().int().min(1).max(5), { type: 'integer', minimum: 1, maximum: 5 }],
    ['exclusive bound', z.number().positive(), { type: 'number', minimum: 0, exclusiveMinimum: true }],
    ['int32()', int32(), { type: 'integer', format: 'int32', minimum: -2147483648, maximum: 2147483647 }],
    ['uint32() has bounds, no format (as Istio)', uint32(), { type: 'integer', minimum: 0, maximum: 4294967295 }],
    ['port() carries its CEL rule', port(), { type: 'integer', minimum: 0, maximum: 4294967295, 'x-kubernetes-validations': [{ rule: '0 < self && self <= 65535', message: 'port must be between 1-65535' }] }],
    ['enum', z.enum(['A', 'B']), { type: 'string', enum: ['A', 'B'] }],
    ['boolean', z.boolean(), { type: 'boolean' }],
    ['nullable', z.string().nullable(), { type: 'string', nullable: true }],
    ['default is not rendered and not required', obj({ a: z.string().default('x') }), { type: 'object', properties: { a: { type: 'string' } } }],
    ['array bounds', z.array(z.string()).min(1).max(3), { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 3 }],
    ['record', z.record(z.string(), z.boolean()), { type: 'object', additionalProperties: { type: 'boolean' } }],
    ['required vs optional fields', obj({ a: z.string(), b: z.string().optional() }), { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } }, required: ['a'] }],
    ['loose object keeps unknown fields', z.looseObject({ a: z.string() }), { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], 'x-kubernetes-preserve-unknown-fields': true }],
    ['anyJson()', anyJson(), { 'x-kubernetes-preserve-unknown-fields': true }],
    ['int | string', z.union([z.number().int(), z.string()]), { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true }],
    ['union of literals', z.union([z.literal('a'), z.literal('b')]), { type: 'string', enum: ['a', 'b'] }],
    ['union of objects merges fields', z.union([obj({ a: z.string() }), obj({ b: z.string() })]), { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } } }],
    ['string | object is free-form', z.union([z.string(), obj({})]), { 'x-kubernetes-preserve-unknown-fields': true }],
    ['description', z.string().describe('Name of the thing.'), { type: 'string', description: 'Name of the thing.' }],
    ['description on the optional wrapper', obj({ a: z.string().optional().describe('A.') }), { type: 'object', properties: { a: { type: 'string', description: 'A.' } } }],
    ['duration() → CEL', duration(), { type: 'string', 'x-kubernetes-validations': [{ rule: "duration(self) >= duration('1000000ns')", message: 'must be a valid duration greater than or equal to 1ms' }] }],
    ['oneof (Istio form)', oneOf(obj({ a: z.string().optional(), b: z.string().optional() }), ['a', 'b']), {
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' } },
      oneOf: [{ not: { anyOf: [{ required: ['a'] }, { required: ['b'] }] } }, { required: ['a'] }, { required: ['b'] }],
    }],
    ['required oneof', oneOf(obj({ a: z.string().optional(), b: z.string().optional() }), ['a', 'b'], { required: true }), {
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' } },
      oneOf: [{ required: ['a'] }, { required: ['b'] }],
    }],
    ['two oneofs → allOf', oneOf(oneOf(obj({ a: z.string().optional(), b: z.string().optional(), c: z.string().optional(), d: z.string().optional() }), ['a', 'b']), ['c', 'd']), {
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' }, c: { type: 'string' }, d: { type: 'string' } },
      allOf: [
        { oneOf: [{ not: { anyOf: [{ required: ['a'] }, { required: ['b'] }] } }, { required: ['a'] }, { required: ['b'] }] },
        { oneOf: [{ not: { anyOf: [{ required: ['c'] }, { required: ['d'] }] } }, { required: ['c'] }, { required: ['d'] }] },
      ],
    }],
    ['recursion is cut off', Tree, {
      type: 'object',
      properties: { name: { type: 'string' }, child: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      required: ['name'],
    }],
  ];
  it.each(cases)('%s', (_name, schema, want) => {
    expect(schemaOf(schema)).toEqual(want);
    expect(structuralErrors(schemaOf(schema), false)).toEqual([]);
  });
});

describe('structuralErrors', () => {
  const cases: [string, object, string][] = [
    ['untyped field', { type: 'object', properties: { a: {} } }, '.properties.a: type is missing'],
    ['additionalProperties: false', { type: 'object', additionalProperties: false }, 'additionalProperties: false is not allowed'],
    ['$ref', { type: 'object', properties: { a: { $ref: '#/x' } } }, '"$ref" is not allowed'],
    ['type inside a junctor', { type: 'object', properties: { a: { type: 'string' } }, oneOf: [{ type: 'object' }] }, '"type" is not allowed inside a logical junctor'],
    ['junctor requires an undeclared field', { type: 'object', properties: { a: { type: 'string' } }, oneOf: [{ required: ['b'] }] }, 'required field "b" is not declared outside the junctor'],
    ['properties with additionalProperties', { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } }, 'mutually exclusive'],
    ['unknown format', { type: 'object', properties: { a: { type: 'string', format: 'uint32' } } }, 'format "uint32" is not known'],
    ['non-RE2 pattern', { type: 'object', properties: { a: { type: 'string', pattern: '(?=a)' } } }, 'pattern is not RE2'],
    ['enum of the wrong type', { type: 'object', properties: { a: { type: 'string', enum: [1] } } }, 'does not match type string'],
    ['typed int-or-string', { type: 'object', properties: { a: { type: 'string', 'x-kubernetes-int-or-string': true } } }, 'must not have a type'],
    ['non-object root', { type: 'string' }, 'the root must be of type object'],
    ['metadata restricted beyond name', { type: 'object', properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } } }, 'only type and name/generateName'],
    ['required but undeclared', { type: 'object', required: ['x'] }, 'required field "x" is not declared'],
  ];
  it.each(cases)('finds %s', (_name, schema, want) => {
    const errs = structuralErrors(schema as JsonSchemaProps);
    expect(errs.some((e) => e.includes(want)), errs.join('\n')).toBe(true);
  });
});

describe('deploy/k8s/crds', () => {
  const fresh = renderCrdFiles();
  it('is up to date with the schemas (run `npm run gen:crds` when this fails)', () => {
    const committed = existsSync(crdDir) ? readdirSync(crdDir).filter((f) => f.endsWith('.yaml')).sort() : [];
    expect(committed, 'files in deploy/k8s/crds differ from a fresh generation: run `npm run gen:crds`').toEqual([...fresh.keys()].sort());
    for (const [name, text] of fresh) {
      expect(readFileSync(join(crdDir, name), 'utf8'), `deploy/k8s/crds/${name} is stale: run \`npm run gen:crds\``).toBe(text);
    }
  });

  it('has one CRD per kind with crd: true, each version with a structural schema', () => {
    const crds = buildAllCrds();
    expect(crds.length).toBeGreaterThan(0);
    for (const crd of crds) {
      const spec = crd.spec as { versions: { name: string; storage: boolean; schema: { openAPIV3Schema: JsonSchemaProps } }[] };
      expect(spec.versions.filter((v) => v.storage)).toHaveLength(1);
      for (const v of spec.versions) {
        expect(structuralErrors(v.schema.openAPIV3Schema), `${(crd.metadata as { name: string }).name} ${v.name}`).toEqual([]);
      }
    }
  });

  const kubectl = (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'kubectl')));
  it.skipIf(!kubectl)(`renders with \`kubectl kustomize\`${kubectl ? '' : ' (SKIPPED: kubectl is not on PATH)'}`, () => {
    const out = execFileSync('kubectl', ['kustomize', crdDir], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const names = parseAllDocuments(out).map((d) => (d.toJS() as { metadata: { name: string } }).metadata.name).sort();
    expect(names).toEqual(buildAllCrds().map((c) => (c.metadata as { name: string }).name).sort());
  });
});

/**
 * openApiToAjv turns a structural schema into a JSON Schema ajv can run with the API
 * server's verdicts: x-kubernetes-* markers dropped, OpenAPI 3.0 boolean exclusive bounds
 * rewritten, and unknown fields rejected as `kubectl apply` (strict field validation) does.
 */
function openApiToAjv(node: JsonSchemaProps, isRoot = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-') || k === 'description') continue;
    if (k === 'properties') {
      out.properties = Object.fromEntries(Object.entries(v as Record<string, JsonSchemaProps>).map(([p, s]) => [p, openApiToAjv(s)]));
    } else if (k === 'additionalProperties' || k === 'items' || k === 'not') {
      out[k] = openApiToAjv(v as JsonSchemaProps);
    } else if (k === 'oneOf' || k === 'anyOf' || k === 'allOf') {
      out[k] = (v as JsonSchemaProps[]).map((s) => openApiToAjv(s));
    } else if (k === 'exclusiveMinimum' || k === 'exclusiveMaximum') {
      continue;
    } else out[k] = v;
  }
  if (node.exclusiveMinimum) {
    out.exclusiveMinimum = node.minimum;
    delete out.minimum;
  }
  if (node.exclusiveMaximum) {
    out.exclusiveMaximum = node.maximum;
    delete out.maximum;
  }
  if (node.type === 'object' && !node['x-kubernetes-preserve-unknown-fields'] && !node.additionalProperties) out.additionalProperties = false;
  if (isRoot) {
    // ObjectMeta is validated by the API server itself, not by the CRD schema.
    (out.properties as Record<string, unknown>).metadata = { type: 'object' };
  }
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, formats: Object.fromEntries([...KUBERNETES_FORMATS].map((f) => [f, true])) });
const validators = new Map<string, ValidateFunction>();
/** validatorFor returns the OpenAPI validator of a group/kind/version, or undefined if we ship no CRD for it. */
function validatorFor(apiVersion: string, kind: string): ValidateFunction | undefined {
  const key = `${apiVersion}/${kind}`;
  if (!validators.has(key)) {
    const { group, version } = splitApiVersion(apiVersion);
    const crd = buildAllCrds().find((c) => (c.spec as { group: string }).group === group && (c.spec as { names: { kind: string } }).names.kind === kind);
    const v = (crd?.spec as { versions: { name: string; schema: { openAPIV3Schema: JsonSchemaProps } }[] } | undefined)?.versions.find((x) => x.name === version);
    if (!v) return undefined;
    validators.set(key, ajv.compile(openApiToAjv(v.schema.openAPIV3Schema, true)));
  }
  return validators.get(key);
}

interface Doc {
  readonly id: string;
  readonly object: Record<string, unknown>;
}

async function docsUnder(dir: string): Promise<Doc[]> {
  if (!existsSync(dir)) return [];
  const out: Doc[] = [];
  for (const f of await listResourceFiles(dir)) {
    const { objects } = parseText(readFileSync(f, 'utf8'), f);
    objects.forEach((o, i) => {
      const obj = o.object as Record<string, unknown>;
      if (typeof obj?.apiVersion !== 'string' || typeof obj.kind !== 'string') return;
      const def = findKind(splitApiVersion(obj.apiVersion).group, obj.kind);
      if (def?.crd) out.push({ id: `${f.slice(testdata.length + 1)}#${i}`, object: obj });
    });
  }
  return out;
}

function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, withoutNulls(x)]));
}

// Mistakes an OpenAPI schema can see by itself (no CEL, no code).
const STRUCTURAL = /^(unknown field "|expected [a-z]+, got |must be one of )/;

const accepted: Doc[] = await docsUnder(join(testdata, 'valid'));
const structural: Doc[] = [];
for (const d of [...(await docsUnder(join(testdata, 'invalid'))), ...(await docsUnder(join(testdata, 'crosscheck')))]) {
  const r = validateObject({ object: d.object, docIndex: 0, locate: () => ({}) });
  if (r.ok) accepted.push(d);
  else if (r.diagnostics.every((x) => STRUCTURAL.test(x.reason) && !/^(apiVersion|kind|metadata)\b/.test(x.path))) structural.push(d);
}

describe('OpenAPI validation with the generated schemas agrees with meshctl', () => {
  it('has samples of both verdicts', () => {
    expect(accepted.length).toBeGreaterThan(0);
    expect(structural.length).toBeGreaterThan(0);
  });
  it.each(accepted.map((d) => [d.id, d] as const))('accepts %s', (_id, d) => {
    const v = validatorFor(d.object.apiVersion as string, d.object.kind as string);
    if (!v) return expect.fail('no CRD version for this document');
    // The API server prunes null values of non-nullable fields before validating.
    v(withoutNulls(d.object));
    expect(ajv.errorsText(v.errors)).toBe('No errors');
  });
  it.each(structural.map((d) => [d.id, d] as const))('rejects %s', (_id, d) => {
    const v = validatorFor(d.object.apiVersion as string, d.object.kind as string);
    if (!v) return expect.fail('no CRD version for this document');
    expect(v(d.object)).toBe(false);
  });
});
