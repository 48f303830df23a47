import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { validateText } from '../validate.js';
import { gatewayDurationMs, type HTTPRouteSpec, type K8sGatewaySpec } from './gateway-api.js';

const GROUP = 'gateway.networking.k8s.io';

/** Validates one object and returns its errors as `path | reason`. */
function errors(kind: string, spec: unknown, version = 'v1'): string[] {
  const text = stringify({ apiVersion: `${GROUP}/${version}`, kind, metadata: { name: 'x', namespace: 'ns' }, spec });
  return validateText(text, 'test.yaml').diagnostics.map((d) => `${d.path} | ${d.reason}`);
}

function parsed<T>(kind: string, spec: unknown): T {
  const text = stringify({ apiVersion: `${GROUP}/v1`, kind, metadata: { name: 'x', namespace: 'ns' }, spec });
  const r = validateText(text, 'test.yaml');
  expect(r.diagnostics).toEqual([]);
  return r.resources[0].body.spec as T;
}

const gw = (listeners: unknown[], extra: Record<string, unknown> = {}) => ({ gatewayClassName: 'istio', listeners, ...extra });
const http80 = { name: 'http', port: 80, protocol: 'HTTP' };
const route = (rule: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ parentRefs: [{ name: 'gw' }], rules: [rule], ...extra });
const svc = (name: string, port = 8080) => ({ name, port });

