/**
 * The CORS stage (Envoy's envoy.filters.http.cors with the route's, else the virtual host's,
 * policy). A preflight — OPTIONS with Origin and Access-Control-Request-Method — from an allowed
 * origin is answered by the proxy; an actual request from an allowed origin gets the
 * allow-origin/credentials/expose headers on its response. A disallowed origin gets no CORS
 * headers and the request goes on unchanged (the browser then refuses it), as Envoy does.
 */
import type { CorsPolicy, RequestHead } from '../model.js';

/** What CORS decided for a request. */
export type CorsOutcome =
  | { readonly kind: 'none' }
  /** Answer the preflight locally with these headers (status 200). */
  | { readonly kind: 'preflight'; readonly headers: readonly (readonly [string, string])[] }
  /** Forward, and add these headers to the response. */
  | { readonly kind: 'actual'; readonly responseHeaders: readonly (readonly [string, string])[] };

const NONE: CorsOutcome = { kind: 'none' };

/** applyCors returns the CORS outcome for a request under `policy` (undefined: no CORS). */
export function applyCors(policy: CorsPolicy | undefined, req: RequestHead): CorsOutcome {
  if (!policy) return NONE;
  const origin = req.headers.get('origin');
  if (origin === undefined || !policy.allowOrigin(origin)) return NONE;
  const common: [string, string][] = [['access-control-allow-origin', origin]];
  if (policy.allowCredentials) common.push(['access-control-allow-credentials', 'true']);
  if (req.method === 'OPTIONS' && req.headers.has('access-control-request-method')) {
    const h = [...common];
    if (policy.allowMethods) h.push(['access-control-allow-methods', policy.allowMethods]);
    if (policy.allowHeaders) h.push(['access-control-allow-headers', policy.allowHeaders]);
    if (policy.maxAge) h.push(['access-control-max-age', policy.maxAge]);
    return { kind: 'preflight', headers: h };
  }
  if (policy.exposeHeaders) common.push(['access-control-expose-headers', policy.exposeHeaders]);
  return { kind: 'actual', responseHeaders: common };
}
