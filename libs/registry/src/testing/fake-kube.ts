/**
 * A minimal fake Kubernetes API server (node:http) speaking the real list/watch wire format,
 * so the informer code runs against HTTP exactly as against a cluster:
 * - `GET /api/v1/<plural>`, `/api/v1/namespaces/<ns>/<plural>`, `/apis/<group>/<version>/...`
 *   return a `<Kind>List` with `metadata.resourceVersion` (one counter for the whole store, as etcd's);
 * - `?watch=true|1&resourceVersion=N[&allowWatchBookmarks=true]` streams newline-delimited
 *   JSON events (ADDED/MODIFIED/DELETED/BOOKMARK) after N and then live ones;
 * - a watch from a version older than the retained history gets an ERROR event with a
 *   `Status` of code 410 ("too old resource version") and the stream ends, forcing a re-list.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An object as stored: any Kubernetes object with apiVersion, kind and metadata. */
export interface FakeKubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface Stored {
  obj: FakeKubeObject;
  plural: string;
}

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  plural: string;
  groupVersion: string;
  obj: FakeKubeObject;
}

interface Watcher {
  plural: string;
  groupVersion: string;
  namespace?: string;
  res: ServerResponse;
  bookmarks: boolean;
}

/** pluralOf guesses the resource plural of a kind the way Kubernetes' defaults do. */
export function pluralOf(kind: string): string {
  const k = kind.toLowerCase();
  // policy → policies, but gateway → gateways (a vowel before the y)
  if (k.endsWith('y') && !/[aeiou]y$/.test(k)) return `${k.slice(0, -1)}ies`;
  if (k.endsWith('s')) return `${k}es`;
  return `${k}s`;
}

export class FakeKubeApiServer {
  private server?: Server;
  private rv = 0;
  /** Events before this version are forgotten: a watch from older versions gets 410. */
  private oldestRv = 0;
  private readonly objects = new Map<string, Stored>();
  private history: WatchEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  /** Collections that exist (a CRD installed, a built-in type): others answer 404. */
  private readonly collections = new Set<string>();
  /** Every request path+query received, for assertions (e.g. that a re-list happened). */
  readonly requests: string[] = [];
  url = '';

  /** listen starts the server on an ephemeral loopback port. */
  async listen(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The current resourceVersion of the store. */
  get resourceVersion(): number {
    return this.rv;
  }

  /** define makes a collection exist while empty (installs the CRD); put defines it too. */
  define(apiVersion: string, plural: string): void {
    this.collections.add(`${apiVersion}|${plural}`);
  }

  /** put creates or replaces an object (ADDED or MODIFIED) and returns it with its new resourceVersion. */
  put(obj: FakeKubeObject, plural = pluralOf(obj.kind)): FakeKubeObject {
    const k = this.key(obj.apiVersion, plural, obj.metadata.namespace, obj.metadata.name);
    this.define(obj.apiVersion, plural);
    const existed = this.objects.has(k);
    const stored: FakeKubeObject = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
    this.objects.set(k, { obj: stored, plural });
    this.publish({ rv: this.rv, type: existed ? 'MODIFIED' : 'ADDED', plural, groupVersion: obj.apiVersion, obj: stored });
    return stored;
  }

  /** remove deletes an object (DELETED); false when it did not exist. */
  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string, plural = pluralOf(kind)): boolean {
    const k = this.key(apiVersion, plural, namespace, name);
    const cur = this.objects.get(k);
    if (!cur) return false;
    this.objects.delete(k);
    const gone: FakeKubeObject = { ...cur.obj, metadata: { ...cur.obj.metadata, resourceVersion: String(++this.rv) } };
    this.publish({ rv: this.rv, type: 'DELETED', plural, groupVersion: apiVersion, obj: gone });
    return true;
  }

  /**
   * compact forgets the event history (etcd compaction): watches resuming from an older
   * version will get a 410 Gone ERROR event. With `breakWatches`, open watches receive it now.
   */
  compact(breakWatches = false): void {
    this.oldestRv = this.rv;
    this.history = [];
    if (!breakWatches) return;
    for (const w of [...this.watchers]) this.gone(w.res);
    this.watchers.clear();
  }

