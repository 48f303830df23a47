import { afterEach, describe, expect, it } from 'vitest';
import { compileConfig } from '../config/compile.js';
import type { CompiledConfig, EngineClock } from '../model.js';
import { ClusterManager, trackActive } from './clusters.js';

const clock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

function cluster(name: string, outlier = true, maxRequests = 1024): Record<string, unknown> {
  return {
    name,
    type: 'EDS',
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
    connectTimeout: { seconds: 1 },
    circuitBreakers: { thresholds: [{ maxRequests: { value: maxRequests } }] },
    ...(outlier ? { outlierDetection: { consecutive_5xx: { value: 1 }, interval: { seconds: 10 }, baseEjectionTime: { seconds: 30 }, maxEjectionPercent: { value: 100 } } } : {}),
  };
}
const cla = (name: string, ips: string[]): Record<string, unknown> => ({ clusterName: name, endpoints: [{ lbEndpoints: ips.map((ip) => ({ endpoint: { address: { socketAddress: { address: ip, portValue: 80 } } } })) }] });

function compile(clusters: Record<string, unknown>[], endpoints: Record<string, unknown>[], previous?: CompiledConfig): CompiledConfig {
  const r = compileConfig({ listeners: [], routes: [], clusters, endpoints }, previous ? { previous } : {});
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.value;
}

let m: ClusterManager;
afterEach(() => m?.close());

describe('ClusterManager', () => {
  it('builds a runtime per cluster that balances over its EDS endpoints', () => {
    m = new ClusterManager(clock);
    m.apply(compile([cluster('a')], [cla('a', ['10.0.0.1', '10.0.0.2'])]));
    const a = m.get('a');
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(a?.lb.pick({})?.address ?? '');
    expect(seen).toEqual(new Set(['10.0.0.1', '10.0.0.2']));
    expect(m.get('b')).toBeUndefined();
  });

  it('keeps outlier ejections and breaker counts across an EDS update, and rebuilds the balancer over the new endpoints', () => {
    m = new ClusterManager(clock);
    const c1 = compile([cluster('a')], [cla('a', ['10.0.0.1', '10.0.0.2'])]);
    m.apply(c1);
    const a1 = m.get('a');
    const bad = a1?.endpoints.priorities[0][0].endpoints.find((e) => e.address === '10.0.0.1');
    if (!a1 || !bad) throw new Error('no cluster');
    a1.outlier?.record(bad, '5xx');
    expect(a1.outlier?.isEjected(bad)).toBe(true);
    expect(a1.limits.tryAcquireRequest()).toBe(true);
    // EDS push: a third host appears; 10.0.0.1 is the same Endpoint object (compiled with the previous config).
    m.apply(compile([cluster('a')], [cla('a', ['10.0.0.1', '10.0.0.2', '10.0.0.3'])], c1));
    const a2 = m.get('a');
    expect(a2?.outlier).toBe(a1.outlier);
    expect(a2?.limits).toBe(a1.limits);
    expect(a2?.limits.active.requests).toBe(1);
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add(a2?.lb.pick({})?.address ?? '');
    expect(seen).toEqual(new Set(['10.0.0.2', '10.0.0.3']));
  });

  it('starts fresh limits when the breaker settings change, and forgets removed clusters', () => {
    m = new ClusterManager(clock);
    const c1 = compile([cluster('a', false, 10), cluster('b', false)], [cla('a', ['10.0.0.1']), cla('b', ['10.0.1.1'])]);
    m.apply(c1);
    const limits = m.get('a')?.limits;
    m.apply(compile([cluster('a', false, 20)], [cla('a', ['10.0.0.1'])], c1));
    expect(m.get('a')?.limits).not.toBe(limits);
    expect(m.get('b')).toBeUndefined();
  });

  it('counts requests in flight per host', async () => {
    m = new ClusterManager(clock);
    m.apply(compile([cluster('a', false)], [cla('a', ['10.0.0.1'])]));
    const a = m.get('a');
    const e = a?.lb.pick({});
    if (!a || !e) throw new Error('no host');
    let during = 0;
    await trackActive(a, e, async () => {
      during = a.active.get(e) ?? 0;
    });
    expect(during).toBe(1);
    expect(a.active.has(e)).toBe(false);
  });
});
