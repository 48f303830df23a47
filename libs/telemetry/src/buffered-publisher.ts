/**
 * A bounded, batching, never-blocking buffer between the request path and a slow consumer
 * (NATS for request records and spans, stdout for access logs). DESIGN §3: publishing never
 * blocks a request — when the consumer falls behind, items are dropped and counted instead.
 */

/** Timers the publisher uses; injected so tests control time. */
export interface PublisherTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: PublisherTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending flush must not keep a process alive; close() flushes explicitly.
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Where offered items wait until the sink takes them, in batches. The default keeps the items in
 * an array; a store may keep them in another form (RecordPublisher keeps each request record as
 * encoded bytes, so a waiting record is not an object graph the garbage collector copies and
 * traces until its batch is sent).
 */
export interface BatchStore<T, B> {
  /** Items waiting. */
  readonly size: number;
  /** push appends one item. */
  push(item: T): void;
  /** take removes the oldest `max` items (all of them when fewer wait; at least one) and returns them as one batch. */
  take(max: number): B;
}

/** ArrayStore keeps waiting items in an array; a batch is an array of items. */
class ArrayStore<T> implements BatchStore<T, T[]> {
  private buf: T[] = [];
  get size(): number {
    return this.buf.length;
  }
  push(item: T): void {
    this.buf.push(item);
  }
  take(max: number): T[] {
    if (this.buf.length <= max) {
      const all = this.buf;
      this.buf = [];
      return all;
    }
    return this.buf.splice(0, max);
  }
}

/** Options of BufferedPublisher. */
export interface BufferedPublisherOptions<T, B = T[]> {
  /** Receives each batch (and how many items it holds) in order; one call at a time. A rejection drops the batch (counted in `dropped` and `failed`). */
  readonly sink: (batch: B, count: number) => Promise<void>;
  /** Where items wait; default: an array, and a batch is an array of items. */
  readonly store?: BatchStore<T, B>;
  /** Most items waiting (not yet handed to the sink). Default 10,000. */
  readonly maxBuffered?: number;
  /** Most items per sink call; reaching it triggers a flush. Default 500. */
  readonly maxBatch?: number;
  /** Longest an item waits before a flush. Default 1,000 ms. */
  readonly flushIntervalMs?: number;
  /** Called with a sink's error (log it); the publisher keeps going. */
  readonly onError?: (err: unknown, batchSize: number) => void;
  readonly timers?: PublisherTimers;
}

/**
 * BufferedPublisher returns a buffer whose `offer` never waits: items are batched and handed to
 * the sink every `flushIntervalMs` or every `maxBatch` items, and dropped (counted in `dropped`)
 * when `maxBuffered` items are already waiting. `close()` flushes everything still buffered.
 */
export class BufferedPublisher<T, B = T[]> {
  private readonly store: BatchStore<T, B>;
  private timer: unknown = undefined;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  private readonly sink: (batch: B, count: number) => Promise<void>;
  private readonly maxBuffered: number;
  private readonly maxBatch: number;
  private readonly flushIntervalMs: number;
  private readonly onError?: (err: unknown, batchSize: number) => void;
  private readonly timers: PublisherTimers;

  /** Items dropped: buffer full, offered after close, or in a batch the sink rejected. */
  dropped = 0;
  /** Items in batches the sink rejected (also counted in `dropped`). */
  failed = 0;
  /** Items the sink accepted. */
  published = 0;

  constructor(opts: BufferedPublisherOptions<T, B>) {
    this.sink = opts.sink;
    // Without a store, B is T[] (the default type argument).
    this.store = opts.store ?? (new ArrayStore<T>() as unknown as BatchStore<T, B>);
    this.maxBuffered = opts.maxBuffered ?? 10_000;
    this.maxBatch = Math.max(1, opts.maxBatch ?? 500);
    this.flushIntervalMs = opts.flushIntervalMs ?? 1_000;
    this.onError = opts.onError;
    this.timers = opts.timers ?? realTimers;
  }

  /** Items waiting for the sink. */
  get buffered(): number {
    return this.store.size;
  }

  /** offer queues one item; returns false (and counts it) when it was dropped (buffer full, closed, or refused by the store). Never waits or throws. */
  offer(item: T): boolean {
    const store = this.store;
    if (this.closed || store.size >= this.maxBuffered) {
      this.dropped++;
      return false;
    }
    try {
      store.push(item);
    } catch (err) {
      // A store that encodes on push refused this item (malformed): dropped and counted, never thrown at the caller.
      this.dropped++;
      this.reportError(err, 1);
      return false;
    }
    if (store.size >= this.maxBatch) {
      if (!this.inFlight) this.kick();
    } else this.armTimer();
    return true;
  }

  /** flush hands everything buffered to the sink (in batches) and resolves when the sink has taken it. */
  async flush(): Promise<void> {
    this.cancelTimer();
    while (this.inFlight || this.store.size > 0) {
      if (!this.inFlight) this.kick();
      await this.inFlight;
    }
  }

  /** close stops accepting items and flushes the rest. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /** armTimer schedules a flush `flushIntervalMs` from now unless one is already scheduled. */
  private armTimer(): void {
    if (this.timer !== undefined) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (!this.inFlight) this.kick();
    }, this.flushIntervalMs);
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) {
      this.timers.clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** kick starts the drain loop: one sink call at a time, full batches back to back, a partial batch waits for the timer. */
  private kick(): void {
    this.cancelTimer();
    this.inFlight = this.drain().finally(() => {
      this.inFlight = undefined;
      // Items that arrived during the last sink call wait for the timer (or the next full batch).
      const waiting = this.store.size;
      if (waiting > 0 && !this.closed) {
        if (waiting >= this.maxBatch) this.kick();
        else this.armTimer();
      }
    });
  }

  private reportError(err: unknown, count: number): void {
    try {
      this.onError?.(err, count);
    } catch {
      // A failing error hook must not stop the drain loop or reach offer's caller.
    }
  }

  private async drain(): Promise<void> {
    // At least one batch (the timer fired or flush() asked), then keep going while batches are full.
    const store = this.store;
    do {
      const before = store.size;
      if (before === 0) return;
      const batch = store.take(this.maxBatch);
      const count = before - store.size;
      try {
        await this.sink(batch, count);
        this.published += count;
      } catch (err) {
        this.failed += count;
        this.dropped += count;
        this.reportError(err, count);
      }
    } while (store.size >= this.maxBatch || (this.closed && store.size > 0));
  }
}
