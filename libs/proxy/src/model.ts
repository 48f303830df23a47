/**
 * The shared vocabulary of the proxy engine: what a request looks like on the hot path, and the
 * compiled form of the Envoy resources pilot sends (config/ compiles them once per update; the
 * pipeline stages only look things up). Modules agree on these types and nothing else.
 *
 * Envoy semantics are the reference: names (listener, route, cluster, subset, locality) and
 * behaviours follow Envoy's v3 API as Istio configures it.
 */

// ───────────────────────────── requests on the hot path ─────────────────────────────

/**
 * Header list with lower-case names, kept in wire order as a flat array
 * `[name0, value0, name1, value1, …]` (cheap to build from a parser and to serialize; a map would
 * cost more than the handful of lookups a request needs). Repeated names stay repeated.
 */
import type { HcmTelemetryPlan } from './config/access-log.js';

export class Headers {
  constructor(readonly list: string[] = []) {}

  /** get returns the first value of `name` (lower-case), or undefined. */
  get(name: string): string | undefined {
    const l = this.list;
    for (let i = 0; i < l.length; i += 2) if (l[i] === name) return l[i + 1];
    return undefined;
  }

  /** getAll returns every value of `name` in order. */
  getAll(name: string): string[] {
    const out: string[] = [];
    const l = this.list;
    for (let i = 0; i < l.length; i += 2) if (l[i] === name) out.push(l[i + 1]);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** set replaces every value of `name` with one. */
  set(name: string, value: string): void {
    this.remove(name);
    this.list.push(name, value);
  }

  /** add appends a value, keeping existing ones (Envoy's append). */
  add(name: string, value: string): void {
    this.list.push(name, value);
  }

  /** remove deletes every value of `name`. */
  remove(name: string): void {
    const l = this.list;
    let w = 0;
    for (let r = 0; r < l.length; r += 2) {
      if (l[r] === name) continue;
      l[w++] = l[r];
      l[w++] = l[r + 1];
    }
    l.length = w;
  }

  clone(): Headers {
    return new Headers(this.list.slice());
  }
}

/** An HTTP request head (HTTP/1.1 parsed, or HTTP/2 pseudo-headers mapped). */
export interface RequestHead {
  method: string;
  /** Path and query as sent (origin form), e.g. `/reviews/1?x=y`. */
  path: string;
  /** Host header / :authority, as sent (may carry a port). */
  authority: string;
  scheme: 'http' | 'https';
  /** Regular headers (no pseudo-headers, no Host), lower-case names. */
  readonly headers: Headers;
  /**
   * Filter state (Envoy's per-stream filter state): what the request's HTTP filter stages leave
   * for later stages and for telemetry (`HttpFilterContext.state` is this map), made on first use.
   */
  filterState?: Map<string, unknown>;
}

/** An HTTP response head. */
export interface ResponseHead {
  status: number;
  readonly headers: Headers;
}

/** Facts about the downstream connection that routing and policy read. */
export interface DownstreamInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** TLS: SNI and the peer's verified SPIFFE ID / URI SANs (mTLS), ALPN. */
  readonly tls?: { readonly sni?: string; readonly peerIdentities: readonly string[]; readonly alpn?: string };
}

/**
 * Envoy response flags (access log `%RESPONSE_FLAGS%`, metric label `response_flags`): UH no
 * healthy upstream, UF upstream connection failure, UO upstream overflow (circuit breaker), NR no
 * route, UC upstream connection termination, URX retry/connect limit exceeded, UT upstream request
 * timeout, DC downstream connection termination, FI fault injected abort, DI fault injected delay,
 * RL rate limited, NC no cluster found (a route names a cluster the proxy does not have).
 */
export type ResponseFlag = 'UH' | 'UF' | 'UO' | 'NR' | 'UC' | 'URX' | 'UT' | 'DC' | 'FI' | 'DI' | 'RL' | 'NC';

/**
 * One finished HTTP exchange as a transport reports it (HTTP/1.1 and HTTP/2 alike), for access
 * logs, Istio metrics and traces. `upstream` is the Endpoint object (its metadata names the
 * destination workload).
 */
