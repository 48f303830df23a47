#!/usr/bin/env node
// One Meshwork sidecar engine for the mTLS bench (bench/proxy/mtls.bench.mjs): the engine's
// ListenerManager and ClusterManager (built dist of @meshwork/proxy) with the listener and cluster
// shapes pilot sends a sidecar, and the SVID and trust bundle served in memory as the agent does
// (SDS names `default` and `ROOTCA`).
//
// Usage: node mtls-entry.mjs <client|server> <listenPort> <targetPort> <certDir>
//   client: the source workload's sidecar. An outbound HTTP listener on listenPort routes every
//           request to a cluster whose endpoint carries `tlsMode: istio` metadata, so the auto mTLS
//           transport socket match originates Istio mTLS to targetPort (SNI
//           outbound_.<port>_._.<host>, ALPN istio-peer-exchange/istio, the server SVID's SAN
//           checked), with the client SVID (certDir/client.{crt,key}).
//   server: the destination workload's sidecar. An inbound listener on listenPort with pilot's
//           inbound mTLS chain (client certificate required, chained to certDir/ca.pem, ALPN
//           istio-peer-exchange/h2/http/1.1), HTTP connection manager, route to the inbound
//           cluster (plaintext) at targetPort, with the server SVID (certDir/server.{crt,key}).
// Every finished exchange record goes to a counter, as the sidecar hands each to telemetry.
// BENCH_MTLS_PLAIN=1: the same listeners and clusters without TLS (the endpoint without
// `tlsMode: istio`, the inbound chain without its transport socket), to tell the cost of TLS from
// the rest. Prints `ready <port>` once listening.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = '../../libs/proxy/dist';
const { compileConfig } = await import(`${dist}/config/compile.js`);
const { ClusterManager } = await import(`${dist}/engine/clusters.js`);
const { ListenerManager } = await import(`${dist}/engine/listeners.js`);
const { MemorySecretProvider, ROOT_CA_SECRET, WORKLOAD_CERT_SECRET } = await import(`${dist}/security/secrets.js`);

const plain = process.env.BENCH_MTLS_PLAIN === '1';
const [role, listenArg, targetArg, certDir] = process.argv.slice(2);
const listenPort = Number(listenArg);
const targetPort = Number(targetArg);
if ((role !== 'client' && role !== 'server') || !listenPort || !targetPort || !certDir) {
  process.stderr.write('usage: mtls-entry.mjs <client|server> <listenPort> <targetPort> <certDir>\n');
  process.exit(2);
}

const SDS = { ads: {}, resourceApiVersion: 'V3' };
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/bench-server';
const clock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h) };

const read = (f) => readFileSync(join(certDir, f), 'utf8');
const secrets = new MemorySecretProvider();
secrets.set(WORKLOAD_CERT_SECRET, { kind: 'certificate', certChainPem: read(`${role}.crt`), keyPem: read(`${role}.key`) });
secrets.set(ROOT_CA_SECRET, { kind: 'validation', trustedCaPem: read('ca.pem') });

// Istio's default retry policy and `timeout: 0s`, as translate emits when a VirtualService sets none.
const retryPolicy = {
  retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
  numRetries: { value: 2 },
  retryHostPredicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }],
  hostSelectionRetryMaxAttempts: 5,
  retriableStatusCodes: [503],
};
const unlimited = { thresholds: [{ maxConnections: { value: 4294967295 }, maxPendingRequests: { value: 4294967295 }, maxRequests: { value: 4294967295 }, maxRetries: { value: 4294967295 } }] };
const cluster = (name, port, metadata, extra = {}) => ({
  name,
  type: 'STATIC',
  connectTimeout: { seconds: 10 },
  circuitBreakers: unlimited,
  loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port } } }, ...(metadata ? { metadata } : {}) }] }] },
  ...extra,
});
const hcm = (statPrefix, clusterName) => ({
  name: 'envoy.filters.network.http_connection_manager',
  typedConfig: { '@type': HCM, statPrefix, routeConfig: { name: clusterName, virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName, timeout: { seconds: 0 }, retryPolicy } }] }] }, httpFilters: [ROUTER] },
});
const address = { socketAddress: { address: '127.0.0.1', portValue: listenPort } };

// Pilot's inbound mTLS transport socket: Istio's downstream TLS context, client certificate required.
const tlsSocket = {
  name: 'envoy.transport_sockets.tls',
  typedConfig: {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    commonTlsContext: {
      tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: SDS }],
      combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: SDS } },
      alpnProtocols: ['istio-peer-exchange', 'h2', 'http/1.1'],
    },
    requireClientCertificate: { value: true },
  },
};

let config;
if (role === 'client') {
  const name = 'outbound|9080||bench-server.default.svc.cluster.local';
  const autoMtls = {
    outlierDetection: {},
    transportSocketMatches: [
      {
        name: 'tlsMode-istio',
        match: { tlsMode: 'istio' },
        transportSocket: {
          name: 'envoy.transport_sockets.tls',
          typedConfig: {
            '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
            sni: 'outbound_.9080_._.bench-server.default.svc.cluster.local',
            commonTlsContext: {
              tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: SDS }],
              combinedValidationContext: { defaultValidationContext: { matchSubjectAltNames: [{ exact: SERVER_ID }] }, validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: SDS } },
              alpnProtocols: ['istio-peer-exchange', 'istio'],
            },
          },
        },
      },
      { name: 'tlsMode-disabled', match: {}, transportSocket: { name: 'envoy.transport_sockets.raw_buffer' } },
    ],
  };
  config = {
    listeners: [{ name: 'outbound_9080', address, trafficDirection: 'OUTBOUND', filterChains: [{ filters: [hcm('outbound_0.0.0.0_9080', name)] }] }],
    routes: [],
    clusters: [cluster(name, targetPort, plain ? undefined : { filterMetadata: { 'envoy.transport_socket_match': { tlsMode: 'istio' } } }, autoMtls)],
    endpoints: [],
  };
} else {
  const name = 'inbound|9080||';
  config = {
    listeners: [
      {
        name: 'virtualInbound_9080',
        address,
        trafficDirection: 'INBOUND',
        filterChains: [
          {
            name: `${name}-mtls`,
            ...(plain ? {} : { filterChainMatch: { transportProtocol: 'tls' }, transportSocket: tlsSocket }),
            filters: [hcm('inbound_0.0.0.0_9080', name)],
          },
        ],
      },
    ],
    routes: [],
    clusters: [cluster(name, targetPort, undefined)],
    endpoints: [],
  };
}

const compiled = compileConfig(config);
if (!compiled.ok) throw new Error(compiled.errors.join('; '));
const clusters = new ClusterManager(clock, role === 'client' ? { secrets } : {});
clusters.apply(compiled.value);
let exchanges = 0;
const count = () => void exchanges++;
const warnings = new Set();
const listeners = new ListenerManager({
  clusters,
  clock,
  ...(role === 'server' ? { secrets } : {}),
  bind: (plan) => ({ host: '127.0.0.1', port: plan.port }),
  onHttp1: count,
  onHttp2: count,
  onWarning: (m) => {
    if (!warnings.has(m)) process.stderr.write(`warning: ${m}\n`);
    warnings.add(m);
  },
});
const failures = await listeners.apply(compiled.value);
if (failures.length > 0) throw new Error(JSON.stringify(failures));
process.stdout.write(`ready ${listenPort}\n`);
process.on('SIGTERM', async () => {
  await listeners.close();
  clusters.close();
  process.exit(0);
});
