/**
 * Envoy resources between their object form and their wire form (STYLE.md 7: one edge).
 *
 * CONTRACT (shared with libs/translate): a resource is a plain object in protobufjs object form —
 * camelCase field names, Durations `{seconds, nanos}`, wrappers `{value}`, enums by name, nested
 * Any as `{'@type': 'type.googleapis.com/<full.name>', ...fields}`, and google.protobuf.Struct /
 * Value / ListValue as plain JSON (protobuf's JSON mapping). Encoding rejects what
 * `Type.fromObject` would silently drop (unknown keys) or coerce (wrong types), with field paths.
 */
import protobuf from 'protobufjs';
import { InvalidResourceError } from './errors.js';
import { envoyRoot } from './protos.js';

/** Type URLs of the xDS resource types pilot serves. */
export const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const ROUTE_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
export const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** Type URLs of nested (typed_config) messages pilot generates. */
export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
export const CORS_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
export const HTTP_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const LOCAL_RATELIMIT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
export const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

/** The order in which ADS pushes a snapshot (Envoy's xDS protocol "eventual consistency" section). */
export const PUSH_ORDER: readonly string[] = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE];

/** Short names used in logs, /debug/syncz and metrics labels (Istio's "cds", "eds", ...). */
export function shortTypeName(typeUrl: string): string {
  switch (typeUrl) {
    case CLUSTER_TYPE:
      return 'cds';
    case ENDPOINT_TYPE:
      return 'eds';
    case LISTENER_TYPE:
      return 'lds';
    case ROUTE_TYPE:
      return 'rds';
    case SECRET_TYPE:
      return 'sds';
    default:
      return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  }
}

/** Result of a conversion that may fail on bad input (never throws for bad input). */
export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: string[] };

/** An `Any` on the wire: the type URL and the encoded message. */
export interface PackedAny {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

/** An Envoy resource in object form (see the CONTRACT above). */
export type ResourceObject = Record<string, unknown>;

/** The message type a type URL names, or undefined (the name is what follows the last '/'). */
const typeCache = new Map<string, protobuf.Type | undefined>();
function typeFor(typeUrl: string): protobuf.Type | undefined {
  // Root.lookup walks the namespace tree; type URLs repeat endlessly, so remember them.
  if (typeCache.has(typeUrl)) return typeCache.get(typeUrl);
  const found = envoyRoot().lookup(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  const t = found instanceof protobuf.Type ? found : undefined;
  if (typeCache.size < 10_000) typeCache.set(typeUrl, t);
  return t;
}

const INT32 = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);
const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** JSON → google.protobuf.Value object form. */
function jsonToValue(v: unknown, path: string, errors: string[]): unknown {
  if (v === null) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map((x, i) => jsonToValue(x, `${path}[${i}]`, errors)) } };
  if (isPlainObject(v)) return { structValue: jsonToStruct(v, path, errors) };
  errors.push(`${path}: ${typeof v} is not a JSON value`);
  return { nullValue: 0 };
}

function jsonToStruct(v: Record<string, unknown>, path: string, errors: string[]): unknown {
  const fields: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) fields[k] = jsonToValue(x, `${path}.${k}`, errors);
  return { fields };
}

/**
 * Checks `obj` against `type` and returns it in the form `Type.fromObject` takes, with every
 * nested Any already encoded. Problems go to `errors` with their field paths.
 */
function toProto(type: protobuf.Type, obj: unknown, path: string, errors: string[]): unknown {
  const full = type.fullName.slice(1);
  if (full === 'google.protobuf.Struct') {
    if (!isPlainObject(obj)) {
      errors.push(`${path}: expected a JSON object (google.protobuf.Struct)`);
      return {};
    }
    return jsonToStruct(obj, path, errors);
  }
  if (full === 'google.protobuf.Value') return jsonToValue(obj, path, errors);
  if (full === 'google.protobuf.ListValue') {
    if (!Array.isArray(obj)) {
      errors.push(`${path}: expected a list (google.protobuf.ListValue)`);
      return {};
    }
    return { values: obj.map((x, i) => jsonToValue(x, `${path}[${i}]`, errors)) };
  }
  if (!isPlainObject(obj)) {
    errors.push(`${path}: expected an object (${full})`);
    return {};
  }
  if (full === 'google.protobuf.Any') {
    const packed = packInto(obj, path, errors);
    return packed ? { type_url: packed.typeUrl, value: packed.value } : {};
  }
  const out: Record<string, unknown> = {};
  const oneofs = new Map<string, string>();
  for (const [key, v] of Object.entries(obj)) {
    if (v === undefined || v === null) continue; // unset, as in protobuf JSON
    const field = type.fields[key];
    const p = `${path}.${key}`;
    if (!field) {
      errors.push(`${p}: no such field in ${full}`);
      continue;
    }
    if (field.partOf) {
      const prev = oneofs.get(field.partOf.name);
      if (prev !== undefined) errors.push(`${p}: oneof ${field.partOf.name} is already set by ${prev}`);
      oneofs.set(field.partOf.name, key);
    }
    if (field.map) {
      if (!isPlainObject(v)) {
        errors.push(`${p}: expected a map (object)`);
        continue;
      }
      const m: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(v)) m[mk] = fieldValue(field, mv, `${p}[${mk}]`, errors);
      out[key] = m;
    } else if (field.repeated) {
      if (!Array.isArray(v)) {
        errors.push(`${p}: expected a list`);
        continue;
      }
      out[key] = v.map((x, i) => fieldValue(field, x, `${p}[${i}]`, errors));
    } else out[key] = fieldValue(field, v, p, errors);
  }
  return out;
}

