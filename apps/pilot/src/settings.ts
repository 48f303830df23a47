/**
 * Every flag and environment variable of meshwork-pilot (STYLE.md 12). `--help` and
 * docs/pilot.md are generated from this list; nothing else reads process.env.
 */
import type { SettingDef } from '@meshwork/settings';

export const PILOT_SETTINGS = [
  { key: 'configDir', flag: 'config-dir', env: 'PILOT_CONFIG_DIR', type: 'string', description: 'directory of mesh YAML/JSON, watched recursively (a config source)' },
  { key: 'natsUrl', flag: 'nats-url', env: 'PILOT_NATS_URL', type: 'string', description: 'NATS server: adds the mesh-config KV store (written through the config API) and workload auto-registration' },
  { key: 'kubeconfig', flag: 'kubeconfig', env: 'KUBECONFIG', type: 'string', description: 'kubeconfig file: adds Istio CRDs, Kubernetes Gateway API resources and Kubernetes Services/EndpointSlices/Pods as sources' },
  { key: 'xdsPort', flag: 'xds-port', env: 'PILOT_XDS_PORT', type: 'port', default: '15010', description: 'xDS (ADS, SotW and Delta) plaintext gRPC port' },
  { key: 'monitoringPort', flag: 'monitoring-port', env: 'PILOT_MONITORING_PORT', type: 'port', default: '15014', description: 'HTTP port: /metrics, /healthz/ready, /debug/*, and the config REST API' },
  { key: 'secureXdsPort', flag: 'secure-xds-port', env: 'PILOT_SECURE_XDS_PORT', type: 'port', default: '15012', description: 'xDS over mutual TLS (Istio 15012): served with a citadel-issued certificate once --ca-address is set; each proxy\'s certificate must match its node namespace/service account' },
  { key: 'caAddress', flag: 'ca-address', env: 'CA_ADDR', type: 'string', description: 'citadel gRPC address host:port (8060) that issues pilot\'s serving certificate; enables --secure-xds-port' },
  { key: 'caRootCert', flag: 'ca-root-cert', env: 'PILOT_CA_ROOT_CERT', type: 'string', description: 'PEM file of the mesh trust bundle (citadel\'s root-cert.pem), required with --ca-address; with --nats-url, rotated roots then arrive on mesh.ca.roots' },
  { key: 'caTokenFile', flag: 'ca-token-file', env: 'PILOT_CA_TOKEN_FILE', type: 'string', description: 'file holding the bearer token of pilot\'s first certificate request (a join token for <namespace>/<service-account>, or a Kubernetes service-account JWT); read at each request' },
  { key: 'namespace', flag: 'namespace', env: 'POD_NAMESPACE', type: 'string', default: 'istio-system', description: 'namespace of pilot\'s own identity (spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>)' },
  { key: 'serviceAccount', flag: 'service-account', env: 'SERVICE_ACCOUNT', type: 'string', default: 'pilot', description: 'service account of pilot\'s own identity' },
  { key: 'xdsDnsNames', flag: 'xds-dns-names', env: 'PILOT_XDS_DNS_NAMES', type: 'list', default: 'localhost,pilot,pilot.istio-system.svc,istiod.istio-system.svc', description: 'DNS SANs of pilot\'s serving certificate on --secure-xds-port (citadel must allow them for pilot\'s identity)' },
  { key: 'listenAddress', flag: 'listen-address', env: 'PILOT_LISTEN_ADDRESS', type: 'string', default: '127.0.0.1', description: 'address every port binds to (0.0.0.0 in a container)' },
  { key: 'debounceAfter', flag: 'debounce-after', env: 'PILOT_DEBOUNCE_AFTER', type: 'duration', default: '100ms', description: 'quiet period after a config change before a push (Istio PILOT_DEBOUNCE_AFTER)' },
  { key: 'debounceMax', flag: 'debounce-max', env: 'PILOT_DEBOUNCE_MAX', type: 'duration', default: '10s', description: 'longest a change waits for a push (Istio PILOT_DEBOUNCE_MAX)' },
  { key: 'domainSuffix', flag: 'domain-suffix', env: 'PILOT_DOMAIN_SUFFIX', type: 'string', default: 'cluster.local', description: 'DNS suffix of services (<svc>.<ns>.svc.<suffix>)' },
  { key: 'trustDomain', flag: 'trust-domain', env: 'PILOT_TRUST_DOMAIN', type: 'string', default: 'cluster.local', description: 'SPIFFE trust domain of the mesh' },
  { key: 'rootNamespace', flag: 'root-namespace', env: 'PILOT_ROOT_NAMESPACE', type: 'string', default: 'istio-system', description: 'mesh root namespace (mesh-wide policies live there)' },
  { key: 'meshConfig', flag: 'mesh-config', env: 'PILOT_MESH_CONFIG', type: 'string', description: 'Istio mesh config file (the istio ConfigMap, an IstioOperator or a bare MeshConfig): extensionProviders for CUSTOM authorization, trustDomain, rootNamespace, ... (its fields override the flags; watched: a change that parses is pushed to every proxy, one that does not is logged and the last good config stays)' },
  { key: 'registrationTtl', flag: 'registration-ttl', env: 'PILOT_REGISTRATION_TTL', type: 'duration', default: '30s', description: 'auto-registered workloads leave discovery this long after their last heartbeat' },
] as const satisfies readonly SettingDef[];
