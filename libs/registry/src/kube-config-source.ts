/**
 * ConfigSource over Kubernetes custom resources (Istio's crdclient): one list-watch per kind
 * that libs/api ships a CRD for, and per Kubernetes Gateway API kind (upstream's CRDs, which a
 * cluster may not have: a kind whose CRD is missing serves nothing and is looked for again
 * later, as istiod does), at the kind's preferred version or, where the cluster serves only an
 * older one, the first of its other versions it does serve. Every object is
 * validated with libs/api like any other input; an invalid one is logged, counted, listed in
 * rejected() and never emitted, and the last good version of it stays (as with the other
 * sources; the validating webhook normally stops such objects before they reach etcd).
 */
import { ALL_KINDS, apiVersionOf, type KindDef } from '@meshwork/api';
import { CachedSource } from './cache.js';
import type { KubeClient, KubeObject } from './kube-client.js';
import { KubeCollection } from './kube-collection.js';
import { checkObject, withResourceVersion } from './resource.js';
import type { ConfigSource, Logger } from './types.js';
import { silentLogger } from './types.js';

export interface KubeConfigSourceOptions {
  readonly client: KubeClient;
  /** Kinds to watch (default: every kind with `crd: true` in libs/api, and the Gateway API kinds). */
  readonly kinds?: readonly KindDef[];
  readonly log?: Logger;
  /** Restart delay after a list/watch error (default 1000 ms). */
  readonly retryMs?: number;
}

/**
 * What a KubeConfigSource watches by default: the CRD kinds, the Gateway API kinds, and
 * Namespaces (their labels select routes for Gateway API listeners' allowedRoutes, and the
 * analyzers check that namespaces exist), as istiod watches them too.
 */
export const WATCHED_KINDS: readonly KindDef[] = ALL_KINDS.filter((k) => k.crd || k.group === 'gateway.networking.k8s.io' || (k.group === '' && k.kind === 'Namespace'));

/** apiPath returns the list path of a kind at a version: `/api/v1/<plural>` for the core group, `/apis/<group>/<version>/<plural>` else. */
const apiPath = (def: KindDef, v: string): string => (def.group === '' ? `/api/${v}/${def.plural}` : `/apis/${def.group}/${v}/${def.plural}`);

/** KubeConfigSource is a read-only ConfigSource of the cluster's Istio/Meshwork custom resources. */
export class KubeConfigSource extends CachedSource implements ConfigSource {
  private readonly collections: KubeCollection[] = [];

  constructor(opts: KubeConfigSourceOptions) {
    super('kubernetes', opts.log);
    const log = opts.log ?? silentLogger;
    for (const def of opts.kinds ?? WATCHED_KINDS) {
      const [path, ...fallbackPaths] = def.versions.map((v) => apiPath(def, v));
      const origin = (o: KubeObject) => `kubernetes:${def.plural}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name ?? ''}`;
      const upsert = (o: KubeObject): void => {
        // List items and watch objects of a CR carry apiVersion/kind; fill them in if a proxy strips them.
        const obj = { ...o, apiVersion: o.apiVersion ?? apiVersionOf(def, collection.path.split('/')[def.group === '' ? 2 : 3]), kind: o.kind ?? def.kind };
        const c = checkObject(obj, undefined, origin(o));
        if (!c.ok) {
          this.cache.reject(origin(o), c.diagnostics);
          return;
        }
        const rv = o.metadata.resourceVersion ?? '';
        this.cache.upsert(withResourceVersion(c.resource, rv), rv, origin(o));
      };
      const remove = (o: KubeObject): void => {
        this.cache.clearRejected(origin(o));
        this.cache.remove({ group: def.group, kind: def.kind, namespace: def.namespaced ? (o.metadata.namespace ?? '') : '', name: o.metadata.name ?? '' }, o.metadata.resourceVersion);
      };
      const collection: KubeCollection = new KubeCollection({
        client: opts.client,
        path,
        fallbackPaths,
        log,
        onAdd: upsert,
        onUpdate: upsert,
        onDelete: remove,
        retryMs: opts.retryMs,
      });
      this.collections.push(collection);
    }
  }

  /** start lists every kind and starts watching; resolves when all are synced. */
  async start(): Promise<void> {
    await Promise.all(this.collections.map((c) => c.start()));
    this.cache.setSynced();
  }

  async close(): Promise<void> {
    await Promise.all(this.collections.map((c) => c.stop()));
  }
}
