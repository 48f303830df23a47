/**
 * The request pipeline's decision half, in order — read this file top to bottom to know what
 * happens to a request before it leaves for an upstream (Istio's HTTP filter chain: fault → cors
 * → router):
 *
 *   1. route    — virtual host by authority, first matching route (lookup only)
 *   2. fault    — delay and abort drawn from the route's fault policy (DI, FI)
 *   3. cors     — preflight answered locally; response headers for actual requests
 *   4. router   — no route: 404 NR; redirect and direct response answered locally
 *   5. headers  — request header operations (weighted cluster → route → virtual host → table) and rewrites
 *   6. cluster  — weighted split
 *
 * Then the forwarding half (transport-specific: HTTP/1.1 or HTTP/2) runs the attempt loop with
 * the returned timeout and retry policy (retry.ts), balances (lb/), connects (upstream/), mirrors,
 * and applies `responseHeaderLevels` to the response. Every step here is a synchronous lookup on
 * the compiled configuration.
 */
import type { CompiledRoute, CompiledVirtualHost, HashPolicy, HeaderOps, MirrorPolicy, RequestHead, ResponseFlag, RetryPolicy, RouteForward, RouteTable } from '../model.js';
import { applyCors, type CorsOutcome } from './cors.js';
import { decideFault, type FaultOutcome } from './fault.js';
import { requestId } from './request-id.js';
import { routeRequest } from '../config/routes.js';
import { applyHeaderLevels } from './headers.js';

/** A response the proxy gives itself. */
export interface LocalResponse {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
  /**
   * For gRPC requests: the grpc-status to send. The transport then answers HTTP 200 trailers-only
   * (Envoy's gRPC local replies); `status` stays the HTTP status the reply stands for.
   */
  readonly grpcStatus?: number;
}

/** What the decision half concluded. */
export type Decision =
  | {
      readonly kind: 'local';
      readonly response: LocalResponse;
      readonly flags: readonly ResponseFlag[];
      /** Wait this long first (an injected delay before an injected abort). */
      readonly delayMs: number;
      readonly route?: CompiledRoute;
    }
  | {
      readonly kind: 'forward';
      readonly route: CompiledRoute;
      readonly vhost: CompiledVirtualHost;
      readonly cluster: string;
      readonly delayMs: number;
      /** Route timeout: 0 = none; undefined = Envoy's default (15 s). */
      readonly timeoutMs?: number;
      readonly retry?: RetryPolicy;
      readonly mirrors: readonly MirrorPolicy[];
      readonly hashPolicy: readonly HashPolicy[];
      readonly grpcTimeoutHeaderMax?: number;
      /** Response header operations, most specific first (weighted cluster, route, vhost, table). */
      readonly responseHeaderLevels: readonly (HeaderOps | undefined)[];
      /** Extra response headers (CORS). */
      readonly responseHeaders: readonly (readonly [string, string])[];
      readonly flags: readonly ResponseFlag[];
    };

export interface DecideInput {
  readonly table: RouteTable;
  /** The request head; header operations and rewrites are applied to it in place. */
  readonly req: RequestHead;
  /** gRPC request (content-type application/grpc): local replies carry a grpc-status. */
  readonly grpc: boolean;
  readonly random: () => number;
}

const GRPC_UNAVAILABLE = 14;
const GRPC_UNIMPLEMENTED = 12;
const NO_FAULT: FaultOutcome = { delayMs: 0 };
const NO_CORS: CorsOutcome = { kind: 'none' };

function local(status: number, body: string, flags: readonly ResponseFlag[], delayMs: number, extra: readonly (readonly [string, string])[] = [], route?: CompiledRoute, grpcStatus?: number): Decision {
  return { kind: 'local', response: { status, headers: [['content-type', 'text/plain'], ...extra], body, ...(grpcStatus !== undefined ? { grpcStatus } : {}) }, flags, delayMs, ...(route ? { route } : {}) };
}

/** pickCluster returns the weighted cluster a request goes to (`random` in [0, 1)). */
export function pickCluster(action: RouteForward, random: () => number): RouteForward['clusters'][number] {
  const cs = action.clusters;
  if (cs.length === 1 || action.totalWeight <= 0) return cs[0];
  let r = random() * action.totalWeight;
  for (const c of cs) {
    r -= c.weight;
    if (r < 0) return c;
  }
  return cs[cs.length - 1];
}

type ForwardDecision = Extract<Decision, { kind: 'forward' }>;
type WeightedCluster = RouteForward['clusters'][number];

/**
 * The forward decision of one weighted cluster of one route, when no fault delay and no CORS
 * header applies (nearly every request): everything in it comes from the compiled configuration,
 * so it is built once and shared (read-only) by every request that takes that path, instead of
 * one object with spreads per request. `table` guards against a route object reused elsewhere.
 */
interface CachedForward {
  readonly table: RouteTable;
  readonly decision: ForwardDecision;
  /** Request header operations, most specific first (applied per request). */
  readonly requestLevels: readonly (HeaderOps | undefined)[];
}
const forwardCache = new WeakMap<WeightedCluster, CachedForward>();
const NO_FLAGS: readonly ResponseFlag[] = Object.freeze([]);
const DI_ONLY: readonly ResponseFlag[] = Object.freeze(['DI'] as ResponseFlag[]);
const NO_HEADERS: readonly (readonly [string, string])[] = Object.freeze([]);