export interface ExchangeRecord {
  readonly request: RequestHead;
  readonly downstream: DownstreamInfo;
  /** Envoy's %PROTOCOL%: HTTP/1.0, HTTP/1.1 or HTTP/2. */
  readonly protocol: 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';
  readonly grpc: boolean;
  /** Status sent downstream (0 when none was: the downstream went away first). */
  readonly status: number;
  readonly grpcStatus?: number;
  readonly flags: readonly ResponseFlag[];
  readonly route?: string;
  readonly cluster?: string;
  readonly upstream?: Endpoint;
  readonly attempts: number;
  readonly requestBodyBytes: number;
  readonly responseBodyBytes: number;
  /** Start (epoch ms) and total duration. */
  readonly startTime: number;
  readonly durationMs: number;
  /** Time from sending the request upstream to its response head (x-envoy-upstream-service-time). */
  readonly upstreamServiceTimeMs?: number;
}

// ───────────────────────────── compiled configuration ─────────────────────────────

/** A Duration in milliseconds; undefined = not set (the stage applies Envoy's default). */
export type Millis = number;

/** Header mutations of a route / virtual host / weighted cluster (Envoy's header value options). */
export interface HeaderOps {
  readonly set: readonly (readonly [name: string, value: string])[];
  readonly add: readonly (readonly [name: string, value: string])[];
  readonly remove: readonly string[];
}

/** Envoy RetryPolicy, compiled. */
export interface RetryPolicy {
  /** Envoy `num_retries` (attempts after the first). */
  readonly numRetries: number;
  /** retryOn conditions: `5xx`, `gateway-error`, `reset`, `connect-failure`, `refused-stream`, `retriable-4xx`, `retriable-status-codes`, `unavailable`, `cancelled`, `deadline-exceeded`, `internal`, `resource-exhausted`, … */
  readonly retryOn: ReadonlySet<string>;
  readonly retriableStatusCodes: ReadonlySet<number>;
  readonly perTryTimeoutMs?: Millis;
  /** Exponential backoff with full jitter: base (Envoy default 25 ms) and max (default 10 × base). */
  readonly backoffBaseMs: Millis;
  readonly backoffMaxMs: Millis;
  /** Envoy's previous_hosts retry predicate (Istio sets it): avoid hosts already tried. */
  readonly avoidPreviousHosts: boolean;
  readonly hostSelectionRetryMaxAttempts: number;
}

/** Fault injection of a route (Envoy HTTPFault), compiled. Fractions are 0..1. */
export interface FaultPolicy {
  readonly delay?: { readonly fixedDelayMs: Millis; readonly fraction: number };
  readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: number; readonly fraction: number };
}

/** CORS policy of a route (Envoy CorsPolicy), compiled. */
export interface CorsPolicy {
  readonly allowOrigin: (origin: string) => boolean;
  readonly allowMethods?: string;
  readonly allowHeaders?: string;
  readonly exposeHeaders?: string;
  readonly maxAge?: string;
  readonly allowCredentials?: boolean;
}

/** A request mirror: fire-and-forget copy to another cluster, to `fraction` (0..1) of requests. */
export interface MirrorPolicy {
  readonly cluster: string;
  readonly fraction: number;
}

/** Hash policy of a route for RING_HASH/MAGLEV clusters (Envoy RouteAction.HashPolicy). */
export type HashPolicy =
  | { readonly kind: 'header'; readonly name: string; readonly terminal?: boolean }
  | { readonly kind: 'cookie'; readonly name: string; readonly ttlMs?: Millis; readonly path?: string; readonly terminal?: boolean }
  | { readonly kind: 'source-ip'; readonly terminal?: boolean }
  | { readonly kind: 'query'; readonly name: string; readonly terminal?: boolean };

/** Where a matched route sends the request. */
export interface RouteForward {
  readonly kind: 'forward';
  /** Clusters with weights (one entry: weight ignored). Weighted-cluster header ops apply after the pick. */
  readonly clusters: readonly { readonly name: string; readonly weight: number; readonly requestHeaders?: HeaderOps; readonly responseHeaders?: HeaderOps }[];
  readonly totalWeight: number;
  /** Rewrites the head in place (prefix/regex path rewrite, authority rewrite); absent when none. */
  readonly rewrite?: (req: RequestHead, matchedPrefix: string | undefined) => void;
  /** Route timeout; 0 = none (Istio's default for HTTP routes); undefined = Envoy default 15 s. */
  readonly timeoutMs?: Millis;
  readonly retry?: RetryPolicy;
  readonly mirrors: readonly MirrorPolicy[];
  readonly hashPolicy: readonly HashPolicy[];
  /** gRPC: honour `grpc-timeout` up to this maximum (Envoy max_grpc_timeout / max_stream_duration). */
  readonly grpcTimeoutHeaderMax?: Millis;
}

