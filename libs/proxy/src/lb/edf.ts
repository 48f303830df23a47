/**
 * Earliest-deadline-first scheduler, as Envoy's EdfScheduler: each entry is due every 1/weight;
 * a pick takes the entry with the earliest deadline (ties: the one added first) and schedules it
 * again. Over any window an entry is picked in proportion to its weight, interleaved smoothly.
 */

interface Slot<T> {
  readonly item: T;
  weight: number;
  /** Times scheduled; with a fixed weight the deadline is exactly picks / weight (no drift from summing 1/w). */
  picks: number;
  deadline: number;
  order: number;
}

export class EdfScheduler<T> {
  private readonly heap: Slot<T>[] = [];
  private order = 0;

  /**
   * @param weightOf when given, an entry's weight is re-read at each pick (Envoy's weighted least
   * request: weight / (active requests + 1)); otherwise weights are fixed.
   */
  constructor(
    entries: readonly { readonly item: T; readonly weight: number }[],
    private readonly weightOf?: (item: T) => number,
  ) {
    for (const e of entries) {
      if (!(e.weight > 0)) continue;
      this.push({ item: e.item, weight: e.weight, picks: 1, deadline: 1 / e.weight, order: this.order++ });
    }
  }

  get size(): number {
    return this.heap.length;
  }

  /** pick returns the entry due first and schedules its next turn, or undefined when empty. */
  pick(): T | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    if (this.weightOf) {
      const w = this.weightOf(top.item);
      top.deadline += 1 / (w > 0 ? w : Number.MIN_VALUE);
    } else {
      top.picks++;
      top.deadline = top.picks / top.weight;
    }
    top.order = this.order++;
    this.siftDown(0);
    return top.item;
  }

  private less(a: Slot<T>, b: Slot<T>): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.order < b.order);
  }

  private push(s: Slot<T>): void {
    const heap = this.heap;
    heap.push(s);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && this.less(heap[l], heap[m])) m = l;
      if (r < heap.length && this.less(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }
}