function fieldValue(field: protobuf.Field, v: unknown, path: string, errors: string[]): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) {
    if (typeof v === 'string' ? !(v in rt.values) : !(typeof v === 'number' && Number.isInteger(v))) {
      errors.push(`${path}: ${JSON.stringify(v)} is not a value of ${rt.fullName.slice(1)}`);
    }
    return v;
  }
  if (rt instanceof protobuf.Type) return toProto(rt, v, path, errors);
  const t = field.type;
  const bad = (want: string): unknown => {
    errors.push(`${path}: expected ${want}, got ${Array.isArray(v) ? 'a list' : typeof v}`);
    return undefined;
  };
  if (t === 'string') return typeof v === 'string' ? v : bad('a string');
  if (t === 'bool') return typeof v === 'boolean' ? v : bad('a boolean');
  if (t === 'double' || t === 'float') return typeof v === 'number' ? v : bad('a number');
  if (INT32.has(t)) return typeof v === 'number' && Number.isInteger(v) && (!t.startsWith('u') || v >= 0) ? v : bad(`an integer (${t})`);
  if (INT64.has(t)) return (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v)) ? v : bad(`an integer (${t})`);
  if (t === 'bytes') return v instanceof Uint8Array || typeof v === 'string' ? v : bad('bytes (Uint8Array or base64)');
  return v;
}

/** Packs an object with '@type' into an Any (inner message encoded), or records why not. */
function packInto(obj: Record<string, unknown>, path: string, errors: string[]): PackedAny | undefined {
  const { '@type': typeUrl, ...rest } = obj;
  if (typeof typeUrl !== 'string') {
    errors.push(`${path}: Any without a string @type`);
    return undefined;
  }
  const inner = typeFor(typeUrl);
  if (!inner) {
    errors.push(`${path}: unknown @type ${typeUrl}`);
    return undefined;
  }
  const value = encodeChecked(inner, rest, path, errors);
  return value ? { typeUrl, value } : undefined;
}

function encodeChecked(type: protobuf.Type, obj: unknown, path: string, errors: string[]): Uint8Array | undefined {
  const before = errors.length;
  const plain = toProto(type, obj, path, errors);
  if (errors.length > before) return undefined;
  const msg = type.fromObject(plain as Record<string, unknown>);
  // Belt and braces: protobufjs's own verifier on the converted message.
  const why = type.verify(msg);
  if (why) {
    errors.push(`${path}: ${why}`);
    return undefined;
  }
  return type.encode(msg).finish();
}

function rootPath(type: protobuf.Type, obj: unknown): string {
  const name = isPlainObject(obj) ? (obj.name ?? obj.clusterName) : undefined;
  return `${type.name}${typeof name === 'string' ? `[${name}]` : ''}`;
}

/**
 * encodeResource returns the wire bytes of the resource `obj` of type `typeUrl`, or every field
 * path at which it does not match the Envoy proto (unknown field, wrong type, bad enum name,
 * two members of a oneof, unknown nested @type).
 */
export function encodeResource(typeUrl: string, obj: unknown): Result<Uint8Array> {
  const type = typeFor(typeUrl);
  if (!type) return { ok: false, errors: [`unknown type URL ${typeUrl}`] };
  const errors: string[] = [];
  const bytes = encodeChecked(type, obj, rootPath(type, obj), errors);
  return bytes && errors.length === 0 ? { ok: true, value: bytes } : { ok: false, errors };
}

/** validateEnvoyResource says whether `obj` encodes as a `typeUrl` resource, with field-path errors. */
export function validateEnvoyResource(typeUrl: string, obj: unknown): Result<undefined> {
  const r = encodeResource(typeUrl, obj);
  return r.ok ? { ok: true, value: undefined } : r;
}

/** packAny returns the Any (type URL + encoded bytes) for an object carrying its own '@type'. */
export function packAny(obj: Record<string, unknown>): Result<PackedAny> {
  const errors: string[] = [];
  const packed = packInto(obj, String(obj['@type'] ?? 'Any'), errors);
  return packed && errors.length === 0 ? { ok: true, value: packed } : { ok: false, errors };
}

