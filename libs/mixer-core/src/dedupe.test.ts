import { describe, expect, it } from 'vitest';
import { SeqWindow } from './dedupe.js';

describe('SeqWindow', () => {
  it('recognises applied batches per sender, including out-of-order ones', () => {
    const w = new SeqWindow(100);
    for (const s of [1, 2, 4, 3]) w.mark('a', s);
    expect([1, 2, 3, 4, 5].map((s) => w.seen('a', s))).toEqual([true, true, true, true, false]);
    expect(w.seen('b', 1)).toBe(false);
  });

  it('treats seqs older than the window as applied and prunes them', () => {
    const w = new SeqWindow(10);
    for (let s = 1; s <= 100; s++) w.mark('a', s);
    expect(w.seen('a', 5)).toBe(true);
    expect(w.seen('a', 101)).toBe(false);
  });

  it('forgets the least recently seen sender beyond maxSenders', () => {
    const w = new SeqWindow(10, 2);
    w.mark('a', 1);
    w.mark('b', 1);
    w.mark('a', 2);
    w.mark('c', 1);
    expect([w.seen('a', 1), w.seen('b', 1), w.seen('c', 1), w.size]).toEqual([true, false, true, 2]);
  });

  it('round-trips through a snapshot of ranges', () => {
    const w = new SeqWindow(1000);
    for (const s of [1, 2, 3, 7, 8, 10]) w.mark('a', s);
    const snap = w.snapshot();
    expect(snap).toEqual({ a: [[1, 3], [7, 8], [10, 10]] });
    const r = new SeqWindow(1000);
    r.restore(JSON.parse(JSON.stringify(snap)));
    expect([1, 4, 7, 9, 10, 11].map((s) => r.seen('a', s))).toEqual([true, false, true, false, true, false]);
  });
});
