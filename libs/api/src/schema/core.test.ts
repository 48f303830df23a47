import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { validateText } from '../validate.js';
import { checkBase64Data, checkConfigMapKey, checkEndpointIp, checkIanaPortName, checkK8sQualifiedName, labelSelectorMatches } from './core.js';

/** Validates one object and returns its errors as `path | reason`. */
function errors(apiVersion: string, kind: string, body: Record<string, unknown>, namespaced = true): string[] {
  const metadata = namespaced ? { name: 'x', namespace: 'ns' } : { name: 'x' };
  return validateText(stringify({ apiVersion, kind, metadata, ...body }), 'test.yaml').diagnostics.map((d) => `${d.path} | ${d.reason}`);
}

const service = (spec: Record<string, unknown>) => errors('v1', 'Service', { spec });
const http = { name: 'http', port: 80, targetPort: 8080 };

describe('Service', () => {
  it.each([
    ['one unnamed port', { selector: { app: 'a' }, ports: [{ port: 9080 }] }],
    ['named targetPort and appProtocol', { ports: [{ name: 'grpc', port: 50051, targetPort: 'grpc-web', appProtocol: 'kubernetes.io/h2c' }] }],
    ['headless without ports', { clusterIP: 'None', selector: { app: 'a' } }],
    ['ExternalName with a trailing dot', { type: 'ExternalName', externalName: 'db.example.com.' }],
    ['NodePort', { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30080 }] }],
    ['LoadBalancer', { type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/8'], allocateLoadBalancerNodePorts: true, externalTrafficPolicy: 'Local', healthCheckNodePort: 31000, ports: [http] }],
    ['dual stack', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00::10'], ports: [http] }],
    ['ClientIP affinity', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } }, ports: [http] }],
    ['same port on TCP and UDP', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] }],
    ['fields the mesh does not read', { ports: [http], someFutureField: { x: 1 } }],
  ])('accepts %s', (_name, spec) => {
    expect(service(spec)).toEqual([]);
  });

  it.each([
    ['no ports', { selector: { app: 'a' } }, ['spec.ports | at least one port is required unless the Service is headless (clusterIP: None) or of type ExternalName']],
    ['unnamed ports', { ports: [{ port: 80 }, { port: 443 }] }, ['spec.ports[0].name | required when the Service has more than one port', 'spec.ports[1].name | required when the Service has more than one port']],
    ['duplicate names', { ports: [http, { ...http, port: 81 }] }, ['spec.ports[1].name | duplicate port name "http"']],
    ['upper-case name', { ports: [{ ...http, name: 'HTTP' }] }, ['spec.ports[0].name | "HTTP" must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character']],
    ['protocol', { ports: [{ ...http, protocol: 'HTTP' }] }, ['spec.ports[0].protocol | must be one of "TCP", "UDP", "SCTP"; got string "HTTP"']],
    ['port range', { ports: [{ port: 70000 }] }, ['spec.ports[0].port | port number 70000 must be in the range 1..65535']],
    ['targetPort name', { ports: [{ port: 80, targetPort: 'http_alt' }] }, ['spec.ports[0].targetPort | port name "http_alt" must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)']],
    ['targetPort number', { ports: [{ port: 80, targetPort: 0 }] }, ['spec.ports[0].targetPort | port number 0 must be in the range 1..65535']],
    ['port as containerPort', { ports: [{ containerPort: 80 }] }, ['spec.ports[0].port | required field is missing', 'spec.ports[0].containerPort | unknown field "containerPort"']],
    ['duplicate port/protocol', { ports: [http, { name: 'web', port: 80 }] }, ['spec.ports[1] | duplicate port 80/TCP: each (port, protocol) pair may appear only once']],
    ['nodePort on ClusterIP', { ports: [{ port: 80, nodePort: 30000 }] }, ["spec.ports[0].nodePort | may not be used when `type` is 'ClusterIP'"]],
    ['type', { type: 'Internal', ports: [http] }, ['spec.type | must be one of "ClusterIP", "NodePort", "LoadBalancer", "ExternalName"; got string "Internal"']],
    ['headless NodePort', { type: 'NodePort', clusterIP: 'None', ports: [http] }, ["spec.clusterIP | may not be set to 'None' for NodePort services"]],
    ['ExternalName without name', { type: 'ExternalName' }, ['spec.externalName | required for ExternalName services']],
    ['ExternalName with a cluster IP', { type: 'ExternalName', externalName: 'db.example.com', clusterIP: '10.0.0.1' }, ['spec.clusterIP | may not be set for ExternalName services']],
    ['clusterIP', { clusterIP: '10.0.0.300', ports: [http] }, ["spec.clusterIP | must be empty, 'None', or a valid IP address"]],
    ['clusterIPs[0] differs', { clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.2'], ports: [http] }, ['spec.clusterIPs | first value must match `clusterIP`']],
    ['two IPv4 clusterIPs', { clusterIPs: ['10.0.0.1', '10.0.0.2'], ports: [http] }, ['spec.clusterIPs | may specify no more than one IP for each IP family']],
    ['family mismatch', { clusterIPs: ['10.0.0.1'], ipFamilies: ['IPv6'], ports: [http] }, ['spec.clusterIPs[0] | expected an IPv6 value as indicated by `ipFamilies[0]`']],
    ['affinity config without ClientIP', { sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports: [http] }, ['spec.sessionAffinityConfig | must not be set when session affinity is None']],
    ['affinity timeout', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }, ports: [http] }, ['spec.sessionAffinityConfig.clientIP.timeoutSeconds | must be greater than 0 and less than 86400']],
    ['external policy on ClusterIP', { externalTrafficPolicy: 'Local', ports: [http] }, ['spec.externalTrafficPolicy | may only be set for externally-accessible services']],
    ['source ranges on ClusterIP', { loadBalancerSourceRanges: ['10.0.0.0/33'], ports: [http] }, [
      "spec.loadBalancerSourceRanges | may only be used when `type` is 'LoadBalancer'",
      'spec.loadBalancerSourceRanges[0] | "10.0.0.0/33" is not a valid CIDR block: prefix length must be 0..32',
    ]],
    ['loopback external IP', { externalIPs: ['127.0.0.1'], ports: [http] }, ['spec.externalIPs[0] | may not be in the loopback range (127.0.0.0/8, ::1/128)']],
    ['selector label', { selector: { app: 'a b' }, ports: [http] }, ['spec.selector.app | label value "a b" must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character']],
  ])('rejects %s', (_name, spec, expected) => {
    expect(service(spec).sort()).toEqual([...expected].sort());
  });
});

