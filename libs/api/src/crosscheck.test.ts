/**
 * Cross-check with upstream: for every Istio document of the corpus (testdata/valid/**,
 * testdata/invalid/**, testdata/crosscheck/**), Meshwork's verdict is compared with the
 * upstream one. "Upstream" is what the Kubernetes API server does with Istio's CRDs on
 * `kubectl apply`: the CRD's OpenAPI schema, as shipped by @kubernetes-models/istio (ajv),
 * plus strict field validation (unknown fields are errors), which that package leaves out.
 *
 * Every disagreement must be listed in testdata/crosscheck-exceptions.yaml with a reason,
 * and every listed exception must still match a disagreement, so the list stays honest.
 * Note that the package lags Istio: it is generated from the CRDs of the Istio release in
 * its package.json (`crd-generate.input`), so it does not know later fields and enum values,
 * has no CEL rules, and only serves the API versions of that release (a newer version is
 * checked with the newest schema it has for the kind: Istio serves all versions with one schema).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { listResourceFiles } from './load.js';
import { parseText, type RawObject } from './parse.js';
import { splitApiVersion } from './registry.js';
import { validateObject } from './validate.js';

const testdata = join(import.meta.dirname, '..', 'testdata');
const require = createRequire(import.meta.url);

/** API versions Istio serves per kind today (istio/api kubernetes/customresourcedefinitions.gen.yaml). */
const ISTIO_SERVED: Record<string, readonly string[]> = {
  'networking.istio.io/VirtualService': ['v1', 'v1beta1', 'v1alpha3'],
  'networking.istio.io/DestinationRule': ['v1', 'v1beta1', 'v1alpha3'],
  'networking.istio.io/Gateway': ['v1', 'v1beta1', 'v1alpha3'],
  'networking.istio.io/ServiceEntry': ['v1', 'v1beta1', 'v1alpha3'],
  'networking.istio.io/Sidecar': ['v1', 'v1beta1', 'v1alpha3'],
  'networking.istio.io/WorkloadEntry': ['v1', 'v1beta1', 'v1alpha3'],
  'networking.istio.io/WorkloadGroup': ['v1', 'v1beta1', 'v1alpha3'],
  'networking.istio.io/EnvoyFilter': ['v1alpha3'],
  'networking.istio.io/ProxyConfig': ['v1beta1'],
  'security.istio.io/AuthorizationPolicy': ['v1', 'v1beta1'],
  'security.istio.io/PeerAuthentication': ['v1', 'v1beta1'],
  'security.istio.io/RequestAuthentication': ['v1', 'v1beta1'],
  'telemetry.istio.io/Telemetry': ['v1', 'v1alpha1'],
};
const ISTIO_GROUPS = new Set(['networking.istio.io', 'security.istio.io', 'telemetry.istio.io']);
// Versions to try, best first, when the package has no model for the document's own version.
const FALLBACK_VERSIONS = ['v1', 'v1beta1', 'v1alpha3', 'v1alpha1'];

const upstreamPkg = JSON.parse(readFileSync(require.resolve('@kubernetes-models/istio/package.json'), 'utf8')) as { version: string; 'crd-generate': { input: string[] } };
/** The Istio release the upstream schemas come from, read from the package's generator input. */
const UPSTREAM_ISTIO = /istio\/istio\/([^/]+)\//.exec(upstreamPkg['crd-generate'].input[0])?.[1] ?? 'unknown';

// The package registers each kind's schema with its validator lazily, on first validate().
// Capturing the schemas there lets us add what ajv alone does not do: strict field validation.
type JsonSchema = Record<string, unknown>;
const schemas = new Map<string, JsonSchema>();
const validateLib = require('@kubernetes-models/validate') as { register: (id: string, schema: JsonSchema) => void };
const register = validateLib.register;
validateLib.register = (id, schema) => {
  schemas.set(id, schema);
  register(id, schema);
};

interface Model {
  readonly apiVersion: string;
  new (data: unknown): { validate(): void };
}

function loadModel(group: string, version: string, kind: string): Model | undefined {
  for (const v of [version, ...FALLBACK_VERSIONS]) {
    try {
      const mod = require(`@kubernetes-models/istio/${group}/${v}/${kind}`) as Record<string, Model>;
      if (mod[kind]) return mod[kind];
    } catch {
      // no model for this version; try the next one
    }
  }
  return undefined;
}

interface Verdict {
  readonly ok: boolean;
  readonly errors: string[];
}

