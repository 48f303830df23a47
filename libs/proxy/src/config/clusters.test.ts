import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLUSTER_TYPE, ENDPOINT_TYPE, generateAll, LISTENER_TYPE, ROUTE_TYPE } from '@meshwork/translate';
import { loadCase } from '@meshwork/translate/testing';
import { describe, expect, test } from 'vitest';
import { compileConfig } from './compile.js';
import { Problems, type Obj } from './fields.js';
import { compileCluster, DEFAULT_CIRCUIT_BREAKERS } from './clusters.js';

const TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const RAW = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';

function compile(c: Obj): { plan: ReturnType<typeof compileCluster>; errors: string[]; warnings: string[] } {
  const p = new Problems(`cluster ${String(c.name)}`, [], []);
  return { plan: compileCluster(p, c), errors: p.errors, warnings: p.warnings };
}

function ok(c: Obj): NonNullable<ReturnType<typeof compileCluster>> {
  const r = compile({ name: 'c', ...c });
  expect(r.errors).toEqual([]);
  if (!r.plan) throw new Error('no plan');
  return r.plan;
}

describe('compileCluster', () => {
  test('Envoy defaults: STATIC, round robin, 5 s connect timeout, 1024/1024/1024/3 breakers, HTTP/1.1', () => {
    const c = ok({});
    expect(c.discovery).toBe('static');
    expect(c.edsServiceName).toBe('c');
    expect(c.lb).toEqual({ kind: 'round-robin' });
    expect(c.connectTimeoutMs).toBe(5000);
    expect(c.circuitBreakers).toEqual(DEFAULT_CIRCUIT_BREAKERS);
    expect(c.circuitBreakers).toEqual({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
    expect(c.http2).toBe(false);
    expect(c.outlier).toBeUndefined();
    expect(c.tls).toBeUndefined();
    expect(c.inlineEndpoints).toEqual({ priorities: [] });
  });
  test('EDS service name', () => {
    const c = ok({ type: 'EDS', edsClusterConfig: { serviceName: 'outbound|9080|v1|reviews', edsConfig: { ads: {} } } });
    expect(c.discovery).toBe('eds');
    expect(c.edsServiceName).toBe('outbound|9080|v1|reviews');
    expect(c.inlineEndpoints).toBeUndefined();
    expect(ok({ type: 'EDS' }).edsServiceName).toBe('c');
  });
  test('lb policies', () => {
    expect(ok({ lbPolicy: 'LEAST_REQUEST' }).lb).toEqual({ kind: 'least-request', choiceCount: 2 });
    expect(ok({ lbPolicy: 'LEAST_REQUEST', leastRequestLbConfig: { choiceCount: { value: 4 } } }).lb).toEqual({ kind: 'least-request', choiceCount: 4 });
    expect(ok({ lbPolicy: 'RANDOM' }).lb).toEqual({ kind: 'random' });
    expect(ok({ lbPolicy: 'RING_HASH' }).lb).toEqual({ kind: 'ring-hash', minimumRingSize: 1024, maximumRingSize: 8_388_608 });
    expect(ok({ lbPolicy: 'RING_HASH', ringHashLbConfig: { minimumRingSize: { value: 2048 } } }).lb).toEqual({ kind: 'ring-hash', minimumRingSize: 2048, maximumRingSize: 8_388_608 });
    expect(ok({ lbPolicy: 'MAGLEV' }).lb).toEqual({ kind: 'maglev', tableSize: 65537 });
    expect(ok({ lbPolicy: 'MAGLEV', maglevLbConfig: { tableSize: { value: 251 } } }).lb).toEqual({ kind: 'maglev', tableSize: 251 });
    expect(ok({ type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED' })).toMatchObject({ discovery: 'original-dst', lb: { kind: 'cluster-provided' } });
    expect(ok({ lbPolicy: 2 }).lb.kind).toBe('ring-hash');
  });
  test('circuit breakers: DEFAULT priority thresholds, unset fields default', () => {
    const c = ok({ circuitBreakers: { thresholds: [{ priority: 'HIGH', maxConnections: { value: 1 } }, { maxConnections: { value: 10 }, maxRequests: { value: 4294967295 } }] } });
    expect(c.circuitBreakers).toEqual({ maxConnections: 10, maxPendingRequests: 1024, maxRequests: 4294967295, maxRetries: 3 });
  });
  test('outlier detection: Envoy defaults', () => {
    expect(ok({ outlierDetection: {} }).outlier).toEqual({ consecutive5xx: 5, splitExternalLocalOriginErrors: false, intervalMs: 10000, baseEjectionTimeMs: 30000, maxEjectionPercent: 10, minHealthPercent: 50 });
  });
  test("outlier detection as Istio writes it (gateway errors only, panic threshold)", () => {
    const c = ok({
      outlierDetection: { consecutive_5xx: { value: 0 }, enforcingConsecutive_5xx: { value: 0 }, consecutiveGatewayFailure: { value: 3 }, enforcingConsecutiveGatewayFailure: { value: 100 }, interval: { seconds: 1 }, baseEjectionTime: { seconds: 15 }, maxEjectionPercent: { value: 100 } },
      commonLbConfig: { healthyPanicThreshold: { value: 0 } },
    });
    expect(c.outlier).toEqual({ consecutiveGatewayErrors: 3, splitExternalLocalOriginErrors: false, intervalMs: 1000, baseEjectionTimeMs: 15000, maxEjectionPercent: 100, minHealthPercent: 0 });
    expect(c.panicThresholdPercent).toBe(0);
  });
  test('panic threshold and locality weighting from common_lb_config', () => {
    const c = ok({ commonLbConfig: { healthyPanicThreshold: { value: 25 }, localityWeightedLbConfig: {} } });
    expect([c.panicThresholdPercent, c.localityWeighted]).toEqual([25, true]);
    expect(ok({ commonLbConfig: { healthyPanicThreshold: {} } }).panicThresholdPercent).toBe(0);
    expect(compile({ name: 'x', outlierDetection: {}, commonLbConfig: { healthyPanicThreshold: { value: 101 } } }).errors).toEqual(['cluster x: common_lb_config.healthy_panic_threshold.value: 101 is not a percentage']);
    const d = ok({});
    expect([d.panicThresholdPercent, d.localityWeighted]).toEqual([undefined, undefined]);
  });
  test("Istio's tlsMode transport socket matches", () => {
    const c = ok({
      transportSocketMatches: [
        {
          name: 'tlsMode-istio',
          match: { tlsMode: 'istio' },
          transportSocket: {
            name: 'envoy.transport_sockets.tls',
            typedConfig: {
              '@type': TLS,
              sni: 'outbound_.9080_._.reviews.default.svc.cluster.local',
              commonTlsContext: {
                alpnProtocols: ['istio-peer-exchange', 'istio'],
                tlsCertificateSdsSecretConfigs: [{ name: 'default' }],
                combinedValidationContext: { defaultValidationContext: { matchSubjectAltNames: [{ exact: 'spiffe://cluster.local/ns/default/sa/reviews' }] }, validationContextSdsSecretConfig: { name: 'ROOTCA' } },
              },
            },
          },
        },
        { name: 'tlsMode-disabled', match: {}, transportSocket: { name: 'envoy.transport_sockets.raw_buffer', typedConfig: { '@type': RAW } } },
      ],
    });
    expect(c.tls).toEqual({
      sni: 'outbound_.9080_._.reviews.default.svc.cluster.local',
      alpn: ['istio-peer-exchange', 'istio'],
      subjectAltNames: ['spiffe://cluster.local/ns/default/sa/reviews'],
      certificate: { sdsName: 'default' },
      validation: { sdsName: 'ROOTCA' },
      onlyIstioEndpoints: true,
    });
  });
  test('SIMPLE/MUTUAL TLS with files on transport_socket', () => {
    const c = ok({
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: {
          '@type': TLS,
          sni: 'api.example.com',
          commonTlsContext: { tlsCertificates: [{ certificateChain: { filename: '/c.pem' }, privateKey: { filename: '/k.pem' } }], validationContext: { trustedCa: { filename: '/ca.pem' }, matchSubjectAltNames: [{ exact: 'api.example.com' }] } },
        },
      },
    });
    expect(c.tls).toEqual({ sni: 'api.example.com', alpn: [], subjectAltNames: ['api.example.com'], certificate: { certFile: '/c.pem', keyFile: '/k.pem' }, validation: { caFile: '/ca.pem' }, onlyIstioEndpoints: false });
  });
  test('HTTP protocol options: h2, idle timeout, max requests per connection', () => {
    const c = ok({
      typedExtensionProtocolOptions: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicitHttpConfig: { http2ProtocolOptions: {} },
          commonHttpProtocolOptions: { idleTimeout: { seconds: 60 }, maxRequestsPerConnection: { value: 100 } },
        },
      },
    });
    expect([c.http2, c.idleTimeoutMs, c.maxRequestsPerConnection]).toEqual([true, 60000, 100]);
    expect(ok({ http2ProtocolOptions: {} }).http2).toBe(true);
  });
  test('inline load assignment and Istio metadata', () => {
    const c = ok({
      type: 'STRICT_DNS',
      loadAssignment: { clusterName: 'c', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: 'api.example.com', portValue: 443 } } } }] }] },
      metadata: { filterMetadata: { istio: { services: [{ host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default' }], subset: 'v1' } } },
    });
    expect(c.discovery).toBe('strict-dns');
    expect(c.inlineEndpoints?.priorities[0][0].endpoints[0]).toEqual({ address: 'api.example.com', port: 443, weight: 1, healthy: true });
    expect(c.meta).toEqual({ host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default', subset: 'v1' });
  });
  test('bad input: every error with its path', () => {
    const r = compile({
      name: 'bad',
      type: 'WEIRD',
      lbPolicy: 'MAGLEV',
      maglevLbConfig: { tableSize: { value: 100 } },
      connectTimeout: { seconds: 'x' },
      circuitBreakers: { thresholds: [{ maxConnections: { value: -1 } }] },
      outlierDetection: { maxEjectionPercent: { value: 101 } },
      transportSocket: { name: 'envoy.transport_sockets.alts', typedConfig: { '@type': 'type.googleapis.com/x.Alts' } },
    });
    expect(r.plan).toBeUndefined();
    expect(r.errors).toEqual([
      'cluster bad: type: unknown value "WEIRD" (expected one of STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST)',
      'cluster bad: maglev_lb_config.table_size: 100 is not a prime number',
      'cluster bad: connect_timeout.seconds: expected an integer, got "x"',
      'cluster bad: circuit_breakers.thresholds[0].max_connections: -1 is out of range [0, 4294967295]',
      'cluster bad: outlier_detection.max_ejection_percent: 101 is out of range [0, 100]',
      'cluster bad: transport_socket: transport socket envoy.transport_sockets.alts (x.Alts) is not supported; expected envoy.transport_sockets.tls with envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    ]);
    expect(compile({}).errors).toEqual(['cluster undefined: name: is required']);
    expect(compile({ name: 'x', lbPolicy: 'LOAD_BALANCING_POLICY_CONFIG' }).errors).toEqual(['cluster x: lb_policy: LOAD_BALANCING_POLICY_CONFIG is not supported']);
    expect(compile({ name: 'x', transportSocket: { typedConfig: { '@type': TLS, commonTlsContext: { validationContext: { matchSubjectAltNames: [{ prefix: 'spiffe://' }] } } } } }).errors).toEqual([
      'cluster x: transport_socket.typed_config.common_tls_context.validation_context.match_subject_alt_names[0]: only exact subject alt name matchers are supported',
    ]);
  });
});

/**
 * What pilot's translator sends for each DestinationRule tls mode (libs/translate's golden cases)
 * compiles into the upstream TLS plan the origination dials with.
 */
describe('upstream TLS from the translator', () => {
  const compiled = (kase: string): Map<string, NonNullable<ReturnType<typeof compileCluster>>> => {
    const k = loadCase(readFileSync(fileURLToPath(new URL(`../../../translate/testdata/${kase}/input.yaml`, import.meta.url)), 'utf8'));
    const out = generateAll(k.proxy, k.snapshot);
    const r = compileConfig({ listeners: out[LISTENER_TYPE], routes: out[ROUTE_TYPE], clusters: out[CLUSTER_TYPE], endpoints: out[ENDPOINT_TYPE] });
    if (!r.ok) throw new Error(r.errors.join('\n'));
    return new Map(r.value.clusters);
  };

  test('auto mTLS: Istio socket for tlsMode=istio endpoints only; ISTIO_MUTUAL: for all, subset SNI', () => {
    const auto = compiled('dr-tls-disable').get('outbound|9080||ratings.default.svc.cluster.local')?.tls;
    expect(auto).toEqual({
      sni: 'outbound_.9080_._.ratings.default.svc.cluster.local',
      alpn: ['istio-peer-exchange', 'istio'],
      subjectAltNames: ['spiffe://cluster.local/ns/default/sa/bookinfo-ratings'],
      certificate: { sdsName: 'default' },
      validation: { sdsName: 'ROOTCA' },
      onlyIstioEndpoints: true,
    });
    // DISABLE: no TLS at all.
    expect(compiled('dr-tls-disable').get('outbound|9080||reviews.default.svc.cluster.local')?.tls).toBeUndefined();
    const mutual = compiled('dr-tls-istio-mutual').get('outbound|9080|v1|reviews.default.svc.cluster.local')?.tls;
    expect(mutual).toMatchObject({ sni: 'outbound_.9080_.v1_.reviews.default.svc.cluster.local', certificate: { sdsName: 'default' }, validation: { sdsName: 'ROOTCA' }, onlyIstioEndpoints: false });
  });

  test('MUTUAL with files and with credentialName; SIMPLE with caCertificates, sni and subjectAltNames', () => {
    const m = compiled('dr-tls-mutual');
    expect(m.get('outbound|443||mtls.example.com')?.tls).toEqual({ alpn: [], subjectAltNames: [], certificate: { certFile: '/etc/certs/client.pem', keyFile: '/etc/certs/key.pem' }, validation: { caFile: '/etc/certs/ca.pem' }, onlyIstioEndpoints: false });
    expect(m.get('outbound|443||cred.example.com')?.tls).toEqual({ sni: 'cred.example.com', alpn: [], subjectAltNames: [], certificate: { sdsName: 'kubernetes://client-credential' }, validation: { sdsName: 'kubernetes://client-credential-cacert' }, onlyIstioEndpoints: false });
    expect(compiled('dr-tls-simple-external').get('outbound|80||edition.cnn.com')?.tls).toEqual({
      sni: 'edition.cnn.com',
      alpn: [],
      subjectAltNames: ['edition.cnn.com'],
      validation: { caFile: '/etc/ssl/certs/ca-certificates.crt' },
      onlyIstioEndpoints: false,
    });
  });
});
