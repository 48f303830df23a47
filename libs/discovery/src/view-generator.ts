/**
 * Per-view generation (pilot stage 3 → xDS snapshots): proxies with the same proxy view
 * (translate's proxyView: type, namespace, labels, locality) get the same resources, so each
 * view is translated and snapshotted once per mesh snapshot and shared by its replicas. Each
 * view's last good xDS snapshot is the `previous` of its next one, so types whose resources did
 * not change keep their TypeSnapshot (and their encoded response bodies), and an unchanged view
 * keeps its Snapshot object: the push then skips its proxies altogether.
 */
import type { ProxyNode } from '@meshwork/api';
import { contentHash, generateAll, proxyView, type MeshSnapshot } from '@meshwork/translate';
import { buildSnapshot as buildXdsSnapshot, ResourceEncoder, type ResourceObject, type Snapshot } from '@meshwork/xds';

/** What one view gets from one mesh snapshot: the resources, and their snapshot or why none. */
export interface Generation {
  readonly resources: Record<string, ResourceObject[]>;
  readonly snapshot?: Snapshot;
  /** Encoding errors and dangling references: the proxy keeps its last good snapshot. */
  readonly errors?: string[];
}

const viewKeys = new WeakMap<ProxyNode, string>();

/** The content hash of a proxy's view: equal for proxies translation cannot tell apart. */
export function viewKey(proxy: ProxyNode): string {
  let k = viewKeys.get(proxy);
  if (k === undefined) viewKeys.set(proxy, (k = contentHash(proxyView(proxy))));
  return k;
}

/** ViewGenerator translates once per (mesh snapshot, view) and shares one ResourceEncoder. */
export class ViewGenerator {
  private readonly encoder = new ResourceEncoder();
  private mesh: MeshSnapshot | undefined;
  private generated = new Map<string, Generation>();
  /** Each view's last good snapshot, kept for the views generated from the current or the last mesh. */
  private lastGood = new Map<string, Snapshot>();
  /** Translations run (cache misses): identical proxies share one per mesh snapshot. */
  translations = 0;

  /**
   * generate returns `proxy`'s generation from `mesh`, translating only on the first call for its
   * view. `names`: resource names the proxy subscribed to by type (proxyless gRPC listeners), part
   * of the view.
   */
  generate(proxy: ProxyNode, mesh: MeshSnapshot, names?: Readonly<Record<string, readonly string[]>>): Generation {
    if (mesh !== this.mesh) {
      // Views nobody asked for under the last mesh are gone: forget their snapshots.
      const kept = new Map<string, Snapshot>();
      for (const k of this.generated.keys()) {
        const s = this.lastGood.get(k);
        if (s) kept.set(k, s);
      }
      if (this.mesh !== undefined) this.lastGood = kept;
      this.mesh = mesh;
      this.generated = new Map();
    }
    const view = names && Object.keys(names).length > 0 ? `${viewKey(proxy)}|${JSON.stringify(Object.entries(names).sort())}` : viewKey(proxy);
    let out = this.generated.get(view);
    if (!out) {
      this.translations++;
      const resources = generateAll(proxy, mesh, names as Parameters<typeof generateAll>[2]) as unknown as Record<string, ResourceObject[]>;
      const built = buildXdsSnapshot(resources, { encoder: this.encoder, previous: this.lastGood.get(view) });
      if (built.ok) this.lastGood.set(view, built.value);
      out = built.ok ? { resources, snapshot: built.value } : { resources, errors: built.errors };
      this.generated.set(view, out);
    }
    return out;
  }
}
