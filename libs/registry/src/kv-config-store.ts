/**
 * ConfigStore on the NATS JetStream KV bucket `mesh-config` (local/VM mode): every pilot
 * replica watches the bucket, so a write through any replica reaches all of them.
 *
 * resourceVersion is the KV revision (the stream sequence of the entry), which gives
 * Kubernetes' optimistic concurrency with KV primitives: create = `kv.create` (fails when
 * the key exists), replace at a version = `kv.update(key, value, revision)` (compare-and-set),
 * delete at a version = `kv.delete(key, {previousSeq})`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { MeshResource } from '@meshwork/api';
import { MESH_CONFIG_BUCKET } from '@meshwork/bus';
import { CachedSource } from './cache.js';
import { AlreadyExistsError, BackendError, ConflictError, InvalidResourceError, NotFoundError } from './errors.js';
import { kvKeyOf, resourceKeyOf } from './kv-keys.js';
import { checkObject, keyString, storedObject, withResourceVersion } from './resource.js';
import type { ConfigStore, DeleteOptions, Logger, ResourceKey, WriteOptions } from './types.js';
import { silentLogger } from './types.js';

export interface KvConfigStoreOptions {
  readonly nc: NatsConnection;
  /** Bucket name (default `mesh-config`). */
  readonly bucket?: string;
  /** Revisions kept per key (default 5, for `meshctl` history and debugging). */
  readonly history?: number;
  /** Bucket replicas when the bucket is created (default 1). */
  readonly replicas?: number;
  readonly log?: Logger;
}

/** JetStream's "wrong last sequence" API error: the compare-and-set lost. */
const WRONG_LAST_SEQUENCE = 10071;

function isWrongLastSequence(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === WRONG_LAST_SEQUENCE || (typeof e?.message === 'string' && e.message.includes('wrong last sequence'));
}

const encoder = new TextEncoder();

/** KvConfigStore is a ConfigStore over a NATS KV bucket, watched for other replicas' writes. */
export class KvConfigStore extends CachedSource implements ConfigStore {
  private readonly log: Logger;
  /** KV revision held in the cache per KV key, to ignore stale or duplicate deliveries. */
  private readonly revs = new Map<string, number>();
  private stopWatch?: () => void;
  private watchDone?: Promise<void>;

  private constructor(
    private readonly kv: KV,
    opts: KvConfigStoreOptions,
  ) {
    super('nats-kv', opts.log);
    this.log = opts.log ?? silentLogger;
  }

  /** open creates the bucket if needed, loads it and starts watching; resolves when loaded. */
  static async open(opts: KvConfigStoreOptions): Promise<KvConfigStore> {
    let kv: KV;
    try {
      kv = await new Kvm(opts.nc).create(opts.bucket ?? MESH_CONFIG_BUCKET, { history: opts.history ?? 5, replicas: opts.replicas ?? 1 });
    } catch (err) {
      throw new BackendError(`cannot open KV bucket ${opts.bucket ?? MESH_CONFIG_BUCKET}: ${(err as Error).message}`, { cause: err });
    }
    const store = new KvConfigStore(kv, opts);
    await store.startWatch();
    return store;
  }

  private async startWatch(): Promise<void> {
    const iter = await this.kv.watch({ key: '>' });
    this.stopWatch = () => iter.stop();
    this.watchDone = (async () => {
      for await (const e of iter) {
        this.apply(e);
        // The initial values end with the entry whose `delta` (messages still pending) is 0.
        if (e.delta === 0 || e.isUpdate) this.cache.setSynced();
      }
    })().catch((err: unknown) => {
      this.cache.setSyncFailed(new BackendError(`mesh-config watch failed: ${String(err)}`, { cause: err }));
      this.log.warn({ component: 'registry', source: 'nats-kv', err: String(err) }, 'mesh-config watch ended');
    });
    // An empty bucket sends no initial values. Asked after the watch exists, so a value
    // written in between is delivered (as an update) rather than missed.
    if ((await this.kv.status()).values === 0) this.cache.setSynced();
    await this.cache.ready();
  }

  /** apply folds one KV entry (from the watch or from our own write) into the cache. */
  private apply(e: KvEntry): void {
    const seen = this.revs.get(e.key);
    if (seen !== undefined && seen >= e.revision) return;
    if (e.operation === 'DEL' || e.operation === 'PURGE') {
      this.revs.delete(e.key);
      this.cache.clearRejected(e.key);
      const k = resourceKeyOf(e.key);
      if (k) this.cache.remove(k, String(e.revision));
      return;
    }
    let obj: unknown;
    try {
      obj = e.json();
    } catch (err) {
      this.cache.reject(e.key, [{ severity: 'Error', code: 'MESH_ERR_PARSE', path: '', reason: `value is not JSON: ${(err as Error).message}`, file: e.key }]);
      return;
    }
    const c = checkObject(obj, undefined, e.key);
    if (!c.ok) {
      // Written around the API (e.g. `nats kv put`): refused, and the last good version stays.
      this.cache.reject(e.key, c.diagnostics);
      return;
    }
    if (kvKeyOf(c.key) !== e.key) {
      this.cache.reject(e.key, [{ severity: 'Error', code: 'MESH_ERR_VALIDATION', path: 'metadata', reason: `stored under key "${e.key}" but the object is ${keyString(c.key)} (key ${kvKeyOf(c.key)})`, file: e.key }]);
      return;
    }
    this.revs.set(e.key, e.revision);
    const rv = String(e.revision);
    this.cache.upsert(withResourceVersion(c.resource, rv), rv, e.key);
  }


