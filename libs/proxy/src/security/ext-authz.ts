/**
 * Envoy's external authorization filters (`envoy.extensions.filters.http.ext_authz.v3.ExtAuthz`
 * and the network one), as Istio configures them for CUSTOM AuthorizationPolicies: a shadow RBAC
 * filter before this one marks the requests the CUSTOM rules match, and `filter_enabled_metadata`
 * (the RBAC filter's `istio_ext_authz_shadow_effective_policy_id` with the provider's prefix) makes
 * this filter ask the authorizer about those requests only.
 *
 * HTTP, as Envoy's filter:
 * - the CheckRequest carries source/destination address and principal (the peer's SPIFFE ID under
 *   mTLS), the request's id (x-request-id), method, path, host, scheme and headers (pseudo-headers
 *   included, repeated headers joined with `,`), and the TLS SNI;
 * - OK → continue, with the answer's headers set (or appended) on the upstream request and its
 *   headers_to_remove removed; denied → the authorizer's status (403 when unset), body and headers,
 *   details `ext_authz_denied`;
 * - transport error or deadline (grpc_service.timeout, Envoy's 200 ms default) → continue when
 *   failure_mode_allow, else status_on_error (403 by default) with details `ext_authz_error`.
 *
 * Departures (docs/differences-from-istio.md): the request body is never sent (this engine runs
 * filters before reading the body, so with_request_body is accepted and not acted on);
 * ok_response.response_headers_to_add are not added to the client's response; the network filter
 * cannot read the network RBAC's shadow result, so on a TCP port it checks every connection.
 */
import type { DownstreamInfo, FilterDenial, HttpFilterContext, HttpFilterStage, NetworkFilterStage, RequestHead } from '../model.js';
import { at, bool, duration, enumName, int, obj, objects, oneof, str, type Obj, type Problems } from '../config/fields.js';
import { stringMatcher, type StringPredicate } from '../config/matchers.js';
import { metadataValue } from './rbac.js';
import { GrpcExtAuthzClient, HttpExtAuthzClient, type CheckRequest, type CheckResult, type ExtAuthzClient, type HttpServicePlan } from './ext-authz-client.js';

export const HTTP_EXT_AUTHZ = 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
export const NETWORK_EXT_AUTHZ = 'envoy.extensions.filters.network.ext_authz.v3.ExtAuthz';
// Envoy's default timeout of an ext_authz gRPC or HTTP service.
const DEFAULT_TIMEOUT_MS = 200;

/** A compiled ext_authz filter. */
export interface ExtAuthzPlan {
  readonly client: ExtAuthzClient;
  readonly timeoutMs: number;
  readonly failureModeAllow: boolean;
  /** Status of the local answer when the check fails and failure_mode_allow is off. */
  readonly statusOnError: number;
  /** filter_enabled_metadata; undefined = every request is checked. */
  readonly enabled?: (state: ReadonlyMap<string, unknown>) => boolean;
}

/** Makes the client of a compiled filter (tests substitute nothing: they run a real authorizer). */
export type ExtAuthzClientFactory = (service: { kind: 'grpc'; cluster: string; authority?: string } | { kind: 'http'; plan: HttpServicePlan }) => ExtAuthzClient;

const defaultFactory: ExtAuthzClientFactory = (s) => (s.kind === 'grpc' ? new GrpcExtAuthzClient(s.cluster, s.authority) : new HttpExtAuthzClient(s.plan));

/** compileHttpExtAuthz compiles an HTTP ext_authz filter's typed config into a stage; errors go to `p`. */
export function compileHttpExtAuthz(p: Problems, tc: Obj, path: string, factory: ExtAuthzClientFactory = defaultFactory): HttpFilterStage | undefined {
  const plan = compilePlan(p, tc, path, true, factory);
  return plan ? httpExtAuthzStage(plan) : undefined;
}

/** compileNetworkExtAuthz compiles a network ext_authz filter's typed config into a stage; errors go to `p`. */
export function compileNetworkExtAuthz(p: Problems, tc: Obj, path: string, factory: ExtAuthzClientFactory = defaultFactory): NetworkFilterStage | undefined {
  const plan = compilePlan(p, tc, path, false, factory);
  return plan ? networkExtAuthzStage(plan) : undefined;
}

