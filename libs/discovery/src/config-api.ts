/**
 * Pilot's config REST API (what `meshctl apply/get/delete` talk to): Kubernetes-style paths
 * and semantics over a ConfigStore —
 *   /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>]   (and /api/v1/... for core kinds)
 * GET (get/list, `?watch=true` streams events as JSON lines), POST (create), PUT (replace,
 * with `metadata.resourceVersion` optimistic concurrency), DELETE (with
 * `preconditions.resourceVersion`). Errors are Kubernetes Status objects. A refused write
 * changes nothing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ALL_KINDS, apiVersionOf, type KindDef, type MeshResource } from '@meshwork/api';
import { AlreadyExistsError, ConflictError, InvalidResourceError, NotFoundError, keyOf, type ConfigStore } from '@meshwork/registry';
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

/** configApi registers the routes on a fastify instance (encapsulated plugin). */
export async function configApi(app: FastifyInstance, opts: ConfigApiOptions): Promise<void> {
  const { store } = opts;
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
  const methods = ['GET', 'POST', 'PUT', 'DELETE'] as const;
  app.route({
    method: [...methods],
    url: '/apis/:group/:version/*',
    handler: (req, reply) => {
      const p = req.params as { group: string; version: string; '*': string };
      return handler(req, reply, p.group, p.version, p['*'].split('/').filter((s) => s !== ''));
    },
  });
  app.route({
    method: [...methods],
    url: '/api/:version/*',
    handler: (req, reply) => {
      const p = req.params as { version: string; '*': string };
      return handler(req, reply, '', p.version, p['*'].split('/').filter((s) => s !== ''));
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