  async close(): Promise<void> {
    this.stopWatch?.();
    await this.watchDone;
  }

  async fetch(key: ResourceKey): Promise<MeshResource | undefined> {
    const e = await this.backend(() => this.kv.get(kvKeyOf(key)));
    if (!e || e.operation !== 'PUT') return undefined;
    const c = checkObject(e.json(), undefined, e.key);
    return c.ok ? withResourceVersion(c.resource, String(e.revision)) : undefined;
  }

  async create(object: unknown, opts: WriteOptions = {}): Promise<MeshResource> {
    const { resource, key } = this.check(object, opts);
    const k = kvKeyOf(key);
    let rev: number;
    try {
      rev = await this.kv.create(k, encoder.encode(JSON.stringify(storedObject(resource))));
    } catch (err) {
      if (isWrongLastSequence(err)) throw new AlreadyExistsError(`${keyString(key)} already exists`, { cause: err });
      throw new BackendError(`create ${keyString(key)}: ${(err as Error).message}`, { cause: err });
    }
    return this.applied(resource, k, rev);
  }

  async replace(object: unknown, opts: WriteOptions = {}): Promise<MeshResource> {
    const { resource, key } = this.check(object, opts);
    const k = kvKeyOf(key);
    const value = encoder.encode(JSON.stringify(storedObject(resource)));
    const expected = resource.metadata.resourceVersion;
    // Without a resourceVersion the replace is unconditional (Kubernetes' PUT), but must
    // still not resurrect a deleted key: CAS against the revision just read, retrying races.
    for (let attempt = 0; ; attempt++) {
      const cur = await this.backend(() => this.kv.get(k));
      if (!cur || cur.operation !== 'PUT') throw new NotFoundError(`${keyString(key)} not found`);
      const at = expected !== undefined ? Number(expected) : cur.revision;
      if (expected !== undefined && (!Number.isInteger(at) || at !== cur.revision)) {
        throw new ConflictError(`${keyString(key)}: resourceVersion ${expected} is stale (current ${cur.revision})`);
      }
      try {
        const rev = await this.kv.update(k, value, at);
        return this.applied(resource, k, rev);
      } catch (err) {
        if (!isWrongLastSequence(err)) throw new BackendError(`replace ${keyString(key)}: ${(err as Error).message}`, { cause: err });
        if (expected !== undefined || attempt >= 3) throw new ConflictError(`${keyString(key)}: modified concurrently (resourceVersion ${at} is stale)`, { cause: err });
      }
    }
  }

  async delete(key: ResourceKey, opts: DeleteOptions = {}): Promise<void> {
    const k = kvKeyOf(key);
    const cur = await this.backend(() => this.kv.get(k));
    if (!cur || cur.operation !== 'PUT') throw new NotFoundError(`${keyString(key)} not found`);
    const at = opts.resourceVersion !== undefined ? Number(opts.resourceVersion) : cur.revision;
    if (opts.resourceVersion !== undefined && at !== cur.revision) {
      throw new ConflictError(`${keyString(key)}: resourceVersion ${opts.resourceVersion} is stale (current ${cur.revision})`);
    }
    try {
      await this.kv.delete(k, { previousSeq: at });
    } catch (err) {
      if (isWrongLastSequence(err)) throw new ConflictError(`${keyString(key)}: modified concurrently`, { cause: err });
      throw new BackendError(`delete ${keyString(key)}: ${(err as Error).message}`, { cause: err });
    }
    // The delete marker's revision arrives on the watch; remove now for read-your-writes.
    this.revs.set(k, at);
    this.cache.remove(key);
  }

  private check(object: unknown, opts: WriteOptions): { resource: MeshResource; key: ResourceKey } {
    const c = checkObject(object, opts.defaultNamespace);
    if (!c.ok) throw new InvalidResourceError(c.diagnostics);
    return c;
  }

  /** applied records our own write in the cache at once (the watch delivers it again, ignored by revision). */
  private applied(resource: MeshResource, k: string, rev: number): MeshResource {
    const rv = String(rev);
    const stored = withResourceVersion(resource, rv);
    const seen = this.revs.get(k);
    if (seen === undefined || seen < rev) {
      this.revs.set(k, rev);
      this.cache.upsert(stored, rv, k);
    }
    return stored;
  }

  private async backend<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new BackendError(`mesh-config: ${(err as Error).message}`, { cause: err });
    }
  }
}