/** upstreamVerdict returns what the API server with Istio's CRDs (as the package has them) says about `obj`. */
function upstreamVerdict(obj: Record<string, unknown>): Verdict {
  const { group, version } = splitApiVersion(String(obj.apiVersion));
  const kind = String(obj.kind);
  const served = ISTIO_SERVED[`${group}/${kind}`];
  if (!served) return { ok: false, errors: [`Istio has no kind ${kind} in ${group}`] };
  if (!served.includes(version)) return { ok: false, errors: [`Istio does not serve ${kind} as ${group}/${version}`] };
  const model = loadModel(group, version, kind);
  if (!model) throw new Error(`@kubernetes-models/istio has no model for ${group} ${kind}`);
  const data = { ...structuredClone(obj), apiVersion: model.apiVersion };
  const errors: string[] = [];
  try {
    new model(data).validate();
  } catch (err) {
    const list = (err as { errors?: { instancePath: string; message?: string; params?: Record<string, unknown>; data?: unknown }[] }).errors;
    if (!list) throw err;
    for (const e of list) {
      // The package's ajv runs verbose, so enum errors can name the rejected value.
      const allowed = e.params?.allowedValues ? ` ${JSON.stringify(e.params.allowedValues)}, got ${JSON.stringify(e.data)}` : '';
      errors.push(`${e.instancePath || '/'} ${e.message ?? ''}${allowed}`);
    }
  }
  const schemaId = `${splitApiVersion(model.apiVersion).group}.${splitApiVersion(model.apiVersion).version}.${kind}`;
  unknownFields(data, schemas.get(schemaId), '', errors);
  return { ok: errors.length === 0, errors };
}

function resolve(schema: JsonSchema | undefined): JsonSchema | undefined {
  if (!schema) return undefined;
  const ref = (s: JsonSchema): JsonSchema | undefined => (typeof s.$ref === 'string' ? schemas.get(s.$ref.replace(/#$/, '')) : undefined);
  if (schema.$ref) return ref(schema);
  // ObjectMeta is referenced as oneOf [$ref, null].
  for (const s of (schema.oneOf as JsonSchema[] | undefined) ?? []) if (s.$ref) return ref(s);
  return schema;
}

/**
 * unknownFields adds an error for every field the schema does not declare, as the API
 * server's strict field validation does. The package renders x-kubernetes-preserve-unknown-fields
 * objects (status, free-form structs) as `properties: {}`, so an object without declared
 * properties is taken as free-form.
 */
function unknownFields(value: unknown, schemaIn: JsonSchema | undefined, path: string, out: string[]): void {
  const schema = resolve(schemaIn);
  if (!schema || typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => unknownFields(v, schema.items as JsonSchema | undefined, `${path}/${i}`, out));
    return;
  }
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const additional = schema.additionalProperties;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k in props) unknownFields(v, props[k], `${path}/${k}`, out);
    else if (additional && typeof additional === 'object') unknownFields(v, additional as JsonSchema, `${path}/${k}`, out);
    else if (Object.keys(props).length > 0 && additional !== true) out.push(`${path}/${k} unknown field "${k}"`);
  }
}

interface Case {
  readonly id: string;
  readonly raw: RawObject;
  readonly object: Record<string, unknown>;
}

