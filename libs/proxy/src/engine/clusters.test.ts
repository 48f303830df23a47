import { afterEach, describe, expect, it } from 'vitest';
import { compileConfig } from '../config/compile.js';
import type { CompiledConfig, EngineClock } from '../model.js';
import { poolSettingsOf } from '../listeners/http1-proxy.js';
import { MemorySecretProvider } from '../security/secrets.js';
import { UpstreamPools } from '../upstream/pool.js';
import { endpointOrigination } from '../upstream/tls-origination.js';
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

  describe('upstream TLS', () => {
    const SDS = { ads: {}, resourceApiVersion: 'V3' };
    const socket = (sni: string): Record<string, unknown> => ({
      name: 'envoy.transport_sockets.tls',
      typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sni, commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: SDS }], combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: SDS } }, alpnProtocols: ['istio-peer-exchange', 'istio'] } },
    });
    const auto = (name: string): Record<string, unknown> => ({ ...cluster(name, false), transportSocketMatches: [{ name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transportSocket: socket(`outbound_.80_._.${name}`) }, { name: 'tlsMode-disabled', match: {}, transportSocket: { name: 'envoy.transport_sockets.raw_buffer' } }] });
    /** One sidecar endpoint (tlsMode istio) and one without. */
    const mixed = (name: string): Record<string, unknown> => ({
      clusterName: name,
      endpoints: [
        {
          lbEndpoints: [
            { endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: 80 } } }, metadata: { filterMetadata: { 'envoy.transport_socket_match': { tlsMode: 'istio' } } } },
            { endpoint: { address: { socketAddress: { address: '10.0.0.2', portValue: 80 } } } },
          ],
        },
      ],
    });

    it('originates TLS only to tlsMode=istio endpoints under auto mTLS, for every transport', () => {
      m = new ClusterManager(clock, { secrets: new MemorySecretProvider() });
      m.apply(compile([auto('a'), cluster('plain', false)], [mixed('a'), cla('plain', ['10.0.0.1'])]));
      const a = m.get('a');
      if (!a?.tls) throw new Error('no TLS origination');
      const [istio, bare] = a.endpoints.priorities[0][0].endpoints;
      expect(a.tls.appliesTo(istio)).toBe(true);
      expect(a.tls.appliesTo(bare)).toBe(false);
      // HTTP/2 transport: per endpoint.
      expect(endpointOrigination(istio)).toBe(a.tls);
      expect(endpointOrigination(bare)).toBeUndefined();
      // HTTP/1.1 pools: through the cluster's pool settings.
      const pools = new UpstreamPools();
      try {
        expect(pools.get('10.0.0.1', 80, poolSettingsOf(a)).tls).toBe(a.tls);
        expect(pools.get('10.0.0.2', 80, poolSettingsOf(a)).tls).toBeUndefined();
        // The same answer for settings that carry the resolver themselves.
        expect(pools.get('10.0.0.1', 80, { ...pools.defaults, ...(a.poolTls ? { tls: a.poolTls } : {}) }).tls).toBe(a.tls);
        const plain = m.get('plain');
        if (!plain) throw new Error('no cluster');
        expect(plain.tls).toBeUndefined();
        expect(pools.get('10.0.0.1', 80, poolSettingsOf(plain)).tls).toBeUndefined();
      } finally {
        pools.close();
      }
      expect([...m.sslStats().keys()]).toEqual(['a']);
    });

    it('keeps the origination (and its ssl counters) across an EDS update, and drops it when the cluster loses TLS', () => {
      m = new ClusterManager(clock);
      const c1 = compile([auto('a')], [mixed('a')]);
      m.apply(c1);
      const t1 = m.get('a')?.tls;
      if (!t1) throw new Error('no TLS origination');
      t1.stats.handshake = 7;
      const c2 = compile([auto('a')], [{ ...mixed('a') }], c1);
      m.apply(c2);
      expect(m.get('a')?.tls).toBe(t1);
      expect(m.sslStats().get('a')?.handshake).toBe(7);
      const istio = m.get('a')?.endpoints.priorities[0][0].endpoints[0];
      if (!istio) throw new Error('no endpoint');
      expect(endpointOrigination(istio)).toBe(t1);
      // DestinationRule tls DISABLE: the cluster comes without a TLS socket; the same endpoints go plaintext.
      m.apply(compile([cluster('a', false)], [mixed('a')], c2));
      expect(m.get('a')?.tls).toBeUndefined();
      const again = m.get('a')?.endpoints.priorities[0][0].endpoints[0];
      expect(again).toBe(istio);
      expect(endpointOrigination(istio)).toBeUndefined();
      expect(m.sslStats().has('a')).toBe(false);
    });
  });
});