const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: Number, defaults: false, arrays: false, objects: false, oneofs: false };

/** Converts protobufjs's toObject output to the CONTRACT form (Any unpacked, Struct as JSON). */
function fromProto(type: protobuf.Type, obj: Record<string, unknown>, path: string, errors: string[]): unknown {
  const full = type.fullName.slice(1);
  if (full === 'google.protobuf.Struct') return structToJson(obj);
  if (full === 'google.protobuf.Value') return valueToJson(obj);
  if (full === 'google.protobuf.ListValue') return ((obj.values as Record<string, unknown>[] | undefined) ?? []).map(valueToJson);
  if (full === 'google.protobuf.Any') {
    return unpackInto(String(obj.type_url ?? ''), (obj.value as Uint8Array | undefined) ?? new Uint8Array(), path, errors) ?? {};
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(obj)) {
    const field = type.fields[key];
    const rt = field?.resolvedType;
    if (!(rt instanceof protobuf.Type)) {
      out[key] = v;
      continue;
    }
    const conv = (x: unknown, p: string): unknown => fromProto(rt, x as Record<string, unknown>, p, errors);
    if (field.map) out[key] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, conv(x, `${path}.${key}[${k}]`)]));
    else if (field.repeated) out[key] = (v as unknown[]).map((x, i) => conv(x, `${path}.${key}[${i}]`));
    else out[key] = conv(v, `${path}.${key}`);
  }
  return out;
}

function structToJson(obj: Record<string, unknown>): Record<string, unknown> {
  const fields = (obj.fields as Record<string, Record<string, unknown>> | undefined) ?? {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueToJson(v)]));
}

function valueToJson(v: Record<string, unknown>): unknown {
  if ('numberValue' in v) return v.numberValue;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('structValue' in v) return structToJson(v.structValue as Record<string, unknown>);
  if ('listValue' in v) return (((v.listValue as Record<string, unknown>).values as Record<string, unknown>[] | undefined) ?? []).map(valueToJson);
  return null;
}

function unpackInto(typeUrl: string, bytes: Uint8Array, path: string, errors: string[]): ResourceObject | undefined {
  const type = typeFor(typeUrl);
  if (!type) {
    errors.push(`${path}: unknown @type ${typeUrl}`);
    return { '@type': typeUrl, value: bytes };
  }
  const obj = decodeChecked(type, bytes, path, errors);
  return obj ? { '@type': typeUrl, ...obj } : undefined;
}

function decodeChecked(type: protobuf.Type, bytes: Uint8Array, path: string, errors: string[]): ResourceObject | undefined {
  let msg: protobuf.Message;
  try {
    msg = type.decode(bytes);
  } catch (e) {
    errors.push(`${path}: ${(e as Error).message}`);
    return undefined;
  }
  return fromProto(type, type.toObject(msg, TO_OBJECT), path, errors) as ResourceObject;
}

/** decodeResource returns the object form (CONTRACT above) of the wire bytes of a `typeUrl` resource. */
export function decodeResource(typeUrl: string, bytes: Uint8Array): Result<ResourceObject> {
  const type = typeFor(typeUrl);
  if (!type) return { ok: false, errors: [`unknown type URL ${typeUrl}`] };
  const errors: string[] = [];
  const obj = decodeChecked(type, bytes, type.name, errors);
  return obj && errors.length === 0 ? { ok: true, value: obj } : { ok: false, errors };
}

/** unpackAny returns the object form of an Any, with its '@type'. */
export function unpackAny(any: PackedAny): Result<ResourceObject> {
  const errors: string[] = [];
  const obj = unpackInto(any.typeUrl, any.value, 'Any', errors);
  return obj && errors.length === 0 ? { ok: true, value: obj } : { ok: false, errors };
}

/**
 * decodeMessage returns the object form of any message of the root (DiscoveryRequest, Node, ...)
 * leniently: an Any of a type the root lacks is kept as `{'@type', value}` instead of failing,
 * because a peer may send extensions we do not know (in error_detail.details, say).
 */
export function decodeMessage(fullName: string, bytes: Uint8Array): ResourceObject {
  const type = envoyRoot().lookupType(fullName);
  const errors: string[] = [];
  return fromProto(type, type.toObject(type.decode(bytes), TO_OBJECT), type.name, errors) as ResourceObject;
}

/** encodeMessage encodes any message of the root from its object form, strictly; throws InvalidResourceError. */
export function encodeMessage(fullName: string, obj: unknown): Uint8Array {
  const type = envoyRoot().lookupType(fullName);
  const errors: string[] = [];
  const bytes = encodeChecked(type, obj, type.name, errors);
  if (!bytes || errors.length > 0) throw new InvalidResourceError(fullName, errors);
  return bytes;
}
