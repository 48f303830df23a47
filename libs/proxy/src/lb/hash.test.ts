import { describe, expect, it } from 'vitest';
import { hashString, hostHashKey, xxhash32 } from './hash.js';

describe('xxhash32', () => {
  // Reference vectors of the xxHash specification's XXH32.
  it.each([
    ['', 0, 0x02cc5d05],
    ['a', 0, 0x550d7456],
    ['abc', 0, 0x32d153ff],
    ['Nobody inspects the spammish repetition', 0, 0xe2293b2f],
  ])('hashString(%j, %d)', (s, seed, want) => {
    expect(hashString(s, seed)).toBe(want);
  });

  it('hashes the UTF-8 bytes of a string', () => {
    const s = 'café-☃-𝄞';
    expect(hashString(s)).toBe(xxhash32(new TextEncoder().encode(s)));
  });

  it('seeds change the hash; long strings grow the scratch buffer', () => {
    expect(hashString('10.0.0.1:80', 1)).not.toBe(hashString('10.0.0.1:80', 0));
    const long = 'x'.repeat(5000);
    expect(hashString(long)).toBe(xxhash32(new TextEncoder().encode(long)));
    expect(hashString('abc')).toBe(0x32d153ff);
  });

  it('host keys are address:port, IPv6 bracketed', () => {
    expect(hostHashKey({ address: '10.0.0.1', port: 80, weight: 1, healthy: true })).toBe('10.0.0.1:80');
    expect(hostHashKey({ address: '::1', port: 80, weight: 1, healthy: true })).toBe('[::1]:80');
  });
});