/** A redirect answered by the proxy itself. */
export interface RouteRedirect {
  readonly kind: 'redirect';
  readonly status: number;
  /** Builds the Location header value from the request (scheme/host/port/path/prefix rewrite applied). */
  readonly location: (req: RequestHead) => string;
}

/** A response answered by the proxy itself (Istio directResponse). */
export interface RouteDirect {
  readonly kind: 'direct';
  readonly status: number;
  readonly body?: string;
}

/** A compiled route: the first whose `match` returns true wins (Envoy: routes in order). */
export interface CompiledRoute {
  /** Route name as sent (Istio: the VirtualService rule name, or `default`). */
  readonly name: string;
  /** Matches path, headers, query parameters, method… Returns the matched path prefix for prefix rewrites ('' when not a prefix match), or undefined when not matched. */
  readonly match: (req: RequestHead) => string | undefined;
  readonly action: RouteForward | RouteRedirect | RouteDirect;
  readonly requestHeaders?: HeaderOps;
  readonly responseHeaders?: HeaderOps;
  readonly fault?: FaultPolicy;
  readonly cors?: CorsPolicy;
  /** Istio metadata for telemetry (the VirtualService that produced it). */
  readonly meta?: { readonly virtualService?: string };
}

/** A compiled virtual host: domains are matched by the RouteTable, routes in order. */
export interface CompiledVirtualHost {
  readonly name: string;
  readonly routes: readonly CompiledRoute[];
  readonly requestHeaders?: HeaderOps;
  readonly responseHeaders?: HeaderOps;
  readonly cors?: CorsPolicy;
  readonly retry?: RetryPolicy;
  /**
   * Envoy's include_request_attempt_count (Istio sets it on every virtual host): the upstream
   * request carries `x-envoy-attempt-count` with the attempt's number (1, then 2, … on retries).
   */
  readonly includeRequestAttemptCount?: boolean;
}

/** A compiled RouteConfiguration. */
export interface RouteTable {
  readonly name: string;
  /**
   * virtualHost returns the virtual host for an authority (Envoy's domain matching: exact, then
   * longest suffix wildcard `*.foo`, then longest prefix wildcard `foo.*`, then `*`; the authority
   * is tried with and without its port), or undefined (NR).
   */
  virtualHost(authority: string): CompiledVirtualHost | undefined;
  readonly requestHeaders?: HeaderOps;
  readonly responseHeaders?: HeaderOps;
}

/** Load-balancing policy of a cluster. */
export type LbPolicy =
  | { readonly kind: 'round-robin' }
  | { readonly kind: 'least-request'; readonly choiceCount: number }
  | { readonly kind: 'random' }
  | { readonly kind: 'ring-hash'; readonly minimumRingSize: number; readonly maximumRingSize: number }
  | { readonly kind: 'maglev'; readonly tableSize: number }
  /** ORIGINAL_DST / passthrough: the destination is the original address. */
  | { readonly kind: 'cluster-provided' };