function forwardDecision(table: RouteTable, vhost: CompiledVirtualHost, route: CompiledRoute, action: RouteForward, cluster: WeightedCluster, delayMs: number, responseHeaders: readonly (readonly [string, string])[], flags: readonly ResponseFlag[]): ForwardDecision {
  // One object literal of a fixed shape (absent optional fields are undefined): no spreads.
  return {
    kind: 'forward',
    route,
    vhost,
    cluster: cluster.name,
    delayMs,
    timeoutMs: action.timeoutMs,
    retry: action.retry ?? vhost.retry,
    mirrors: action.mirrors,
    hashPolicy: action.hashPolicy,
    grpcTimeoutHeaderMax: action.grpcTimeoutHeaderMax,
    responseHeaderLevels: [cluster.responseHeaders, route.responseHeaders, vhost.responseHeaders, table.responseHeaders],
    responseHeaders,
    flags,
  };
}

function cachedForward(table: RouteTable, vhost: CompiledVirtualHost, route: CompiledRoute, action: RouteForward, cluster: WeightedCluster): CachedForward {
  let c = forwardCache.get(cluster);
  if (c === undefined || c.table !== table || c.decision.route !== route || c.decision.vhost !== vhost) {
    c = { table, decision: Object.freeze(forwardDecision(table, vhost, route, action, cluster, 0, NO_HEADERS, NO_FLAGS)), requestLevels: [cluster.requestHeaders, route.requestHeaders, vhost.requestHeaders, table.requestHeaders] };
    forwardCache.set(cluster, c);
  }
  return c;
}

/** The header Envoy's include_request_attempt_count sets on upstream requests. */
export const ATTEMPT_COUNT = 'x-envoy-attempt-count';

/** setAttemptCount numbers a retry's upstream request when its virtual host asks for it; true when it changed the head. */
export function setAttemptCount(d: ForwardDecision, req: RequestHead, attempt: number): boolean {
  if (d.vhost.includeRequestAttemptCount !== true) return false;
  req.headers.set(ATTEMPT_COUNT, String(attempt));
  return true;
}

/** decide runs the decision stages for one request. */
export function decide(input: DecideInput): Decision {
  return decideRequest(input.table, input.req, input.grpc, input.random);
}

/**
 * decideRequest is decide without the input object (the HTTP/1.1 hot path). A forward decision
 * without a fault delay or CORS headers is shared between requests: treat it as read-only.
 */
export function decideRequest(table: RouteTable, req: RequestHead, grpc: boolean, random: () => number): Decision {
  // Envoy's HCM generates x-request-id when the request has none (generate_request_id, on by default).
  if (!req.headers.has('x-request-id')) req.headers.add('x-request-id', requestId());
  // 1. route
  const m = routeRequest(table, req);
  const route = m.route;
  const vhost = m.virtualHost;
  // 2. fault (per-route config only: no route, no fault)
  const fault = route?.fault === undefined ? NO_FAULT : decideFault(route.fault, random);
  if (fault.abort) {
    const flags: ResponseFlag[] = fault.delayMs > 0 ? ['DI', 'FI'] : ['FI'];
    const grpcStatus = grpc ? (fault.abort.grpcStatus ?? httpToGrpc(fault.abort.httpStatus ?? 503)) : undefined;
    return local(fault.abort.httpStatus ?? 503, 'fault filter abort', flags, fault.delayMs, [], route, grpcStatus);
  }
  const flags = fault.delayMs > 0 ? DI_ONLY : NO_FLAGS;
  // 3. cors (route policy, else virtual host's)
  const policy = route?.cors ?? vhost?.cors;
  const cors = policy === undefined ? NO_CORS : applyCors(policy, req);
  if (cors.kind === 'preflight') return { kind: 'local', response: { status: 200, headers: cors.headers, body: '' }, flags: [...flags], delayMs: fault.delayMs, ...(route ? { route } : {}) };
  // 4. router: local answers
  if (!route || !vhost) return local(404, '', [...flags, 'NR'], fault.delayMs, [], undefined, grpc ? GRPC_UNIMPLEMENTED : undefined);
  const action = route.action;
  if (action.kind === 'redirect') return { kind: 'local', response: { status: action.status, headers: [['location', action.location(req)]], body: '' }, flags: [...flags], delayMs: fault.delayMs, route };
  if (action.kind === 'direct') return { kind: 'local', response: { status: action.status, headers: action.body !== undefined ? [['content-type', 'text/plain']] : [], body: action.body ?? '' }, flags: [...flags], delayMs: fault.delayMs, route };
  // 6 before 5: the weighted cluster's own header operations are the most specific level.
  if (action.clusters.length === 0) return local(503, 'no cluster found', [...flags, 'NC'], fault.delayMs, [], route, grpc ? GRPC_UNAVAILABLE : undefined);
  const cluster = pickCluster(action, random);
  // 5. headers and rewrites
  const cached = cachedForward(table, vhost, route, action, cluster);
  applyHeaderLevels(req.headers, cached.requestLevels);
  // The first attempt's number; the transport renumbers a retry (setAttemptCount).
  if (vhost.includeRequestAttemptCount === true) req.headers.set(ATTEMPT_COUNT, '1');
  action.rewrite?.(req, 'matched' in m ? m.matched : undefined);
  if (fault.delayMs === 0 && cors.kind !== 'actual') return cached.decision;
  return forwardDecision(table, vhost, route, action, cluster, fault.delayMs, cors.kind === 'actual' ? cors.responseHeaders : NO_HEADERS, flags);
}

/** httpToGrpc maps an HTTP status to the gRPC status Envoy reports for it (gRPC's HTTP-to-gRPC mapping). */
export function httpToGrpc(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC_UNAVAILABLE;
    default:
      return 2; // UNKNOWN
  }
}
