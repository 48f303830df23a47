/**
 * Every flag and environment variable of meshwork-gateway (STYLE.md 12). `--help` and
 * docs/gateway.md are generated from this list; nothing else reads process.env. Names follow
 * Istio's gateway deployment (istio-ingressgateway in istio-system, labels istio=ingressgateway,
 * POD_NAME, POD_NAMESPACE, INSTANCE_IP, CA_ADDR).
 */
import type { SettingDef } from '@meshwork/settings';

export const GATEWAY_SETTINGS = [
  { key: 'pilot', flag: 'pilot', env: 'PILOT_ADDRESS', type: 'string', default: '127.0.0.1:15010', description: 'pilot xDS address host:port: plaintext (15010), or mutual TLS (15012) with the workload certificate when --ca-address is set' },
  { key: 'caAddress', flag: 'ca-address', env: 'CA_ADDR', type: 'string', description: 'citadel gRPC address host:port (8060): the gateway gets its workload certificate there (mTLS to meshed backends, and to pilot)' },
  { key: 'caRootCert', flag: 'ca-root-cert', env: 'GATEWAY_CA_ROOT_CERT', type: 'string', description: 'PEM file of the mesh trust bundle (citadel\'s root-cert.pem), required with --ca-address' },
  { key: 'caTokenFile', flag: 'ca-token-file', env: 'GATEWAY_CA_TOKEN_FILE', type: 'string', description: 'file holding the bearer token of the first certificate request (a join token or a Kubernetes service-account JWT); read at each request' },
  { key: 'pilotServerName', flag: 'pilot-server-name', env: 'PILOT_SERVER_NAME', type: 'string', default: 'pilot.istio-system.svc', description: 'DNS name pilot\'s certificate must carry (checked on the mutual TLS connection)' },
  { key: 'trustDomain', flag: 'trust-domain', env: 'TRUST_DOMAIN', type: 'string', default: 'cluster.local', description: 'SPIFFE trust domain of the gateway identity' },
  { key: 'workload', flag: 'workload', env: 'POD_NAME', type: 'string', default: 'istio-ingressgateway-1', description: 'gateway pod name (the node id\'s pod part)' },
  { key: 'name', flag: 'name', env: 'ISTIO_META_WORKLOAD_NAME', type: 'string', default: 'istio-ingressgateway', description: 'gateway workload (Deployment) name in metrics and logs' },
  { key: 'namespace', flag: 'namespace', env: 'POD_NAMESPACE', type: 'string', default: 'istio-system', description: 'namespace of the gateway (its credentialName Secrets are read there)' },
  { key: 'serviceAccount', flag: 'service-account', env: 'SERVICE_ACCOUNT', type: 'string', default: 'istio-ingressgateway-service-account', description: 'service account: the identity spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>' },
  { key: 'labels', flag: 'labels', env: 'ISTIO_META_LABELS', type: 'list', default: 'istio=ingressgateway,app=istio-ingressgateway', description: 'gateway labels k=v,k=v: Gateway resources whose selector matches them configure this gateway (istio=egressgateway for an egress gateway; gateway.networking.k8s.io/gateway-name=<name> for a Kubernetes Gateway API Gateway)' },
  { key: 'address', flag: 'address', env: 'INSTANCE_IP', type: 'string', default: '127.0.0.1', description: 'the address Gateway listeners bind on (and the node id\'s IP); 0.0.0.0 to serve every interface' },
  { key: 'portOffset', flag: 'port-offset', env: 'GATEWAY_PORT_OFFSET', type: 'int', default: '0', description: 'added to each Gateway server port that --port-map does not name (10000: port 80 is served on 10080), for machines where ports below 1024 need root' },
  { key: 'portMap', flag: 'port-map', env: 'GATEWAY_PORT_MAP', type: 'list', default: '', description: 'Gateway server port → local port, 80=8080,443=8443: where each listener binds instead of the port the Gateway names' },
  { key: 'secretDir', flag: 'secret-dir', env: 'GATEWAY_SECRET_DIR', type: 'string', description: 'local secret store for credentialName: <dir>/<name>/{tls.crt,tls.key,ca.crt}, watched for changes (served as SDS kubernetes://<name> and kubernetes://<name>-cacert)' },
  { key: 'kubeSecrets', flag: 'kube-secrets', env: 'GATEWAY_KUBE_SECRETS', type: 'bool', default: 'false', description: 'also read credentialName Secrets (kubernetes.io/tls, <name>-cacert) from the Kubernetes API in --namespace (in-cluster service account, else --kubeconfig)' },
  { key: 'kubeconfig', flag: 'kubeconfig', env: 'KUBECONFIG', type: 'string', description: 'kubeconfig for --kube-secrets outside a cluster (default ~/.kube/config)' },
  { key: 'adminAddress', flag: 'admin-address', env: 'GATEWAY_ADMIN_ADDRESS', type: 'string', default: '127.0.0.1', description: 'address the admin, health, stats and agent ports bind to' },
  { key: 'adminPort', flag: 'admin-port', env: 'GATEWAY_ADMIN_PORT', type: 'port', default: '15000', description: 'Envoy-style admin port: /config_dump, /clusters, /stats, /ready, /quitquitquit, /logging' },
  { key: 'healthPort', flag: 'health-port', env: 'GATEWAY_HEALTH_PORT', type: 'port', default: '15021', description: 'health port: /healthz/ready is 200 once configuration is live and listeners are bound' },
  { key: 'statsPort', flag: 'stats-port', env: 'GATEWAY_STATS_PORT', type: 'port', default: '15090', description: 'Prometheus port (Envoy\'s 15090): /stats/prometheus with Istio\'s istio_* metrics, reporter=source' },
  { key: 'agentPort', flag: 'agent-port', env: 'GATEWAY_AGENT_PORT', type: 'port', default: '15020', description: 'agent port (Istio\'s 15020): /stats/prometheus merged metrics' },
  { key: 'ratelimitAddress', flag: 'ratelimit-address', env: 'GATEWAY_RATELIMIT_ADDRESS', type: 'string', description: 'mixer\'s rate-limit service host:port (8081) for GLOBAL RateLimit resources selecting the gateway; default: the host and port of the filter\'s cluster name (mixer.istio-system.svc.cluster.local:8081)' },
  { key: 'natsUrl', flag: 'nats-url', env: 'GATEWAY_NATS_URL', type: 'string', description: 'NATS server: request records go to mixer (mesh.telemetry.<ns>.<workload>) and sampled spans to mesh.spans.<ns>.<workload>; root-certificate updates are followed' },
  { key: 'traceSampling', flag: 'trace-sampling', env: 'GATEWAY_TRACE_SAMPLING', type: 'string', default: '1', description: 'percent of new traces sampled, 0-100 (Istio\'s default 1); requests carrying a decision keep it' },
  { key: 'accessLog', flag: 'access-log', env: 'GATEWAY_ACCESS_LOG', type: 'bool', default: 'false', description: 'write one access log line per request to stdout (Istio\'s JSON encoding), besides those that meshConfig.accessLogFile or a Telemetry resource turn on; off by default, as in Istio\'s default profile' },
  { key: 'deltaXds', flag: 'delta-xds', env: 'ISTIO_DELTA_XDS', type: 'bool', default: 'false', description: 'use Delta xDS instead of State of the World' },
  { key: 'drainDuration', flag: 'drain-duration', env: 'TERMINATION_DRAIN_DURATION', type: 'duration', default: '5s', description: 'on SIGTERM, how long in-flight requests may finish before the gateway closes (Istio terminationDrainDuration)' },
  { key: 'domainSuffix', flag: 'domain-suffix', env: 'DOMAIN_SUFFIX', type: 'string', default: 'cluster.local', description: 'DNS suffix of services (node id <ns>.svc.<suffix>)' },
  { key: 'logLevel', flag: 'log-level', env: 'GATEWAY_LOG_LEVEL', type: 'string', default: 'info', description: 'log level (changeable at runtime through POST /logging?level=)' },
] as const satisfies readonly SettingDef[];
