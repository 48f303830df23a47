import { describe, expect, it } from 'vitest';
import { findKind, findKindByName } from '../registry.js';
import { validateObject } from '../validate.js';
import { schemaOf, type JsonSchemaProps } from '../crd.js';
import { DestinationRuleSpec, TRAFFIC_KINDS } from './networking-traffic.js';

/** errorsOf validates one networking.istio.io object and returns its errors as `path | reason`. */
function errorsOf(kind: string, spec: unknown, version = 'v1'): string[] {
  const object = { apiVersion: `networking.istio.io/${version}`, kind, metadata: { name: 'x', namespace: 'ns' }, spec };
  return validateObject({ object, docIndex: 0, locate: () => ({}) }).diagnostics.map((d) => `${d.path} | ${d.reason}`).sort();
}

const dr = (spec: Record<string, unknown>): string[] => errorsOf('DestinationRule', { host: 'reviews', ...spec });
const lb = (loadBalancer: unknown): string[] => dr({ trafficPolicy: { loadBalancer } });

describe('TRAFFIC_KINDS', () => {
  it('registers the five kinds with Istio names, short names, categories and versions (v1 stored)', () => {
    expect(TRAFFIC_KINDS.map((k) => [k.kind, k.plural, k.singular, k.shortNames ?? []])).toEqual([
      ['DestinationRule', 'destinationrules', 'destinationrule', ['dr']],
      ['ServiceEntry', 'serviceentries', 'serviceentry', ['se']],
      ['Sidecar', 'sidecars', 'sidecar', []],
      ['WorkloadEntry', 'workloadentries', 'workloadentry', ['we']],
      ['WorkloadGroup', 'workloadgroups', 'workloadgroup', ['wg']],
    ]);
    for (const k of TRAFFIC_KINDS) {
      expect(k.group).toBe('networking.istio.io');
      expect(k.versions).toEqual(['v1', 'v1beta1', 'v1alpha3']);
      expect(k.categories).toEqual(['istio-io', 'networking-istio-io']);
      expect(k.namespaced && k.crd).toBe(true);
      expect(findKind('networking.istio.io', k.kind)).toBe(k);
    }
  });

  it.each([['dr', 'DestinationRule'], ['se', 'ServiceEntry'], ['we', 'WorkloadEntry'], ['wg', 'WorkloadGroup'], ['sidecars', 'Sidecar'], ['serviceentries.networking.istio.io', 'ServiceEntry']])(
    'resolves %s', (name, kind) => {
      expect(findKindByName(name)?.kind).toBe(kind);
    },
  );

  it.each(['v1', 'v1beta1', 'v1alpha3'])('serves every kind as %s', (version) => {
    expect(errorsOf('DestinationRule', { host: 'reviews' }, version)).toEqual([]);
    expect(errorsOf('ServiceEntry', { hosts: ['a.example.com'] }, version)).toEqual([]);
    expect(errorsOf('Sidecar', { egress: [{ hosts: ['./*'] }] }, version)).toEqual([]);
    expect(errorsOf('WorkloadEntry', { address: '10.0.0.1' }, version)).toEqual([]);
    expect(errorsOf('WorkloadGroup', { template: {} }, version)).toEqual([]);
  });
});

describe('DestinationRule host (Istio ValidateWildcardDomain)', () => {
  it.each([
    '*', '*.foo.com', 'reviews', 'reviews.default.svc.cluster.local', 'Reviews.Default', 'istio.io.', '*-foo.example.com', '*foo.example.com', 'a1.b2',
  ])('accepts %s', (host) => {
    expect(errorsOf('DestinationRule', { host })).toEqual([]);
  });
  it.each([
    ['', 'spec.host | domain name must not be empty'],
    ['foo..com', 'spec.host | domain name "foo..com" is invalid: label "" is not a valid DNS label'],
    ['1.2.3.4', 'spec.host | domain name "1.2.3.4" is invalid: top-level domain "4" cannot be all-numeric'],
    ['foo*.com', 'spec.host | domain name "foo*.com" is invalid: label "foo*" is not a valid DNS label (a wildcard may only start the first label)'],
    ['-foo.com', 'spec.host | domain name "-foo.com" is invalid: label "-foo" is not a valid DNS label (a wildcard may only start the first label)'],
    ['a.*.com', 'spec.host | domain name "a.*.com" is invalid: label "*" is not a valid DNS label'],
    [`${'a'.repeat(64)}.com`, `spec.host | domain name "${'a'.repeat(64)}.com" is invalid: label "${'a'.repeat(64)}" is not a valid DNS label (a wildcard may only start the first label)`],
  ])('rejects %j', (host, want) => {
    expect(errorsOf('DestinationRule', { host })).toEqual([want]);
  });
});

