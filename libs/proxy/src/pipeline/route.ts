/**
 * The route stage: route table → virtual host by authority → the first route whose match holds
 * (Envoy evaluates routes in order). Redirects and direct responses are answered here; no virtual
 * host or no route is a local 404 with response flag NR, as Envoy answers.
 */
import type { CompiledRoute, CompiledVirtualHost, RequestHead, RouteTable } from '../model.js';

/** The route stage's outcome. */
export type RouteOutcome =
  | { readonly kind: 'matched'; readonly vhost: CompiledVirtualHost; readonly route: CompiledRoute; readonly matchedPrefix: string }
  | { readonly kind: 'no-route'; readonly vhost?: CompiledVirtualHost };

/** matchRoute returns the virtual host and route a request takes, or no-route (NR). */
export function matchRoute(table: RouteTable, req: RequestHead): RouteOutcome {
  const vhost = table.virtualHost(req.authority);
  if (!vhost) return { kind: 'no-route' };
  for (const route of vhost.routes) {
    const prefix = route.match(req);
    if (prefix !== undefined) return { kind: 'matched', vhost, route, matchedPrefix: prefix };
  }
  return { kind: 'no-route', vhost };
}