  /** bookmark sends a BOOKMARK with the current resourceVersion to watches that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      const [kind] = this.kindsOf(w.plural, w.groupVersion);
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { apiVersion: w.groupVersion, kind, metadata: { resourceVersion: String(this.rv) } } })}\n`);
    }
  }

  /** endWatches closes every open watch stream (the API server's watch timeout); clients re-watch. */
  endWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Number of open watch streams. */
  get openWatches(): number {
    return this.watchers.size;
  }

  private key(apiVersion: string, plural: string, ns: string | undefined, name: string): string {
    return `${apiVersion}|${plural}|${ns ?? ''}|${name}`;
  }

  private kindsOf(plural: string, groupVersion: string): [string] {
    for (const s of this.objects.values()) if (s.plural === plural && s.obj.apiVersion === groupVersion) return [s.obj.kind];
    return [plural];
  }

  private publish(e: WatchEvent): void {
    this.history.push(e);
    for (const w of this.watchers) {
      if (w.plural !== e.plural || w.groupVersion !== e.groupVersion) continue;
      if (w.namespace !== undefined && w.namespace !== e.obj.metadata.namespace) continue;
      w.res.write(`${JSON.stringify({ type: e.type, object: e.obj })}\n`);
    }
  }

  private gone(res: ServerResponse): void {
    const status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 };
    res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    const route = parsePath(url.pathname);
    if (!route || req.method !== 'GET' || !this.collections.has(`${route.groupVersion}|${route.plural}`)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${req.method} ${url.pathname} not found` }));
      return;
    }
    const watch = url.searchParams.get('watch');
    if (watch === 'true' || watch === '1') return this.serveWatch(route, url, res);
    const items = [...this.objects.values()]
      .filter((s) => s.plural === route.plural && s.obj.apiVersion === route.groupVersion && (route.namespace === undefined || s.obj.metadata.namespace === route.namespace))
      .map((s) => s.obj)
      .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
    const kind = items[0]?.kind ?? route.plural;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: route.groupVersion, kind: `${kind}List`, metadata: { resourceVersion: String(this.rv) }, items }));
  }

  private serveWatch(route: Route, url: URL, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from < this.oldestRv) {
      this.gone(res);
      return;
    }
    const w: Watcher = { plural: route.plural, groupVersion: route.groupVersion, namespace: route.namespace, res, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' };
    for (const e of this.history) {
      if (e.rv <= from || e.plural !== w.plural || e.groupVersion !== w.groupVersion) continue;
      if (w.namespace !== undefined && w.namespace !== e.obj.metadata.namespace) continue;
      res.write(`${JSON.stringify({ type: e.type, object: e.obj })}\n`);
    }
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }
}

interface Route {
  groupVersion: string;
  namespace?: string;
  plural: string;
}

/** parsePath reads `/api/v1[/namespaces/<ns>]/<plural>` and `/apis/<g>/<v>[/namespaces/<ns>]/<plural>`. */
function parsePath(p: string): Route | undefined {
  const s = p.split('/').filter(Boolean);
  let gv: string;
  let rest: string[];
  if (s[0] === 'api' && s.length >= 3) {
    gv = s[1];
    rest = s.slice(2);
  } else if (s[0] === 'apis' && s.length >= 4) {
    gv = `${s[1]}/${s[2]}`;
    rest = s.slice(3);
  } else return undefined;
  if (rest.length === 1) return { groupVersion: gv, plural: rest[0] };
  if (rest.length === 3 && rest[0] === 'namespaces') return { groupVersion: gv, namespace: rest[1], plural: rest[2] };
  return undefined;
}

/** startFakeKubeApiServer starts a FakeKubeApiServer on an ephemeral loopback port. */
export async function startFakeKubeApiServer(): Promise<FakeKubeApiServer> {
  const s = new FakeKubeApiServer();
  await s.listen();
  return s;
}