function compilePlan(p: Problems, tc: Obj, path: string, http: boolean, factory: ExtAuthzClientFactory): ExtAuthzPlan | undefined {
  const before = p.errors.length;
  const api = enumName(p, tc, 'transportApiVersion', path, ['AUTO', 'V2', 'V3'] as const);
  if (api === 'V2') p.error(at(path, 'transport_api_version'), 'only V3 is supported');
  const failureModeAllow = bool(p, tc, 'failureModeAllow', path) ?? false;
  const soe = obj(p, tc, 'statusOnError', path);
  const statusOnError = soe ? httpStatus(p, soe, at(path, 'status_on_error')) : 403;
  const fem = obj(p, tc, 'filterEnabledMetadata', path);
  const enabled = fem ? metadataMatcher(p, fem, at(path, 'filter_enabled_metadata')) : undefined;
  if (http) for (const k of ['filterEnabled', 'denyAtDisable']) if (tc[k] !== undefined && tc[k] !== null) p.error(at(path, k), 'runtime-controlled enabling is not supported');
  const kind = http ? oneof(p, tc, ['grpcService', 'httpService'], path, 'services') : 'grpcService';
  let client: ExtAuthzClient | undefined;
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (kind === 'grpcService') {
    const gs = obj(p, tc, 'grpcService', path);
    const gp = at(path, 'grpc_service');
    if (!gs) p.error(gp, 'is required');
    else {
      if (gs.googleGrpc !== undefined && gs.googleGrpc !== null) p.error(at(gp, 'google_grpc'), 'not supported; use envoy_grpc');
      const eg = obj(p, gs, 'envoyGrpc', gp);
      const cluster = eg ? (str(p, eg, 'clusterName', at(gp, 'envoy_grpc')) ?? '') : '';
      if (cluster === '') p.error(at(gp, 'envoy_grpc.cluster_name'), 'is required');
      const authority = eg ? str(p, eg, 'authority', at(gp, 'envoy_grpc')) : undefined;
      timeoutMs = duration(p, gs, 'timeout', gp) ?? DEFAULT_TIMEOUT_MS;
      if (cluster !== '' && p.errors.length === before) client = factory({ kind: 'grpc', cluster, ...(authority ? { authority } : {}) });
    }
  } else if (kind === 'httpService') {
    const hs = obj(p, tc, 'httpService', path) ?? {};
    const hp = at(path, 'http_service');
    const su = obj(p, hs, 'serverUri', hp) ?? {};
    const cluster = str(p, su, 'cluster', at(hp, 'server_uri')) ?? '';
    if (cluster === '') p.error(at(hp, 'server_uri.cluster'), 'is required');
    timeoutMs = duration(p, su, 'timeout', at(hp, 'server_uri')) ?? DEFAULT_TIMEOUT_MS;
    const areq = obj(p, hs, 'authorizationRequest', hp) ?? {};
    const ares = obj(p, hs, 'authorizationResponse', hp) ?? {};
    const lp = (o: Obj, k: string, base: string): ((n: string) => boolean) | undefined => listMatcher(p, o, k, base);
    const allowedHeaders = lp(areq, 'allowedHeaders', at(hp, 'authorization_request'));
    const headersToAdd = objects(p, areq, 'headersToAdd', at(hp, 'authorization_request')).map((x) => [(str(p, x.v, 'key', x.path) ?? '').toLowerCase(), str(p, x.v, 'value', x.path) ?? ''] as const);
    const allowedUpstreamHeaders = lp(ares, 'allowedUpstreamHeaders', at(hp, 'authorization_response'));
    const allowedClientHeaders = lp(ares, 'allowedClientHeaders', at(hp, 'authorization_response'));
    const allowedClientHeadersOnSuccess = lp(ares, 'allowedClientHeadersOnSuccess', at(hp, 'authorization_response'));
    const plan: HttpServicePlan = {
      cluster,
      pathPrefix: str(p, hs, 'pathPrefix', hp) ?? '',
      headersToAdd,
      ...(allowedHeaders ? { allowedHeaders } : {}),
      ...(allowedUpstreamHeaders ? { allowedUpstreamHeaders } : {}),
      ...(allowedClientHeaders ? { allowedClientHeaders } : {}),
      ...(allowedClientHeadersOnSuccess ? { allowedClientHeadersOnSuccess } : {}),
    };
    if (p.errors.length === before) client = factory({ kind: 'http', plan });
  }
  if (p.errors.length !== before || !client) return undefined;
  return { client, timeoutMs, failureModeAllow, statusOnError, ...(enabled ? { enabled } : {}) };
}

function httpStatus(p: Problems, o: Obj, path: string): number {
  const v = o.code;
  if (typeof v === 'string') {
    const n = STATUS_BY_NAME[v];
    if (n === undefined) p.error(at(path, 'code'), `unknown status ${JSON.stringify(v)}`);
    return n ?? 403;
  }
  return int(p, o, 'code', path, 200, 599) ?? 403;
}

// envoy.type.v3.StatusCode names an xDS JSON may carry.
const STATUS_BY_NAME: Record<string, number> = { BadRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, TooManyRequests: 429, InternalServerError: 500, BadGateway: 502, ServiceUnavailable: 503, GatewayTimeout: 504 };

