/**
 * The `--config-dir` source: every YAML/JSON file under a directory (recursively), watched.
 *
 * Like Istio's file monitor (pilot/pkg/config/monitor), a change notification only triggers
 * a debounced full rescan, which is then diffed against what was loaded before: that makes
 * editors' rename-on-save, atomic symlink swaps (Kubernetes ConfigMap mounts) and bursts of
 * writes all look the same.
 *
 * What happens to a broken file, decided as Istio does: Istio keeps its whole previous
 * snapshot when a file fails to parse, and its store refuses an invalid update so the
 * previous version stays served. Here:
 * - a file with a YAML/JSON syntax error keeps every resource last loaded from it
 *   (an editor mid-save must not delete config); narrower than Istio, which freezes all files;
 * - a resource that fails validation keeps its last good version when one was loaded
 *   (same kind/namespace/name); a new invalid resource is simply not loaded;
 * - a removed file, or a resource removed from a file, is deleted.
 * Every refused input is logged with its diagnostics, counted once per distinct failure and
 * listed in rejected() until fixed.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { listResourceFiles, parseText, refOf, validateObject, type Diagnostic, type MeshResource } from '@meshwork/api';
import { CachedSource } from './cache.js';
import { keyOf, keyString, storedObject, withResourceVersion, groupOf } from './resource.js';
import { stableJson } from './registry-state.js';
import type { ConfigSource, Logger, Unsubscribe } from './types.js';
import { silentLogger } from './types.js';

export interface DirectorySourceOptions {
  /** The directory (or single file) to load. */
  readonly path: string;
  /** Quiet time after the last file-system event before rescanning (default 50 ms, as Istio's file watcher). */
  readonly debounceMs?: number;
  /** Also rescan this often (0 = never), for file systems that deliver no events. */
  readonly pollIntervalMs?: number;
  /** Namespace for namespaced resources that set none. */
  readonly defaultNamespace?: string;
  readonly log?: Logger;
  /** Watch for changes (default true); false loads once. */
  readonly watch?: boolean;
}

interface Loaded {
  resource: MeshResource;
  json: string;
  /** The resource as the file produced it (before stamping), to skip unchanged ones by identity. */
  source: MeshResource;
}

/** What a file produced at a given stat: reused while the file is unchanged. */
interface FileState {
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly size: number;
  readonly resources: Map<string, MeshResource>;
  /** Failures by origin (`file` or `file#doc`). */
  readonly failures: Map<string, { diags: Diagnostic[] }>;
}

/**
 * A file whose mtime is this recent is read again even when its stat looks unchanged: two writes
 * within the file system's timestamp granularity leave the same mtime and size (git's "racy" rule).
 */
const RACY_MS = 2000;

/**
 * DirectorySource is a ConfigSource over a directory of YAML/JSON files. Files have no
 * revision of their own, so a resource's version is a hash of its content: every replica
 * (and every restart) reading the same files reports the same versions.
 */
export class DirectorySource extends CachedSource implements ConfigSource {
  private readonly opts: DirectorySourceOptions;
  private readonly log: Logger;
  /** Last good resources of each file, by key string. */
  private perFile = new Map<string, Map<string, MeshResource>>();
  /** Per file: its stat and what it produced, so a rescan reads and validates only changed files. */
  private fileStates = new Map<string, FileState>();
  private readonly current = new Map<string, Loaded>();
  /** Distinct failures already counted, by origin → diagnostics JSON. */
  private failures = new Map<string, string>();
  private readonly watchers = new Map<string, FSWatcher>();
  private timer?: NodeJS.Timeout;
  private poller?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private again = false;
  private closed = false;
  private readonly scanListeners = new Set<() => void>();

  constructor(opts: DirectorySourceOptions) {
    super('file', opts.log);
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
  }

