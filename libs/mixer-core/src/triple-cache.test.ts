import { describe, expect, it } from 'vitest';
import { TripleCache } from './triple-cache.js';

describe('TripleCache', () => {
  it('makes one value per (a, b, c) by identity, and forgets them all on clear', () => {
    const c = new TripleCache<{ n: number }>();
    const [a, b, x, y] = [{}, {}, {}, {}];
    let made = 0;
    const make = () => ({ n: ++made });
    const v = c.get(a, b, x, make);
    expect(c.get(a, b, x, make)).toBe(v);
    expect(c.get(a, b, y, make)).not.toBe(v);
    expect(c.get(b, a, x, make)).not.toBe(v);
    // equal content, another object: another value
    expect(c.get({}, b, x, make)).not.toBe(v);
    expect(made).toBe(4);
    c.clear();
    expect(c.get(a, b, x, make).n).toBe(5);
  });
});
