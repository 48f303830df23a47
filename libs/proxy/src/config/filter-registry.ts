/**
 * Compilers of the filters that act before routing or proxying, by their typed config `@type`:
 * HTTP filters of an HttpConnectionManager (authentication, RBAC) and network filters of a chain
 * (network RBAC). A filter whose type is not listed here changes nothing in this engine (fault,
 * CORS and the router are read from the route configuration; Istio's stats and metadata-exchange
 * filters are not needed) and is skipped. Each security module registers its compiler here.
 */
import type { HttpFilterStage, NetworkFilterStage } from '../model.js';
import type { Obj, Problems } from './fields.js';
import { compileHttpRbac, compileNetworkRbac, HTTP_RBAC, NETWORK_RBAC } from './rbac.js';
import { compileJwtAuthn } from './jwt.js';
import { compileHttpExtAuthz, compileNetworkExtAuthz, HTTP_EXT_AUTHZ, NETWORK_EXT_AUTHZ } from '../security/ext-authz.js';
import { compileTypedStructFilter, TYPED_STRUCT_TYPES } from '../ratelimit/compile.js';

/** Compiles one filter's typed config; errors go to `p` at `path`; undefined when it does nothing. */
export type HttpFilterCompiler = (p: Problems, typedConfig: Obj, path: string) => HttpFilterStage | undefined;
export type NetworkFilterCompiler = (p: Problems, typedConfig: Obj, path: string) => NetworkFilterStage | undefined;

/** Keys are message full names without the type URL prefix, e.g. `envoy.extensions.filters.http.rbac.v3.RBAC`. */
export const HTTP_FILTERS: Record<string, HttpFilterCompiler> = { [HTTP_RBAC]: compileHttpRbac };
export const NETWORK_FILTERS: Record<string, NetworkFilterCompiler> = { [NETWORK_RBAC]: compileNetworkRbac };

HTTP_FILTERS['envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication'] = compileJwtAuthn;
// Rate limits (RateLimit resources) come as TypedStructs; other TypedStructs compile to nothing.
for (const t of TYPED_STRUCT_TYPES) HTTP_FILTERS[t] = compileTypedStructFilter;
// External authorization (CUSTOM AuthorizationPolicies): security/ext-authz.ts.
HTTP_FILTERS[HTTP_EXT_AUTHZ] = compileHttpExtAuthz;
NETWORK_FILTERS[NETWORK_EXT_AUTHZ] = compileNetworkExtAuthz;
