/**
 * A bound on the response bytes a server has handed to grpc-js and not yet seen flushed, across
 * all of its streams. grpc-js copies each message into a frame when it is written, and holds it
 * until the peer's HTTP/2 flow control lets it out: a thousand proxies connecting at once would
 * otherwise each hold a multi-megabyte initial response in memory at the same time. Writes past
 * the bound wait in one FIFO (so each stream keeps its order) holding only references to shared,
 * already-encoded bodies. A write the peer never drains gives its share back after
 * `stallMs`, so a stalled proxy slows the others down but cannot stop them.
 */
export class SendWindow {
  private inflight = 0;
  private readonly waiting: { bytes: number; write: (done: () => void) => void }[] = [];

  constructor(
    readonly limitBytes: number,
    private readonly stallMs = 2000,
  ) {}

  /** Bytes written and not yet flushed (for tests and metrics). */
  get bytesInFlight(): number {
    return this.inflight;
  }

  /** Writes waiting for room (for tests and metrics). */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * submit runs `write(done)` now, or once the bytes in flight leave room for `bytes` (a write
   * larger than the bound goes alone). `done` must be called when the write is flushed or moot.
   */
  submit(bytes: number, write: (done: () => void) => void): void {
    if (this.waiting.length === 0 && this.fits(bytes)) this.start(bytes, write);
    else this.waiting.push({ bytes, write });
  }

  private fits(bytes: number): boolean {
    return this.inflight === 0 || this.inflight + bytes <= this.limitBytes;
  }

  private start(bytes: number, write: (done: () => void) => void): void {
    this.inflight += bytes;
    let released = false;
    const timer = setTimeout(() => done(), this.stallMs);
    timer.unref();
    const done = (): void => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      this.inflight -= bytes;
      this.pump();
    };
    write(done);
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0].bytes)) {
      const next = this.waiting.shift() as { bytes: number; write: (done: () => void) => void };
      this.start(next.bytes, next.write);
    }
  }
}
