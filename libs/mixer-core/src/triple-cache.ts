/**
 * A value per (source peer, destination peer, destination service) of a record, by object
 * identity. Records decoded with a WireIntern share these objects for every request between the
 * same two workloads, so the label work (joining ~20 label values into a key) is done once per
 * triple instead of once per record. Weak keys: records whose peers are fresh objects (decoded
 * without interning, built by tests) only cost a miss each, and nothing is kept alive by it.
 * Peers and services are readonly: a cached value stays right as long as nobody mutates them.
 */
export class TripleCache<V> {
  private map = new WeakMap<object, WeakMap<object, WeakMap<object, V>>>();

  /** get returns the value of (a, b, c), made by `make` on the first call for that triple. */
  get(a: object, b: object, c: object, make: () => V): V {
    let byB = this.map.get(a);
    if (byB === undefined) this.map.set(a, (byB = new WeakMap()));
    let byC = byB.get(b);
    if (byC === undefined) byB.set(b, (byC = new WeakMap()));
    let v = byC.get(c);
    if (v === undefined) byC.set(c, (v = make()));
    return v;
  }

  /** clear forgets every value (the values they lead to were replaced, e.g. by a restore). */
  clear(): void {
    this.map = new WeakMap();
  }
}
