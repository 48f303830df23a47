import { describe, expect, test, vi } from 'vitest';
import { SendWindow } from './send-window.js';

describe('SendWindow', () => {
  test('holds writes past the bound, in order, and lets them out as earlier ones flush', () => {
    const w = new SendWindow(100);
    const started: string[] = [];
    const done = new Map<string, () => void>();
    const write = (name: string) => (d: () => void) => {
      started.push(name);
      done.set(name, d);
    };
    w.submit(60, write('a'));
    w.submit(60, write('b'));
    w.submit(10, write('c')); // would fit, but waits behind b: one FIFO keeps every stream's order
    expect(started).toEqual(['a']);
    expect(w.queued).toBe(2);
    done.get('a')?.();
    expect(started).toEqual(['a', 'b', 'c']);
    expect(w.bytesInFlight).toBe(70);
    done.get('b')?.();
    done.get('b')?.(); // twice is once
    expect(w.bytesInFlight).toBe(10);
  });

  test('a write larger than the bound goes alone', () => {
    const w = new SendWindow(10);
    const started: number[] = [];
    w.submit(50, () => started.push(50));
    w.submit(1, () => started.push(1));
    expect(started).toEqual([50]);
  });

  test('a write that never flushes gives its share back after the stall timeout', () => {
    vi.useFakeTimers();
    try {
      const w = new SendWindow(10, 500);
      const started: string[] = [];
      w.submit(10, () => started.push('stalled'));
      w.submit(10, () => started.push('next'));
      expect(started).toEqual(['stalled']);
      vi.advanceTimersByTime(500);
      expect(started).toEqual(['stalled', 'next']);
    } finally {
      vi.useRealTimers();
    }
  });
});
