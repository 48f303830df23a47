import { describe, expect, it } from 'vitest';
import { EdfScheduler } from './edf.js';

describe('EdfScheduler', () => {
  it('ties go to the entry added first, so 1:1 alternates', () => {
    const s = new EdfScheduler([{ item: 'a', weight: 1 }, { item: 'b', weight: 1 }]);
    expect(Array.from({ length: 4 }, () => s.pick())).toEqual(['a', 'b', 'a', 'b']);
  });

  it('2:1 is a a b each period; zero weights are left out', () => {
    const s = new EdfScheduler([{ item: 'a', weight: 2 }, { item: 'b', weight: 1 }, { item: 'z', weight: 0 }]);
    expect(s.size).toBe(2);
    expect(Array.from({ length: 6 }, () => s.pick()).join('')).toBe('abaaba');
  });

  it('fixed weights stay exact over long runs (deadline = picks / weight, no summed drift)', () => {
    const s = new EdfScheduler([{ item: 'a', weight: 0.7 }, { item: 'b', weight: 0.3 }]);
    let a = 0;
    for (let i = 0; i < 100_000; i++) if (s.pick() === 'a') a++;
    expect(a).toBe(70_000);
  });

  it('dynamic weights are re-read at each turn', () => {
    let wa = 1;
    const s = new EdfScheduler([{ item: 'a', weight: 1 }, { item: 'b', weight: 1 }], (x) => (x === 'a' ? wa : 1));
    wa = 1e-9;
    s.pick(); // a goes, rescheduled far away
    expect(Array.from({ length: 5 }, () => s.pick())).toEqual(['b', 'b', 'b', 'b', 'b']);
    expect(new EdfScheduler([]).pick()).toBeUndefined();
  });
});
