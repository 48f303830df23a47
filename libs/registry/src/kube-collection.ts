/**
 * KubeCollection keeps one Kubernetes collection in sync the way client-go's reflector does:
 * list, then watch from the list's resourceVersion with bookmarks; a watch that ends is
 * re-opened from the last version seen; `410 Gone` (an ERROR event whose Status has code
 * 410, or an HTTP 410) forces a re-list, which is diffed against the cache so deletions
 * missed meanwhile are still reported; other failures retry with exponential backoff.
 */
import { KubeApiError, type KubeClient, type KubeList, type KubeObject } from './kube-client.js';
import type { Logger } from './types.js';

export interface KubeCollectionOptions {
  readonly client: KubeClient;
  /** Collection path: `/api/v1/pods`, `/apis/networking.istio.io/v1/virtualservices`. */
  readonly path: string;
  /**
   * Paths of the same collection at other API versions, tried in order when the ones before
   * answer 404 (a cluster whose CRD serves only an older version, e.g. TLSRoute v1alpha2).
   */
  readonly fallbackPaths?: readonly string[];
  readonly log: Logger;
  readonly onAdd?: (obj: KubeObject) => void;
  readonly onUpdate?: (obj: KubeObject, old: KubeObject) => void;
  readonly onDelete?: (obj: KubeObject) => void;
  /** Called after every applied list or event batch, for consumers that recompute. */
  readonly onChange?: () => void;
  /** First retry delay after a failure (default 1000 ms, doubling to 30 s). */
  readonly retryMs?: number;
  /** Server-side watch timeout asked for (default 300 s; the API server caps it). */
  readonly watchTimeoutSeconds?: number;
}

const MAX_BACKOFF_MS = 30_000;

const idOf = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

/** KubeCollection is a live cache of one collection; see the file comment for the protocol. */
export class KubeCollection {
  private readonly objects = new Map<string, KubeObject>();
  private rv = '';
  /** Which of path, ...fallbackPaths is listed and watched. */
  private pathIndex = 0;
  private stopped = false;
  private abort?: AbortController;
  private loop?: Promise<void>;
  private readonly synced: Promise<void>;
  private markSynced!: () => void;
  /** Lists made so far (observability and tests). */
  listCount = 0;

  constructor(private readonly opts: KubeCollectionOptions) {
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  /** start begins list-watching; resolves after the first list was applied (or the collection does not exist). */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.synced;
  }

  ready(): Promise<void> {
    return this.synced;
  }

  /** Every object currently known. */
  items(): KubeObject[] {
    return [...this.objects.values()];
  }

  /** The collection path in use (the first that did not answer 404). */
  get path(): string {
    return this.pathIndex === 0 ? this.opts.path : (this.opts.fallbackPaths?.[this.pathIndex - 1] ?? this.opts.path);
  }

  /** The last resourceVersion seen (list, event or bookmark). */
  get resourceVersion(): string {
    return this.rv;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    let backoff = this.opts.retryMs ?? 1000;
    let missingLogged = false;
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        if (this.rv === '') {
          const list = await this.opts.client.getJson<KubeList>(this.path, {}, this.abort.signal);
          this.listCount++;
          this.replaceAll(list.items ?? []);
          this.rv = list.metadata?.resourceVersion ?? '';
          this.markSynced();
        }
        let gone = false;
        let sawEvent = false;
        await this.opts.client.watch(
          this.path,
          { resourceVersion: this.rv, allowWatchBookmarks: 'true', timeoutSeconds: String(this.opts.watchTimeoutSeconds ?? 300) },
          (e) => {
            sawEvent = true;
            if (this.handleEvent(e)) gone = true;
          },
          this.abort.signal,
          ((this.opts.watchTimeoutSeconds ?? 300) + 60) * 1000,
        );
        if (gone) this.rv = '';
        if (sawEvent || gone) backoff = this.opts.retryMs ?? 1000;
        // An immediately ending, empty watch (e.g. a misbehaving proxy) must not spin.
        else await this.sleep(Math.min(backoff, 1000));
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof KubeApiError && err.status === 410) {
          this.rv = '';
          continue;
        }
        if (err instanceof KubeApiError && err.status === 404 && this.rv === '') {
          // Not served at this version: try the next one at once; after the last, start over later.
          this.pathIndex = (this.pathIndex + 1) % (1 + (this.opts.fallbackPaths?.length ?? 0));
          if (this.pathIndex !== 0) continue;
          // The CRD is not installed: serve nothing for it and look again later.
          if (!missingLogged) this.opts.log.info({ component: 'registry', path: this.opts.path, ...(this.opts.fallbackPaths?.length ? { alsoTried: this.opts.fallbackPaths } : {}) }, 'kubernetes collection not found; will retry');
          missingLogged = true;
          this.replaceAll([]);
          this.markSynced();
        } else {
          this.opts.log.warn({ component: 'registry', path: this.path, err: (err as Error).message }, 'kubernetes list/watch failed; retrying');
        }
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /** handleEvent applies one watch event; returns true when the watch must re-list (410). */
  private handleEvent(e: { type: string; object: KubeObject }): boolean {
    const o = e.object;
    switch (e.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const id = idOf(o);
        const old = this.objects.get(id);
        this.objects.set(id, o);
        if (old) this.opts.onUpdate?.(o, old);
        else this.opts.onAdd?.(o);
        break;
      }
      case 'DELETED': {
        const id = idOf(o);
        if (this.objects.delete(id)) this.opts.onDelete?.(o);
        break;
      }
      case 'BOOKMARK':
        // Only moves the resume point forward (no object changed).
        if (o.metadata?.resourceVersion) this.rv = o.metadata.resourceVersion;
        return false;
      case 'ERROR': {
        const code = (o as { code?: number }).code;
        if (code === 410) return true;
        this.opts.log.warn({ component: 'registry', path: this.path, status: o }, 'kubernetes watch error event; re-listing');
        return true;
      }
      default:
        return false;
    }
    if (o.metadata?.resourceVersion) this.rv = o.metadata.resourceVersion;
    this.opts.onChange?.();
    return false;
  }

  /** replaceAll applies a fresh list: adds, updates (changed resourceVersion) and deletes what is gone. */
  private replaceAll(items: readonly KubeObject[]): void {
    const seen = new Set<string>();
    for (const o of items) {
      const id = idOf(o);
      seen.add(id);
      const old = this.objects.get(id);
      this.objects.set(id, o);
      if (!old) this.opts.onAdd?.(o);
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.opts.onUpdate?.(o, old);
    }
    for (const [id, o] of [...this.objects]) {
      if (seen.has(id)) continue;
      this.objects.delete(id);
      this.opts.onDelete?.(o);
    }
    this.opts.onChange?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort?.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