/** Envoy circuit-breaker thresholds (default priority). */
export interface CircuitBreakers {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

/** Envoy OutlierDetection, compiled (Istio sets consecutive5xx / consecutiveGatewayErrors). */
export interface OutlierConfig {
  readonly consecutive5xx?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly consecutiveLocalOriginFailures?: number;
  readonly splitExternalLocalOriginErrors: boolean;
  readonly intervalMs: Millis;
  readonly baseEjectionTimeMs: Millis;
  readonly maxEjectionPercent: number;
  readonly minHealthPercent: number;
}

/** Upstream TLS of a cluster (ISTIO_MUTUAL via SDS names, or SIMPLE/MUTUAL with files). */
export interface UpstreamTls {
  readonly sni?: string;
  readonly alpn: readonly string[];
  /** SANs the server certificate must have (Istio: the destination's SPIFFE IDs). */
  readonly subjectAltNames: readonly string[];
  /** SDS secret names (`default`, `ROOTCA`) or file paths, as the cluster gave them. */
  readonly certificate?: { readonly sdsName?: string; readonly certFile?: string; readonly keyFile?: string };
  readonly validation?: { readonly sdsName?: string; readonly caFile?: string };
  /** Only for endpoints whose metadata says tlsMode=istio (Istio's transport socket match); otherwise all. */
  readonly onlyIstioEndpoints: boolean;
}

/** A compiled Cluster (CDS). */
export interface ClusterPlan {
  readonly name: string;
  /** EDS (endpoints from ClusterLoadAssignment), STATIC (inline), STRICT_DNS/LOGICAL_DNS (resolve names), ORIGINAL_DST. */
  readonly discovery: 'eds' | 'static' | 'strict-dns' | 'logical-dns' | 'original-dst';
  /** EDS service name to look endpoints up by (defaults to the cluster name). */
  readonly edsServiceName: string;
  readonly lb: LbPolicy;
  readonly connectTimeoutMs: Millis;
  readonly circuitBreakers: CircuitBreakers;
  readonly outlier?: OutlierConfig;
  readonly tls?: UpstreamTls;
  /** Upstream protocol: HTTP/2 when the cluster has http2 options (Istio: gRPC/HTTP2 ports, h2 upgrade). */
  readonly http2: boolean;
  readonly maxRequestsPerConnection?: number;
  readonly idleTimeoutMs?: Millis;
  /** Envoy locality_weighted_lb_config: pick a locality by its weight first (Istio sets it with locality LB settings). */
  readonly localityWeighted?: boolean;
  /** Envoy common_lb_config.healthy_panic_threshold in percent (default 50; Istio sets 0 with outlier detection's minHealthPercent). */
  readonly panicThresholdPercent?: number;
  /** Inline endpoints (STATIC / DNS clusters' loadAssignment). */
  readonly inlineEndpoints?: EndpointSet;
  /** Istio service metadata for telemetry (destination service name/namespace/host). */
  readonly meta?: { readonly host?: string; readonly name?: string; readonly namespace?: string; readonly subset?: string };
}

/** One upstream host. Objects are stable across EDS updates that keep the address (so LB and outlier state survive). */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly healthy: boolean;
  /** Istio endpoint metadata: tlsMode, workload name/namespace, labels, SPIFFE identity. */
  readonly meta?: { readonly tlsMode?: string; readonly workload?: string; readonly namespace?: string; readonly identity?: string };
}

/** Endpoints grouped as Envoy does: priority levels → localities → hosts. */
export interface EndpointSet {
  readonly priorities: readonly (readonly LocalityEndpoints[])[];
}

export interface LocalityEndpoints {
  readonly locality: { readonly region?: string; readonly zone?: string; readonly subZone?: string };
  /** Locality weight (locality-weighted LB); undefined = not locality-weighted. */
  readonly weight?: number;
  readonly endpoints: readonly Endpoint[];
}

/** What an HTTP filter before routing sees: the request, the connection, and state earlier filters left (e.g. verified JWTs for RBAC). */
export interface HttpFilterContext {
  readonly req: RequestHead;
  readonly down: DownstreamInfo;
  /** Filter state by key: jwt_authn stores verified payloads, RBAC reads them (`request.auth.*`); the transports pass the request's `filterState`. */
  readonly state: Map<string, unknown>;
}

/** A filter's refusal, answered locally (401 from authentication, 403 `RBAC: access denied`). */
export interface FilterDenial {
  readonly status: number;
  readonly body: string;
  /** Envoy %RESPONSE_CODE_DETAILS%, e.g. `rbac_access_denied_matched_policy[ns[default]-policy[deny-all]-rule[0]]`. */
  readonly details: string;
  readonly headers?: readonly (readonly [string, string])[];
  /** Envoy's response flag of the refusal, for the access log and metrics (`RL` for a rate limit); none for authn/RBAC, as Envoy. */
  readonly flag?: ResponseFlag;
}

/**
 * A compiled HTTP filter that runs before routing (Envoy's HCM http_filters ahead of the router:
 * jwt_authn, RBAC), in configuration order. Async allowed (a JWKS fetch); undefined = continue.
 */
export interface HttpFilterStage {
  readonly name: string;
  run(ctx: HttpFilterContext): FilterDenial | undefined | Promise<FilterDenial | undefined>;
}

/** A compiled network filter that decides on a connection before it is proxied (network RBAC). */
export interface NetworkFilterStage {
  readonly name: string;
  /** Returns a reason to close the connection, or undefined to continue. */
  run(down: DownstreamInfo): string | undefined | Promise<string | undefined>;
}

