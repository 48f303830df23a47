/**
 * Immutable per-proxy snapshots (STYLE.md 5, go-control-plane's cache): every resource encoded
 * once, versioned by a hash of its bytes; a type's version hashes its (name, version) pairs and
 * the snapshot's version hashes the types'. Identical resources across proxies are encoded once
 * and share their bytes through a ResourceEncoder.
 */
import { createHash } from 'node:crypto';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, HCM_TYPE, decodeResource, encodeResource, type ResourceObject, type Result } from './resources.js';

/** One resource, encoded: its name, its content version and the message bytes (an Any's value). */
export interface EncodedResource {
  readonly name: string;
  readonly version: string;
  readonly value: Uint8Array;
}

/** All resources of one type in a snapshot. */
export interface TypeSnapshot {
  /** Hash of the sorted (name, version) pairs: changes exactly when some resource of the type does. */
  readonly version: string;
  readonly resources: ReadonlyMap<string, EncodedResource>;
}

/** What one proxy should have: `{version, resources by type URL}`. */
export interface Snapshot {
  readonly version: string;
  readonly types: Readonly<Record<string, TypeSnapshot>>;
}

/** The xDS resource name of a resource object (ClusterLoadAssignment names itself by clusterName). */
export function resourceName(typeUrl: string, obj: ResourceObject): string {
  const n = typeUrl === ENDPOINT_TYPE ? obj.clusterName : obj.name;
  return typeof n === 'string' ? n : '';
}

function hash(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('base64url').slice(0, 16);
}

/**
 * A cache of encoded resources shared by every snapshot built with it: a hit by object identity
 * costs nothing, a hit by content (same JSON) skips the strict check and the encoding. Entries
 * past `maxEntries` are dropped oldest first. Resource objects must not be mutated once encoded
 * (libs/translate's outputs are immutable): the identity cache would keep serving the old bytes.
 */
export class ResourceEncoder {
  private readonly byObject = new WeakMap<object, { typeUrl: string; enc: EncodedResource }>();
  private readonly byContent = new Map<string, EncodedResource>();
  /** Recently encoded objects by type URL and resource name, compared structurally before hashing JSON. */
  private readonly byName = new Map<string, { obj: ResourceObject; enc: EncodedResource }[]>();
  /** Encodings done (misses), for tests and metrics. */
  encodes = 0;

  constructor(private readonly maxEntries = 100_000) {}

  /** encode returns the encoded form of `obj` as a `typeUrl` resource, or its field-path errors. */
  encode(typeUrl: string, obj: ResourceObject): Result<EncodedResource> {
    const same = this.byObject.get(obj);
    if (same?.typeUrl === typeUrl) return { ok: true, value: same.enc };
    // A new object built from shared parts (a RouteConfiguration whose virtual hosts are memoized):
    // comparing it with recent objects of the same name stops at identical parts, where JSON
    // would render and hash all of it.
    const nameKey = `${typeUrl}\n${resourceName(typeUrl, obj)}`;
    const recent = this.byName.get(nameKey);
    const twin = recent?.find((r) => sameValue(r.obj, obj));
    if (twin) {
      this.byObject.set(obj, { typeUrl, enc: twin.enc });
      return { ok: true, value: twin.enc };
    }
    const result = this.encodeByContent(typeUrl, obj);
    if (result.ok) this.remember(nameKey, recent, obj, result.value);
    return result;
  }

  private remember(nameKey: string, recent: { obj: ResourceObject; enc: EncodedResource }[] | undefined, obj: ResourceObject, enc: EncodedResource): void {
    if (recent) {
      recent.push({ obj, enc });
      // Enough for the proxy views sharing a name (a route configuration `8080` per view), bounded.
      if (recent.length > RECENT_PER_NAME) recent.shift();
      return;
    }
    this.byName.set(nameKey, [{ obj, enc }]);
    if (this.byName.size > this.maxEntries) this.byName.delete(this.byName.keys().next().value as string);
  }

