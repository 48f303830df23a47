import { describe, expect, test } from 'vitest';
import { CLUSTER_TYPE, HCM_TYPE, LISTENER_TYPE, ROUTER_TYPE, decodeResource, encodeResource, packAny, unpackAny, validateEnvoyResource } from './resources.js';

const cluster = {
  name: 'outbound|9080||reviews.default.svc.cluster.local',
  type: 'EDS',
  edsClusterConfig: { serviceName: 'outbound|9080||reviews.default.svc.cluster.local', edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
  connectTimeout: { seconds: 10, nanos: 5 },
  lbPolicy: 'LEAST_REQUEST',
  perConnectionBufferLimitBytes: { value: 32768 },
  metadata: { filterMetadata: { istio: { services: [{ host: 'reviews.default.svc.cluster.local', port: 9080 }], default: true, none: null } } },
};

const listener = {
  name: '0.0.0.0_9080',
  address: { socketAddress: { address: '0.0.0.0', portValue: 9080 } },
  filterChains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typedConfig: {
            '@type': HCM_TYPE,
            statPrefix: 'outbound_0.0.0.0_9080',
            rds: { routeConfigName: '9080', configSource: { ads: {}, resourceApiVersion: 'V3' } },
            httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER_TYPE } }],
          },
        },
      ],
    },
  ],
};

describe('encodeResource / decodeResource', () => {
  test.each([
    ['cluster', CLUSTER_TYPE, cluster],
    ['listener with nested Any', LISTENER_TYPE, listener],
  ])('%s round-trips to the same object', (_n, url, obj) => {
    const enc = encodeResource(url, obj);
    expect(enc.ok).toBe(true);
    if (!enc.ok) return;
    const dec = decodeResource(url, enc.value);
    expect(dec).toEqual({ ok: true, value: obj });
  });

  test.each<[string, unknown, string[]]>([
    ['unknown field', { name: 'c', conectTimeout: { seconds: 1 } }, ['Cluster[c].conectTimeout: no such field in envoy.config.cluster.v3.Cluster']],
    ['bad enum name', { name: 'c', lbPolicy: 'LEAST_REQUESTS' }, ['Cluster[c].lbPolicy: "LEAST_REQUESTS" is not a value of envoy.config.cluster.v3.Cluster.LbPolicy']],
    ['wrong scalar type', { name: 'c', connectTimeout: { seconds: 'ten' } }, ['Cluster[c].connectTimeout.seconds: expected an integer (int64), got string']],
    ['string for a message', { name: 'c', connectTimeout: '1s' }, ['Cluster[c].connectTimeout: expected an object (google.protobuf.Duration)']],
    ['two members of a oneof', { name: 'c', type: 'EDS', clusterType: { name: 'x' } }, ['Cluster[c].clusterType: oneof clusterDiscoveryType is already set by type']],
    ['unknown nested @type', { name: 'c', transportSocket: { name: 't', typedConfig: { '@type': 'type.googleapis.com/no.Such' } } }, ['Cluster[c].transportSocket.typedConfig: unknown @type type.googleapis.com/no.Such']],
    ['bad field inside a nested Any', { name: 'c', transportSocket: { name: 't', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sniff: 'x' } } }, ['Cluster[c].transportSocket.typedConfig.sniff: no such field in envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext']],
    ['list expected', { name: 'c', dnsResolvers: { x: 1 } }, ['Cluster[c].dnsResolvers: expected a list']],
  ])('rejects %s with a field path', (_n, obj, errors) => {
    expect(encodeResource(CLUSTER_TYPE, obj)).toEqual({ ok: false, errors });
    expect(validateEnvoyResource(CLUSTER_TYPE, obj)).toEqual({ ok: false, errors });
  });

  test('collects every error, not only the first', () => {
    const r = validateEnvoyResource(CLUSTER_TYPE, { name: 'c', a: 1, b: 2 });
    expect(r.ok ? [] : r.errors).toHaveLength(2);
  });

  test('an unknown type URL is an error, not a throw', () => {
    expect(encodeResource('type.googleapis.com/no.Such', {})).toEqual({ ok: false, errors: ['unknown type URL type.googleapis.com/no.Such'] });
    expect(decodeResource('type.googleapis.com/no.Such', new Uint8Array()).ok).toBe(false);
  });

  test('garbage bytes decode to an error', () => {
    expect(decodeResource(CLUSTER_TYPE, new Uint8Array([0x0a, 0xff, 0xff])).ok).toBe(false);
  });
});

describe('packAny / unpackAny', () => {
  test('round-trip keeps @type', () => {
    const obj = { '@type': CLUSTER_TYPE, name: 'c', connectTimeout: { seconds: 1 } };
    const p = packAny(obj);
    expect(p.ok && p.value.typeUrl).toBe(CLUSTER_TYPE);
    if (p.ok) expect(unpackAny(p.value)).toEqual({ ok: true, value: obj });
  });
  test('an object without @type is rejected', () => {
    expect(packAny({ name: 'c' }).ok).toBe(false);
  });
});