describe('Endpoints and EndpointSlice', () => {
  it('checks Endpoints subsets', () => {
    expect(errors('v1', 'Endpoints', { subsets: [{ addresses: [{ ip: '10.1.0.5', nodeName: 'node-1', targetRef: { kind: 'Pod', name: 'p', namespace: 'ns' } }], ports: [{ port: 9080, protocol: 'TCP' }] }] })).toEqual([]);
    expect(errors('v1', 'Endpoints', { subsets: [{ ports: [{ port: 80 }, { name: 'b', port: 81 }] }, { addresses: [{ ip: '169.254.1.1' }] }] }).sort()).toEqual([
      'subsets[0] | must specify `addresses` or `notReadyAddresses`',
      'subsets[0].ports[0].name | required when the subset has more than one port',
      'subsets[1].addresses[0].ip | may not be in the link-local range (169.254.0.0/16, fe80::/10)',
    ]);
  });

  const slice = (body: Record<string, unknown>) => errors('discovery.k8s.io/v1', 'EndpointSlice', body);
  it('accepts kubectl-style slices, empty ones included', () => {
    expect(slice({ addressType: 'IPv4', endpoints: null, ports: null })).toEqual([]);
    expect(slice({ addressType: 'IPv6', endpoints: [{ addresses: ['fd00::5'], conditions: { ready: true, serving: true, terminating: false }, zone: 'a', hints: { forZones: [{ name: 'a' }] } }], ports: [{ name: '', port: 80, protocol: 'TCP' }] })).toEqual([]);
    expect(slice({ addressType: 'FQDN', endpoints: [{ addresses: ['db.example.com'] }] })).toEqual([]);
  });
  it('checks addresses against the address type and port names', () => {
    expect(slice({ addressType: 'IPv4', endpoints: [{ addresses: ['fd00::1', '127.0.0.2', '10.0.0.1'] }, { addresses: [] }], ports: [{ port: 80 }, { port: 81 }, { name: 'Web', port: 82 }] }).sort()).toEqual([
      'endpoints[0].addresses[0] | must be a valid IPv4 address',
      'endpoints[0].addresses[1] | may not be in the loopback range (127.0.0.0/8, ::1/128)',
      'endpoints[1].addresses | must contain at least 1 address',
      'ports[1].name | duplicate unnamed port',
      "ports[2].name | \"Web\" must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
    ]);
    expect(slice({ addressType: 'IP', endpoints: [] })).toEqual(['addressType | must be one of "IPv4", "IPv6", "FQDN"; got string "IP"']);
    expect(slice({ addressType: 'FQDN', endpoints: [{ addresses: ['localhost'] }] })).toEqual(['endpoints[0].addresses[0] | "localhost" should be a domain with at least two segments separated by dots']);
  });
});

