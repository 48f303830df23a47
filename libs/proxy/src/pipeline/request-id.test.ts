import { describe, expect, it } from 'vitest';
import { requestId } from './request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('requestId', () => {
  it('returns UUID v4-format ids, all distinct across several blocks', () => {
    const seen = new Set<string>();
    const n = 3 * 65536 + 17;
    for (let i = 0; i < n; i++) {
      const id = requestId();
      if (i % 997 === 0) expect(id).toMatch(UUID_V4);
      seen.add(id);
    }
    expect(seen.size).toBe(n);
  });

  it('draws new random bits for each block (ids of different blocks differ before the counter)', () => {
    const prefixes = new Set<string>();
    for (let i = 0; i < 2 * 65536 + 1; i++) prefixes.add(requestId().slice(0, 32));
    expect(prefixes.size).toBeGreaterThanOrEqual(2);
  });
});
