/**
 * Envoy's ring hash (ketama): each host gets entries on a ring of 32-bit hashes of
 * `address:port_i`, in proportion to its normalized weight; a request goes to the first entry at
 * or after its hash, wrapping around. Removing a host only moves the keys it owned, plus the few
 * that the remaining hosts' extra entries take when the ring is re-scaled to its minimum size.
 */
import type { Endpoint } from '../model.js';
import { hashString, hostHashKey } from './hash.js';

/** A host with its weight normalized over the set (weights sum to 1). */
export interface NormalizedHost {
  readonly host: Endpoint;
  readonly weight: number;
}

export interface Ring {
  readonly hashes: Uint32Array;
  readonly hosts: readonly Endpoint[];
}

/**
 * buildRing returns the ring for normalized hosts: its size is the smallest that gives the
 * lightest host ⌈min weight × minimumRingSize⌉ entries, capped at maximumRingSize (Envoy), and
 * fractional entry counts are carried across hosts as running sums.
 */
export function buildRing(hosts: readonly NormalizedHost[], minimumRingSize: number, maximumRingSize: number): Ring {
  if (hosts.length === 0) return { hashes: new Uint32Array(0), hosts: [] };
  let minWeight = 1;
  for (const h of hosts) if (h.weight > 0 && h.weight < minWeight) minWeight = h.weight;
  const scale = Math.min(Math.ceil(minWeight * minimumRingSize) / minWeight, maximumRingSize);
  const entries: { hash: number; host: Endpoint }[] = [];
  let current = 0;
  let target = 0;
  for (const { host, weight } of hosts) {
    target += scale * weight;
    const key = hostHashKey(host);
    for (let i = 0; current < target; i++, current++) entries.push({ hash: hashString(`${key}_${i}`), host });
  }
  entries.sort((a, b) => a.hash - b.hash);
  return { hashes: Uint32Array.from(entries, (e) => e.hash), hosts: entries.map((e) => e.host) };
}

/** ringIndex returns the index of the first entry whose hash is ≥ `hash` (wrapping to 0), by binary search; -1 on an empty ring. */
export function ringIndex(ring: Ring, hash: number): number {
  const hashes = ring.hashes;
  if (hashes.length === 0) return -1;
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (hashes[mid] < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === hashes.length ? 0 : lo;
}
