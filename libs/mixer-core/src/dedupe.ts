/**
 * Which (sender, seq) batches this replica has applied, so a JetStream redelivery (ack lost,
 * ack timeout, replica crash between checkpoint and ack) is not counted twice. Per sender it
 * keeps the seqs of the last `window` numbers; older ones are assumed applied (a redelivery
 * older than the window would be counted again: the window is sized to cover the ack wait).
 * Bounded: at most `maxSenders` senders, the least recently seen forgotten first.
 */

interface SenderWindow {
  /** Highest seq applied. */
  hi: number;
  /** Seqs applied in (hi - window, hi]. */
  seen: Set<number>;
}

/** The JSON form: per sender, the applied seqs as [from, to] ranges. */
export type DedupeSnapshot = Record<string, [number, number][]>;

/** SeqWindow returns the applied-batch memory used by ingestion. */
export class SeqWindow {
  private readonly senders = new Map<string, SenderWindow>();

  constructor(
    private readonly window = 65_536,
    private readonly maxSenders = 100_000,
  ) {}

  /** seen reports whether (sender, seq) was applied already (or is older than the window). */
  seen(sender: string, seq: number): boolean {
    const w = this.senders.get(sender);
    if (!w) return false;
    if (seq <= w.hi - this.window) return true;
    return w.seen.has(seq);
  }

  /** mark records (sender, seq) as applied. */
  mark(sender: string, seq: number): void {
    let w = this.senders.get(sender);
    if (w) this.senders.delete(sender); // re-inserted below: Map order is least recently seen first
    else {
      w = { hi: 0, seen: new Set() };
      if (this.senders.size >= this.maxSenders) this.senders.delete(this.senders.keys().next().value as string);
    }
    this.senders.set(sender, w);
    w.seen.add(seq);
    if (seq > w.hi) {
      w.hi = seq;
      // Prune lazily: only when the set has grown well past the window.
      if (w.seen.size > 2 * this.window) for (const s of w.seen) if (s <= w.hi - this.window) w.seen.delete(s);
    }
  }

  /** Number of senders remembered. */
  get size(): number {
    return this.senders.size;
  }

  /** snapshot returns the applied seqs as ranges (a sender's mostly contiguous seqs make few ranges). */
  snapshot(): DedupeSnapshot {
    const out: DedupeSnapshot = {};
    for (const [sender, w] of this.senders) {
      const seqs = [...w.seen].filter((s) => s > w.hi - this.window).sort((a, b) => a - b);
      const ranges: [number, number][] = [];
      for (const s of seqs) {
        const last = ranges[ranges.length - 1];
        if (last && last[1] === s - 1) last[1] = s;
        else ranges.push([s, s]);
      }
      out[sender] = ranges;
    }
    return out;
  }

  /** restore replaces the state with a snapshot's. */
  restore(snap: DedupeSnapshot): void {
    this.senders.clear();
    for (const [sender, ranges] of Object.entries(snap)) {
      const w: SenderWindow = { hi: 0, seen: new Set() };
      for (const [a, b] of ranges) for (let s = a; s <= b; s++) w.seen.add(s);
      w.hi = ranges.length ? ranges[ranges.length - 1][1] : 0;
      this.senders.set(sender, w);
    }
  }
}
