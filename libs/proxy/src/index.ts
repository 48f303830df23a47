/**
 * @meshwork/proxy — the data-plane engine shared by sidecar and gateway: compiles Envoy resources
 * into lookup structures once per update, then runs each request through an ordered pipeline of
 * stages (see docs/proxy.md). This file is the library's only public door.
 */
export * from './model.js';
export * from './errors.js';
export * from './pipeline/index.js';
export { Http1Error } from './http1/errors.js';
export { DEFAULT_HTTP1_LIMITS, Http1Parser, Http1Request, Http1Response, parseRequestHead, parseResponseHead, type BodyFraming, type Http1Handler, type Http1Limits } from './http1/parser.js';
export { chunkHeader, lastChunk, reasonPhrase, serializeRequestHead, serializeResponseHead } from './http1/serializer.js';
export { DEFAULT_POOL_SETTINGS, EndpointPool, setPoolTls, UpstreamConnection, UpstreamPools, type ConnectFailure, type ConnectionUser, type EndpointPoolSettings, type PoolTlsResolver } from './upstream/pool.js';
export { endpointOrigination, newSslStats, SecureContextCache, TlsOrigination, transportFailureReason, upstreamPeerIdentities, type SslStats, type TlsUse } from './upstream/tls-origination.js';
export { createHttp1Proxy, Http1Proxy, type ForwardDecision, type Http1EngineView, type Http1ProxyOptions, type LocalDecision, type RouteDecision, type RouteFn } from './listeners/http1-proxy.js';
export * from './lb/index.js';
export { createOutlierDetector, DEFAULT_MAX_EJECTION_TIME_MS, type VersionedOutlierDetector } from './upstream/outlier.js';
export { createClusterLimits, type ClusterLimitsWithStats } from './upstream/limits.js';
export * from './config/index.js';
export * from './http2/index.js';
export { proxyTcp, type TcpProxyOptions, type TcpRecord } from './tcp/tcp-proxy.js';
export * from './engine/index.js';
export { MemorySecretProvider, ROOT_CA_SECRET, tlsMaterial, WORKLOAD_CERT_SECRET, type CertificateSecret, type Secret, type SecretProvider, type TlsMaterial, type ValidationSecret } from './security/secrets.js';
export { DownstreamTls, DownstreamTlsError, parseSubjectAltName, peerIdentitiesOf, type DownstreamTlsOptions, type PeerTlsInfo, type TlsAcceptResult, type TlsRefusal } from './security/downstream-tls.js';
export { clientCertOf, xfccElement, xfccStage, type ClientCertFacts, type ForwardClientCertDetails, type SetClientCertDetails } from './security/downstream-tls-xfcc.js';
export { configureRateLimitService, rlsTarget } from './ratelimit/rls-client.js';
export { compileCelFilter, compileHcmTelemetry, type AccessLogAttributes, type AccessLogFilter, type AccessLogPlan, type HcmTelemetryPlan } from './config/access-log.js';
export { configureExtAuthz, extAuthzTarget } from './security/ext-authz-client.js';