describe('DestinationRule traffic policy', () => {
  it('counts an empty portLevelSettings list as unset, like protobuf', () => {
    expect(dr({ trafficPolicy: { portLevelSettings: [] } })).toEqual([
      'spec.trafficPolicy | a traffic policy must set at least one of loadBalancer, connectionPool, outlierDetection, tls, portLevelSettings, tunnel, proxyProtocol, retryBudget',
    ]);
    expect(dr({ trafficPolicy: { retryBudget: {} } })).toEqual([]);
  });

  it.each([
    [1, []], [3, []], [65537, []], [4999999, []],
    [0, ['maglev tableSize must be set (a prime number below 5000011)']],
    [9, ['maglev tableSize must be a prime number, got 9']],
    [5000011, ['maglev tableSize must be less than 5000011, got 5000011']],
  ] as const)('maglev tableSize %d', (tableSize, reasons) => {
    const errs = lb({ consistentHash: { useSourceIp: true, maglev: { tableSize } } });
    expect(errs).toEqual(reasons.map((r) => `spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize | ${r}`));
  });

  it('allows a deprecated minimumRingSize alone and an empty loadBalancer', () => {
    expect(lb({ consistentHash: { httpHeaderName: 'x-user', minimumRingSize: 1024 } })).toEqual([]);
    expect(lb({})).toEqual([]);
  });

  it.each([
    // [distribute, expected reasons (path suffix | reason)]
    [[{ from: 'us/*', to: { 'us/*': 100 } }], []],
    [[{ from: 'us/z1/*', to: { 'us/z1/*': 80, 'us/z2/*': 20 } }, { from: 'us/z2/*', to: { 'us/z1/*': 20, 'us/z2/*': 80 } }], []],
    [[{ from: '*', to: { '*': 100 } }, { from: 'eu', to: { eu: 100 } }], ['distribute[1].from | locality "eu" overlaps with an earlier one']],
    [[{ from: 'us//a', to: { us: 100 } }], ['distribute[0].from | locality "us//a" must not have an empty region, zone or subzone']],
    [[{ from: 'us', to: { 'us/z1': 60, us: 40 } }], ['distribute[0].to.us | locality "us" overlaps with an earlier one']],
    [[{ from: 'us', to: { us: 101 } }], ['distribute[0].to.us | locality weight 101 must be in the range 1..100']],
  ] as const)('locality distribute %j', (distribute, reasons) => {
    const errs = lb({ localityLbSetting: { distribute } });
    expect(errs).toEqual(reasons.map((r) => `spec.trafficPolicy.loadBalancer.localityLbSetting.${r}`));
  });

  it('skips the idle-timeout check below a millisecond (0 disables it), as Istio does', () => {
    const pool = (idleTimeout: string): string[] => dr({ trafficPolicy: { connectionPool: { tcp: { idleTimeout } } } });
    expect(pool('0s')).toEqual([]);
    expect(pool('500us')).toEqual([]);
    expect(pool('1h')).toEqual([]);
    expect(pool('1.5ms')).toEqual(['spec.trafficPolicy.connectionPool.tcp.idleTimeout | only durations to ms precision are supported, got "1.5ms"']);
  });

  it('requires client certificates for MUTUAL only when no credentialName is given', () => {
    expect(dr({ trafficPolicy: { tls: { mode: 'MUTUAL', credentialName: 'client-cert' } } })).toEqual([]);
    expect(dr({ trafficPolicy: { tls: { mode: 'SIMPLE', credentialName: 'configmap://ns/ca' } } })).toEqual([]);
    expect(dr({ trafficPolicy: { tls: { mode: 'SIMPLE', insecureSkipVerify: true } } })).toEqual([]);
  });

  it.each([
    [['.'], []],
    [['ns'], []],
    [['*'], ['spec.exportTo | a DestinationRule with a workloadSelector can only be exported to its own namespace']],
    [['.', 'other'], ['spec.exportTo | a DestinationRule with a workloadSelector can only be exported to its own namespace']],
  ] as const)('with a workloadSelector, exportTo %j', (exportTo, want) => {
    expect(dr({ workloadSelector: { matchLabels: { app: 'a' } }, exportTo, trafficPolicy: { tls: { mode: 'SIMPLE' } } })).toEqual(want);
  });

  it('renders CRD oneOfs like Istio: simple|consistentHash, then hash key and hash algorithm', () => {
    const spec = schemaOf(DestinationRuleSpec) as JsonSchemaProps;
    const loadBalancer = spec.properties?.trafficPolicy?.properties?.loadBalancer as JsonSchemaProps;
    const requiredOf = (alts: JsonSchemaProps[] | undefined): string[] => (alts ?? []).flatMap((a) => a.required ?? []);
    const lbGroups = (loadBalancer.allOf ?? [loadBalancer]).map((g) => requiredOf(g.oneOf));
    expect(lbGroups).toContainEqual(['simple', 'consistentHash']);
    const hash = loadBalancer.properties?.consistentHash as JsonSchemaProps;
    expect((hash.allOf ?? []).map((g) => requiredOf(g.oneOf))).toEqual([
      ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
      ['ringHash', 'maglev'],
    ]);
    expect(spec.required).toEqual(['host']);
  });
});

