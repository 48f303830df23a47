import { describe, expect, test } from 'vitest';
import { Problems, type Obj } from './fields.js';
import { compileLoadAssignment, endpointKey } from './endpoints.js';
import type { EndpointSet } from '../model.js';

const ep = (address: string, port: number, extra: Obj = {}): Obj => ({ endpoint: { address: { socketAddress: { address, portValue: port } } }, ...extra });

function compile(cla: Obj, previous?: EndpointSet): { set: EndpointSet | undefined; errors: string[] } {
  const p = new Problems(`cluster_load_assignment ${String(cla.clusterName)}`, []);
  return { set: compileLoadAssignment(p, cla, '', previous), errors: p.errors };
}

const CLA: Obj = {
  clusterName: 'outbound|9080||reviews',
  endpoints: [
    {
      locality: { region: 'eu', zone: 'eu-1', subZone: 'a' },
      loadBalancingWeight: { value: 3 },
      lbEndpoints: [
        ep('10.0.0.1', 9080, { metadata: { filterMetadata: { 'envoy.transport_socket_match': { tlsMode: 'istio' }, istio: { workload: 'reviews-v1;default;reviews;v1;Kubernetes' } } } }),
        ep('10.0.0.2', 9080, { loadBalancingWeight: { value: 5 }, healthStatus: 'UNHEALTHY' }),
        ep('10.0.0.3', 9080, { healthStatus: 'DRAINING' }),
        ep('10.0.0.4', 9080, { healthStatus: 'DEGRADED' }),
      ],
    },
    { priority: 2, locality: { region: 'us' }, lbEndpoints: [ep('10.1.0.1', 9080, { healthStatus: 'HEALTHY' })] },
  ],
};

describe('compileLoadAssignment', () => {
  test('priorities, localities, weights, health, Istio metadata', () => {
    const { set, errors } = compile(CLA);
    expect(errors).toEqual([]);
    expect(set?.priorities.length).toBe(3);
    expect(set?.priorities[1]).toEqual([]);
    const loc = set?.priorities[0][0];
    expect(loc?.locality).toEqual({ region: 'eu', zone: 'eu-1', subZone: 'a' });
    expect(loc?.weight).toBe(3);
    expect(loc?.endpoints).toEqual([
      { address: '10.0.0.1', port: 9080, weight: 1, healthy: true, meta: { tlsMode: 'istio', workload: 'reviews-v1', namespace: 'default' } },
      { address: '10.0.0.2', port: 9080, weight: 5, healthy: false },
      { address: '10.0.0.3', port: 9080, weight: 1, healthy: false },
      { address: '10.0.0.4', port: 9080, weight: 1, healthy: true },
    ]);
    expect(set?.priorities[2][0].weight).toBeUndefined();
    expect(set?.priorities[2][0].endpoints[0].healthy).toBe(true);
  });
  test('unchanged endpoints keep their objects across updates; changed ones are new', () => {
    const first = compile(CLA).set;
    const changed = structuredClone(CLA) as { endpoints: { lbEndpoints: Obj[] }[] };
    changed.endpoints[0].lbEndpoints[1] = ep('10.0.0.2', 9080, { loadBalancingWeight: { value: 6 }, healthStatus: 'UNHEALTHY' });
    changed.endpoints[0].lbEndpoints.push(ep('10.0.0.9', 9080));
    const second = compile(changed as unknown as Obj, first).set;
    const a = first?.priorities[0][0].endpoints ?? [];
    const b = second?.priorities[0][0].endpoints ?? [];
    expect(b[0]).toBe(a[0]);
    expect(b[1]).not.toBe(a[1]);
    expect(b[1].weight).toBe(6);
    expect(b[2]).toBe(a[2]);
    expect(b[3]).toBe(a[3]);
    expect(second?.priorities[2][0].endpoints[0]).toBe(first?.priorities[2][0].endpoints[0]);
    expect(endpointKey(b[4])).toBe('10.0.0.9|9080|1|1||||');
  });
  test('duplicates are each reused once', () => {
    const dup = { clusterName: 'd', endpoints: [{ lbEndpoints: [ep('10.0.0.1', 80), ep('10.0.0.1', 80)] }] };
    const first = compile(dup).set?.priorities[0][0].endpoints ?? [];
    const second = compile(dup, { priorities: [[{ locality: {}, endpoints: first }]] }).set?.priorities[0][0].endpoints ?? [];
    expect(second[0]).toBe(first[0]);
    expect(second[1]).toBe(first[1]);
    expect(second[0]).not.toBe(second[1]);
  });
  test('bad input', () => {
    const { set, errors } = compile({
      clusterName: 'bad',
      endpoints: [
        { priority: 200, loadBalancingWeight: { value: 0 }, lbEndpoints: [{ endpoint: {} }, ep('', 80), ep('10.0.0.1', 70000), { endpoint: { address: { pipe: { path: '/x' } } } }, ep('10.0.0.1', 80, { healthStatus: 'SICK' })] },
        'nope',
      ],
    });
    expect(set).toBeUndefined();
    expect(errors).toEqual([
      'cluster_load_assignment bad: endpoints[1]: expected a message, got "nope"',
      'cluster_load_assignment bad: endpoints[0].priority: 200 is out of range [0, 127]',
      'cluster_load_assignment bad: endpoints[0].load_balancing_weight: 0 is out of range [1, 4294967295]',
      'cluster_load_assignment bad: endpoints[0].lb_endpoints[0].endpoint.address: is required',
      'cluster_load_assignment bad: endpoints[0].lb_endpoints[1].endpoint.address.socket_address.address: is required',
      'cluster_load_assignment bad: endpoints[0].lb_endpoints[2].endpoint.address.socket_address.port_value: 70000 is out of range [0, 65535]',
      'cluster_load_assignment bad: endpoints[0].lb_endpoints[3].endpoint.address: only socket_address is supported',
      'cluster_load_assignment bad: endpoints[0].lb_endpoints[4].health_status: unknown value "SICK" (expected one of UNKNOWN, HEALTHY, UNHEALTHY, DRAINING, TIMEOUT, DEGRADED)',
    ]);
  });
});
