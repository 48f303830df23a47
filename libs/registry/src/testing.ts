/**
 * Test support for libs/registry and its users (pilot): in-memory ConfigStore and
 * ServiceRegistry, and a fake Kubernetes API server. Never imported by production code.
 */
import type { Endpoint, MeshResource, Service } from '@meshwork/api';
import { CachedSource } from './cache.js';
import { AlreadyExistsError, ConflictError, InvalidResourceError, NotFoundError } from './errors.js';
import { RegistryState } from './registry-state.js';
import { checkObject, keyString, withResourceVersion } from './resource.js';
import type { ConfigStore, DeleteOptions, Logger, ResourceKey, WriteOptions } from './types.js';

export { FakeKubeApiServer, startFakeKubeApiServer, pluralOf, type FakeKubeObject } from './testing/fake-kube.js';

/**
 * MemoryConfigStore is a ConfigStore held in memory, with Kubernetes semantics: one
 * store-wide counter gives every write its resourceVersion.
 */
export class MemoryConfigStore extends CachedSource implements ConfigStore {
  private revision = 0;

  constructor(opts: { log?: Logger; initial?: readonly unknown[] } = {}) {
    super('memory', opts.log);
    for (const o of opts.initial ?? []) {
      const c = checkObject(o);
      if (!c.ok) throw new InvalidResourceError(c.diagnostics);
      this.cache.upsert(withResourceVersion(c.resource, String(++this.revision)), String(this.revision));
    }
    this.cache.setSynced();
  }

  async fetch(key: ResourceKey): Promise<MeshResource | undefined> {
    return this.cache.get(key);
  }
  async close(): Promise<void> {
    // nothing to stop: no backend
  }

  async create(object: unknown, opts: WriteOptions = {}): Promise<MeshResource> {
    const c = this.check(object, opts);
    if (this.cache.get(c.key)) throw new AlreadyExistsError(`${keyString(c.key)} already exists`);
    return this.store(c.resource);
  }

  async replace(object: unknown, opts: WriteOptions = {}): Promise<MeshResource> {
    const c = this.check(object, opts);
    const current = this.cache.versionOf(c.key);
    if (current === undefined) throw new NotFoundError(`${keyString(c.key)} not found`);
    const expected = c.resource.metadata.resourceVersion;
    if (expected !== undefined && expected !== current) throw new ConflictError(`${keyString(c.key)}: resourceVersion ${expected} is stale (current ${current})`);
    return this.store(c.resource);
  }

  async delete(key: ResourceKey, opts: DeleteOptions = {}): Promise<void> {
    const current = this.cache.versionOf(key);
    if (current === undefined) throw new NotFoundError(`${keyString(key)} not found`);
    if (opts.resourceVersion !== undefined && opts.resourceVersion !== current) throw new ConflictError(`${keyString(key)}: resourceVersion ${opts.resourceVersion} is stale (current ${current})`);
    this.cache.remove(key, String(++this.revision));
  }

  private check(object: unknown, opts: WriteOptions) {
    const c = checkObject(object, opts.defaultNamespace);
    // A refused write is the caller's error to report; rejected() lists only stored inputs.
    if (!c.ok) throw new InvalidResourceError(c.diagnostics);
    return c;
  }

  private store(r: MeshResource): MeshResource {
    const rv = String(++this.revision);
    const stored = withResourceVersion(r, rv);
    this.cache.upsert(stored, rv);
    return stored;
  }
}

/** MemoryServiceRegistry is a ServiceRegistry whose state a test sets directly. */
export class MemoryServiceRegistry extends RegistryState {
  private svcList: Service[] = [];
  private epList: Endpoint[] = [];

  constructor(name = 'memory', init: { services?: readonly Service[]; endpoints?: readonly Endpoint[] } = {}) {
    super(name);
    this.set(init.services ?? [], init.endpoints ?? []);
    this.setSynced();
  }

  /** Replaces every service and endpoint. */
  set(services: readonly Service[], endpoints: readonly Endpoint[]): void {
    this.svcList = [...services];
    this.epList = [...endpoints];
    this.replace(this.svcList, this.epList);
  }

  /** Adds or replaces one service (by hostname and namespace). */
  putService(svc: Service): void {
    this.set([...this.svcList.filter((s) => s.hostname !== svc.hostname || s.namespace !== svc.namespace), svc], this.epList);
  }

  /** Removes a service and its endpoints. */
  removeService(hostname: string, namespace: string): void {
    this.set(
      this.svcList.filter((s) => s.hostname !== hostname || s.namespace !== namespace),
      this.epList.filter((e) => e.hostname !== hostname || e.namespace !== namespace),
    );
  }

  /** Replaces the endpoints of one service. */
  setEndpoints(hostname: string, namespace: string, endpoints: readonly Endpoint[]): void {
    this.set(this.svcList, [...this.epList.filter((e) => e.hostname !== hostname || e.namespace !== namespace), ...endpoints]);
  }
}
