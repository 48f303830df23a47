/**
 * Several config sources seen as one (directory + NATS KV + Kubernetes): pilot's snapshot
 * and the ServiceEntry registry read this. When two sources hold the same resource, the
 * first source listed wins, so precedence is explicit in wiring.
 */
import type { MeshResource } from '@meshwork/api';
import { keyOf, keyString, type ConfigEvent, type ConfigSource, type ListFilter, type RejectedInput, type ResourceKey, type Unsubscribe } from '@meshwork/registry';

/** MergedConfigSource is a read-only ConfigSource over `sources` (first wins). */
export class MergedConfigSource implements ConfigSource {
  readonly name = 'merged';
  constructor(private readonly sources: readonly ConfigSource[]) {}

  async ready(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.ready()));
  }
  list(filter?: ListFilter): MeshResource[] {
    const seen = new Set<string>();
    const out: MeshResource[] = [];
    for (const s of this.sources) {
      for (const r of s.list(filter)) {
        const k = keyString(keyOf(r));
        if (seen.has(k)) continue;
        seen.add(k);
        out.push(r);
      }
    }
    return out;
  }
  get(key: ResourceKey): MeshResource | undefined {
    for (const s of this.sources) {
      const r = s.get(key);
      if (r) return r;
    }
    return undefined;
  }
  watch(handler: (event: ConfigEvent) => void): Unsubscribe {
    const stops = this.sources.map((s) => s.watch(handler));
    return () => stops.forEach((f) => f());
  }
  rejected(): RejectedInput[] {
    return this.sources.flatMap((s) => s.rejected());
  }
  get rejectedTotal(): number {
    return this.sources.reduce((n, s) => n + s.rejectedTotal, 0);
  }
  async close(): Promise<void> {
    // the member sources are owned (and closed) by whoever created them
  }
}