describe('HTTPRoute', () => {
  it('applies upstream defaults like the API server', () => {
    const spec = parsed<HTTPRouteSpec>('HTTPRoute', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [svc('a')] }] });
    expect(spec.parentRefs?.[0]).toEqual({ group: GROUP, kind: 'Gateway', name: 'gw' });
    expect(spec.rules[0].matches).toEqual([{ path: { type: 'PathPrefix', value: '/' } }]);
    expect(spec.rules[0].backendRefs?.[0]).toEqual({ group: '', kind: 'Service', name: 'a', port: 8080, weight: 1 });
    const empty = parsed<HTTPRouteSpec>('HTTPRoute', {});
    expect(empty.rules).toEqual([{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }]);
  });

  it('is served as v1 and v1beta1 but not v1alpha2', () => {
    expect(errors('HTTPRoute', route({ backendRefs: [svc('a')] }), 'v1beta1')).toEqual([]);
    expect(errors('HTTPRoute', route({ backendRefs: [svc('a')] }), 'v1alpha2')).toEqual([
      `apiVersion | version "v1alpha2" of HTTPRoute is not served; use one of: ${GROUP}/v1, ${GROUP}/v1beta1`,
    ]);
  });

  it.each([
    ['relative path', { type: 'PathPrefix', value: 'foo' }, ["value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']"]],
    ['double slash', { type: 'Exact', value: '/a//b' }, ["must not contain '//' when type one of ['Exact', 'PathPrefix']"]],
    ['dot segment', { type: 'Exact', value: '/a/./b' }, ["must not contain '/./' when type one of ['Exact', 'PathPrefix']"]],
    ['encoded slash', { type: 'PathPrefix', value: '/a%2Fb' }, ["must not contain '%2F' when type one of ['Exact', 'PathPrefix']"]],
    ['fragment', { type: 'PathPrefix', value: '/a#b' }, ["must not contain '#' when type one of ['Exact', 'PathPrefix']", "must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']"]],
    ['trailing dot-dot', { type: 'PathPrefix', value: '/a/..' }, ["must not end with '/..' when type one of ['Exact', 'PathPrefix']"]],
    ['bad characters', { type: 'PathPrefix', value: '/[]' }, ["must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']"]],
    ['regex is not checked as a path', { type: 'RegularExpression', value: '.*foo[0-9]+' }, []],
    ['percent-encoded octets are fine', { type: 'Exact', value: '/caf%C3%A9' }, []],
  ])('path match: %s', (_name, path, reasons) => {
    expect(errors('HTTPRoute', route({ matches: [{ path }], backendRefs: [svc('a')] }))).toEqual(reasons.map((r) => `spec.rules[0].matches[0].path.value | ${r}`));
  });

  it('requires a port for Service backends only', () => {
    expect(errors('HTTPRoute', route({ backendRefs: [{ name: 'a' }] }))).toEqual(['spec.rules[0].backendRefs[0] | Must have port for Service reference']);
    expect(errors('HTTPRoute', route({ backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'a' }] }))).toEqual([]);
  });

  it('bounds weights to 0..1000000', () => {
    expect(errors('HTTPRoute', route({ backendRefs: [{ ...svc('a'), weight: 0 }, { ...svc('b'), weight: 1000000 }] }))).toEqual([]);
    expect(errors('HTTPRoute', route({ backendRefs: [{ ...svc('a'), weight: 1000001 }] }))).toEqual(['spec.rules[0].backendRefs[0].weight | must be <= 1000000, got integer 1000001']);
  });

  it.each([
    ['field of another type', { type: 'RequestHeaderModifier', requestRedirect: { port: 443 } }, [
      'spec.rules[0].filters[0] | filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type',
      'spec.rules[0].filters[0].requestRedirect | filter.requestRedirect must be nil if the filter.type is not RequestRedirect',
      // Upstream's rule looks at the field, not the type.
      'spec.rules[0].filters[0] | RequestRedirect filter must not be used together with backendRefs',
    ]],
    ['missing config', { type: 'URLRewrite' }, ['spec.rules[0].filters[0] | filter.urlRewrite must be specified for URLRewrite filter.type']],
    ['CORS', { type: 'CORS', cors: { allowOrigins: ['https://a.example.com', '*'] } }, ["spec.rules[0].filters[0].cors.allowOrigins[1] | AllowOrigins cannot contain '*' alongside other origins"]],
    ['CORS origin', { type: 'CORS', cors: { allowOrigins: ['ftp://a.example.com'] } }, [
      'spec.rules[0].filters[0].cors.allowOrigins[0] | "ftp://a.example.com" is not a valid origin: use "*" or <scheme>://<host>[:<port>] with scheme http or https (the host may start with "*.")',
    ]],
    ['CORS methods', { type: 'CORS', cors: { allowMethods: ['GET', 'GET'] } }, ['spec.rules[0].filters[0].cors.allowMethods[1] | duplicate value "GET": values must be unique in this list']],
    ['mirror percent and fraction', { type: 'RequestMirror', requestMirror: { backendRef: svc('m'), percent: 10, fraction: { numerator: 1 } } }, [
      'spec.rules[0].filters[0].requestMirror.fraction | Only one of percent or fraction may be specified in HTTPRequestMirrorFilter',
    ]],
    ['mirror fraction above one', { type: 'RequestMirror', requestMirror: { backendRef: svc('m'), fraction: { numerator: 3, denominator: 2 } } }, [
      'spec.rules[0].filters[0].requestMirror.fraction.numerator | numerator must be less than or equal to denominator',
    ]],
    ['mirror without port', { type: 'RequestMirror', requestMirror: { backendRef: { name: 'm' } } }, ['spec.rules[0].filters[0].requestMirror.backendRef | Must have port for Service reference']],
    ['header modifier names', { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }, { name: 'x-a', value: '2' }], add: [{ name: 'bad header', value: 'v' }] } }, [
      'spec.rules[0].filters[0].requestHeaderModifier.set[1].name | duplicate header name "x-a": names must be unique in this list',
      "spec.rules[0].filters[0].requestHeaderModifier.add[0].name | \"bad header\" is not a valid HTTP header name: only letters, digits and !#$%&'*+-.^_`|~ are allowed",
    ]],
    ['extensionRef needs a group', { type: 'ExtensionRef', extensionRef: { kind: 'Thing', name: 't' } }, ['spec.rules[0].filters[0].extensionRef.group | required field is missing']],
  ])('filter: %s', (_name, filter, expected) => {
    expect(errors('HTTPRoute', route({ filters: [filter], backendRefs: [svc('a')] })).sort()).toEqual([...expected].sort());
  });

  it('rejects redirect with backends, redirect with rewrite, and repeated filters', () => {
    const redirect = { type: 'RequestRedirect', requestRedirect: { scheme: 'https' } };
    const rewrite = { type: 'URLRewrite', urlRewrite: { hostname: 'a.example.com' } };
    const hdr = { type: 'RequestHeaderModifier', requestHeaderModifier: { remove: ['x'] } };
    expect(errors('HTTPRoute', route({ filters: [redirect], backendRefs: [svc('a')] }))).toEqual(['spec.rules[0].filters[0] | RequestRedirect filter must not be used together with backendRefs']);
    expect(errors('HTTPRoute', route({ filters: [redirect, rewrite] }))).toEqual([
      'spec.rules[0].filters[1] | May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both',
    ]);
    expect(errors('HTTPRoute', route({ filters: [hdr, hdr], backendRefs: [svc('a')] }))).toEqual(['spec.rules[0].filters[1] | RequestHeaderModifier filter cannot be repeated']);
    // RequestMirror may be repeated.
    const mirror = { type: 'RequestMirror', requestMirror: { backendRef: svc('m') } };
    expect(errors('HTTPRoute', route({ filters: [mirror, mirror], backendRefs: [svc('a')] }))).toEqual([]);
  });

  it('requires exactly one PathPrefix match with replacePrefixMatch', () => {
    const rw = { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } };
    expect(errors('HTTPRoute', route({ matches: [{ path: { type: 'PathPrefix', value: '/v1' } }], filters: [rw], backendRefs: [svc('a')] }))).toEqual([]);
    expect(errors('HTTPRoute', route({ matches: [{ path: { type: 'Exact', value: '/v1' } }], filters: [rw], backendRefs: [svc('a')] }))).toEqual([
      'spec.rules[0].matches | When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified',
    ]);
    const rd = { type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } };
    expect(errors('HTTPRoute', route({ matches: [{ path: { type: 'PathPrefix', value: '/a' } }, { path: { type: 'PathPrefix', value: '/b' } }], filters: [rd] }))).toEqual([
      'spec.rules[0].matches | When using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified',
    ]);
    expect(errors('HTTPRoute', route({ matches: [{ method: 'GET' }, { method: 'PUT' }], backendRefs: [{ ...svc('a'), filters: [rw] }] }))).toEqual([
      'spec.rules[0].matches | Within backendRefs, When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified',
    ]);
  });

  it('checks path modifiers', () => {
    const rw = (path: unknown) => route({ filters: [{ type: 'URLRewrite', urlRewrite: { path } }], backendRefs: [svc('a')] });
    expect(errors('HTTPRoute', rw({ type: 'ReplaceFullPath' }))).toEqual(["spec.rules[0].filters[0].urlRewrite.path | replaceFullPath must be specified when type is set to 'ReplaceFullPath'"]);
    expect(errors('HTTPRoute', rw({ type: 'ReplaceFullPath', replaceFullPath: '/x', replacePrefixMatch: '/y' }))).toEqual([
      "spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch | type must be 'ReplacePrefixMatch' when replacePrefixMatch is set",
    ]);
  });

  it('checks redirect status codes and hostnames', () => {
    const rd = (requestRedirect: unknown) => route({ filters: [{ type: 'RequestRedirect', requestRedirect }] });
    expect(errors('HTTPRoute', rd({ statusCode: 301, hostname: 'www.example.com', port: 8443, scheme: 'https' }))).toEqual([]);
    expect(errors('HTTPRoute', rd({ statusCode: 300 }))).toEqual(['spec.rules[0].filters[0].requestRedirect.statusCode | must be one of 301, 302, 303, 307, 308; got integer 300']);
    expect(errors('HTTPRoute', rd({ hostname: '*.example.com' }))).toEqual([
      'spec.rules[0].filters[0].requestRedirect.hostname | "*.example.com" is not a valid hostname: it must be a lower-case RFC 1123 DNS name without wildcards',
    ]);
  });

  it.each([
    ['10s', '5s', []],
    ['0s', '1h', []],
    ['1m', '1m1s', ['spec.rules[0].timeouts.backendRequest | backendRequest timeout cannot be longer than request timeout']],
    ['1.5s', undefined, ['spec.rules[0].timeouts.request | "1.5s" is not a valid Gateway API duration: use one to four <number><unit> parts with units h, m, s or ms (e.g. "1h30m", "500ms")']],
  ])('timeouts request=%s backendRequest=%s', (request, backendRequest, expected) => {
    expect(errors('HTTPRoute', route({ timeouts: { request, ...(backendRequest ? { backendRequest } : {}) }, backendRefs: [svc('a')] }))).toEqual(expected);
  });

  it('checks hostnames and parentRefs', () => {
    expect(errors('HTTPRoute', { hostnames: ['*.example.com', 'example.com', 'Foo.example.com', '*'] })).toEqual([
      'spec.hostnames[2] | "Foo.example.com" is not a valid hostname: it must be a lower-case RFC 1123 DNS name, optionally starting with a single "*." wildcard label',
      'spec.hostnames[3] | "*" is not a valid hostname: it must be a lower-case RFC 1123 DNS name, optionally starting with a single "*." wildcard label',
    ]);
    expect(errors('HTTPRoute', { parentRefs: [{ name: 'gw', sectionName: 'http' }, { name: 'gw', sectionName: 'https' }] })).toEqual([]);
    expect(errors('HTTPRoute', { parentRefs: [{ name: 'gw', sectionName: 'http' }, { name: 'gw' }] })).toEqual([
      'spec.parentRefs[1] | sectionName must be specified when parentRefs includes 2 or more references to the same parent',
    ]);
    expect(errors('HTTPRoute', { parentRefs: [{ name: 'gw' }, { name: 'gw', namespace: 'other' }] })).toEqual([]);
    expect(errors('HTTPRoute', { parentRefs: [{ name: 'gw', sectionName: 'a' }, { name: 'gw', sectionName: 'a' }] })).toEqual([
      'spec.parentRefs[1] | sectionName must be unique when parentRefs includes 2 or more references to the same parent',
    ]);
    // GAMMA: a Service parent (group "") for mesh routing.
    expect(errors('HTTPRoute', { parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }] })).toEqual([]);
  });

  it('limits rules, matches and backends', () => {
    const many = (n: number, f: (i: number) => unknown) => Array.from({ length: n }, (_, i) => f(i));
    expect(errors('HTTPRoute', { rules: many(17, () => ({})) })).toEqual(['spec.rules | must have at most 16 item(s)']);
    const rules = many(3, () => ({ matches: many(43, (i) => ({ path: { type: 'Exact', value: `/p${i}` } })) }));
    expect(errors('HTTPRoute', { rules })).toEqual([
      'spec.rules | While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128',
    ]);
    expect(errors('HTTPRoute', { rules: [] })).toEqual(['spec.rules | must have at least 1 item(s)']);
  });

  it('rejects experimental-channel fields as unknown', () => {
    expect(errors('HTTPRoute', route({ backendRefs: [svc('a')], retry: { attempts: 3 } }))).toEqual(['spec.rules[0].retry | unknown field "retry"']);
  });
});

