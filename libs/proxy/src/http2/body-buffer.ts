/**
 * A downstream request body on its way upstream, kept for replay while it fits the retry buffer
 * (Envoy buffers a request for retries up to a limit and stops retrying once it outgrows it).
 * The current attempt's sink receives chunks as they arrive; a retry attaches a new sink, which
 * first gets everything buffered. Backpressure from the sink pauses the downstream.
 */

/** Where an attempt writes the body: returns false when it wants the downstream paused. */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(): void;
  /** Called when the sink is ready for more after returning false. */
  onDrain(fn: () => void): void;
}

export class BodyBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private overflowed = false;
  private sink: BodySink | undefined;
  private attached = false;
  /** Bytes received from downstream. */
  received = 0;

  constructor(
    private readonly limit: number,
    private readonly flow: { pause(): void; resume(): void },
  ) {}

  /** replayable is true while everything received so far is still held. */
  get replayable(): boolean {
    return !this.overflowed;
  }

  /** complete is true once the downstream body has ended. */
  get complete(): boolean {
    return this.ended;
  }

  /** The whole body, when complete and held (for mirrors). */
  body(): Buffer | undefined {
    return this.ended && !this.overflowed ? Buffer.concat(this.chunks, this.size) : undefined;
  }

  push(chunk: Buffer): void {
    this.received += chunk.length;
    // Until the first attempt attaches, keep everything: nothing may be lost before it starts.
    if (!this.overflowed || !this.attached) {
      this.chunks.push(chunk);
      this.size += chunk.length;
      if (this.size > this.limit) this.overflowed = true;
    }
    if (this.sink && !this.sink.write(chunk)) this.pauseFor(this.sink);
  }

  end(): void {
    this.ended = true;
    this.sink?.end();
  }

  /** attach makes `sink` the current attempt's: it gets what is held, then what arrives. Returns false if the body cannot be replayed to it. */
  attach(sink: BodySink): boolean {
    if (this.attached && this.overflowed) return false;
    this.sink = sink;
    this.attached = true;
    let ok = true;
    for (const c of this.chunks) ok = sink.write(c) && ok;
    if (this.overflowed) {
      // Held only for this first attempt; from now on chunks just pass through.
      this.chunks = [];
      this.size = 0;
    }
    if (this.ended) sink.end();
    else if (!ok) this.pauseFor(sink);
    return true;
  }

  /** detach stops feeding the current sink (its attempt failed or was abandoned). */
  detach(): void {
    this.sink = undefined;
    this.flow.resume();
  }

  private pauseFor(sink: BodySink): void {
    this.flow.pause();
    sink.onDrain(() => {
      if (this.sink === sink) this.flow.resume();
    });
  }
}
