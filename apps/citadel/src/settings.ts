/**
 * Every flag and environment variable of meshwork-citadel (STYLE.md 12). `--help` and
 * docs/citadel.md are generated from this list; nothing else reads process.env.
 */
import type { SettingDef } from '@meshwork/settings';

export const CITADEL_SETTINGS = [
  { key: 'stateDir', flag: 'state-dir', env: 'CITADEL_STATE_DIR', type: 'string', default: '.meshwork/citadel', description: 'key store directory (0700, files 0600): root key and certificate (root-cert.pem), admin credential, join-token key' },
  { key: 'keyStore', flag: 'key-store', env: 'CITADEL_KEY_STORE', type: 'string', default: 'directory', description: 'where the CA keeps its keys: directory (--state-dir) or kubernetes (a Secret, via --kubeconfig/--k8s-api)' },
  { key: 'caSecret', flag: 'ca-secret', env: 'CITADEL_CA_SECRET', type: 'string', default: 'istio-system/meshwork-ca-secret', description: 'namespace/name of the Secret holding the CA with --key-store kubernetes' },
  { key: 'cacertsDir', flag: 'cacerts-dir', env: 'CITADEL_CACERTS_DIR', type: 'string', description: 'plugged-in CA (Istio layout: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem); citadel then signs as that intermediate' },
  { key: 'trustDomain', flag: 'trust-domain', env: 'CITADEL_TRUST_DOMAIN', type: 'string', default: 'cluster.local', description: 'SPIFFE trust domain of the mesh' },
  { key: 'listenAddress', flag: 'listen-address', env: 'CITADEL_LISTEN_ADDRESS', type: 'string', default: '127.0.0.1', description: 'address every port binds to (0.0.0.0 in a container)' },
  { key: 'grpcPort', flag: 'grpc-port', env: 'CITADEL_GRPC_PORT', type: 'port', default: '8060', description: 'istio.v1.auth.IstioCertificateService gRPC port (TLS)' },
  { key: 'adminPort', flag: 'admin-port', env: 'CITADEL_ADMIN_PORT', type: 'port', default: '8061', description: 'admin HTTPS API: join tokens, root rotation, trust bundle (bearer credential from <state-dir>/admin-token)' },
  { key: 'monitoringPort', flag: 'monitoring-port', env: 'CITADEL_MONITORING_PORT', type: 'port', default: '15014', description: 'HTTP port: /metrics, /healthz/ready, /ca/roots' },
  { key: 'caKeyAlgorithm', flag: 'ca-key-algorithm', env: 'CITADEL_CA_KEY_ALGORITHM', type: 'string', default: 'ECDSA_P256', description: 'key of a new self-signed root: ECDSA_P256 or RSA_2048' },
  { key: 'rootTtl', flag: 'root-ttl', env: 'CITADEL_ROOT_TTL', type: 'duration', default: '87600h', description: 'lifetime of a new self-signed root (10 years)' },
  { key: 'workloadCertTtl', flag: 'workload-cert-ttl', env: 'DEFAULT_WORKLOAD_CERT_TTL', type: 'duration', default: '24h', description: 'lifetime of a workload certificate when the request names none' },
  { key: 'maxWorkloadCertTtl', flag: 'max-workload-cert-ttl', env: 'MAX_WORKLOAD_CERT_TTL', type: 'duration', default: '2160h', description: 'longest workload certificate lifetime; longer requests are refused with InvalidArgument (as Istio)' },
  { key: 'serverDnsNames', flag: 'server-dns-names', env: 'CITADEL_SERVER_DNS_NAMES', type: 'list', default: 'localhost,citadel,citadel.istio-system.svc,citadel.istio-system.svc.cluster.local', description: 'DNS SANs of citadel\'s own TLS certificate' },
  { key: 'controlPlaneDnsNames', flag: 'control-plane-dns-names', env: 'CITADEL_CONTROL_PLANE_DNS_NAMES', type: 'list', default: 'istio-system/pilot=localhost,istio-system/pilot=pilot,istio-system/pilot=pilot.istio-system.svc,istio-system/pilot=istiod.istio-system.svc', description: 'control-plane identities that may add DNS SANs to their SVID (<ns>/<sa>=<dns name>, one name per entry), e.g. pilot for xDS mTLS on 15012' },
  { key: 'joinTokenMaxTtl', flag: 'join-token-max-ttl', env: 'CITADEL_JOIN_TOKEN_MAX_TTL', type: 'duration', default: '720h', description: 'longest lifetime of a join token issued through the admin API' },
  { key: 'kubeconfig', flag: 'kubeconfig', env: 'KUBECONFIG', type: 'string', description: 'kubeconfig: enables Kubernetes service-account tokens (verified with TokenReview against its current context)' },
  { key: 'k8sApi', flag: 'k8s-api', env: 'CITADEL_K8S_API', type: 'string', description: 'Kubernetes API URL for TokenReview (instead of --kubeconfig; in-cluster use with --k8s-token-file and --k8s-ca-file)' },
  { key: 'k8sTokenFile', flag: 'k8s-token-file', env: 'CITADEL_K8S_TOKEN_FILE', type: 'string', description: 'bearer token citadel presents to the Kubernetes API (with --k8s-api)' },
  { key: 'k8sCaFile', flag: 'k8s-ca-file', env: 'CITADEL_K8S_CA_FILE', type: 'string', description: 'CA bundle that signs the Kubernetes API server certificate (with --k8s-api)' },
  { key: 'tokenAudiences', flag: 'token-audiences', env: 'TOKEN_AUDIENCE', type: 'list', default: 'istio-ca', description: 'audiences a Kubernetes service-account token must carry (TokenReview spec.audiences)' },
  { key: 'natsUrl', flag: 'nats-url', env: 'CITADEL_NATS_URL', type: 'string', description: 'NATS server: publish the trust bundle on mesh.ca.roots and the mesh-ca KV bucket' },
  { key: 'rootOverlap', flag: 'root-overlap', env: 'CITADEL_ROOT_OVERLAP', type: 'duration', default: '48h', description: 'after `meshctl ca rotate-root`, how long the old root stays in the trust bundle' },
  { key: 'shutdownGrace', flag: 'shutdown-grace', env: 'CITADEL_SHUTDOWN_GRACE', type: 'duration', default: '10s', description: 'longest SIGTERM waits for in-flight requests before closing' },
  { key: 'logLevel', flag: 'log-level', env: 'CITADEL_LOG_LEVEL', type: 'string', default: 'info', description: 'log level: fatal, error, warn, info, debug, trace, silent' },
] as const satisfies readonly SettingDef[];