/** What a listener does with a connection (compiled Listener). */
export interface ListenerPlan {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** Filter chains in order; the first whose match accepts the connection wins (Envoy's filter chain match). */
  readonly filterChains: readonly FilterChainPlan[];
  /** Istio's virtualOutbound/virtualInbound: accept and dispatch by original destination. */
  readonly useOriginalDst: boolean;
}

export interface FilterChainPlan {
  readonly name?: string;
  readonly match: { readonly destinationPort?: number; readonly serverNames?: readonly string[]; readonly transportProtocol?: string; readonly applicationProtocols?: readonly string[]; readonly prefixRanges?: readonly string[] };
  /** HTTP: route table by RDS name (or inline); TCP: one cluster (or weighted). */
  readonly handler: { readonly kind: 'http'; readonly routeConfig: string; readonly statPrefix?: string; readonly telemetry?: HcmTelemetryPlan } | { readonly kind: 'tcp'; readonly clusters: readonly { readonly name: string; readonly weight: number }[]; readonly statPrefix?: string; /** How often an open connection's bytes are reported (Istio's stats `tcp_reporting_duration`); default 5 s. */ readonly reportIntervalMs?: number };
  /** HTTP chains: filters that run before routing, in order (authentication, RBAC). */
  readonly httpFilters?: readonly HttpFilterStage[];
  /** Filters that run on the connection before the handler (network RBAC). */
  readonly networkFilters?: readonly NetworkFilterStage[];
  /** Downstream TLS (inbound mTLS): SDS names and whether a client certificate is required. */
  readonly tls?: { readonly certificateSds?: string; readonly validationSds?: string; readonly requireClientCertificate: boolean; readonly alpn: readonly string[] };
}

/** Everything compiled from one consistent set of xDS resources. Immutable; a new update builds a new one. */
export interface CompiledConfig {
  /** Per-type versions it was built from (for /config_dump). */
  readonly versions: Readonly<Record<string, string>>;
  readonly listeners: ReadonlyMap<string, ListenerPlan>;
  readonly routeTables: ReadonlyMap<string, RouteTable>;
  readonly clusters: ReadonlyMap<string, ClusterPlan>;
  /** EDS: by service name (ClusterLoadAssignment.cluster_name). */
  readonly endpoints: ReadonlyMap<string, EndpointSet>;
}

// ───────────────────────────── balancing, ejection, limits ─────────────────────────────

/** What a pick needs besides the endpoints. */
export interface PickContext {
  /** Request hash (unsigned 32-bit) for ring-hash/maglev, from the route's hash policy; undefined: random. */
  readonly hash?: number;
  /** Hosts already tried by this request (retry's previous_hosts predicate). */
  readonly exclude?: ReadonlySet<Endpoint>;
}

/** Live per-host facts a balancer reads (owned by the upstream layer and the outlier detector). */
export interface HostStats {
  activeRequests(e: Endpoint): number;
  isEjected(e: Endpoint): boolean;
  /** Changes whenever isEjected may answer differently, so a balancer can cache host health between changes. */
  readonly version?: number;
}

/** A cluster's balancer over its current endpoints; rebuilt when the EndpointSet changes. */
export interface LoadBalancer {
  /** pick returns a healthy, non-ejected host (priority and locality weights applied), or undefined (UH). */
  pick(ctx: PickContext): Endpoint | undefined;
}

/** Outcome of one upstream attempt, as outlier detection classifies it. */
export type AttemptOutcome = 'success' | '5xx' | 'gateway-error' | 'local-origin-failure';

/** Per-cluster outlier detection (Envoy): consecutive errors eject a host for base × ejections, capped by max %. */
export interface OutlierDetector extends Pick<HostStats, 'isEjected'> {
  record(e: Endpoint, outcome: AttemptOutcome): void;
  /** Current ejections, for the admin /clusters page. */
  ejected(): readonly { readonly endpoint: Endpoint; readonly until: number; readonly times: number }[];
  /** Endpoint set changed: forget hosts that left. */
  setEndpoints(all: readonly Endpoint[]): void;
  close(): void;
}

/** Circuit-breaker accounting of one cluster: each acquire that returns false is an overflow (UO). */
export interface ClusterLimits {
  tryAcquireRequest(): boolean;
  releaseRequest(): void;
  tryAcquirePending(): boolean;
  releasePending(): void;
  tryAcquireConnection(): boolean;
  releaseConnection(): void;
  tryAcquireRetry(): boolean;
  releaseRetry(): void;
  readonly active: { readonly requests: number; readonly pending: number; readonly connections: number; readonly retries: number };
}

/** The clock and randomness the engine reads, injected so stage tests control them. */
export interface EngineClock {
  now(): number;
  random(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