  private encodeByContent(typeUrl: string, obj: ResourceObject): Result<EncodedResource> {
    const key = hash(typeUrl, '\n', JSON.stringify(obj));
    const cached = this.byContent.get(key);
    if (cached) {
      // Refresh its place so live resources outlast dead ones.
      this.byContent.delete(key);
      this.byContent.set(key, cached);
      this.byObject.set(obj, { typeUrl, enc: cached });
      return { ok: true, value: cached };
    }
    const r = encodeResource(typeUrl, obj);
    if (!r.ok) return r;
    this.encodes++;
    const enc: EncodedResource = { name: resourceName(typeUrl, obj), version: hash(r.value), value: r.value };
    this.byContent.set(key, enc);
    this.byObject.set(obj, { typeUrl, enc });
    if (this.byContent.size > this.maxEntries) this.byContent.delete(this.byContent.keys().next().value as string);
    return { ok: true, value: enc };
  }
}

const RECENT_PER_NAME = 24;

/**
 * Whether two resource values are equal as plain JSON data: identical references stop the walk
 * (shared, immutable parts), objects compare by keys and values, arrays by elements. Anything
 * else (bytes, class instances) must be identical. False only costs a JSON hash after it.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || Object.getPrototypeOf(a) !== Object.prototype || Object.getPrototypeOf(b) !== Object.prototype) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k) || !sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** Names referenced across types, collected while building, for the consistency check. */
function edsNames(cluster: ResourceObject): string | undefined {
  if (cluster.type !== 'EDS') return undefined;
  const cfg = cluster.edsClusterConfig as { serviceName?: string } | undefined;
  return cfg?.serviceName || (cluster.name as string);
}

function rdsNames(listener: ResourceObject): string[] {
  const out: string[] = [];
  const fromHcm = (hcm: unknown): void => {
    const h = hcm as { '@type'?: string; rds?: { routeConfigName?: string } } | undefined;
    if (h?.['@type'] === HCM_TYPE && h.rds?.routeConfigName) out.push(h.rds.routeConfigName);
  };
  const chains = [...((listener.filterChains as unknown[]) ?? []), ...(listener.defaultFilterChain ? [listener.defaultFilterChain] : [])];
  for (const fc of chains as { filters?: { typedConfig?: unknown }[] }[]) for (const f of fc.filters ?? []) fromHcm(f.typedConfig);
  fromHcm((listener.apiListener as { apiListener?: unknown } | undefined)?.apiListener);
  return out;
}

/**
 * checkSnapshotConsistency returns the dangling references among `resources`: an EDS cluster
 * whose ClusterLoadAssignment is missing, a listener whose RouteConfiguration is missing.
 */
export function checkSnapshotConsistency(resources: Readonly<Record<string, readonly ResourceObject[]>>): string[] {
  const errors: string[] = [];
  const endpoints = new Set((resources[ENDPOINT_TYPE] ?? []).map((r) => resourceName(ENDPOINT_TYPE, r)));
  const routes = new Set((resources[ROUTE_TYPE] ?? []).map((r) => resourceName(ROUTE_TYPE, r)));
  for (const c of resources[CLUSTER_TYPE] ?? []) {
    const eds = edsNames(c);
    if (eds !== undefined && !endpoints.has(eds)) errors.push(`Cluster[${String(c.name)}]: EDS name "${eds}" has no ClusterLoadAssignment`);
  }
  for (const l of resources[LISTENER_TYPE] ?? []) {
    for (const r of rdsNames(l)) if (!routes.has(r)) errors.push(`Listener[${String(l.name)}]: RDS name "${r}" has no RouteConfiguration`);
  }
  return errors;
}

/** Options of buildSnapshot. */
export interface BuildSnapshotOptions {
  /** Shared encoder (one per pilot process); a private one is used when omitted. */
  readonly encoder?: ResourceEncoder;
  /** Skip the cross-reference check (a snapshot that deliberately carries only some types). */
  readonly skipConsistencyCheck?: boolean;
  /**
   * The snapshot these resources replace (same proxy view): a type whose resources are the
   * identical encodings keeps its TypeSnapshot object, and an unchanged snapshot is returned
   * itself, so identity-keyed caches (encoded response bodies, Delta views) keep hitting.
   */
  readonly previous?: Snapshot;
}

