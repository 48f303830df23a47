import { describe, expect, test } from 'vitest';
import { Problems, type Obj } from './fields.js';
import { compileListener, inlineRouteName, selectFilterChain, type ListenerPlanExt } from './listeners.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const DTLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

const rds = (name: string): Obj => ({ name: 'envoy.filters.network.http_connection_manager', typedConfig: { '@type': HCM, statPrefix: 'http', rds: { routeConfigName: name, configSource: { ads: {} } } } });
const tcp = (cluster: string): Obj => ({ name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP, statPrefix: cluster, cluster } });
const addr = (port: number, address = '0.0.0.0'): Obj => ({ address: { socketAddress: { address, portValue: port } } });

function compile(l: Obj): { r: ReturnType<typeof compileListener>; errors: string[] } {
  const p = new Problems(`listener ${String(l.name)}`, [], []);
  return { r: compileListener(p, l), errors: p.errors };
}

function ok(l: Obj): NonNullable<ReturnType<typeof compileListener>> {
  const { r, errors } = compile(l);
  expect(errors).toEqual([]);
  if (!r) throw new Error('no listener');
  return r;
}

describe('compileListener', () => {
  test('HTTP with RDS; bind_to_port; direction', () => {
    const r = ok({
      name: '0.0.0.0_9080',
      ...addr(9080),
      bindToPort: { value: false },
      trafficDirection: 'OUTBOUND',
      listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } }],
      filterChains: [{ filters: [{ name: 'istio.stats' }, rds('9080')] }],
    });
    const plan = r.plan;
    expect([plan.address, plan.port, plan.useOriginalDst, plan.bindToPort, plan.trafficDirection]).toEqual(['0.0.0.0', 9080, false, false, 'OUTBOUND']);
    expect(plan.listenerFilters).toEqual(['envoy.filters.listener.tls_inspector']);
    expect(plan.filterChains).toEqual([{ match: {}, handler: { kind: 'http', routeConfig: '9080', statPrefix: 'http' } }]);
    expect(r.rdsRefs).toEqual([{ name: '9080', path: 'filter_chains[0].filters[1].typed_config.rds.route_config_name' }]);
  });
  test('inline route configuration registered under a synthetic name', () => {
    const r = ok({
      name: 'virtualInbound',
      ...addr(15006),
      useOriginalDst: { value: true },
      filterChains: [{ filters: [{ typedConfig: { '@type': HCM, routeConfig: { name: 'inbound|9080||', virtualHosts: [{ name: 'inbound', domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: 'inbound|9080||' } }] }] } } }] }],
    });
    expect(r.plan.useOriginalDst).toBe(true);
    const name = inlineRouteName('virtualInbound', 0);
    expect(r.plan.filterChains[0].handler).toEqual({ kind: 'http', routeConfig: name });
    expect(r.inlineRoutes.get(name)?.table.name).toBe('inbound|9080||');
    expect(r.inlineRoutes.get(name)?.validateClusters).toBe(true);
  });
  test("istio.stats' tcp_reporting_duration (a TypedStruct ahead of tcp_proxy) sets the TCP chain's report interval; a malformed one is refused", () => {
    const stats = (d: unknown): Obj => ({ name: 'istio.stats', typedConfig: { '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', typeUrl: 'type.googleapis.com/stats.PluginConfig', value: { tcp_reporting_duration: d } } });
    const r = ok({ name: 'tcp', ...addr(3306), filterChains: [{ filters: [stats('2.5s'), tcp('mysql')] }, { filterChainMatch: { destinationPort: { value: 1 } }, filters: [tcp('other')] }] });
    expect(r.plan.filterChains.map((c) => (c.handler.kind === 'tcp' ? c.handler.reportIntervalMs : 'http'))).toEqual([undefined, 2500]);
    const bad = compile({ name: 'tcp', ...addr(3306), filterChains: [{ filters: [stats('5 seconds'), tcp('mysql')] }] });
    expect(bad.r).toBeUndefined();
    expect(bad.errors[0]).toMatch(/tcp_reporting_duration.*"5 seconds" is not a duration/);
  });
  test('TCP proxy, weighted TCP, default filter chain, chain order most specific first', () => {
    const r = ok({
      name: 'virtualOutbound',
      ...addr(15001),
      filterChains: [
        { name: 'catch-all', filters: [tcp('PassthroughCluster')] },
        { name: 'w', filterChainMatch: { destinationPort: { value: 3306 } }, filters: [{ typedConfig: { '@type': TCP, weightedClusters: { clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 3 }] } } }] },
        { name: 'sni', filterChainMatch: { destinationPort: { value: 443 }, serverNames: ['API.example.com'], transportProtocol: 'tls' }, filters: [tcp('api')] },
      ],
      defaultFilterChain: { name: 'default', filters: [tcp('BlackHoleCluster')] },
    });
    expect(r.plan.filterChains.map((c) => c.name)).toEqual(['sni', 'w', 'catch-all', 'default']);
    expect(r.plan.filterChains[0].match).toEqual({ destinationPort: 443, serverNames: ['api.example.com'], transportProtocol: 'tls' });
    expect(r.plan.filterChains[1].handler).toEqual({ kind: 'tcp', clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 3 }] });
    expect(r.clusterRefs.map((c) => c.cluster)).toEqual(['PassthroughCluster', 'a', 'b', 'api', 'BlackHoleCluster']);
  });
  test('downstream mTLS (Istio inbound) and gRPC proxyless server certificate providers', () => {
    const r = ok({
      name: 'in',
      ...addr(15006),
      filterChains: [
        {
          filterChainMatch: { transportProtocol: 'tls', applicationProtocols: ['istio-peer-exchange', 'istio'] },
          transportSocket: {
            name: 'envoy.transport_sockets.tls',
            typedConfig: { '@type': DTLS, requireClientCertificate: { value: true }, commonTlsContext: { alpnProtocols: ['h2', 'http/1.1'], tlsCertificateSdsSecretConfigs: [{ name: 'default' }], combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: 'ROOTCA' } } } },
          },
          filters: [rds('inbound|9080||')],
        },
        {
          filterChainMatch: { transportProtocol: 'raw_buffer' },
          transportSocket: { typedConfig: { '@type': DTLS, commonTlsContext: { tlsCertificateProviderInstance: { instanceName: 'default', certificateName: 'default' }, combinedValidationContext: { defaultValidationContext: { caCertificateProviderInstance: { instanceName: 'default', certificateName: 'ROOTCA' } } } } } },
          filters: [rds('x')],
        },
      ],
    });
    expect(r.plan.filterChains[0].tls).toEqual({ requireClientCertificate: true, alpn: ['h2', 'http/1.1'], certificateSds: 'default', validationSds: 'ROOTCA', subjectAltNames: [] });
    expect(r.plan.filterChains[0].match.applicationProtocols).toEqual(['istio-peer-exchange', 'istio']);
    expect(r.plan.filterChains[1].tls).toMatchObject({ requireClientCertificate: false, certificateProvider: 'default/default', validationProvider: 'default/ROOTCA' });
  });

  test('compiles downstream TLS from files with tls_params (version bounds, cipher suites)', () => {
    const { r, errors } = compile({
      name: 'gw',
      address: { socketAddress: { address: '0.0.0.0', portValue: 8443 } },
      filterChains: [
        {
          filters: [tcp('x')],
          transportSocket: {
            typedConfig: {
              '@type': DTLS,
              commonTlsContext: {
                tlsCertificates: [{ certificateChain: { filename: '/etc/certs/cert.pem' }, privateKey: { filename: '/etc/certs/key.pem' } }],
                validationContext: { trustedCa: { filename: '/etc/certs/ca.pem' } },
                tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_3', tlsMaximumProtocolVersion: 'TLSv1_3', cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256'] },
              },
            },
          },
        },
      ],
    });
    expect(errors).toEqual([]);
    expect(r?.plan.filterChains[0].tls).toEqual({ requireClientCertificate: false, alpn: [], certificateFiles: { certFile: '/etc/certs/cert.pem', keyFile: '/etc/certs/key.pem' }, caFile: '/etc/certs/ca.pem', subjectAltNames: [], minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256'] });
    const bad = compile({ name: 'gw', address: { socketAddress: { address: '0.0.0.0', portValue: 8443 } }, filterChains: [{ filters: [tcp('x')], transportSocket: { typedConfig: { '@type': DTLS, commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: 'cred' }], tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_3', tlsMaximumProtocolVersion: 'TLSv1_2' } } } } }] });
    expect(bad.errors.join()).toContain('tls_minimum_protocol_version is above tls_maximum_protocol_version');
  });
  test('api_listener (proxyless gRPC)', () => {
    const r = ok({ name: 'reviews:9080', apiListener: { apiListener: { '@type': HCM, rds: { routeConfigName: 'reviews:9080' } } } });
    const plan = r.plan as ListenerPlanExt;
    expect([plan.apiListener, plan.port, plan.bindToPort]).toEqual([true, 9080, false]);
    expect(plan.filterChains[0].handler).toEqual({ kind: 'http', routeConfig: 'reviews:9080' });
  });
  test('bad input', () => {
    const { r, errors } = compile({
      name: 'bad',
      address: { pipe: { path: '/tmp/x' } },
      filterChains: [
        { filters: [] },
        { filters: [rds('a'), tcp('b')] },
        { filterChainMatch: { sourcePrefixRanges: [{ addressPrefix: '10.0.0.0' }] }, filters: [{ typedConfig: { '@type': HCM } }] },
        { filters: [{ typedConfig: { '@type': TCP, weightedClusters: { clusters: [{ name: 'a', weight: 0 }] } } }] },
        { filters: [tcp('x')], transportSocket: { typedConfig: { '@type': DTLS, commonTlsContext: {} } } },
      ],
    });
    expect(r).toBeUndefined();
    expect(errors).toEqual([
      'listener bad: address: only socket_address is supported',
      'listener bad: filter_chains[0].filters: no http_connection_manager or tcp_proxy filter (listener bad)',
      'listener bad: filter_chains[1].filters[1]: a filter chain has one terminal filter (http_connection_manager or tcp_proxy)',
      'listener bad: filter_chains[2].filter_chain_match.source_prefix_ranges: source matching is not supported',
      'listener bad: filter_chains[2].filters[0].typed_config: one of rds, route_config is required (route_specifier)',
      'listener bad: filter_chains[3].filters[0].typed_config.weighted_clusters: weights sum to 0',
      'listener bad: filter_chains[4].transport_socket.typed_config.common_tls_context: a certificate is required (tls_certificate_sds_secret_configs, tls_certificates or tls_certificate_provider_instance)',
    ]);
    expect(compile({ name: 'empty', ...addr(1) }).errors).toEqual(['listener empty: filter_chains: a listener needs at least one filter chain or a default_filter_chain']);
    expect(compile({ name: 'dup', ...addr(1), filterChains: [{ filters: [tcp('a')] }, { filters: [tcp('b')] }] }).errors).toEqual([
      'listener dup: filter_chains[1].filter_chain_match: the same match as an earlier chain (Envoy rejects overlapping chains)',
    ]);
  });
});

describe('selectFilterChain', () => {
  const plan = ok({
    name: 'l',
    ...addr(15001),
    filterChains: [
      { name: 'any', filters: [tcp('pass')] },
      { name: 'port-8080', filterChainMatch: { destinationPort: { value: 8080 } }, filters: [rds('8080')] },
      { name: 'port-443-exact', filterChainMatch: { destinationPort: { value: 443 }, serverNames: ['api.example.com'] }, filters: [tcp('api')] },
      { name: 'port-443-wild', filterChainMatch: { destinationPort: { value: 443 }, serverNames: ['*.example.com'] }, filters: [tcp('wild')] },
      { name: 'port-443-tls', filterChainMatch: { destinationPort: { value: 443 }, transportProtocol: 'tls' }, filters: [tcp('tls')] },
      { name: 'net', filterChainMatch: { prefixRanges: [{ addressPrefix: '10.1.0.0', prefixLen: { value: 16 } }] }, filters: [tcp('net')] },
      { name: 'net-narrow', filterChainMatch: { prefixRanges: [{ addressPrefix: '10.1.2.0', prefixLen: { value: 24 } }] }, filters: [tcp('narrow')] },
      { name: 'h2', filterChainMatch: { destinationPort: { value: 9000 }, applicationProtocols: ['h2'] }, filters: [tcp('h2')] },
      { name: 'mtls-tcp', filterChainMatch: { destinationPort: { value: 9001 }, transportProtocol: 'tls', applicationProtocols: ['istio-peer-exchange', 'istio'] }, filters: [tcp('mtls-tcp')] },
      { name: 'mtls-http', filterChainMatch: { destinationPort: { value: 9001 }, transportProtocol: 'tls', applicationProtocols: ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'] }, filters: [rds('9001')] },
      { name: 'v6', filterChainMatch: { prefixRanges: [{ addressPrefix: 'fd00:10::', prefixLen: { value: 32 } }] }, filters: [tcp('v6')] },
      { name: 'v6-host', filterChainMatch: { prefixRanges: [{ addressPrefix: 'fd00:10::1', prefixLen: { value: 128 } }] }, filters: [tcp('v6h')] },
    ],
    defaultFilterChain: { name: 'default', filters: [tcp('blackhole')] },
  }).plan;
  const cases: [string, Parameters<typeof selectFilterChain>[1], string | undefined][] = [
    ['unmatched port → catch-all', { destinationPort: 1234 }, 'any'],
    ['port', { destinationPort: 8080 }, 'port-8080'],
    ['exact SNI beats wildcard', { destinationPort: 443, serverName: 'api.example.com', transportProtocol: 'tls' }, 'port-443-exact'],
    ['wildcard SNI', { destinationPort: 443, serverName: 'www.example.com', transportProtocol: 'tls' }, 'port-443-wild'],
    ['no SNI match: chain without server names', { destinationPort: 443, serverName: 'other.org', transportProtocol: 'tls' }, 'port-443-tls'],
    ['port matched but nothing else: default chain (no fallback to other ports, as Envoy)', { destinationPort: 443, transportProtocol: 'raw_buffer' }, 'default'],
    ['longest destination prefix', { destinationPort: 1, destinationIp: '10.1.2.3' }, 'net-narrow'],
    ['shorter prefix', { destinationPort: 1, destinationIp: '10.1.9.3' }, 'net'],
    ['ALPN', { destinationPort: 9000, applicationProtocols: ['h2'] }, 'h2'],
    ['IPv6 prefix', { destinationPort: 1, destinationIp: 'fd00:10:0:0::abcd' }, 'v6'],
    ['IPv6 host route wins', { destinationPort: 1, destinationIp: 'fd00:0010::0001' }, 'v6-host'],
    ['IPv6 outside every prefix → catch-all', { destinationPort: 1, destinationIp: 'fd00:11::1' }, 'any'],
    ['IPv4-mapped tail parses', { destinationPort: 1, destinationIp: '::ffff:10.1.2.3' }, 'any'],
    ['ALPN mismatch → default', { destinationPort: 9000, applicationProtocols: ['http/1.1'] }, 'default'],
    ["ALPN: the client's first protocol that a chain names wins (istio-h2 before istio)", { destinationPort: 9001, transportProtocol: 'tls', applicationProtocols: ['istio-h2', 'istio', 'h2'] }, 'mtls-http'],
    ['ALPN: istio-peer-exchange, istio → TCP over mTLS', { destinationPort: 9001, transportProtocol: 'tls', applicationProtocols: ['istio-peer-exchange', 'istio'] }, 'mtls-tcp'],
  ];
  for (const [name, conn, want] of cases) test(name, () => expect(selectFilterChain(plan, conn)?.name).toBe(want));
});
