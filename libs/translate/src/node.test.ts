import { describe, expect, test } from 'vitest';
import { InvalidNodeError } from './errors.js';
import { parseNode } from './node.js';

describe('parseNode', () => {
  test("Istio's sidecar node id and metadata", () => {
    const p = parseNode({
      id: 'sidecar~10.1.2.3~reviews-v1-abc.default~default.svc.cluster.local',
      metadata: { LABELS: { app: 'reviews', version: 'v1' }, SERVICE_ACCOUNT: 'bookinfo-reviews', INSTANCE_IPS: '10.1.2.3,fd00::3' },
      locality: { region: 'us-east', zone: 'a', subZone: 's1' },
    });
    expect(p).toMatchObject({
      type: 'sidecar',
      ipAddresses: ['10.1.2.3', 'fd00::3'],
      workloadName: 'reviews-v1-abc',
      namespace: 'default',
      labels: { app: 'reviews', version: 'v1' },
      serviceAccount: 'bookinfo-reviews',
      locality: { region: 'us-east', zone: 'a', subzone: 's1' },
    });
  });
  test('router (gateway) nodes', () => {
    expect(parseNode({ id: 'router~10.0.0.9~istio-ingressgateway-x.istio-system~istio-system.svc.cluster.local' })).toMatchObject({ type: 'router', namespace: 'istio-system' });
  });
  test('proxyless gRPC is recognised by GENERATOR, whatever the id prefix', () => {
    const p = parseNode({ id: 'sidecar~10.0.0.5~client-1.app~app.svc.cluster.local', metadata: { GENERATOR: 'grpc' } });
    expect(p.type).toBe('grpc');
    expect(p.namespace).toBe('app');
  });
  test('NAMESPACE metadata wins over the id', () => {
    expect(parseNode({ id: 'sidecar~10.0.0.5~vm-1.x~x.svc.cluster.local', metadata: { NAMESPACE: 'vms' } }).namespace).toBe('vms');
  });
  test.each([
    ['not-istio', /Istio's format/],
    ['gateway~1.2.3.4~a.b~b.svc.cluster.local', /unknown proxy type/],
    ['sidecar~~a.b~b.svc.cluster.local', /missing IP/],
  ])('rejects %s', (id, msg) => {
    expect(() => parseNode({ id })).toThrow(InvalidNodeError);
    expect(() => parseNode({ id })).toThrow(msg);
  });
});
