/**
 * Every flag and environment variable of meshwork-sidecar (STYLE.md 12). `--help` and
 * docs/sidecar.md are generated from this list; nothing else reads process.env. Names follow
 * Istio's agent where it has one (POD_NAME, POD_NAMESPACE, INSTANCE_IP, SERVICE_ACCOUNT, CA_ADDR).
 */
import type { SettingDef } from '@meshwork/settings';

export const SIDECAR_SETTINGS = [
  { key: 'pilot', flag: 'pilot', env: 'PILOT_ADDRESS', type: 'string', default: '127.0.0.1:15010', description: 'pilot xDS address host:port: plaintext (15010), or mutual TLS (15012) with the workload certificate when --ca-address is set' },
  { key: 'caAddress', flag: 'ca-address', env: 'CA_ADDR', type: 'string', description: 'citadel gRPC address host:port (8060): the sidecar gets its workload certificate there (key kept in memory, renewed at half-life) and dials pilot over mutual TLS' },
  { key: 'caRootCert', flag: 'ca-root-cert', env: 'SIDECAR_CA_ROOT_CERT', type: 'string', description: 'PEM file of the mesh trust bundle (citadel\'s root-cert.pem), required with --ca-address' },
  { key: 'caTokenFile', flag: 'ca-token-file', env: 'SIDECAR_CA_TOKEN_FILE', type: 'string', description: 'file holding the bearer token of the first certificate request: a join token (meshctl join-token create) or a Kubernetes service-account JWT; read at each request' },
  { key: 'pilotServerName', flag: 'pilot-server-name', env: 'PILOT_SERVER_NAME', type: 'string', default: 'pilot.istio-system.svc', description: 'DNS name pilot\'s certificate must carry (checked on the mutual TLS connection)' },
  { key: 'secretTtl', flag: 'secret-ttl', env: 'SECRET_TTL', type: 'duration', default: '24h', description: 'lifetime asked of citadel for the workload certificate (Istio SECRET_TTL); renewed at half-life' },
  { key: 'trustDomain', flag: 'trust-domain', env: 'TRUST_DOMAIN', type: 'string', default: 'cluster.local', description: 'SPIFFE trust domain of the workload identity' },
  { key: 'workload', flag: 'workload', env: 'POD_NAME', type: 'string', description: 'workload (pod) name, e.g. reviews-v1-1; required' },
  { key: 'namespace', flag: 'namespace', env: 'POD_NAMESPACE', type: 'string', default: 'default', description: 'namespace of the workload' },
  { key: 'serviceAccount', flag: 'service-account', env: 'SERVICE_ACCOUNT', type: 'string', default: 'default', description: 'service account: the workload identity spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>' },
  { key: 'labels', flag: 'labels', env: 'ISTIO_META_LABELS', type: 'list', default: '', description: 'workload labels k=v,k=v (app and version name its telemetry and select its DestinationRule subsets)' },
  { key: 'instanceIp', flag: 'instance-ip', env: 'INSTANCE_IP', type: 'string', default: '127.0.0.1', description: 'the workload address others reach it at (and the node id\'s IP)' },
  { key: 'outboundPort', flag: 'outbound-port', env: 'SIDECAR_OUTBOUND_PORT', type: 'port', default: '15001', description: 'explicit outbound HTTP proxy port (virtualOutbound): the app uses HTTP_PROXY=http://127.0.0.1:<port> or sends Host-routed requests here' },
  { key: 'outboundAddress', flag: 'outbound-address', env: 'SIDECAR_OUTBOUND_ADDRESS', type: 'string', default: '127.0.0.1', description: 'address the outbound port binds to (loopback: only the local app uses it)' },
  { key: 'inboundAddress', flag: 'inbound-address', env: 'SIDECAR_INBOUND_ADDRESS', type: 'string', default: '127.0.0.1', description: 'address the inbound ports (virtualInbound\'s, one per workload port) bind to' },
  { key: 'adminPort', flag: 'admin-port', env: 'SIDECAR_ADMIN_PORT', type: 'port', default: '15000', description: 'Envoy-style admin port: /config_dump, /clusters, /stats, /ready, /quitquitquit, /logging' },
  { key: 'healthPort', flag: 'health-port', env: 'SIDECAR_HEALTH_PORT', type: 'port', default: '15021', description: 'health port: /healthz/ready is 200 once configuration is live and listeners are bound' },
  { key: 'statsPort', flag: 'stats-port', env: 'SIDECAR_STATS_PORT', type: 'port', default: '15090', description: 'Prometheus port of the proxy (Envoy\'s 15090): /stats/prometheus with Istio\'s standard istio_* metrics' },
  { key: 'agentPort', flag: 'agent-port', env: 'SIDECAR_AGENT_PORT', type: 'port', default: '15020', description: 'agent port (Istio\'s 15020): /stats/prometheus with the proxy\'s and the application\'s metrics merged' },
  { key: 'appMetrics', flag: 'app-metrics', env: 'SIDECAR_APP_METRICS_URL', type: 'string', description: 'the application\'s Prometheus endpoint (e.g. http://127.0.0.1:9090/metrics) merged into the agent port\'s metrics' },
  { key: 'workloadName', flag: 'workload-name', env: 'ISTIO_META_WORKLOAD_NAME', type: 'string', description: 'the workload (Deployment) name in metrics, e.g. reviews-v1; default: --workload without its last -suffix' },
  { key: 'traceSampling', flag: 'trace-sampling', env: 'SIDECAR_TRACE_SAMPLING', type: 'string', default: '1', description: 'percent of new traces sampled, 0-100 (Istio\'s meshConfig tracing sampling, default 1); requests carrying a decision keep it. Spans go to NATS mesh.spans.<ns>.<workload> with --nats-url' },
  { key: 'accessLog', flag: 'access-log', env: 'SIDECAR_ACCESS_LOG', type: 'bool', default: 'false', description: 'write one access log line per request to stdout (Istio\'s JSON encoding), besides those that meshConfig.accessLogFile or a Telemetry resource turn on; off by default, as in Istio\'s default profile' },
  { key: 'adminAddress', flag: 'admin-address', env: 'SIDECAR_ADMIN_ADDRESS', type: 'string', default: '127.0.0.1', description: 'address the admin and health ports bind to' },
  { key: 'ratelimitAddress', flag: 'ratelimit-address', env: 'SIDECAR_RATELIMIT_ADDRESS', type: 'string', description: 'mixer\'s rate-limit service host:port (8081) for GLOBAL RateLimit resources; default: the host and port of the filter\'s cluster name (mixer.istio-system.svc.cluster.local:8081)' },
  { key: 'natsUrl', flag: 'nats-url', env: 'SIDECAR_NATS_URL', type: 'string', description: 'NATS server: the sidecar registers its workload in mesh-registry (heartbeat, removed when it stops) so pilot puts it in EDS' },
  { key: 'ports', flag: 'ports', env: 'SIDECAR_PORTS', type: 'list', default: '', description: 'ports registered for the workload, by service port name: http=15106,grpc=15107 (its inbound ports; WorkloadEntry ports)' },
  { key: 'registrationTtl', flag: 'registration-ttl', env: 'SIDECAR_REGISTRATION_TTL', type: 'duration', default: '30s', description: 'registration time-to-live (heartbeat every third of it); must match pilot\'s --registration-ttl' },
  { key: 'locality', flag: 'locality', env: 'ISTIO_LOCALITY', type: 'string', description: 'region/zone/subzone of the workload (locality load balancing)' },
  { key: 'deltaXds', flag: 'delta-xds', env: 'ISTIO_DELTA_XDS', type: 'bool', default: 'false', description: 'use Delta xDS instead of State of the World' },
  { key: 'drainDuration', flag: 'drain-duration', env: 'TERMINATION_DRAIN_DURATION', type: 'duration', default: '5s', description: 'on SIGTERM, how long in-flight requests may finish before the proxy closes (Istio terminationDrainDuration)' },
  { key: 'holdApplication', flag: 'hold-application', env: 'HOLD_APPLICATION_UNTIL_PROXY_STARTS', type: 'bool', default: 'true', description: 'start the application after `--` only once the proxy is ready (Istio holdApplicationUntilProxyStarts)' },
  { key: 'appStopGrace', flag: 'app-stop-grace', env: 'SIDECAR_APP_STOP_GRACE', type: 'duration', default: '10s', description: 'after SIGTERM to the application, how long before SIGKILL' },
  { key: 'domainSuffix', flag: 'domain-suffix', env: 'DOMAIN_SUFFIX', type: 'string', default: 'cluster.local', description: 'DNS suffix of services (node id <ns>.svc.<suffix>)' },
  { key: 'logLevel', flag: 'log-level', env: 'SIDECAR_LOG_LEVEL', type: 'string', default: 'info', description: 'log level (changeable at runtime through POST /logging?level=)' },
] as const satisfies readonly SettingDef[];
