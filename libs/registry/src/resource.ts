/** Helpers shared by every source: keys, validation of written objects, resourceVersion stamping. */
import { splitApiVersion, validateObject, type Diagnostic, type MeshResource, type RawObject } from '@meshwork/api';
import type { ListFilter, ResourceKey } from './types.js';

/** keyOf returns a validated resource's identity. */
export function keyOf(r: MeshResource): ResourceKey {
  return { group: r.def.group, kind: r.kind, namespace: r.def.namespaced ? (r.metadata.namespace ?? '') : '', name: r.metadata.name ?? '' };
}

/** keyString renders a key as `group/kind/namespace/name`, a map key and a message text. */
export function keyString(k: ResourceKey): string {
  return `${k.group}/${k.kind}/${k.namespace}/${k.name}`;
}

/** matchesFilter reports whether a key passes a list filter. */
export function matchesFilter(k: ResourceKey, f: ListFilter | undefined): boolean {
  if (!f) return true;
  return (f.group === undefined || f.group === k.group) && (f.kind === undefined || f.kind === k.kind) && (f.namespace === undefined || f.namespace === k.namespace);
}

/** compareKeys orders keys by group, kind, namespace, name (list() order). */
export function compareKeys(a: ResourceKey, b: ResourceKey): number {
  return cmp(a.group, b.group) || cmp(a.kind, b.kind) || cmp(a.namespace, b.namespace) || cmp(a.name, b.name);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** rawOf wraps a plain object as libs/api's RawObject (no source positions). */
export function rawOf(object: unknown, file?: string): RawObject {
  return { object, file, docIndex: 0, locate: () => ({ file }) };
}

/** The result of checking a written object. */
export type CheckResult = { ok: true; resource: MeshResource; key: ResourceKey } | { ok: false; diagnostics: Diagnostic[] };

/**
 * checkObject validates an object given to a write (or read from a backend) with libs/api;
 * a MeshResource is re-checked from its `raw` object. Never throws.
 */
export function checkObject(object: unknown, defaultNamespace?: string, origin?: string): CheckResult {
  const obj = isMeshResource(object) ? object.raw : object;
  const v = validateObject(rawOf(obj, origin), { defaultNamespace });
  if (!v.ok) return { ok: false, diagnostics: v.diagnostics };
  return { ok: true, resource: v.resource, key: keyOf(v.resource) };
}

function isMeshResource(o: unknown): o is MeshResource {
  return typeof o === 'object' && o !== null && 'def' in o && 'raw' in o && 'body' in o;
}

/**
 * withResourceVersion returns the resource with `metadata.resourceVersion` set (in metadata
 * and in the raw object), as a Kubernetes API server returns objects.
 */
export function withResourceVersion(r: MeshResource, resourceVersion: string): MeshResource {
  const rawMeta = (typeof r.raw.metadata === 'object' && r.raw.metadata !== null ? r.raw.metadata : {}) as Record<string, unknown>;
  return {
    ...r,
    metadata: { ...r.metadata, resourceVersion },
    raw: { ...r.raw, metadata: { ...rawMeta, namespace: r.metadata.namespace, resourceVersion } },
  };
}

/**
 * storedObject returns the object to persist: the raw object without server-owned fields
 * (the backend's revision is the resourceVersion), with the defaulted namespace filled in.
 */
export function storedObject(r: MeshResource): Record<string, unknown> {
  const rawMeta = { ...((r.raw.metadata ?? {}) as Record<string, unknown>) };
  delete rawMeta.resourceVersion;
  if (r.def.namespaced) rawMeta.namespace = r.metadata.namespace;
  return { ...r.raw, metadata: rawMeta };
}

/** groupOf returns the API group of an object's apiVersion (`''` when missing). */
export function groupOf(apiVersion: unknown): string {
  return typeof apiVersion === 'string' ? splitApiVersion(apiVersion).group : '';
}
