/**
 * ResourceCache is the shared read side of every ConfigSource: validated resources by key,
 * change events to watchers, and the refused inputs with their counter. Sources only decide
 * what to put in it.
 */
import type { Diagnostic, MeshResource } from '@meshwork/api';
import { formatDiagnostic } from '@meshwork/api';
import { compareKeys, keyOf, keyString, matchesFilter } from './resource.js';
import type { ConfigEvent, ConfigSource, ListFilter, Logger, RejectedInput, ResourceKey, Unsubscribe } from './types.js';
import { silentLogger } from './types.js';

function ignore(): void {
  // ready() rejections are observed by whoever awaits ready()
}

export class ResourceCache implements Omit<ConfigSource, 'close'> {
  readonly name: string;
  private readonly items = new Map<string, { key: ResourceKey; resource: MeshResource; rv: string }>();
  private readonly handlers = new Set<(e: ConfigEvent) => void>();
  private readonly refused = new Map<string, RejectedInput>();
  private refusedCount = 0;
  private readonly log: Logger;
  private readonly synced: Promise<void>;
  private markSynced!: () => void;
  private failSync!: (err: Error) => void;

  constructor(name: string, log: Logger = silentLogger) {
    this.name = name;
    this.log = log;
    this.synced = new Promise((resolve, reject) => {
      this.markSynced = resolve;
      this.failSync = reject;
    });
    // A source that never syncs must not crash the process with an unhandled rejection.
    this.synced.catch(ignore);
  }

  /** Marks the first full listing as loaded. */
  setSynced(): void {
    this.markSynced();
  }

  /** Fails ready() (the backend could not be listed at all). */
  setSyncFailed(err: Error): void {
    this.failSync(err);
  }

  ready(): Promise<void> {
    return this.synced;
  }

  list(filter?: ListFilter): MeshResource[] {
    return [...this.items.values()].filter((e) => matchesFilter(e.key, filter)).sort((a, b) => compareKeys(a.key, b.key)).map((e) => e.resource);
  }

  get(key: ResourceKey): MeshResource | undefined {
    return this.items.get(keyString(key))?.resource;
  }

  /** The resourceVersion the cache holds for a key. */
  versionOf(key: ResourceKey): string | undefined {
    return this.items.get(keyString(key))?.rv;
  }

  /** Every key currently held. */
  keys(): ResourceKey[] {
    return [...this.items.values()].map((e) => e.key);
  }

  watch(handler: (event: ConfigEvent) => void): Unsubscribe {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  rejected(): RejectedInput[] {
    return [...this.refused.values()].sort((a, b) => (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0));
  }

  get rejectedTotal(): number {
    return this.refusedCount;
  }

  /** Stores a validated resource at a version and emits add/update (nothing when the version is unchanged). */
  upsert(resource: MeshResource, resourceVersion: string, origin?: string): void {
    const key = keyOf(resource);
    const k = keyString(key);
    if (origin !== undefined) this.refused.delete(origin);
    const prev = this.items.get(k);
    if (prev && prev.rv === resourceVersion) return;
    this.items.set(k, { key, resource, rv: resourceVersion });
    this.emit({ type: prev ? 'update' : 'add', key, resource, previous: prev?.resource, resourceVersion });
  }

  /** Removes a resource and emits delete (nothing when absent). */
  remove(key: ResourceKey, resourceVersion?: string): void {
    const k = keyString(key);
    const prev = this.items.get(k);
    if (!prev) return;
    this.items.delete(k);
    this.emit({ type: 'delete', key: prev.key, resource: prev.resource, resourceVersion: resourceVersion ?? prev.rv });
  }

  /** Records a refused input: logged once per occurrence, counted, listed until the origin is fixed. */
  reject(origin: string, diagnostics: readonly Diagnostic[]): void {
    this.refusedCount++;
    this.refused.set(origin, { origin, diagnostics });
    this.log.warn({ component: 'registry', source: this.name, origin, errors: diagnostics.map(formatDiagnostic) }, `${this.name}: rejected invalid input ${origin}`);
  }

  /** Forgets a refused origin (its file/key/object is gone or now valid). */
  clearRejected(origin: string): void {
    this.refused.delete(origin);
  }

  private emit(e: ConfigEvent): void {
    for (const h of [...this.handlers]) {
      try {
        h(e);
      } catch (err) {
        this.log.warn({ component: 'registry', source: this.name, err: String(err) }, 'config watch handler threw');
      }
    }
  }
}

/**
 * CachedSource is the read side every config source shares: a ResourceCache named after the
 * source, and the ConfigSource reads delegated to it. Subclasses fill the cache and close
 * their backend.
 */
export abstract class CachedSource implements ConfigSource {
  protected readonly cache: ResourceCache;

  constructor(
    readonly name: string,
    log?: Logger,
  ) {
    this.cache = new ResourceCache(name, log);
  }

  ready(): Promise<void> {
    return this.cache.ready();
  }
  list(filter?: ListFilter): MeshResource[] {
    return this.cache.list(filter);
  }
  get(key: ResourceKey): MeshResource | undefined {
    return this.cache.get(key);
  }
  watch(handler: (event: ConfigEvent) => void): Unsubscribe {
    return this.cache.watch(handler);
  }
  rejected(): RejectedInput[] {
    return this.cache.rejected();
  }
  get rejectedTotal(): number {
    return this.cache.rejectedTotal;
  }
  abstract close(): Promise<void>;
}
