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
import { randomUUID } from 'node:crypto';
import type { CompiledRoute, CompiledVirtualHost, HashPolicy, HeaderOps, MirrorPolicy, RequestHead, ResponseFlag, RetryPolicy, RouteForward, RouteTable } from '../model.js';
import { applyCors } from './cors.js';
import { decideFault } from './fault.js';
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

/** decide runs the decision stages for one request. */
export function decide(input: DecideInput): Decision {
  const { table, req } = input;
  // Envoy's HCM generates x-request-id when the request has none (generate_request_id, on by default).
  if (!req.headers.has('x-request-id')) req.headers.add('x-request-id', randomUUID());
  // 1. route
  const m = routeRequest(table, req);
  const route = m.route;
  const vhost = m.virtualHost;
  // 2. fault (per-route config only: no route, no fault)
  const fault = decideFault(route?.fault, input.random);
  const flags: ResponseFlag[] = fault.delayMs > 0 ? ['DI'] : [];
  if (fault.abort) {
    flags.push('FI');
    const grpcStatus = input.grpc ? (fault.abort.grpcStatus ?? httpToGrpc(fault.abort.httpStatus ?? 503)) : undefined;
    return local(fault.abort.httpStatus ?? 503, 'fault filter abort', flags, fault.delayMs, [], route, grpcStatus);
  }
  // 3. cors (route policy, else virtual host's)
  const cors = applyCors(route?.cors ?? vhost?.cors, req);
  if (cors.kind === 'preflight') return { kind: 'local', response: { status: 200, headers: cors.headers, body: '' }, flags, delayMs: fault.delayMs, ...(route ? { route } : {}) };
  // 4. router: local answers
  if (!route || !vhost) return local(404, '', [...flags, 'NR'], fault.delayMs, [], undefined, input.grpc ? GRPC_UNIMPLEMENTED : undefined);
  const action = route.action;
  if (action.kind === 'redirect') return { kind: 'local', response: { status: action.status, headers: [['location', action.location(req)]], body: '' }, flags, delayMs: fault.delayMs, route };
  if (action.kind === 'direct') return { kind: 'local', response: { status: action.status, headers: action.body !== undefined ? [['content-type', 'text/plain']] : [], body: action.body ?? '' }, flags, delayMs: fault.delayMs, route };
  // 6 before 5: the weighted cluster's own header operations are the most specific level.
  if (action.clusters.length === 0) return local(503, 'no cluster found', [...flags, 'NC'], fault.delayMs, [], route, input.grpc ? GRPC_UNAVAILABLE : undefined);
  const cluster = pickCluster(action, input.random);
  // 5. headers and rewrites
  applyHeaderLevels(req.headers, [cluster.requestHeaders, route.requestHeaders, vhost.requestHeaders, table.requestHeaders]);
  action.rewrite?.(req, 'matched' in m ? m.matched : undefined);
  return {
    kind: 'forward',
    route,
    vhost,
    cluster: cluster.name,
    delayMs: fault.delayMs,
    ...(action.timeoutMs !== undefined ? { timeoutMs: action.timeoutMs } : {}),
    ...(action.retry ?? vhost.retry ? { retry: action.retry ?? vhost.retry } : {}),
    mirrors: action.mirrors,
    hashPolicy: action.hashPolicy,
    ...(action.grpcTimeoutHeaderMax !== undefined ? { grpcTimeoutHeaderMax: action.grpcTimeoutHeaderMax } : {}),
    responseHeaderLevels: [cluster.responseHeaders, route.responseHeaders, vhost.responseHeaders, table.responseHeaders],
    responseHeaders: cors.kind === 'actual' ? cors.responseHeaders : [],
    flags,
  };
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