async function corpus(): Promise<Case[]> {
  const files = [
    ...(await listResourceFiles(join(testdata, 'valid'))),
    ...(await listResourceFiles(join(testdata, 'invalid'))),
    ...(await listResourceFiles(join(testdata, 'crosscheck'))),
  ];
  const out: Case[] = [];
  for (const f of files) {
    parseText(readFileSync(f, 'utf8'), f).objects.forEach((raw, i) => {
      const o = raw.object as Record<string, unknown> | null;
      if (typeof o !== 'object' || o === null || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') return;
      if (!ISTIO_GROUPS.has(splitApiVersion(o.apiVersion).group)) return;
      const name = (o.metadata as { name?: unknown } | undefined)?.name;
      out.push({ id: `${f.slice(testdata.length + 1)}:${typeof name === 'string' ? name : `#${i}`}`, raw, object: o });
    });
  }
  return out;
}

interface Exception {
  readonly direction: 'stricter' | 'looser';
  readonly case?: string;
  readonly ours?: readonly string[];
  readonly upstream?: readonly string[];
  readonly why: string;
}

const exceptionsFile = join(testdata, 'crosscheck-exceptions.yaml');
const exceptions = ((parse(readFileSync(exceptionsFile, 'utf8')) as { exceptions?: Exception[] } | null)?.exceptions ?? []);
const used = new Set<Exception>();

/**
 * excuse returns why a disagreement is allowed, or the lines no exception covers. A `case`
 * entry covers its document; otherwise each of the disagreeing side's error lines must match
 * a pattern (`ours` for stricter, `upstream` for looser) of some entry of that direction.
 */
function excuse(c: Case, direction: Exception['direction'], lines: readonly string[]): { covered: true } | { covered: false; unmatched: string[] } {
  const byCase = exceptions.find((e) => e.direction === direction && e.case === c.id);
  if (byCase) {
    used.add(byCase);
    return { covered: true };
  }
  const unmatched: string[] = [];
  for (const line of lines) {
    const hits = exceptions.filter((e) => e.direction === direction && !e.case && (direction === 'stricter' ? e.ours : e.upstream)?.some((p) => new RegExp(p).test(line)));
    if (hits.length === 0) unmatched.push(line);
    for (const h of hits) used.add(h);
  }
  return unmatched.length === 0 && lines.length > 0 ? { covered: true } : { covered: false, unmatched };
}

interface Outcome {
  readonly c: Case;
  readonly mine: Verdict;
  readonly theirs: Verdict;
  readonly direction?: Exception['direction'];
  readonly unmatched?: string[];
}

// Verdicts are computed up front so that the stale-exception check sees every document
// even when only some tests run.
const cases = await corpus();
const outcomes: Outcome[] = cases.map((c) => {
  const ours = validateObject(c.raw);
  const mine: Verdict = { ok: ours.ok, errors: ours.diagnostics.map((d) => `${d.path} | ${d.reason}`) };
  const theirs = upstreamVerdict(c.object);
  if (mine.ok === theirs.ok) return { c, mine, theirs };
  const direction = theirs.ok ? 'stricter' : 'looser';
  const r = excuse(c, direction, direction === 'stricter' ? mine.errors : theirs.errors);
  return { c, mine, theirs, direction, unmatched: r.covered ? undefined : r.unmatched };
});

// CROSSCHECK_REPORT=<file> writes every verdict pair as JSON, to review or update the exceptions.
if (process.env.CROSSCHECK_REPORT) {
  writeFileSync(process.env.CROSSCHECK_REPORT, JSON.stringify(outcomes.map((o) => ({ id: o.c.id, meshwork: o.mine, upstream: o.theirs, direction: o.direction, listed: o.direction ? !o.unmatched : undefined })), null, 2));
}

describe(`cross-check with upstream (@kubernetes-models/istio ${upstreamPkg.version}, Istio ${UPSTREAM_ISTIO} CRDs)`, () => {
  it('has a corpus of at least 40 extra cross-check documents', () => {
    expect(cases.filter((c) => c.id.startsWith('crosscheck/')).length).toBeGreaterThanOrEqual(40);
  });

  it('lists every exception with a direction, a matcher and a reason', () => {
    for (const e of exceptions) {
      expect(['stricter', 'looser'], JSON.stringify(e)).toContain(e.direction);
      expect(typeof e.why === 'string' && e.why.trim().length > 10, `exception without a why: ${JSON.stringify(e)}`).toBe(true);
      expect(!!e.case || !!(e.direction === 'stricter' ? e.ours?.length : e.upstream?.length), `exception without case/${e.direction === 'stricter' ? 'ours' : 'upstream'}: ${JSON.stringify(e)}`).toBe(true);
    }
  });

  it.each(outcomes.map((o) => [o.c.id, o] as const))('%s', (_id, { mine, theirs, direction, unmatched }) => {
    if (!direction || !unmatched) return;
    const lines = direction === 'stricter' ? mine.errors : theirs.errors;
    expect.fail(
      [
        `unlisted disagreement (Meshwork is ${direction}): add it to testdata/crosscheck-exceptions.yaml with a why, or fix the schema`,
        `  Meshwork: ${mine.ok ? 'accepts' : `rejects:\n    ${mine.errors.join('\n    ')}`}`,
        `  upstream: ${theirs.ok ? 'accepts' : `rejects:\n    ${theirs.errors.join('\n    ')}`}`,
        ...(unmatched.length > 0 && unmatched.length < lines.length ? [`  not covered by any exception:\n    ${unmatched.join('\n    ')}`] : []),
      ].join('\n'),
    );
  });

  it('has no stale exception (each one still matches a disagreement)', () => {
    const stale = exceptions.filter((e) => !used.has(e));
    expect(stale.map((e) => `${e.direction} ${e.case ?? JSON.stringify(e.ours ?? e.upstream)}: ${e.why}`), 'these exceptions no longer match any disagreement: remove them').toEqual([]);
  });
});