describe('Pod and Deployment', () => {
  const container = (extra: Record<string, unknown> = {}) => ({ name: 'app', image: 'example/app:1', ...extra });
  it('checks containers, their ports and the service account', () => {
    expect(errors('v1', 'Pod', { spec: { serviceAccountName: 'bookinfo-reviews', containers: [container({ ports: [{ name: 'http', containerPort: 9080 }] })] }, status: { phase: 'Running', podIP: '10.1.0.7', podIPs: [{ ip: '10.1.0.7' }], anything: [1, 2] } })).toEqual([]);
    expect(errors('v1', 'Pod', { spec: { serviceAccountName: 'Bad_SA', containers: [container({ ports: [{ name: 'http', containerPort: 0 }, { name: 'http', containerPort: 80, protocol: 'tcp' }] }), container()] } }).sort()).toEqual([
      'spec.containers[0].ports[0].containerPort | port number 0 must be in the range 1..65535',
      'spec.containers[0].ports[1].name | duplicate port name "http"',
      'spec.containers[0].ports[1].protocol | must be one of "TCP", "UDP", "SCTP"; got string "tcp"',
      'spec.containers[1].name | duplicate container name "app"',
      'spec.serviceAccountName | "Bad_SA" must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character',
    ]);
    expect(errors('v1', 'Pod', { spec: { containers: [] }, status: { phase: 'Done', podIP: 'nope', podIPs: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }] } }).sort()).toEqual([
      'spec.containers | must have at least 1 item(s)',
      'status.phase | must be one of "Pending", "Running", "Succeeded", "Failed", "Unknown"; got string "Done"',
      'status.podIP | "nope" is not a valid IP address',
      'status.podIPs | may specify no more than one IP for each IP family',
    ]);
    expect(errors('v1', 'Pod', { spec: { containers: [container({ ports: [{ name: 'metrics-prometheus', containerPort: 15090 }] })] } })).toEqual([
      'spec.containers[0].ports[0].name | port name "metrics-prometheus" must be no more than 15 characters',
    ]);
  });

  const deployment = (spec: Record<string, unknown>) => errors('apps/v1', 'Deployment', { spec });
  const template = (labels: Record<string, string>) => ({ metadata: { labels }, spec: { containers: [container()] } });
  it('accepts kubectl output of a Deployment', () => {
    const spec = {
      progressDeadlineSeconds: 600,
      replicas: 1,
      revisionHistoryLimit: 10,
      selector: { matchLabels: { app: 'ratings', version: 'v1' } },
      strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' }, type: 'RollingUpdate' },
      template: {
        metadata: { creationTimestamp: null, labels: { app: 'ratings', version: 'v1' } },
        spec: { containers: [{ ...container(), ports: [{ containerPort: 9080, protocol: 'TCP' }], resources: {} }], dnsPolicy: 'ClusterFirst', serviceAccountName: 'bookinfo-ratings' },
      },
    };
    const status = { availableReplicas: 1, conditions: [{ type: 'Available', status: 'True' }], observedGeneration: 1 };
    expect(errors('apps/v1', 'Deployment', { spec, status })).toEqual([]);
  });

  it('requires a selector that matches the template labels', () => {
    expect(deployment({ selector: { matchLabels: { app: 'a' } }, template: template({ app: 'a', version: 'v1' }), strategy: { type: 'RollingUpdate' } })).toEqual([]);
    expect(deployment({ selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['a', 'b'] }] }, template: template({ app: 'b' }) })).toEqual([]);
    expect(deployment({ selector: { matchLabels: { app: 'a' } }, template: template({ app: 'b' }) })).toEqual(['spec.template.metadata.labels | `selector` does not match template `labels`']);
    expect(deployment({ selector: {}, template: template({ app: 'b' }) })).toEqual(['spec.selector | empty selector is invalid for deployment']);
    expect(deployment({ selector: { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] }, template: template({ app: 'b' }) })).toEqual([
      "spec.selector.matchExpressions[0].values | may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
    ]);
  });
});

