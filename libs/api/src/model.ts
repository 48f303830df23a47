/**
 * The service model: what service discovery (libs/registry) produces and translation
 * (libs/translate) consumes, whatever the source (Kubernetes, ServiceEntry/WorkloadEntry,
 * workload auto-registration). Plain data, Istio's vocabulary.
 */

/** Istio's protocol names, as derived from port names / appProtocol / ServiceEntry ports. */
export type Protocol = 'HTTP' | 'HTTP2' | 'HTTPS' | 'GRPC' | 'GRPC-Web' | 'TCP' | 'TLS' | 'UDP' | 'Mongo' | 'Redis' | 'MySQL' | 'HTTP_PROXY' | 'UNKNOWN';

export interface MeshServicePort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** Port on the workload when it differs (Kubernetes targetPort, ServiceEntry targetPort). */
  readonly targetPort?: number;
}

/** One service: a Kubernetes Service or a ServiceEntry host. */
export interface Service {
  /** FQDN, e.g. `reviews.default.svc.cluster.local` or `api.example.com`. */
  readonly hostname: string;
  readonly namespace: string;
  /** The Kubernetes Service name or ServiceEntry name it came from. */
  readonly name: string;
  readonly ports: readonly MeshServicePort[];
  /** Virtual IPs (ClusterIP, ServiceEntry addresses); empty when headless/none. */
  readonly addresses: readonly string[];
  /** How endpoints are found: STATIC (known IPs), DNS/DNS_ROUND_ROBIN (resolve hostname), NONE (passthrough). */
  readonly resolution: 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'NONE';
  readonly location: 'MESH_INTERNAL' | 'MESH_EXTERNAL';
  /** Namespaces the service is visible to: `*` (default), `.` (own), `~` (none) or names. */
  readonly exportTo: readonly string[];
  /** Workload selector (Kubernetes Service selector / ServiceEntry workloadSelector). */
  readonly selector?: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  /** Where it came from: `kubernetes`, `serviceentry`, `registration`. */
  readonly source: string;
}

export interface Locality {
  readonly region?: string;
  readonly zone?: string;
  readonly subzone?: string;
}

/** One endpoint of one service port. */
export interface Endpoint {
  /** The service hostname this endpoint belongs to. */
  readonly hostname: string;
  readonly namespace: string;
  /** Service port name this endpoint serves. */
  readonly servicePortName: string;
  readonly address: string;
  /** The port to connect to on the workload. */
  readonly port: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Kubernetes service account (for SPIFFE identity); empty for external endpoints. */
  readonly serviceAccount?: string;
  readonly locality?: Locality;
  /** Load-balancing weight (WorkloadEntry weight); default 1. */
  readonly weight?: number;
  readonly network?: string;
  readonly healthy: boolean;
  /** `istio` when the workload has a sidecar (auto-mTLS target), else `disabled`. */
  readonly tlsMode: 'istio' | 'disabled';
  /** Workload name for telemetry (Pod owner, WorkloadEntry name). */
  readonly workloadName?: string;
}

/** Who asks pilot for configuration. */
export type ProxyType = 'sidecar' | 'router' | 'grpc';

/**
 * A connected proxy, parsed from its xDS node (Istio's node id
 * `sidecar~10.1.2.3~reviews-v1-abc.default~default.svc.cluster.local`) and metadata.
 */