describe('ServiceEntry resolution rules', () => {
  const se = (spec: Record<string, unknown>): string[] => errorsOf('ServiceEntry', spec);
  const http = [{ number: 80, name: 'http', protocol: 'HTTP' }];

  it.each([
    ['STATIC without endpoints or selector (Istio accepts it)', { hosts: ['a.example.com'], ports: http, resolution: 'STATIC' }],
    ['DNS with a wildcard host when endpoints are given', { hosts: ['*.example.com'], ports: http, resolution: 'DNS', endpoints: [{ address: 'lb.example.com' }] }],
    ['DNS with an IP endpoint', { hosts: ['a.example.com'], ports: http, resolution: 'DNS', endpoints: [{ address: '10.0.0.1' }] }],
    ['NONE with a CIDR block', { hosts: ['a.example.com'], addresses: ['10.0.0.0/8'], ports: http }],
    ['several hosts with TCP when resolution is NONE', { hosts: ['a.example.com', 'b.example.com'], ports: [{ number: 9000, name: 'tcp', protocol: 'TCP' }] }],
    ['a short host name and a partial wildcard (Istio only warns)', { hosts: ['reviews', '*foo.example.com'] }],
    ['STATIC endpoint with network and no address', { hosts: ['a.example.com'], resolution: 'STATIC', endpoints: [{ network: 'n2' }] }],
    ['a selector with resolution NONE (Istio only warns)', { hosts: ['a.example.com'], workloadSelector: { labels: { app: 'a' } } }],
    ['"~" alone in exportTo', { hosts: ['a.example.com'], exportTo: ['~'] }],
    ['protocols in any case', { hosts: ['a.example.com'], ports: [{ number: 1, name: 'a', protocol: 'grpc-web' }, { number: 2, name: 'b', protocol: 'mongo' }, { number: 3, name: 'c', protocol: 'udp' }] }],
  ])('accepts %s', (_name, spec) => {
    expect(se(spec)).toEqual([]);
  });

  it.each([
    ['DNS endpoint without address', { hosts: ['a.example.com'], resolution: 'DNS', endpoints: [{ network: 'n2' }] }, ['spec.endpoints[0].address | endpoint address "" must be an IP address or FQDN when resolution is DNS']],
    ['endpoint port not declared (DNS)', { hosts: ['a.example.com'], ports: http, resolution: 'DNS', endpoints: [{ address: 'b.example.com', ports: { grpc: 9000 } }] }, ['spec.endpoints[0].ports.grpc | port "grpc" is not one of the ServiceEntry\'s ports']],
    ['unix endpoint with no ports', { hosts: ['a.example.com'], resolution: 'STATIC', endpoints: [{ address: 'unix:///run/a.sock' }] }, ['spec.endpoints[0].address | a unix socket endpoint needs exactly one ServiceEntry port, got 0']],
    ['DYNAMIC_DNS with endpoints', { hosts: ['*.example.com'], ports: http, resolution: 'DYNAMIC_DNS', endpoints: [{ address: '10.0.0.1' }] }, ['spec.endpoints | endpoints must not be set when resolution is DYNAMIC_DNS']],
    ['several hosts with an unset protocol', { hosts: ['a.example.com', 'b.example.com'], ports: [{ number: 9000, name: 'p' }], resolution: 'DNS' }, ['spec.ports[0].protocol | a ServiceEntry with several hosts and resolution DNS needs HTTP or TLS ports, got ""']],
  ])('rejects %s', (_name, spec, want) => {
    expect(se(spec)).toEqual(want);
  });
});