const byName = (a: EncodedResource, b: EncodedResource): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The previous TypeSnapshot when `list` (sorted by name) holds exactly its encodings, else a new one. */
function typeSnapshot(list: readonly EncodedResource[], previous: TypeSnapshot | undefined): TypeSnapshot {
  if (previous && previous.resources.size === list.length && list.every((e) => previous.resources.get(e.name) === e)) return previous;
  let text = '';
  for (const e of list) text += `${e.name}\0${e.version}\n`;
  return { version: hash(text), resources: new Map(list.map((e) => [e.name, e])) };
}

/** The four types every snapshot carries, even empty, so a removed-everything state is sent too. */
const BASE_TYPES = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE];

/**
 * buildSnapshot returns the immutable snapshot of `resources` (object form, by type URL) with
 * content-hash versions, or every encoding error and dangling reference (the caller keeps
 * serving its last good snapshot). Secrets (SDS) are optional.
 */
export function buildSnapshot(resources: Readonly<Record<string, readonly ResourceObject[]>>, opts: BuildSnapshotOptions = {}): Result<Snapshot> {
  const encoder = opts.encoder ?? new ResourceEncoder();
  const errors: string[] = opts.skipConsistencyCheck ? [] : checkSnapshotConsistency(resources);
  const types: Record<string, TypeSnapshot> = {};
  const urls = [...new Set([...BASE_TYPES, ...Object.keys(resources)])].sort();
  const prev = opts.previous;
  for (const typeUrl of urls) {
    let list: EncodedResource[] = [];
    let sorted = true;
    for (const obj of resources[typeUrl] ?? []) {
      const r = encoder.encode(typeUrl, obj);
      if (!r.ok) {
        errors.push(...r.errors);
        continue;
      }
      const name = r.value.name;
      const last = list.length > 0 ? list[list.length - 1].name : undefined;
      if (name === '') errors.push(`${typeUrl}: a resource without a name`);
      else if (name === last) errors.push(`${typeUrl}: duplicate resource name "${name}"`);
      else {
        if (last !== undefined && last > name) sorted = false;
        list.push(r.value);
      }
    }
    // Generators emit sorted output already, where a duplicate is the previous entry; otherwise
    // sort, and duplicates end up side by side.
    if (!sorted) {
      list.sort(byName);
      const unique: EncodedResource[] = [];
      for (const e of list) {
        if (unique.length > 0 && unique[unique.length - 1].name === e.name) errors.push(`${typeUrl}: duplicate resource name "${e.name}"`);
        else unique.push(e);
      }
      list = unique;
    }
    types[typeUrl] = typeSnapshot(list, prev?.types[typeUrl]);
  }
  if (errors.length > 0) return { ok: false, errors };
  if (prev && Object.keys(prev.types).length === urls.length && urls.every((u) => prev.types[u] === types[u])) return { ok: true, value: prev };
  return { ok: true, value: { version: hash(...urls.flatMap((u) => [u, '\0', types[u].version, '\n'])), types } };
}

/** The types of a snapshot in push order: CDS, EDS, LDS, RDS, SDS, then any others by name. */
export function pushOrder(snapshot: Snapshot): string[] {
  const order = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE];
  const rest = Object.keys(snapshot.types).filter((t) => !order.includes(t)).sort();
  return [...order.filter((t) => t in snapshot.types), ...rest];
}

/**
 * snapshotObjects returns a snapshot's resources back in object form, by type URL (for
 * /debug/config_dump): decoded from the bytes actually served, so it shows what the proxy got.
 */
export function snapshotObjects(snapshot: Snapshot): Record<string, ResourceObject[]> {
  const out: Record<string, ResourceObject[]> = {};
  for (const typeUrl of pushOrder(snapshot)) {
    out[typeUrl] = [...snapshot.types[typeUrl].resources.values()].map((e) => {
      const r = decodeResource(typeUrl, e.value);
      return r.ok ? r.value : { name: e.name, errors: r.errors };
    });
  }
  return out;
}
