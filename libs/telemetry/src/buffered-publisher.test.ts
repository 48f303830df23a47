import { describe, expect, it } from 'vitest';
import { BufferedPublisher, type BatchStore, type PublisherTimers } from './buffered-publisher.js';

/** Manual timers: `fire()` runs what is due. */
function manualTimers(): PublisherTimers & { pending(): number; fire(): void } {
  let next = 1;
  const due = new Map<number, () => void>();
  return {
    setTimeout: (fn) => {
      const id = next++;
      due.set(id, fn);
      return id;
    },
    clearTimeout: (h) => void due.delete(h as number),
    pending: () => due.size,
    fire: () => {
      const fns = [...due.values()];
      due.clear();
      for (const f of fns) f();
    },
  };
}

/** A sink that resolves only when the test says so. */
function gatedSink<T>() {
  const batches: T[][] = [];
  const gates: (() => void)[] = [];
  const sink = (b: T[]) => {
    batches.push(b);
    return new Promise<void>((resolve) => gates.push(resolve));
  };
  return { sink, batches, open: () => gates.splice(0).forEach((g) => g()) };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('BufferedPublisher', () => {
  it('flushes on the timer, batching what arrived', async () => {
    const timers = manualTimers();
    const batches: number[][] = [];
    const p = new BufferedPublisher<number>({ sink: async (b) => void batches.push(b), maxBatch: 10, timers });
    p.offer(1);
    p.offer(2);
    expect(timers.pending()).toBe(1);
    expect(batches).toEqual([]);
    timers.fire();
    await tick();
    expect(batches).toEqual([[1, 2]]);
    expect(p.published).toBe(2);
    expect(timers.pending()).toBe(0);
  });

  it('flushes as soon as a batch is full, without waiting for the timer', async () => {
    const timers = manualTimers();
    const batches: number[][] = [];
    const p = new BufferedPublisher<number>({ sink: async (b) => void batches.push(b), maxBatch: 3, timers });
    for (let i = 0; i < 7; i++) p.offer(i);
    await tick();
    expect(batches).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(p.buffered).toBe(1);
    timers.fire();
    await tick();
    expect(batches.at(-1)).toEqual([6]);
  });

  it('never waits on a slow sink: drops and counts beyond maxBuffered', async () => {
    const timers = manualTimers();
    const g = gatedSink<number>();
    const p = new BufferedPublisher<number>({ sink: g.sink, maxBatch: 2, maxBuffered: 4, timers });
    const accepted = [];
    for (let i = 0; i < 10; i++) accepted.push(p.offer(i));
    // 0,1 went to the (stuck) sink; 2..5 wait in the buffer; 6..9 dropped.
    await tick();
    expect(g.batches).toEqual([[0, 1]]);
    expect(accepted).toEqual([true, true, true, true, true, true, false, false, false, false]);
    expect(p.dropped).toBe(4);
    g.open();
    await tick();
    // The drain loop continues with full batches, one sink call at a time.
    expect(g.batches).toEqual([[0, 1], [2, 3]]);
    g.open();
    await tick();
    g.open();
    await tick();
    expect(g.batches).toEqual([[0, 1], [2, 3], [4, 5]]);
    expect(p.published).toBe(6);
    expect(p.dropped).toBe(4);
  });

  it('counts a rejected batch as dropped and failed, reports it, and keeps going', async () => {
    const errors: unknown[] = [];
    let fail = true;
    const got: number[][] = [];
    const p = new BufferedPublisher<number>({
      sink: async (b) => {
        if (fail) throw new Error('nats down');
        got.push(b);
      },
      maxBatch: 2,
      onError: (e) => errors.push(e),
      timers: manualTimers(),
    });
    p.offer(1);
    p.offer(2);
    await tick();
    expect(p.failed).toBe(2);
    expect(p.dropped).toBe(2);
    expect(errors).toHaveLength(1);
    fail = false;
    p.offer(3);
    await p.flush();
    expect(got).toEqual([[3]]);
    expect(p.published).toBe(1);
  });

  it('close() flushes everything in order and refuses later items', async () => {
    const timers = manualTimers();
    const got: number[] = [];
    const p = new BufferedPublisher<number>({ sink: async (b) => void got.push(...b), maxBatch: 4, maxBuffered: 100, timers });
    for (let i = 0; i < 10; i++) p.offer(i);
    await p.close();
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(timers.pending()).toBe(0);
    expect(p.offer(10)).toBe(false);
    expect(p.dropped).toBe(1);
  });

  it('close() waits for the batch in flight', async () => {
    const g = gatedSink<number>();
    const p = new BufferedPublisher<number>({ sink: g.sink, maxBatch: 1, timers: manualTimers() });
    p.offer(1);
    p.offer(2);
    let closed = false;
    const c = p.close().then(() => (closed = true));
    await tick();
    expect(closed).toBe(false);
    g.open();
    await tick();
    g.open();
    await c;
    expect(g.batches).toEqual([[1], [2]]);
  });

  it('keeps items in a given store: batches are what it takes, counted by how many it gave up', async () => {
    // A store that keeps items as one text (as RecordPublisher keeps encoded records), a batch being the oldest ones joined.
    const store: BatchStore<string, string> & { pushed: number } = {
      parts: [] as string[],
      pushed: 0,
      get size() {
        return this.parts.length;
      },
      push(item: string) {
        this.pushed++;
        this.parts.push(item.toUpperCase());
      },
      take(max: number) {
        return this.parts.splice(0, max).join('+');
      },
    } as BatchStore<string, string> & { pushed: number; parts: string[] };
    const got: [string, number][] = [];
    const p = new BufferedPublisher<string, string>({ store, sink: async (b, n) => void got.push([b, n]), maxBatch: 2, maxBuffered: 3, timers: manualTimers() });
    expect(['a', 'b', 'c'].map((x) => p.offer(x))).toEqual([true, true, true]);
    await tick();
    expect(got).toEqual([['A+B', 2]]);
    expect(p.buffered).toBe(1);
    await p.close();
    expect(got).toEqual([['A+B', 2], ['C', 1]]);
    expect(p.published).toBe(3);
    expect(store.pushed).toBe(3);
  });

  it('counts an item the store refuses as dropped instead of throwing at the caller', async () => {
    const errors: unknown[] = [];
    const items: number[] = [];
    const store: BatchStore<number, number[]> = {
      get size() {
        return items.length;
      },
      push(item: number) {
        if (item < 0) throw new TypeError('cannot encode');
        items.push(item);
      },
      take: (max: number) => items.splice(0, max),
    };
    const got: number[][] = [];
    const p = new BufferedPublisher<number, number[]>({ store, sink: async (b) => void got.push(b), onError: (e) => errors.push(e), timers: manualTimers() });
    expect([p.offer(1), p.offer(-1), p.offer(2)]).toEqual([true, false, true]);
    expect(p.dropped).toBe(1);
    expect(errors).toHaveLength(1);
    await p.close();
    expect(got).toEqual([[1, 2]]);
  });

  it('uses real timers by default', async () => {
    const got: number[][] = [];
    const p = new BufferedPublisher<number>({ sink: async (b) => void got.push(b), flushIntervalMs: 5 });
    p.offer(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(got).toEqual([[1]]);
  });
});
