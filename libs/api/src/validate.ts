/**
 * Validation of mesh resources: envelope (apiVersion, kind, metadata) then body, with
 * every error collected and reported with file, line, resource, field path and reason.
 */
import type * as z from 'zod';
import { formatPath, type Diagnostic, type PathSegment, type ResourceRef, type SourcePosition } from './diagnostics.js';
import { parseText, type RawObject } from './parse.js';
import { findKind, findUnsupported, splitApiVersion, type KindDef } from './registry.js';
import { ObjectMeta } from './schema/meta.js';
import type { ObjectMeta as ObjectMetaT } from './schema/meta.js';

/** A resource that passed validation; `spec` and other body fields are typed per kind. */
export interface MeshResource<Body = Record<string, unknown>> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMetaT;
  readonly body: Body;
  /** The original object as written (for re-serialising exactly what the user gave). */
  readonly raw: Record<string, unknown>;
  readonly def: KindDef;
  /** Where it was read from, to point analyzer findings at file and line; absent for objects built in code. */
  readonly source?: { readonly file?: string; locate(path: readonly PathSegment[]): SourcePosition };
}


export type ValidationResult =
  | { ok: true; resource: MeshResource; diagnostics: Diagnostic[] }
  | { ok: false; resource?: undefined; diagnostics: Diagnostic[] };

export interface ValidateOptions {
  /** Namespace assumed for namespaced resources that do not set one (kubectl's default). */
  readonly defaultNamespace?: string;
}

/** refOf returns a resource's identity for messages, tolerating a malformed object. */
export function refOf(obj: unknown, defaultNamespace = 'default'): ResourceRef | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const o = obj as Record<string, unknown>;
  const md = (typeof o.metadata === 'object' && o.metadata !== null ? o.metadata : {}) as Record<string, unknown>;
  const kind = typeof o.kind === 'string' ? o.kind : '<unknown kind>';
  const name = typeof md.name === 'string' ? md.name : typeof md.generateName === 'string' ? `${md.generateName}*` : '<unnamed>';
  const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : undefined;
  const def = apiVersion ? findKind(splitApiVersion(apiVersion).group, kind) : undefined;
  const namespaced = def ? def.namespaced : true;
  const namespace = namespaced ? (typeof md.namespace === 'string' ? md.namespace : defaultNamespace) : undefined;
  return { kind, apiVersion, name, namespace };
}

/**
 * validateObject checks one parsed object and returns the typed resource or every error
 * found. It never throws on bad input.
 */
export function validateObject(raw: RawObject, opts: ValidateOptions = {}): ValidationResult {
  const resource = refOf(raw.object, opts.defaultNamespace);
  const diags: Diagnostic[] = [];
  const err = (path: readonly PathSegment[], reason: string, code = 'MESH_ERR_VALIDATION', keyPos = false): void => {
    const pos = raw.locate(keyPos ? path : path);
    diags.push({ severity: 'Error', code, resource, path: formatPath(path), reason, file: raw.file ?? pos.file, line: pos.line, column: pos.column });
  };
  const o = raw.object;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    err([], `expected a Kubernetes-style object (a mapping with apiVersion, kind, metadata), got ${describe(o)}`);
    return { ok: false, diagnostics: diags };
  }
  const obj = o as Record<string, unknown>;
  if (typeof obj.apiVersion !== 'string' || obj.apiVersion === '') {
    err(['apiVersion'], 'required field is missing');
  }
  if (typeof obj.kind !== 'string' || obj.kind === '') err(['kind'], 'required field is missing');
  if (diags.length > 0) return { ok: false, diagnostics: diags };
  const { group, version } = splitApiVersion(obj.apiVersion as string);
  const kind = obj.kind as string;
  const unsupported = findUnsupported(group, kind);
  if (unsupported) {
    err(['kind'], unsupported.reason, 'MESH_ERR_UNSUPPORTED_KIND');
    return { ok: false, diagnostics: diags };
  }
  const def = findKind(group, kind);
  if (!def) {
    err(['kind'], `unknown kind "${kind}" in apiVersion "${obj.apiVersion as string}"`, 'MESH_ERR_UNKNOWN_KIND');
    return { ok: false, diagnostics: diags };
  }
  if (!def.versions.includes(version)) {
    err(['apiVersion'], `version "${version}" of ${def.kind} is not served; use one of: ${def.versions.map((v) => (def.group ? `${def.group}/${v}` : v)).join(', ')}`, 'MESH_ERR_UNKNOWN_KIND');
    return { ok: false, diagnostics: diags };
  }
  const { apiVersion: _a, kind: _k, metadata, ...rawBody } = obj;
  // A field set to null (`mtls:` with nothing after it) means "unset", as in protobuf JSON
  // and for the API server, which prunes nulls of non-nullable fields.
  const bodyIn = dropNulls(rawBody) as Record<string, unknown>;
  const md = ObjectMeta.safeParse(metadata ?? undefined, { reportInput: true });
  if (metadata === undefined) err(['metadata'], 'required field is missing');
  else if (!md.success) pushIssues(md.error.issues, ['metadata'], err);
  const body = def.body.safeParse(bodyIn, { reportInput: true });
  if (!body.success) pushIssues(body.error.issues, [], err);
  if (md.success && def.metadataRules) {
    try {
      for (const r of def.metadataRules(md.data, bodyIn)) err(r.path, r.reason);
    } catch {
      // partly invalid body: its own errors are already reported
    }
  }
  if (diags.length > 0 || !md.success || !body.success) return { ok: false, diagnostics: sortDiags(diags) };
  const meta = { ...md.data } as ObjectMetaT;
  if (def.namespaced && !meta.namespace) meta.namespace = opts.defaultNamespace ?? 'default';
  return {
    ok: true,
    resource: { apiVersion: obj.apiVersion as string, kind, metadata: meta, body: body.data as Record<string, unknown>, raw: obj, def, source: raw },
    diagnostics: [],
  };
}

