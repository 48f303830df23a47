/**
 * Pilot's config REST API (what `meshctl apply/get/delete` talk to): Kubernetes-style paths
 * and semantics over a ConfigStore —
 *   /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>]   (and /api/v1/... for core kinds)
 * GET (get/list, `?watch=true` streams events as JSON lines), POST (create), PUT (replace,
 * with `metadata.resourceVersion` optimistic concurrency), DELETE (with
 * `preconditions.resourceVersion`). Errors are Kubernetes Status objects. A refused write
 * changes nothing.
 *
 * `POST /meshwork/v1/apply` (what `meshctl apply` sends) applies a Kubernetes `List` atomically:
 * every item is validated first, then each is created or replaced under the API's write lock;
 * when a write fails, the items already written are rolled back (created ones deleted, replaced
 * ones restored), so either all items are stored or none. Watchers of the store (pilot's own
 * xDS push, debounced) may see a rolled-back write briefly.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ALL_KINDS, apiVersionOf, type KindDef, type MeshResource } from '@meshwork/api';
import { AlreadyExistsError, ConflictError, InvalidResourceError, NotFoundError, checkObject, keyOf, keyString, type ConfigStore, type ResourceKey } from '@meshwork/registry';
import { invalidStatus, statusOf, successStatus, type Status } from './k8s-status.js';

export interface ConfigApiOptions {
  readonly store: ConfigStore;
}

interface Target {
  readonly def: KindDef;
  readonly version: string;
  readonly namespace?: string;
  readonly name?: string;
}

/** resolveTarget maps URL parts to a kind, or returns the 404 Status to send. */
function resolveTarget(group: string, version: string, rest: string[]): Target | Status {
  let namespace: string | undefined;
  let parts = rest;
  if (parts[0] === 'namespaces' && parts.length >= 3) {
    namespace = parts[1];
    parts = parts.slice(2);
  }
  const [plural, name, ...extra] = parts;
  const def = ALL_KINDS.find((k) => k.group === group && k.plural === plural);
  if (!def || extra.length > 0) return statusOf(404, 'NotFound', `the server could not find the requested resource (${group || 'core'}/${version} ${plural ?? ''})`);
  if (!def.versions.includes(version)) return statusOf(404, 'NotFound', `${def.kind} is not served at version ${version}; served: ${def.versions.join(', ')}`);
  if (!def.namespaced && namespace) return statusOf(404, 'NotFound', `${def.kind} is cluster-scoped`);
  return { def, version, namespace, name };
}

/** toObject returns the resource as the API serves it, at the version that was asked for. */
function toObject(r: MeshResource, def: KindDef, version: string): Record<string, unknown> {
  return { ...r.raw, apiVersion: apiVersionOf(def, version), kind: def.kind, metadata: r.raw.metadata };
}

function send(reply: FastifyReply, status: Status): FastifyReply {
  return reply.code(status.code).send(status);
}

/** errorStatus maps libs/registry's named errors to Kubernetes Status (the app edge, STYLE.md 11). */
function errorStatus(err: unknown, def: KindDef, name: string): Status {
  if (err instanceof InvalidResourceError) return invalidStatus(def.kind, name, def.group, err.diagnostics);
  if (err instanceof NotFoundError) return statusOf(404, 'NotFound', `${def.plural}${def.group ? `.${def.group}` : ''} "${name}" not found`, { name, group: def.group, kind: def.plural });
  if (err instanceof AlreadyExistsError) return statusOf(409, 'AlreadyExists', `${def.plural}${def.group ? `.${def.group}` : ''} "${name}" already exists`, { name, group: def.group, kind: def.plural });
  if (err instanceof ConflictError) return statusOf(409, 'Conflict', `Operation cannot be fulfilled on ${def.plural}${def.group ? `.${def.group}` : ''} "${name}": ${err.message}`, { name, group: def.group, kind: def.plural });
  return statusOf(500, 'InternalError', (err as Error).message ?? String(err));
}