describe('GRPCRoute', () => {
  const grpc = (rule: Record<string, unknown>) => ({ parentRefs: [{ name: 'gw' }], rules: [rule] });
  it('accepts method and header matches', () => {
    expect(errors('GRPCRoute', grpc({ matches: [{ method: { service: 'com.example.User', method: 'Login' }, headers: [{ name: 'env', value: 'canary' }] }], backendRefs: [svc('grpc', 50051)] }))).toEqual([]);
    expect(errors('GRPCRoute', grpc({ matches: [{ method: { type: 'RegularExpression', service: 'com\\.example\\..*' } }], backendRefs: [svc('grpc', 50051)] }))).toEqual([]);
  });
  it.each([
    [{}, ["spec.rules[0].matches[0].method | One or both of 'service' or 'method' must be specified"]],
    [{ service: 'com/example' }, ['spec.rules[0].matches[0].method.service | service must only contain valid characters (matching ^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)']],
    [{ method: 'Log-in' }, ['spec.rules[0].matches[0].method.method | method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)']],
  ])('method match %j', (method, expected) => {
    expect(errors('GRPCRoute', grpc({ matches: [{ method }], backendRefs: [svc('grpc', 50051)] }))).toEqual(expected);
  });
  it('allows only gRPC filter types and serves only v1', () => {
    expect(errors('GRPCRoute', grpc({ filters: [{ type: 'URLRewrite', urlRewrite: {} }], backendRefs: [svc('g', 1)] }))).toEqual([
      'spec.rules[0].filters[0].type | must be one of "ResponseHeaderModifier", "RequestHeaderModifier", "RequestMirror", "ExtensionRef"; got string "URLRewrite"',
      'spec.rules[0].filters[0].urlRewrite | unknown field "urlRewrite"',
    ]);
    expect(errors('GRPCRoute', grpc({}), 'v1beta1')[0]).toMatch(/^apiVersion \| version "v1beta1" of GRPCRoute is not served/);
  });
});