describe('Secret, ConfigMap, ServiceAccount, Namespace', () => {
  it('checks Secret data', () => {
    expect(errors('v1', 'Secret', { type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' } })).toEqual([]);
    expect(errors('v1', 'Secret', { type: 'kubernetes.io/tls', stringData: { 'tls.crt': 'cert', 'tls.key': 'key' } })).toEqual([]);
    expect(errors('v1', 'Secret', { type: 'kubernetes.io/tls', data: { 'tls.crt': 'not base64!', 'bad/key': 'YQ==' } }).sort()).toEqual([
      'data["bad/key"] | key "bad/key" must consist of alphanumeric characters, \'-\', \'_\' or \'.\'',
      'data["tls.crt"] | value must be base64-encoded (standard alphabet, padded)',
      'data["tls.key"] | required for a Secret of type kubernetes.io/tls',
    ]);
    expect(errors('v1', 'Secret', { type: 'kubernetes.io/basic-auth', data: {} })).toEqual(['data | one of "username", "password" is required for a Secret of type kubernetes.io/basic-auth']);
    expect(errors('v1', 'Secret', { type: 'Opaque', data: { big: 'A'.repeat(1_400_004) } })).toEqual(['data | too long: must have at most 1048576 bytes']);
  });
  it('checks ConfigMap keys', () => {
    expect(errors('v1', 'ConfigMap', { data: { mesh: 'a: b', '..x': 'y' }, binaryData: { mesh: 'AA==' } }).sort()).toEqual([
      'data.mesh | duplicate of key present in binaryData',
      'data["..x"] | key "..x" must not start with \'..\'',
    ]);
  });
  it('accepts ServiceAccounts and checks Namespace finalizers', () => {
    expect(errors('v1', 'ServiceAccount', { automountServiceAccountToken: false, secrets: [{ name: 'tok' }], imagePullSecrets: [{ name: 'reg' }] })).toEqual([]);
    expect(errors('v1', 'Namespace', { spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }, false)).toEqual([]);
    expect(errors('v1', 'Namespace', { spec: { finalizers: ['cleanup'] } }, false)).toEqual(['spec.finalizers[0] | finalizer "cleanup" is neither a standard finalizer name nor is it fully qualified']);
  });
});

describe('field checks', () => {
  it.each([
    ['http', undefined],
    ['http-web', undefined],
    ['h2c', undefined],
    ['8080', 'port name "8080" must contain at least one letter (a-z)'],
    ['http--web', 'port name "http--web" must not contain consecutive hyphens'],
    ['-http', 'port name "-http" must not begin or end with a hyphen'],
  ])('checkIanaPortName(%s)', (v, want) => expect(checkIanaPortName(v)).toBe(want));

  it.each([
    ['kubernetes.io/h2c', undefined],
    ['HTTP', undefined],
    ['a/b/c', 'name "a/b/c" may contain at most one "/"'],
  ])('checkK8sQualifiedName(%s)', (v, want) => expect(checkK8sQualifiedName(v)).toBe(want));

  it.each([
    ['key.name', undefined],
    ['KEY_NAME', undefined],
    ['.', "key \".\" must not be '.' or '..'"],
  ])('checkConfigMapKey(%s)', (v, want) => expect(checkConfigMapKey(v)).toBe(want));

  it.each([
    ['aGVsbG8=', true],
    ['aGVs\nbG8=', true],
    ['', true],
    ['aGVsbG8', false],
    ['aGVs bG8=', false],
    ['aGVsbG8-', false],
  ])('checkBase64Data(%j) ok=%s', (v, ok) => expect(checkBase64Data(v) === undefined).toBe(ok));

  it.each([
    ['10.0.0.1', undefined],
    ['2001:db8::1', undefined],
    ['0.0.0.0', 'may not be unspecified (0.0.0.0)'],
    ['::', 'may not be unspecified (::)'],
    ['::1', 'may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ['::ffff:127.0.0.1', 'may not be in the loopback range (127.0.0.0/8, ::1/128)'],
    ['fe80::1', 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'],
    ['224.0.0.251', 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'],
    ['ff02::1', 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'],
    ['ff05::1', undefined],
  ])('checkEndpointIp(%s)', (v, want) => expect(checkEndpointIp(v)).toBe(want));

  it('matches label selectors', () => {
    expect(labelSelectorMatches({ app: 'a' }, [{ key: 'version', operator: 'NotIn', values: ['v2'] }], { app: 'a', version: 'v1' })).toBe(true);
    expect(labelSelectorMatches({}, [{ key: 'canary', operator: 'DoesNotExist' }], { canary: 'true' })).toBe(false);
  });
});