/** checkBody returns the 400 Status when a written object's identity does not match its URL. */
function checkBody(body: unknown, t: Target, name: string | undefined): Status | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return statusOf(400, 'BadRequest', 'the request body must be a JSON object (a Kubernetes-style resource)');
  const o = body as Record<string, unknown>;
  const md = (typeof o.metadata === 'object' && o.metadata !== null ? o.metadata : {}) as Record<string, unknown>;
  if (o.kind !== undefined && o.kind !== t.def.kind) return statusOf(400, 'BadRequest', `the body's kind "${String(o.kind)}" does not match the URL's ${t.def.kind}`);
  if (md.namespace !== undefined && t.namespace !== undefined && md.namespace !== t.namespace) {
    return statusOf(400, 'BadRequest', `the namespace of the provided object (${String(md.namespace)}) does not match the namespace sent on the request (${t.namespace})`);
  }
  if (name !== undefined && md.name !== undefined && md.name !== name) return statusOf(400, 'BadRequest', `the name of the object (${String(md.name)}) does not match the name on the URL (${name})`);
  return undefined;
}

/** withIdentity fills apiVersion/kind/namespace/name from the URL when the body leaves them out. */
function withIdentity(body: Record<string, unknown>, t: Target, name?: string): Record<string, unknown> {
  const md = { ...((body.metadata as Record<string, unknown> | undefined) ?? {}) };
  if (t.namespace !== undefined && md.namespace === undefined) md.namespace = t.namespace;
  if (name !== undefined && md.name === undefined) md.name = name;
  return { ...body, apiVersion: body.apiVersion ?? apiVersionOf(t.def, t.version), kind: t.def.kind, metadata: md };
}

/** The path of the atomic multi-resource apply. */
export const APPLY_PATH = '/meshwork/v1/apply';

/** Serial runs writes one at a time, so a batch and its rollback are not interleaved with other writes through this API. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** What one item of an apply did. */
export type ApplyAction = 'created' | 'configured' | 'unchanged';

/** A written item, with what undoes it. */
interface Written {
  readonly key: ResourceKey;
  /** The version this apply stored. */
  readonly resourceVersion: string;
  /** The resource before (absent: this apply created it). */
  readonly previous?: MeshResource;
}

/** sameContent says whether an applied object would change nothing (spec-like fields, labels, annotations). */
function sameContent(existing: Record<string, unknown>, next: Record<string, unknown>): boolean {
  const pick = (o: Record<string, unknown>): string => {
    const md = (o.metadata ?? {}) as Record<string, unknown>;
    const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...rest } = o;
    return JSON.stringify(sortKeys({ rest, labels: md.labels ?? {}, annotations: md.annotations ?? {} }));
  };
  return pick(existing) === pick(next);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
}

/** itemLabel names an item in messages: `items[2] (VirtualService default/reviews)`. */
function itemLabel(i: number, key?: ResourceKey): string {
  return key ? `items[${i}] (${key.kind} ${key.namespace ? `${key.namespace}/` : ''}${key.name})` : `items[${i}]`;
}

/**
 * applyList validates every item, then writes them in order; on a failed write it undoes the
 * earlier ones. Returns the per-item actions, or the Status of the first failure.
 */
