import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../model.js';
import { buildMaglevTable, maglevTableSize } from './maglev.js';
import { buildRing, ringIndex } from './ring-hash.js';

const ep = (n: number): Endpoint => ({ address: `10.0.0.${n}`, port: 80, weight: 1, healthy: true });
const norm = (weights: number[]) => {
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w, i) => ({ host: ep(i + 1), weight: w / sum }));
};
const share = (hosts: readonly Endpoint[], h: Endpoint) => hosts.filter((x) => x === h).length / hosts.length;

describe('buildRing (Envoy ring sizing)', () => {
  it.each([
    { name: '3 equal hosts, min 1024: ⌈1024/3⌉ entries each', weights: [1, 1, 1], min: 1024, max: 8_388_608, size: 1026 },
    { name: 'capped by the maximum ring size', weights: [1, 1, 1], min: 1024, max: 500, size: 500 },
    { name: 'weights 3:1, min 1024: the light host gets ⌈0.25 × 1024⌉ = 256', weights: [3, 1], min: 1024, max: 8_388_608, size: 1024 },
    { name: 'no hosts: empty', weights: [], min: 1024, max: 8_388_608, size: 0 },
  ])('$name', ({ weights, min, max, size }) => {
    const ring = buildRing(norm(weights), min, max);
    expect(ring.hashes.length).toBe(size);
    for (let i = 1; i < ring.hashes.length; i++) expect(ring.hashes[i]).toBeGreaterThanOrEqual(ring.hashes[i - 1]);
  });

  it('entries follow weights', () => {
    const hosts = norm([3, 1]);
    const ring = buildRing(hosts, 1024, 8_388_608);
    expect(share(ring.hosts, hosts[0].host)).toBe(0.75);
  });

  it('ringIndex: first entry at or after the hash, wrapping past the last', () => {
    const ring = buildRing(norm([1, 1]), 8, 8);
    const hs = ring.hashes;
    expect(ringIndex(ring, 0)).toBe(0);
    expect(ringIndex(ring, hs[3])).toBe(3);
    expect(ringIndex(ring, hs[3] + 1)).toBe(4);
    expect(ringIndex(ring, hs[hs.length - 1] + 1)).toBe(0);
    expect(ringIndex(buildRing([], 8, 8), 5)).toBe(-1);
  });
});

describe('buildMaglevTable', () => {
  it('fills every slot; equal hosts share the table within 1%', () => {
    const hosts = norm([1, 1, 1, 1, 1]);
    const table = buildMaglevTable(hosts, 65537);
    expect(table.length).toBe(65537);
    expect(table.every(Boolean)).toBe(true);
    for (const h of hosts) expect(Math.abs(share(table, h.host) - 0.2)).toBeLessThan(0.01);
  });

  it('weights 3:1 give slots 3:1 within 1%', () => {
    const hosts = norm([3, 1]);
    const table = buildMaglevTable(hosts, 65537);
    expect(Math.abs(share(table, hosts[0].host) - 0.75)).toBeLessThan(0.01);
  });

  it('table sizes are prime (a composite size is raised to the next prime)', () => {
    expect(maglevTableSize(65537)).toBe(65537);
    expect(maglevTableSize(100)).toBe(101);
    expect(maglevTableSize(0)).toBe(65537);
    expect(buildMaglevTable(norm([1, 1]), 100).length).toBe(101);
  });

  it('removing one of 10 hosts moves its slots and about no others', () => {
    const hosts = norm(Array(10).fill(1));
    const before = buildMaglevTable(hosts, 65537);
    const after = buildMaglevTable(
      hosts.filter((_, i) => i !== 4).map((h) => ({ ...h, weight: 1 / 9 })),
      65537,
    );
    let others = 0;
    before.forEach((h, i) => {
      if (h !== hosts[4].host && after[i] !== h) others++;
    });
    expect(others / before.length).toBeLessThan(0.01);
  });
});
