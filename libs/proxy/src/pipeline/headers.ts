/**
 * Header operations across levels (Envoy's request/response_headers_to_add and _to_remove).
 * Levels are applied from most to least specific — weighted cluster, route, virtual host, route
 * configuration — so a `set` at an outer level wins, Envoy's default
 * (`most_specific_header_mutations_wins: false`). One level's operations (removals, then sets,
 * then appends, then the append actions) are config/routes.ts's applyHeaderOps.
 */
import { applyHeaderOps } from '../config/routes.js';
import type { HeaderOps, Headers } from '../model.js';

/** applyHeaderLevels applies each level's operations in the order given. */
export function applyHeaderLevels(headers: Headers, levels: readonly (HeaderOps | undefined)[]): void {
  for (const ops of levels) if (ops) applyHeaderOps(headers, ops);
}
