/**
 * Header operations (Envoy's request/response_headers_to_add and _to_remove). Levels are applied
 * from most to least specific — weighted cluster, route, virtual host, route configuration — so a
 * `set` at an outer level wins, Envoy's default (`most_specific_header_mutations_wins: false`).
 * Within one level: removals, then sets, then appends (Envoy's HeaderParser order).
 */
import type { HeaderOps, Headers } from '../model.js';

/** applyHeaderOps applies each level's operations in the order given. */
export function applyHeaderOps(headers: Headers, levels: readonly (HeaderOps | undefined)[]): void {
  for (const ops of levels) {
    if (!ops) continue;
    for (const name of ops.remove) headers.remove(name);
    for (const [name, value] of ops.set) headers.set(name, value);
    for (const [name, value] of ops.add) headers.add(name, value);
  }
}

/** Headers a proxy must never let configuration set (pseudo-headers and framing; Envoy refuses them too). */
export function isProtectedHeader(name: string): boolean {
  return name.startsWith(':') || name === 'host' || name === 'content-length' || name === 'transfer-encoding' || name === 'connection';
}