describe('TCPRoute and TLSRoute', () => {
  const backends = [{ name: 'echo-v1', port: 9000, weight: 80 }, { name: 'echo-v2', port: 9000, weight: 20 }];
  it('accepts one rule of weighted backends', () => {
    expect(errors('TCPRoute', { parentRefs: [{ name: 'gw', sectionName: 'tcp' }], rules: [{ backendRefs: backends }] })).toEqual([]);
    expect(errors('TLSRoute', { parentRefs: [{ name: 'gw' }], hostnames: ['*.example.com'], rules: [{ backendRefs: backends }] })).toEqual([]);
  });
  it('rejects several rules, no backends and IP hostnames; v1alpha2 has the v1 rules', () => {
    // zod reports a list that is too long without looking into its items.
    expect(errors('TCPRoute', { rules: [{ backendRefs: backends }, { backendRefs: [] }] })).toEqual(['spec.rules | must have at most 1 item(s)']);
    expect(errors('TCPRoute', { rules: [{ backendRefs: [] }] })).toEqual(['spec.rules[0].backendRefs | must have at least 1 item(s)']);
    expect(errors('TLSRoute', { hostnames: ['10.0.0.1'], rules: [{ backendRefs: [{ name: 'db' }] }] })).toEqual([
      'spec.hostnames[0] | Hostnames cannot contain an IP',
      'spec.rules[0].backendRefs[0] | Must have port for Service reference',
    ]);
    expect(errors('TLSRoute', { rules: [{ backendRefs: backends }] })).toEqual(['spec.hostnames | required field is missing']);
    // v1alpha2 stays served for TCPRoute/TLSRoute (Istio's tasks use it), with the same rules.
    expect(errors('TCPRoute', { rules: [{ backendRefs: backends }] }, 'v1alpha2')).toEqual(errors('TCPRoute', { rules: [{ backendRefs: backends }] }));
  });
});