describe('Sidecar', () => {
  const ingress = (defaultEndpoint: string): string[] =>
    errorsOf('Sidecar', { ingress: [{ port: { number: 9080, protocol: 'HTTP' }, defaultEndpoint }] });

  it.each(['127.0.0.1:8080', '0.0.0.0:8080', '[::1]:8080', '[::]:8080', ':8080', 'unix:///var/run/app.sock', 'unix://@app'])('accepts defaultEndpoint %s', (ep) => {
    expect(ingress(ep)).toEqual([]);
  });
  it.each([
    ['localhost:8080', 'defaultEndpoint must be 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port> or unix://<path>, got "localhost:8080"'],
    ['::1:8080', 'defaultEndpoint must be 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port> or unix://<path>, got "::1:8080"'],
    ['127.0.0.1:0', 'port number 0 must be in the range 1..65535'],
    ['unix://', 'unix socket path must not be empty'],
    ['unix:///var/run/', 'unix socket path "/var/run/" must be an absolute path to a file'],
  ])('rejects defaultEndpoint %s', (ep, reason) => {
    expect(ingress(ep)).toEqual([`spec.ingress[0].defaultEndpoint | ${reason}`]);
  });

  const egress = (host: string): string[] => errorsOf('Sidecar', { egress: [{ hosts: [host] }] });
  it.each(['*/*', './*', 'ns/*', 'ns/*.example.com', 'ns/api.example.com', '~ns/*', '~/api.example.com', '*/API.Example.com'])('accepts egress host %s', (h) => {
    expect(egress(h)).toEqual([]);
  });
  it.each([
    ['ns/foo', ['short name "foo" in host "ns/foo" is not allowed; use a fully qualified name']],
    ['ns/foo*', [
      'domain name "foo*" is invalid: label "foo*" is not a valid DNS label (a wildcard may only start the first label)',
      'partial wildcard "foo*" in host "ns/foo*" is not allowed',
      'short name "foo*" in host "ns/foo*" is not allowed; use a fully qualified name',
    ]],
    ['ns.x/*', ['invalid namespace "ns.x" in host "ns.x/*"']],
  ])('rejects egress host %s', (h, reasons) => {
    expect(egress(h)).toEqual(reasons.map((r) => `spec.egress[0].hosts[0] | ${r}`));
  });

  it('allows several port-less egress listeners as long as the last one has no port (Istio behaviour)', () => {
    expect(errorsOf('Sidecar', { egress: [{ hosts: ['a/*'] }, { hosts: ['b/*'] }] })).toEqual(['spec.egress[0] | the egress listener without a port must be the last one']);
    expect(errorsOf('Sidecar', { egress: [{ port: { number: 80 }, hosts: ['a/*'] }, { hosts: ['b/*'] }] })).toEqual([]);
  });

  it('accepts an outbound policy or an inbound pool alone', () => {
    expect(errorsOf('Sidecar', { outboundTrafficPolicy: { mode: 'ALLOW_ANY' } })).toEqual([]);
    expect(errorsOf('Sidecar', { inboundConnectionPool: { tcp: { maxConnections: 10 } } })).toEqual([]);
  });
});

describe('WorkloadEntry address', () => {
  it.each(['10.0.0.1', '2001:db8::1', 'vm1.corp.example.com', 'vm1', 'unix:///var/run/app.sock', 'unix://@abstract'])('accepts %s', (address) => {
    expect(errorsOf('WorkloadEntry', { address })).toEqual([]);
  });
  it.each([
    ['10.0.0.256', 'address "10.0.0.256" is not a valid IP address or FQDN'],
    ['vm_1.example.com', 'address "vm_1.example.com" is not a valid IP address or FQDN'],
    ['unix://', 'unix socket address "unix://" must be an absolute path or an abstract socket (unix://@name)'],
    ['unix://@abstract/', 'unix socket address "unix://@abstract/" must not be a directory (trailing "/")'],
  ])('rejects %s', (address, reason) => {
    expect(errorsOf('WorkloadEntry', { address })).toEqual([`spec.address | ${reason}`]);
  });
  it('accepts an empty address when a network is set (reached through the network gateway)', () => {
    expect(errorsOf('WorkloadEntry', { network: 'n1', address: '' })).toEqual([]);
  });
  it('limits port names to 62 characters (the CRD rule) and port numbers to 1..65535', () => {
    expect(errorsOf('WorkloadEntry', { address: '10.0.0.1', ports: { [`p${'a'.repeat(61)}`]: 80 } })).toEqual([]);
    expect(errorsOf('WorkloadEntry', { address: '10.0.0.1', ports: { [`p${'a'.repeat(62)}`]: 80 } })).toHaveLength(1);
  });
});

describe('WorkloadGroup', () => {
  it('does not require a template address (filled in at registration)', () => {
    expect(errorsOf('WorkloadGroup', { template: { serviceAccount: 'sa' }, probe: { httpGet: { port: 8080, scheme: 'HTTP' } } })).toEqual([]);
  });
  it('refuses a probe without a method or with the grpc method, as Istio\'s webhook does', () => {
    expect(errorsOf('WorkloadGroup', { template: {}, probe: { periodSeconds: 5 } })).toEqual(['spec.probe | a probe must set one of httpGet, tcpSocket, exec']);
    expect(errorsOf('WorkloadGroup', { template: {}, probe: { grpc: { port: 9090 } } })).toEqual([
      'spec.probe.grpc | grpc probes are not supported for WorkloadGroup; use httpGet, tcpSocket or exec',
    ]);
  });
});
