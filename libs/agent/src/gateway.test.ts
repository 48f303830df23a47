import { describe, expect, it } from 'vitest';
import { MemorySecretProvider, type CompiledConfig, type ListenerPlanExt } from '@meshwork/proxy';
import { gatewayBind, gatewayNodeId, GatewayPortError, localPort, missingSecrets, parsePortMap } from './gateway.js';

const plan = (port: number, extra: Partial<ListenerPlanExt> = {}): ListenerPlanExt => ({ name: `0.0.0.0_${port}`, address: '0.0.0.0', port, filterChains: [], useOriginalDst: false, bindToPort: true, listenerFilters: [], ...extra }) as unknown as ListenerPlanExt;
const config = {} as CompiledConfig;

describe('gateway ports', () => {
  it('parses --port-map entries', () => {
    expect([...parsePortMap(['80=8080', ' 443 = 8443 '])]).toEqual([
      [80, 8080],
      [443, 8443],
    ]);
  });
  it.each([['80'], ['80=x'], ['0=8080'], ['80=70000']])('refuses --port-map %s', (e) => {
    expect(() => parsePortMap([e])).toThrow(GatewayPortError);
  });
  it('refuses a port mapped twice', () => {
    expect(() => parsePortMap(['80=8080', '80=9090'])).toThrow('mapped twice');
  });
  it('maps explicit ports first, then applies the offset', () => {
    const ports = { map: new Map([[80, 8080]]), offset: 10000 };
    expect(localPort(ports, 80)).toBe(8080);
    expect(localPort(ports, 443)).toBe(10443);
    expect(() => localPort(ports, 60000)).toThrow('outside 1-65535');
  });
});

describe('gatewayBind', () => {
  it('binds each Gateway listener on the gateway address at its (mapped) port', () => {
    const bind = gatewayBind({ address: '127.0.0.2', ports: { map: new Map([[80, 8080]]), offset: 0 } });
    expect(bind(plan(80), config)).toEqual({ host: '127.0.0.2', port: 8080 });
    expect(bind(plan(8443), config)).toEqual({ host: '127.0.0.2', port: 8443 });
  });
  it('does not bind API listeners or bind_to_port false', () => {
    const bind = gatewayBind({ address: '127.0.0.1', ports: { map: new Map(), offset: 0 } });
    expect(bind(plan(80, { bindToPort: false }), config)).toBeUndefined();
    expect(bind(plan(80, { apiListener: true } as Partial<ListenerPlanExt>), config)).toBeUndefined();
  });
  it('logs and skips a port the offset cannot place', () => {
    const errors: object[] = [];
    const bind = gatewayBind({ address: '127.0.0.1', ports: { map: new Map(), offset: 60000 }, log: { info: () => undefined, warn: () => undefined, error: (o) => errors.push(o) } });
    expect(bind(plan(8080), config)).toBeUndefined();
    expect(errors).toEqual([{ listener: '0.0.0.0_8080', err: expect.stringContaining('outside 1-65535') }]);
  });
});

describe('gatewayNodeId', () => {
  it("is Istio's router id", () => {
    expect(gatewayNodeId('10.0.0.9', 'istio-ingressgateway-1', 'istio-system', 'cluster.local')).toBe('router~10.0.0.9~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local');
  });
});

describe('missingSecrets', () => {
  it('names the SDS secrets TLS chains refer to that the provider lacks', () => {
    const p = new MemorySecretProvider();
    p.set('kubernetes://a', { kind: 'validation', trustedCaPem: 'x' });
    const chain = (certificateSds?: string, validationSds?: string): object => ({ match: {}, tls: { certificateSds, validationSds, requireClientCertificate: false, alpn: [] } });
    const cfg = { listeners: new Map([['0.0.0.0_443', { filterChains: [chain('kubernetes://a'), chain('kubernetes://b', 'kubernetes://b-cacert'), { match: {} }] }]]) } as unknown as CompiledConfig;
    expect(missingSecrets(cfg, p)).toEqual([
      { listener: '0.0.0.0_443', secret: 'kubernetes://b' },
      { listener: '0.0.0.0_443', secret: 'kubernetes://b-cacert' },
    ]);
  });
});