describe('Gateway', () => {
  it('applies listener defaults', () => {
    const spec = parsed<K8sGatewaySpec>('Gateway', gw([{ name: 'https', port: 443, protocol: 'HTTPS', tls: { certificateRefs: [{ name: 'cert' }] } }]));
    expect(spec.listeners[0].allowedRoutes).toEqual({ namespaces: { from: 'Same' } });
    expect(spec.listeners[0].tls).toEqual({ mode: 'Terminate', certificateRefs: [{ group: '', kind: 'Secret', name: 'cert' }] });
  });

  it.each([
    ['tls on HTTP', [{ ...http80, tls: { mode: 'Passthrough' } }], ["spec.listeners[0].tls | tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"]],
    ['passthrough HTTPS', [{ name: 'https', port: 443, protocol: 'HTTPS', tls: { mode: 'Passthrough' } }], ['spec.listeners[0].tls.mode | tls mode must be Terminate for protocol HTTPS']],
    ['TLS without tls', [{ name: 'tls', port: 443, protocol: 'TLS' }], ['spec.listeners[0] | tls mode must be set for protocol TLS']],
    ['terminate without certificates', [{ name: 'https', port: 443, protocol: 'HTTPS', tls: {} }], ['spec.listeners[0].tls | certificateRefs or options must be specified when mode is Terminate']],
    ['hostname on TCP', [{ name: 'tcp', port: 9000, protocol: 'TCP', hostname: 'a.example.com' }], ["spec.listeners[0].hostname | hostname must not be specified for protocols ['TCP', 'UDP']"]],
    ['duplicate names', [http80, { ...http80, port: 8080 }], ['spec.listeners[1].name | Listener name must be unique within the Gateway']],
    ['duplicate port/protocol/hostname', [http80, { ...http80, name: 'other' }], ['spec.listeners[1] | Combination of port, protocol and hostname must be unique for each listener']],
    ['same port, other hostnames', [{ ...http80, hostname: 'a.example.com' }, { ...http80, name: 'b', hostname: 'b.example.com' }], []],
    ['port range', [{ ...http80, port: 0 }], ['spec.listeners[0].port | port number 0 must be in the range 1..65535']],
    ['protocol name', [{ ...http80, protocol: 'HTTP/2' }], ['spec.listeners[0].protocol | "HTTP/2" is not a valid listener protocol: use a name such as HTTP, HTTPS, TLS, TCP or UDP, or a domain-prefixed name such as "example.com/proto"']],
    ['implementation protocol', [{ ...http80, protocol: 'example.com/quic' }], []],
    ['no listeners', [], ['spec.listeners | must have at least 1 item(s)']],
  ])('listeners: %s', (_name, listeners, expected) => {
    expect(errors('Gateway', gw(listeners))).toEqual(expected);
  });

  it('checks addresses', () => {
    expect(errors('Gateway', gw([http80], { addresses: [{ value: '10.0.0.1' }, { type: 'Hostname', value: 'lb.example.com' }, { type: 'NamedAddress', value: 'anything' }] }))).toEqual([]);
    expect(errors('Gateway', gw([http80], { addresses: [{ value: 'lb.example.com' }, { type: 'IPAddress', value: '10.0.0.1' }, { value: '10.0.0.1' }, { type: 'Hostname', value: 'a.example.com:80' }, { type: 'weird type' }] }))).toEqual([
      'spec.addresses[0].value | "lb.example.com" is not a valid IP address',
      'spec.addresses[2].value | IPAddress values must be unique',
      'spec.addresses[3].value | Hostname value must be empty or contain only valid characters (matching ^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)',
      'spec.addresses[4].type | "weird type" is not a valid address type: use IPAddress, Hostname, NamedAddress or a domain-prefixed name such as "example.com/custom"',
    ]);
  });

  it('checks infrastructure labels and annotations', () => {
    const labels = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`l${i}`, 'v']));
    expect(errors('Gateway', gw([http80], { infrastructure: { labels, annotations: { 'bad key!': 'x' } } }))).toEqual([
      'spec.infrastructure.labels | must have at most 8 entries',
      'spec.infrastructure.annotations["bad key!"] | Annotation keys must be in the form of an optional DNS subdomain prefix followed by a required name segment of up to 63 characters.',
    ]);
  });

  it('checks frontend TLS validation and allowedListeners', () => {
    const ref = { group: '', kind: 'ConfigMap', name: 'ca' };
    expect(errors('Gateway', gw([http80], { tls: { frontend: { default: { validation: { caCertificateRefs: [ref] } }, perPort: [{ port: 443, tls: {} }, { port: 443, tls: {} }] } }, allowedListeners: { namespaces: { from: 'All' } } }))).toEqual([
      'spec.tls.frontend.perPort[1].port | Port for TLS configuration must be unique within the Gateway',
    ]);
    expect(errors('Gateway', gw([http80], { allowedListeners: { namespaces: { from: 'Everywhere' } } }))).toEqual([
      'spec.allowedListeners.namespaces.from | must be one of "All", "Selector", "Same", "None"; got string "Everywhere"',
    ]);
  });

  it('requires gatewayClassName', () => {
    expect(errors('Gateway', { listeners: [http80] })).toEqual(['spec.gatewayClassName | required field is missing']);
  });
});