/** validateText parses and validates every resource in a YAML/JSON text. */
export function validateText(text: string, file?: string, opts: ValidateOptions = {}): { resources: MeshResource[]; diagnostics: Diagnostic[] } {
  const parsed = parseText(text, file);
  return validateParsed(parsed.objects, parsed.errors, opts);
}

/** validateParsed validates already-parsed objects, keeping parse errors first. */
export function validateParsed(objects: readonly RawObject[], parseErrors: readonly Diagnostic[] = [], opts: ValidateOptions = {}): { resources: MeshResource[]; diagnostics: Diagnostic[] } {
  const resources: MeshResource[] = [];
  const diagnostics: Diagnostic[] = [...parseErrors];
  for (const raw of objects) {
    const r = validateObject(raw, opts);
    if (r.ok) resources.push(r.resource);
    diagnostics.push(...r.diagnostics);
  }
  return { resources, diagnostics };
}

type ErrFn = (path: readonly PathSegment[], reason: string, code?: string, keyPos?: boolean) => void;

function pushIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PathSegment[], err: ErrFn): void {
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as PathSegment[])];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) err([...path, key], `unknown field "${key}"`, 'MESH_ERR_VALIDATION', true);
      continue;
    }
    err(path, reasonOf(issue));
  }
}

/** reasonOf turns a zod issue into the human reason we print. */
function reasonOf(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return 'required field is missing';
      return `expected ${issue.expected === 'record' ? 'object' : issue.expected}, got ${describe(input)}`;
    case 'invalid_value':
      if (input === undefined) return 'required field is missing';
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}; got ${describe(input)}`;
    case 'too_small':
      if (issue.origin === 'array') return issue.message.startsWith('Too small') ? `must have at least ${issue.minimum} item(s)` : issue.message;
      if (issue.origin === 'string') return issue.message.startsWith('Too small') ? `must be at least ${issue.minimum} character(s)` : issue.message;
      return issue.message.startsWith('Too small') ? `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}, got ${describe(input)}` : issue.message;
    case 'too_big':
      if (issue.origin === 'array') return issue.message.startsWith('Too big') ? `must have at most ${issue.maximum} item(s)` : issue.message;
      if (issue.origin === 'string') return issue.message.startsWith('Too big') ? `must be at most ${issue.maximum} character(s)` : issue.message;
      return issue.message.startsWith('Too big') ? `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}, got ${describe(input)}` : issue.message;
    case 'invalid_union':
      return `does not match any allowed form: ${issue.errors.map((e) => e.map((i) => reasonOf(i)).join('; ')).join(' | ')}`;
    default:
      return issue.message;
  }
}

/** dropNulls returns a copy of `v` without object fields whose value is null (list items are kept). */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `integer ${v}` : `number ${v}`;
  return `${typeof v} ${String(v)}`;
}

function sortDiags(d: Diagnostic[]): Diagnostic[] {
  return d.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}