/** metadataMatcher compiles the MetadataMatcher subset Istio uses: filter, key path, a string value matcher (and invert). */
function metadataMatcher(p: Problems, m: Obj, path: string): ((state: ReadonlyMap<string, unknown>) => boolean) | undefined {
  const filter = str(p, m, 'filter', path) ?? '';
  const keys = objects(p, m, 'path', path).map((x) => str(p, x.v, 'key', x.path) ?? '');
  const value = obj(p, m, 'value', path);
  const invert = bool(p, m, 'invert', path) ?? false;
  const vp = at(path, 'value');
  let test: ((v: unknown) => boolean) | undefined;
  if (!value) p.error(vp, 'is required');
  else if (value.stringMatch) {
    const sm = obj(p, value, 'stringMatch', vp);
    const f: StringPredicate | undefined = sm ? stringMatcher(p, sm, at(vp, 'string_match')) : undefined;
    if (f) test = (v) => typeof v === 'string' && f(v);
  } else if (value.presentMatch !== undefined) {
    const want = bool(p, value, 'presentMatch', vp) ?? false;
    test = (v) => (v !== undefined) === want;
  } else p.error(vp, 'only string_match and present_match are supported');
  if (filter === '' || keys.length === 0 || !test) {
    if (filter === '') p.error(at(path, 'filter'), 'is required');
    if (keys.length === 0) p.error(at(path, 'path'), 'is required');
    return undefined;
  }
  const t = test;
  return (state) => t(metadataValue(state, filter, keys)) !== invert;
}

function listMatcher(p: Problems, o: Obj, key: string, path: string): ((name: string) => boolean) | undefined {
  const l = obj(p, o, key, path);
  if (!l) return undefined;
  const preds = objects(p, l, 'patterns', at(path, key))
    .map((x) => stringMatcher(p, x.v, x.path))
    .filter((f): f is StringPredicate => f !== undefined);
  return (n) => preds.some((f) => f(n));
}

/** checkRequestOf builds the CheckRequest Envoy sends for an HTTP request (see the file comment). */
export function checkRequestOf(req: RequestHead, down: DownstreamInfo, now: number): CheckRequest {
  const headers: Record<string, string> = { ':authority': req.authority, ':method': req.method, ':path': req.path, ':scheme': req.scheme };
  const l = req.headers.list;
  for (let i = 0; i < l.length; i += 2) {
    const k = l[i] as string;
    const v = l[i + 1] as string;
    headers[k] = headers[k] === undefined ? v : `${headers[k]},${v}`;
  }
  return {
    attributes: {
      ...peers(down),
      request: {
        time: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 },
        http: { id: req.headers.get('x-request-id') ?? '', method: req.method, headers, path: req.path, host: req.authority, scheme: req.scheme },
      },
      ...(down.tls?.sni ? { tlsSession: { sni: down.tls.sni } } : {}),
    },
  };
}

function peers(down: DownstreamInfo): Pick<CheckRequest['attributes'], 'source' | 'destination'> {
  const principal = down.tls?.peerIdentities[0];
  return {
    source: { address: { socketAddress: { address: down.remoteAddress, portValue: down.remotePort } }, ...(principal ? { principal } : {}) },
    destination: { address: { socketAddress: { address: down.localAddress, portValue: down.localPort } } },
  };
}

// Headers an authorizer may not rewrite on the upstream request (Envoy refuses pseudo-headers and Host changes through ok_response).
const PROTECTED = new Set(['host', ':authority', ':method', ':path', ':scheme']);

/** httpExtAuthzStage returns the stage of one HTTP ext_authz filter (see the file comment). */
export function httpExtAuthzStage(plan: ExtAuthzPlan): HttpFilterStage {
  return {
    name: 'envoy.filters.http.ext_authz',
    run(ctx: HttpFilterContext): Promise<FilterDenial | undefined> | undefined {
      if (plan.enabled && !plan.enabled(ctx.state)) return undefined;
      return plan.client.check(checkRequestOf(ctx.req, ctx.down, Date.now()), plan.timeoutMs).then(
        (r) => applyResult(ctx.req, r),
        () => (plan.failureModeAllow ? undefined : { status: plan.statusOnError, body: '', details: 'ext_authz_error' }),
      );
    },
  };
}

// Framing headers of a local answer are the engine's to write (the body is the authorizer's body).
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade']);

function applyResult(req: RequestHead, r: CheckResult): FilterDenial | undefined {
  if (r.kind === 'denied') {
    const headers = r.headers.filter((h) => !FRAMING.has(h.key) && !h.key.startsWith(':')).map((h) => [h.key, h.value] as const);
    return { status: r.status, body: r.body, details: 'ext_authz_denied', ...(headers.length ? { headers } : {}) };
  }
  for (const h of r.headers) {
    if (PROTECTED.has(h.key)) continue;
    if (h.append) req.headers.add(h.key, h.value);
    else req.headers.set(h.key, h.value);
  }
  for (const k of r.headersToRemove) if (!PROTECTED.has(k) && !k.startsWith(':')) req.headers.remove(k);
  return undefined;
}

/** networkExtAuthzStage returns the stage of one network ext_authz filter: a check per connection, closing on deny (and on error unless failure_mode_allow). */
export function networkExtAuthzStage(plan: ExtAuthzPlan): NetworkFilterStage {
  return {
    name: 'envoy.filters.network.ext_authz',
    run(down: DownstreamInfo): Promise<string | undefined> {
      const req: CheckRequest = { attributes: { ...peers(down), ...(down.tls?.sni ? { tlsSession: { sni: down.tls.sni } } : {}) } };
      return plan.client.check(req, plan.timeoutMs).then(
        (r) => (r.kind === 'ok' ? undefined : 'ext_authz_denied'),
        () => (plan.failureModeAllow ? undefined : 'ext_authz_error'),
      );
    },
  };
}
