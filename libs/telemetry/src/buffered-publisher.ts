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

/** Options of BufferedPublisher. */
export interface BufferedPublisherOptions<T> {
  /** Receives each batch in order; one call at a time. A rejection drops the batch (counted in `dropped` and `failed`). */
  readonly sink: (batch: T[]) => Promise<void>;
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
export class BufferedPublisher<T> {
  private buf: T[] = [];
  private timer: unknown = undefined;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  private readonly sink: (batch: T[]) => Promise<void>;
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

  constructor(opts: BufferedPublisherOptions<T>) {
    this.sink = opts.sink;
    this.maxBuffered = opts.maxBuffered ?? 10_000;
    this.maxBatch = Math.max(1, opts.maxBatch ?? 500);
    this.flushIntervalMs = opts.flushIntervalMs ?? 1_000;
    this.onError = opts.onError;
    this.timers = opts.timers ?? realTimers;
  }

  /** Items waiting for the sink. */
  get buffered(): number {
    return this.buf.length;
  }

  /** offer queues one item; returns false (and counts it) when it was dropped. Never waits. */
  offer(item: T): boolean {
    if (this.closed || this.buf.length >= this.maxBuffered) {
      this.dropped++;
      return false;
    }
    this.buf.push(item);
    if (this.buf.length >= this.maxBatch) {
      if (!this.inFlight) this.kick();
    } else this.armTimer();
    return true;
  }

  /** flush hands everything buffered to the sink (in batches) and resolves when the sink has taken it. */
  async flush(): Promise<void> {
    this.cancelTimer();
    while (this.inFlight || this.buf.length > 0) {
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
      if (this.buf.length > 0 && !this.closed) {
        if (this.buf.length >= this.maxBatch) this.kick();
        else this.armTimer();
      }
    });
  }

  private async drain(): Promise<void> {
    // At least one batch (the timer fired or flush() asked), then keep going while batches are full.
    do {
      const batch = this.take();
      if (batch.length === 0) return;
      try {
        await this.sink(batch);
        this.published += batch.length;
      } catch (err) {
        this.failed += batch.length;
        this.dropped += batch.length;
        try {
          this.onError?.(err, batch.length);
        } catch {
          // A failing error hook must not stop the drain loop.
        }
      }
    } while (this.buf.length >= this.maxBatch || (this.closed && this.buf.length > 0));
  }

  private take(): T[] {
    if (this.buf.length <= this.maxBatch) {
      const all = this.buf;
      this.buf = [];
      return all;
    }
    return this.buf.splice(0, this.maxBatch);
  }
}