export interface ProxyNode {
  readonly id: string;
  readonly type: ProxyType;
  readonly ipAddresses: readonly string[];
  /** Pod or workload name (`reviews-v1-abc`). */
  readonly workloadName: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount?: string;
  readonly locality?: Locality;
  /** Istio version / generator metadata as sent (`GENERATOR: grpc`). */
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** Mesh-wide settings (Istio's MeshConfig subset Meshwork uses). */
export interface MeshConfig {
  readonly rootNamespace: string;
  readonly trustDomain: string;
  readonly domainSuffix: string;
  /** Outbound traffic to unknown hosts: ALLOW_ANY (default) or REGISTRY_ONLY. */
  readonly outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** Connect timeout for clusters (Istio default 10s), in milliseconds. */
  readonly connectTimeoutMs: number;
  /** Whether sidecars originate Istio mTLS automatically (Istio default true). */
  readonly enableAutoMtls: boolean;
  /** Istio's `extensionProviders`: named backends that CUSTOM authorization and Telemetry refer to. */
  readonly extensionProviders?: readonly ExtensionProvider[];
  /** Istio's `defaultProviders`: provider names used when no Telemetry chooses. */
  readonly defaultProviders?: { readonly tracing?: readonly string[]; readonly metrics?: readonly string[]; readonly accessLogging?: readonly string[] };
}

/**
 * One MeshConfig extension provider, in Istio's YAML shape (mesh/v1alpha1 ExtensionProvider):
 * a name and exactly one provider kind. Meshwork acts on the ext_authz kinds (CUSTOM
 * authorization) and the zipkin/opentelemetry kinds (mixer's trace export); the other Istio kinds
 * are accepted and kept as they are.
 */
export interface ExtensionProvider {
  readonly name: string;
  readonly envoyExtAuthzGrpc?: EnvoyExtAuthzGrpcProvider;
  readonly envoyExtAuthzHttp?: EnvoyExtAuthzHttpProvider;
  readonly zipkin?: { readonly service: string; readonly port: number; readonly maxTagLength?: number; readonly path?: string };
  readonly opentelemetry?: { readonly service: string; readonly port: number; readonly http?: { readonly path?: string; readonly timeout?: string; readonly headers?: readonly unknown[] }; readonly grpc?: unknown };
  /** Other Istio provider kinds (prometheus, envoyFileAccessLog, ...), kept unread. */
  readonly [otherKind: string]: unknown;
}

/** Istio's `includeRequestBodyInCheck` (ext_authz `with_request_body`). */
export interface ExtAuthzRequestBody {
  readonly maxRequestBytes?: number;
  readonly allowPartialMessage?: boolean;
  readonly packAsBytes?: boolean;
}

/** Istio's EnvoyExternalAuthorizationGrpcProvider: `envoy.service.auth.v3.Authorization` over gRPC. */
export interface EnvoyExtAuthzGrpcProvider {
  /** `<hostname>` or `<namespace>/<hostname>` of a service in the registry. */
  readonly service: string;
  readonly port: number;
  /** Go duration (`0.5s`); Istio's default is 600s. */
  readonly timeout?: string;
  /** Allow the request when the authorizer cannot be reached or fails. */
  readonly failOpen?: boolean;
  /** HTTP status when the authorizer fails and failOpen is false (Envoy's default 403). */
  readonly statusOnError?: string;
  readonly includeRequestBodyInCheck?: ExtAuthzRequestBody;
  readonly clearRouteCache?: boolean;
}

/** Istio's EnvoyExternalAuthorizationHttpProvider: the authorizer is a plain HTTP service. */
export interface EnvoyExtAuthzHttpProvider {
  readonly service: string;
  readonly port: number;
  readonly timeout?: string;
  readonly pathPrefix?: string;
  readonly failOpen?: boolean;
  readonly statusOnError?: string;
  /** Request headers sent to the authorizer (exact names, `prefix*`/`*suffix` globs as Istio). */
  readonly includeRequestHeadersInCheck?: readonly string[];
  /** Deprecated Istio name of includeRequestHeadersInCheck. */
  readonly includeHeadersInCheck?: readonly string[];
  readonly includeAdditionalHeadersInCheck?: Readonly<Record<string, string>>;
  readonly includeRequestBodyInCheck?: ExtAuthzRequestBody;
  /** Authorizer response headers copied onto the upstream request when it allows. */
  readonly headersToUpstreamOnAllow?: readonly string[];
  /** Authorizer response headers returned to the client when it denies. */
  readonly headersToDownstreamOnDeny?: readonly string[];
  /** Authorizer response headers added to the client's response when it allows. */
  readonly headersToDownstreamOnAllow?: readonly string[];
}

/** Istio's defaults for MeshConfig. */
export const DEFAULT_MESH_CONFIG: MeshConfig = {
  rootNamespace: 'istio-system',
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  outboundTrafficPolicy: 'ALLOW_ANY',
  connectTimeoutMs: 10_000,
  enableAutoMtls: true,
};