  /** start loads the directory once and begins watching it; resolves after the first load. */
  async start(): Promise<void> {
    // The first load fails loudly (a missing --config-dir is a startup error); later failures only log.
    try {
      await this.scanOnce();
    } catch (err) {
      this.cache.setSyncFailed(err as Error);
      throw err;
    }
    this.cache.setSynced();
    if (this.opts.watch === false) return;
    await this.syncWatchers();
    if (this.opts.pollIntervalMs) this.poller = setInterval(() => this.trigger(0), this.opts.pollIntervalMs);
  }


  /** onScan calls `fn` after every completed rescan (tests wait on it instead of sleeping). */
  onScan(fn: () => void): Unsubscribe {
    this.scanListeners.add(fn);
    return () => this.scanListeners.delete(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    if (this.timer) clearTimeout(this.timer);
    if (this.poller) clearInterval(this.poller);
    await this.scanning;
  }

  /** rescan reloads everything now (also what a file event triggers after the debounce). */
  async rescan(): Promise<void> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.again = false;
        try {
          await this.scanOnce();
        } catch (err) {
          // The directory itself is unreadable: keep serving what was loaded (Istio's monitor does the same).
          this.log.warn({ component: 'registry', source: 'file', path: this.opts.path, err: (err as Error).message }, 'config directory rescan failed; keeping previous config');
        }
        await this.syncWatchers();
      } while (this.again && !this.closed);
    })();
    try {
      await this.scanning;
    } finally {
      this.scanning = undefined;
    }
    for (const fn of [...this.scanListeners]) fn();
  }

  /**
   * syncWatchers keeps one non-recursive watch per directory. Node's `recursive` option on
   * Linux watches files individually and goes deaf to a file replaced by rename-on-save, so
   * directories are watched instead and the set is refreshed after every scan.
   */
  private async syncWatchers(): Promise<void> {
    if (this.opts.watch === false || this.closed) return;
    let dirs: string[];
    try {
      const st = await stat(this.opts.path);
      dirs = st.isDirectory() ? await listDirs(this.opts.path) : [dirname(this.opts.path)];
    } catch {
      return; // the path itself is gone: keep the watches we have until it comes back
    }
    const want = new Set(dirs);
    for (const [dir, w] of this.watchers) {
      if (want.has(dir)) continue;
      w.close();
      this.watchers.delete(dir);
    }
    for (const dir of want) {
      if (this.watchers.has(dir) || this.closed) continue;
      try {
        const w = watch(dir, () => this.trigger(this.opts.debounceMs ?? 50));
        w.on('error', () => {
          // The directory went away; the rescan it triggers drops or re-adds the watch.
          w.close();
          this.watchers.delete(dir);
          this.trigger(this.opts.debounceMs ?? 50);
        });
        this.watchers.set(dir, w);
      } catch (err) {
        this.log.warn({ component: 'registry', source: 'file', path: dir, err: (err as Error).message }, 'cannot watch config directory');
      }
    }
  }

  private trigger(delay: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.rescan();
    }, delay);
  }

  private async scanOnce(): Promise<void> {
    const files = await listResourceFiles(this.opts.path);
    const nextPerFile = new Map<string, Map<string, MeshResource>>();
    const failures = new Map<string, { diags: Diagnostic[] }>();
    const nextStates = new Map<string, FileState>();
    const now = Date.now();
    for (const file of files) {
      // An unchanged file (same mtime, ctime and size, not written just now) gives what it gave.
      let st: { mtimeMs: number; ctimeMs: number; size: number } | undefined;
      try {
        st = await stat(file);
      } catch {
        continue; // removed between listing and stat: the next event rescans
      }
      const known = this.fileStates.get(file);
      if (known && known.mtimeMs === st.mtimeMs && known.ctimeMs === st.ctimeMs && known.size === st.size && now - st.mtimeMs > RACY_MS) {
        nextPerFile.set(file, known.resources);
        for (const [o, f] of known.failures) failures.set(o, f);
        nextStates.set(file, known);
        continue;
      }
      const fileFailures = new Map<string, { diags: Diagnostic[] }>();
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        // Removed between listing and reading (rename-on-save): the next event rescans.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const prev = this.perFile.get(file);
      const parsed = parseText(text, file);
      if (parsed.errors.length > 0) {
        failures.set(file, { diags: parsed.errors });
        fileFailures.set(file, { diags: parsed.errors });
        if (prev) nextPerFile.set(file, prev);
        nextStates.set(file, { mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, size: st.size, resources: prev ?? new Map(), failures: fileFailures });
        continue;
      }
      const mine = new Map<string, MeshResource>();
      for (const raw of parsed.objects) {
        const v = validateObject(raw, { defaultNamespace: this.opts.defaultNamespace });
        if (v.ok) {
          mine.set(keyString(keyOf(v.resource)), v.resource);
          continue;
        }
        const ref = refOf(raw.object, this.opts.defaultNamespace ?? 'default');
        const o = raw.object as { apiVersion?: unknown } | null;
        const k = ref ? keyString({ group: groupOf(o?.apiVersion), kind: ref.kind, namespace: ref.namespace ?? '', name: ref.name }) : `#${raw.docIndex}`;
        failures.set(`${file}#${raw.docIndex}`, { diags: v.diagnostics });
        fileFailures.set(`${file}#${raw.docIndex}`, { diags: v.diagnostics });
        const last = prev?.get(k);
        if (last) mine.set(k, last);
      }
      nextPerFile.set(file, mine);
      nextStates.set(file, { mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, size: st.size, resources: mine, failures: fileFailures });
    }
    this.perFile = nextPerFile;
    this.fileStates = nextStates;
    this.recordFailures(failures);

    // Files are merged in path order; a later file's definition wins (kubectl apply order).
    const desired = new Map<string, MeshResource>();
    for (const [, mine] of [...nextPerFile].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) for (const [k, r] of mine) desired.set(k, r);
    for (const [k, r] of desired) {
      const cur = this.current.get(k);
      // The same object as last time: its file was not read again, nothing to compare.
      if (cur && cur.source === r) continue;
      const json = stableJson(storedObject(r));
      if (cur && cur.json === json) {
        cur.source = r;
        continue;
      }
      const rv = createHash('sha256').update(json).digest('hex').slice(0, 16);
      const stamped = withResourceVersion(r, rv);
      this.current.set(k, { resource: stamped, json, source: r });
      this.cache.upsert(stamped, rv);
    }
    for (const [k, cur] of [...this.current]) {
      if (desired.has(k)) continue;
      this.current.delete(k);
      this.cache.remove(keyOf(cur.resource));
    }
  }

  private recordFailures(failures: Map<string, { diags: Diagnostic[] }>): void {
    const next = new Map<string, string>();
    for (const [origin, f] of failures) {
      const json = JSON.stringify(f.diags.map((d) => [d.code, d.path, d.reason]));
      next.set(origin, json);
      // Count and log a failure once, not on every rescan that still sees it.
      if (this.failures.get(origin) !== json) this.cache.reject(origin, f.diags);
    }
    for (const origin of this.failures.keys()) if (!next.has(origin)) this.cache.clearRejected(origin);
    this.failures = next;
  }
}

/** startDirectorySource creates a DirectorySource, loads it and starts watching. */
export async function startDirectorySource(opts: DirectorySourceOptions): Promise<DirectorySource> {
  const s = new DirectorySource(opts);
  await s.start();
  return s;
}

/** listDirs returns `root` and every directory below it, skipping hidden ones (as file loading does). */
async function listDirs(root: string): Promise<string[]> {
  const out = [root];
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch {
    return out; // removed while walking: the event it made triggers another scan
  }
  for (const e of entries) {
    if (e.isDirectory() && !e.name.startsWith('.')) out.push(...(await listDirs(join(root, e.name))));
  }
  return out;
}