async function applyList(store: ConfigStore, body: unknown, defaultNamespace: string | undefined): Promise<{ items: { action: ApplyAction; object: Record<string, unknown> }[] } | Status> {
  const items = (body as { items?: unknown } | null)?.items;
  if (typeof body !== 'object' || body === null || !Array.isArray(items)) return statusOf(400, 'BadRequest', 'the request body must be a List: {"kind": "List", "items": [...]}');
  if (items.length === 0) return statusOf(400, 'BadRequest', 'the List has no items');
  // 1. Validate all: nothing is written unless every item is valid and named once.
  const checked: { resource: MeshResource; key: ResourceKey }[] = [];
  const causes: { field: string; message: string; reason: string }[] = [];
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const c = checkObject(item, defaultNamespace, `items[${i}]`);
    if (!c.ok) {
      for (const d of c.diagnostics) causes.push({ field: `items[${i}]${d.path ? `.${d.path}` : ''}`, message: d.reason, reason: d.code === 'MESH_ERR_VALIDATION' ? 'FieldValueInvalid' : d.code });
      return;
    }
    const id = keyString(c.key);
    const dup = seen.get(id);
    if (dup !== undefined) causes.push({ field: `items[${i}].metadata.name`, message: `${itemLabel(i, c.key)} is the same resource as items[${dup}]`, reason: 'FieldValueDuplicate' });
    seen.set(id, i);
    checked.push(c);
  });
  if (causes.length > 0) {
    return statusOf(422, 'Invalid', `nothing applied: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`, { kind: 'List', causes });
  }
  // 2. Write all, undoing on the first failure.
  const written: Written[] = [];
  const out: { action: ApplyAction; object: Record<string, unknown> }[] = [];
  for (const [i, { resource, key }] of checked.entries()) {
    try {
      const previous = await store.fetch(key);
      if (!previous) {
        const created = await store.create(resource.raw, { defaultNamespace });
        written.push({ key, resourceVersion: created.metadata.resourceVersion ?? '' });
        out.push({ action: 'created', object: toObject(created, created.def, apiVersionVersion(created)) });
      } else if (sameContent(previous.raw, resource.raw)) {
        out.push({ action: 'unchanged', object: toObject(previous, previous.def, apiVersionVersion(previous)) });
      } else {
        const replaced = await store.replace(resource.raw, { defaultNamespace });
        written.push({ key, resourceVersion: replaced.metadata.resourceVersion ?? '', previous });
        out.push({ action: 'configured', object: toObject(replaced, replaced.def, apiVersionVersion(replaced)) });
      }
    } catch (err) {
      const failed = errorStatus(err, resource.def, key.name);
      const undo = await rollback(store, written);
      const message = `${itemLabel(i, key)}: ${failed.message}; ${undo.length === 0 ? `nothing applied (${written.length} earlier item(s) rolled back)` : `ROLLBACK INCOMPLETE: ${undo.join('; ')}`}`;
      return { ...failed, message, ...(undo.length > 0 ? { code: 500, reason: 'InternalError' as const } : {}) };
    }
  }
  return { items: out };
}

/** apiVersionVersion returns the version part of a resource's apiVersion. */
function apiVersionVersion(r: MeshResource): string {
  return r.apiVersion.split('/').pop() ?? r.def.versions[0];
}

/** rollback undoes written items, last first; returns what could not be undone. */
async function rollback(store: ConfigStore, written: readonly Written[]): Promise<string[]> {
  const left: string[] = [];
  for (const w of [...written].reverse()) {
    try {
      if (!w.previous) await store.delete(w.key, { resourceVersion: w.resourceVersion });
      else {
        const md = { ...((w.previous.raw.metadata ?? {}) as Record<string, unknown>), resourceVersion: w.resourceVersion };
        await store.replace({ ...w.previous.raw, metadata: md });
      }
    } catch (err) {
      left.push(`${keyString(w.key)} could not be ${w.previous ? 'restored' : 'removed'}: ${(err as Error).message}`);
    }
  }
  return left;
}

