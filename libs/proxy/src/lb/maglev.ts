/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016) as Envoy builds it: each host walks its
 * own permutation of the table (offset and skip from two seeded hashes of `address:port`) and
 * claims the next free slot on its turns; weighted hosts take turns in proportion to their
 * normalized weight. A lookup is one table read.
 */
import type { Endpoint } from '../model.js';
import { hashString, hostHashKey } from './hash.js';
import type { NormalizedHost } from './ring-hash.js';

/** Envoy's default maglev table size (prime). */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** maglevTableSize returns `size` when prime, else the next prime (a composite size could make a permutation cycle without finding a free slot; config compilation rejects it, this is the guard). */
export function maglevTableSize(size: number): number {
  let n = Math.max(2, Math.floor(size) || DEFAULT_MAGLEV_TABLE_SIZE);
  while (!isPrime(n)) n++;
  return n;
}

/** buildMaglevTable returns the lookup table: slot → host (empty when there are no hosts). */
export function buildMaglevTable(hosts: readonly NormalizedHost[], tableSize: number): Endpoint[] {
  const m = maglevTableSize(tableSize);
  const live = hosts.filter((h) => h.weight > 0);
  if (live.length === 0) return [];
  let maxWeight = 0;
  for (const h of live) maxWeight = Math.max(maxWeight, h.weight);
  const entries = live.map((h) => {
    const key = hostHashKey(h.host);
    return { host: h.host, weight: h.weight, offset: hashString(key, 0) % m, skip: (hashString(key, 1) % (m - 1)) + 1, next: 0, target: 0 };
  });
  const table = new Array<Endpoint | undefined>(m);
  let filled = 0;
  for (let iteration = 1; filled < m; iteration++) {
    for (let i = 0; i < entries.length && filled < m; i++) {
      const e = entries[i];
      // A host of max weight takes a slot every iteration; one of a third of it every third.
      if (iteration * e.weight < e.target) continue;
      e.target += maxWeight;
      let c = (e.offset + e.skip * e.next) % m;
      while (table[c] !== undefined) {
        e.next++;
        c = (e.offset + e.skip * e.next) % m;
      }
      table[c] = e.host;
      e.next++;
      filled++;
    }
  }
  return table as Endpoint[];
}