describe('GatewayClass and ReferenceGrant', () => {
  it('checks the controller name', () => {
    expect(errors('GatewayClass', { controllerName: 'istio.io/gateway-controller', description: 'Istio' })).toEqual([]);
    expect(errors('GatewayClass', { controllerName: 'istio' })).toEqual([
      'spec.controllerName | "istio" is not a valid controller name: it must be a domain-prefixed path such as "example.net/gateway-controller"',
    ]);
  });
  it('checks reference grants, served as v1beta1 and v1', () => {
    const spec = { from: [{ group: GROUP, kind: 'HTTPRoute', namespace: 'web' }], to: [{ group: '', kind: 'Service' }] };
    expect(errors('ReferenceGrant', spec, 'v1beta1')).toEqual([]);
    expect(errors('ReferenceGrant', spec, 'v1')).toEqual([]);
    expect(errors('ReferenceGrant', { from: [{ group: GROUP, kind: 'HTTPRoute' }], to: [] })).toEqual([
      'spec.from[0].namespace | required field is missing',
      'spec.to | must have at least 1 item(s)',
    ]);
  });
});

describe('gatewayDurationMs', () => {
  it.each([
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1m1s1ms', 61_001],
    ['0s', 0],
    ['1.5s', undefined],
    ['1d', undefined],
    ['123456s', undefined],
  ])('%s → %s', (v, ms) => expect(gatewayDurationMs(v)).toBe(ms));
});
