import { describe, expect, it } from 'vitest';
import { convertEndpointSlice, convertService, localityOf, protocolOf, tlsModeOf, workloadNameOf } from './kube-convert.js';
import type { KubeObject } from './kube-client.js';

describe('protocolOf (Istio ConvertProtocol)', () => {
  it.each([
    [9080, 'http', 'TCP', undefined, 'HTTP'],
    [9080, 'http-web', 'TCP', undefined, 'HTTP'],
    [9080, 'HTTP2-x', 'TCP', undefined, 'HTTP2'],
    [9080, 'grpc-web', 'TCP', undefined, 'GRPC-Web'],
    [9080, 'grpc-webby', 'TCP', undefined, 'GRPC-Web'],
    [9080, 'grpc', 'TCP', undefined, 'GRPC'],
    [9080, 'tcp-db', 'TCP', undefined, 'TCP'],
    [9080, 'foo', 'TCP', undefined, 'UNKNOWN'],
    [9080, undefined, 'TCP', undefined, 'UNKNOWN'],
    [3306, 'db', 'TCP', undefined, 'TCP'],
    [9080, 'http', 'UDP', undefined, 'UDP'],
    [9080, 'tcp', 'TCP', 'http', 'HTTP'],
    [9080, 'web', 'TCP', 'kubernetes.io/h2c', 'HTTP2'],
    [9080, 'http', 'TCP', 'mongo', 'Mongo'],
  ])('port %s name %s %s appProtocol %s → %s', (port, name, proto, app, want) => {
    expect(protocolOf(port, name, proto, app)).toBe(want);
  });
});

describe('convertService', () => {
  it('maps a ClusterIP service', () => {
    const s = convertService(
      { metadata: { name: 'reviews', namespace: 'bookinfo', labels: { app: 'reviews' }, annotations: { 'networking.istio.io/exportTo': '., istio-system' } }, spec: { clusterIP: '10.0.0.5', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 8080 }, { name: 'metrics', port: 15090, targetPort: 'metrics' }] } },
      'cluster.local',
    );
    expect(s).toEqual({
      hostname: 'reviews.bookinfo.svc.cluster.local', namespace: 'bookinfo', name: 'reviews',
      ports: [{ name: 'http', port: 9080, protocol: 'HTTP', targetPort: 8080 }, { name: 'metrics', port: 15090, protocol: 'UNKNOWN' }],
      addresses: ['10.0.0.5'], resolution: 'STATIC', location: 'MESH_INTERNAL', exportTo: ['.', 'istio-system'],
      selector: { app: 'reviews' }, labels: { app: 'reviews' }, source: 'kubernetes',
    });
  });
  it('headless → NONE, ExternalName → DNS + MESH_EXTERNAL', () => {
    expect(convertService({ metadata: { name: 'h', namespace: 'a' }, spec: { clusterIP: 'None', ports: [] } }, 'x.local')).toMatchObject({ resolution: 'NONE', addresses: [], hostname: 'h.a.svc.x.local' });
    expect(convertService({ metadata: { name: 'e', namespace: 'a' }, spec: { type: 'ExternalName', externalName: 'api.example.com' } }, 'cluster.local')).toMatchObject({ resolution: 'DNS', location: 'MESH_EXTERNAL' });
  });
});

const pod = (labels: Record<string, string>, annotations: Record<string, string> = {}): KubeObject => ({
  metadata: { name: 'reviews-v1-7d9c4-abcde', namespace: 'default', labels: { 'pod-template-hash': '7d9c4', ...labels }, annotations, ownerReferences: [{ kind: 'ReplicaSet', name: 'reviews-v1-7d9c4', controller: true }] },
  spec: { serviceAccountName: 'bookinfo-reviews', nodeName: 'n1' },
  status: { podIP: '10.1.0.7' },
});

describe('endpoint rules', () => {
  it('tlsMode from the label, else the injection annotation', () => {
    expect(tlsModeOf(pod({ 'security.istio.io/tlsMode': 'istio' }))).toBe('istio');
    expect(tlsModeOf(pod({ 'security.istio.io/tlsMode': 'disabled' }, { 'sidecar.istio.io/status': '{}' }))).toBe('disabled');
    expect(tlsModeOf(pod({}, { 'sidecar.istio.io/status': '{}' }))).toBe('istio');
    expect(tlsModeOf(pod({}))).toBe('disabled');
    expect(tlsModeOf(undefined)).toBe('disabled');
  });
  it('locality from istio-locality, else node labels', () => {
    const node: KubeObject = { metadata: { name: 'n1', labels: { 'topology.kubernetes.io/region': 'eu', 'topology.kubernetes.io/zone': 'eu-1a' } } };
    expect(localityOf(pod({ 'istio-locality': 'us.us-2b.rack3' }), node)).toEqual({ region: 'us', zone: 'us-2b', subzone: 'rack3' });
    expect(localityOf(pod({}), node)).toEqual({ region: 'eu', zone: 'eu-1a' });
    expect(localityOf(pod({}), undefined)).toBeUndefined();
  });
  it('workload name strips the ReplicaSet hash', () => {
    expect(workloadNameOf(pod({}))).toBe('reviews-v1');
  });
  it('converts an EndpointSlice with pod identity; not-ready kept unhealthy; unknown ports and terminating dropped', () => {
    const svc = convertService({ metadata: { name: 'reviews', namespace: 'default' }, spec: { clusterIP: '10.0.0.5', ports: [{ name: 'http', port: 9080 }] } }, 'cluster.local');
    const p = pod({ app: 'reviews', 'security.istio.io/tlsMode': 'istio', 'topology.istio.io/network': 'net1' });
    const slice: KubeObject = {
      metadata: { name: 'reviews-x', namespace: 'default', labels: { 'kubernetes.io/service-name': 'reviews' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080 }, { name: 'other', port: 1 }],
      endpoints: [
        { addresses: ['10.1.0.7'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'reviews-v1-7d9c4-abcde', namespace: 'default' }, nodeName: 'n1' },
        { addresses: ['10.1.0.8'], conditions: { ready: false } },
        { addresses: ['10.1.0.9'], conditions: { ready: false, serving: false, terminating: true } },
      ],
    };
    const node: KubeObject = { metadata: { name: 'n1', labels: { 'topology.kubernetes.io/region': 'eu', 'topology.kubernetes.io/zone': 'eu-1a' } } };
    const eps = convertEndpointSlice(slice, svc, { pod: (ns, n) => (n === 'reviews-v1-7d9c4-abcde' ? p : undefined), podByIp: () => undefined, node: (n) => (n === 'n1' ? node : undefined) });
    expect(eps).toEqual([
      {
        hostname: 'reviews.default.svc.cluster.local', namespace: 'default', servicePortName: 'http', address: '10.1.0.7', port: 8080, labels: p.metadata.labels,
        serviceAccount: 'bookinfo-reviews', locality: { region: 'eu', zone: 'eu-1a' }, network: 'net1', healthy: true, tlsMode: 'istio', workloadName: 'reviews-v1',
      },
      { hostname: 'reviews.default.svc.cluster.local', namespace: 'default', servicePortName: 'http', address: '10.1.0.8', port: 8080, labels: {}, healthy: false, tlsMode: 'disabled' },
    ]);
  });
});
