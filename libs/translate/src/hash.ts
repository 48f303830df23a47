/** Content hashes of plain values: the basis of snapshot versions, cache keys and translation memo keys. */
import { createHash } from 'node:crypto';

/** A stable JSON rendering (sorted keys) used for content hashes. */
export function stableJson(v: unknown): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
}

/** sha256 of the stable JSON of a value, hex, first 16 bytes. */
export function contentHash(v: unknown): string {
  return createHash('sha256').update(stableJson(v)).digest('hex').slice(0, 32);
}