/** configApi registers the routes on a fastify instance (encapsulated plugin). */
export async function configApi(app: FastifyInstance, opts: ConfigApiOptions): Promise<void> {
  const { store } = opts;
  const writes = new Serial();
  app.post(APPLY_PATH, { bodyLimit: 32 * 1024 * 1024 }, async (req, reply) => {
    const ns = (req.query as { namespace?: string }).namespace;
    const r = await writes.run(() => applyList(store, req.body, ns));
    if ('kind' in r) return send(reply, r);
    return { apiVersion: 'v1', kind: 'List', metadata: {}, items: r.items };
  });
  const handler = async (req: FastifyRequest, reply: FastifyReply, group: string, version: string, rest: string[]): Promise<unknown> => {
    const t = resolveTarget(group, version, rest);
    if ('kind' in t && t.kind === 'Status') return send(reply, t);
    const target = t as Target;
    const { def, namespace, name } = target;
    const query = req.query as Record<string, string | undefined>;
    switch (req.method) {
      case 'GET': {
        if (query.watch === 'true' || query.watch === '1') return watch(req, reply, store, target);
        if (name !== undefined) {
          const r = await store.fetch({ group: def.group, kind: def.kind, namespace: def.namespaced ? (namespace ?? '') : '', name });
          if (!r) return send(reply, errorStatus(new NotFoundError(name), def, name));
          return toObject(r, def, target.version);
        }
        const items = store.list({ group: def.group, kind: def.kind, ...(namespace !== undefined ? { namespace } : {}) }).map((r) => toObject(r, def, target.version));
        return { apiVersion: apiVersionOf(def, target.version), kind: `${def.kind}List`, metadata: {}, items };
      }
      case 'POST': {
        if (name !== undefined) return send(reply, statusOf(405, 'MethodNotAllowed', 'POST creates in a collection; use PUT to replace a named resource'));
        const bad = checkBody(req.body, target, undefined);
        if (bad) return send(reply, bad);
        const obj = withIdentity(req.body as Record<string, unknown>, target);
        const objName = String((obj.metadata as Record<string, unknown>).name ?? '');
        try {
          const created = await store.create(obj, { defaultNamespace: namespace });
          return reply.code(201).send(toObject(created, def, target.version));
        } catch (err) {
          return send(reply, errorStatus(err, def, objName));
        }
      }
      case 'PUT': {
        if (name === undefined) return send(reply, statusOf(405, 'MethodNotAllowed', 'PUT needs a resource name in the URL'));
        const bad = checkBody(req.body, target, name);
        if (bad) return send(reply, bad);
        try {
          const replaced = await store.replace(withIdentity(req.body as Record<string, unknown>, target, name), { defaultNamespace: namespace });
          return toObject(replaced, def, target.version);
        } catch (err) {
          return send(reply, errorStatus(err, def, name));
        }
      }
      case 'DELETE': {
        if (name === undefined) return send(reply, statusOf(405, 'MethodNotAllowed', 'DELETE of a whole collection is not supported'));
        const body = (req.body ?? {}) as { preconditions?: { resourceVersion?: string } };
        try {
          await store.delete({ group: def.group, kind: def.kind, namespace: def.namespaced ? (namespace ?? 'default') : '', name }, { resourceVersion: body.preconditions?.resourceVersion });
          return successStatus(def.kind, name, def.group);
        } catch (err) {
          return send(reply, errorStatus(err, def, name));
        }
      }
      default:
        return send(reply, statusOf(405, 'MethodNotAllowed', `method ${req.method} is not allowed`));
    }
  };
  // Reads (and watches) run at once; writes wait for a running apply and its rollback.
  const serialized = (req: FastifyRequest, fn: () => Promise<unknown>): Promise<unknown> => (req.method === 'GET' ? fn() : writes.run(fn));
  const methods = ['GET', 'POST', 'PUT', 'DELETE'] as const;
  app.route({
    method: [...methods],
    url: '/apis/:group/:version/*',
    handler: (req, reply) => {
      const p = req.params as { group: string; version: string; '*': string };
      return serialized(req, () => handler(req, reply, p.group, p.version, p['*'].split('/').filter((s) => s !== '')));
    },
  });
  app.route({
    method: [...methods],
    url: '/api/:version/*',
    handler: (req, reply) => {
      const p = req.params as { version: string; '*': string };
      return serialized(req, () => handler(req, reply, '', p.version, p['*'].split('/').filter((s) => s !== '')));
    },
  });
}

/** watch streams `{type, object}` JSON lines (ADDED/MODIFIED/DELETED), as a Kubernetes watch does. */
function watch(req: FastifyRequest, reply: FastifyReply, store: ConfigStore, t: Target): FastifyReply {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
  raw.flushHeaders();
  const write = (type: string, r: MeshResource): void => {
    raw.write(`${JSON.stringify({ type, object: toObject(r, t.def, t.version) })}\n`);
  };
  const matches = (r: MeshResource): boolean => {
    const k = keyOf(r);
    return k.group === t.def.group && k.kind === t.def.kind && (t.namespace === undefined || k.namespace === t.namespace) && (t.name === undefined || k.name === t.name);
  };
  const query = req.query as Record<string, string | undefined>;
  // Without a resourceVersion, a watch starts with the current state as ADDED events (Kubernetes' semantics).
  if (!query.resourceVersion) for (const r of store.list({ group: t.def.group, kind: t.def.kind })) if (matches(r)) write('ADDED', r);
  const stop = store.watch((e) => {
    if (!matches(e.resource)) return;
    write(e.type === 'add' ? 'ADDED' : e.type === 'update' ? 'MODIFIED' : 'DELETED', e.resource);
  });
  req.raw.on('close', stop);
  return reply;
}
