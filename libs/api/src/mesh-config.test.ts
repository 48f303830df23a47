import { describe, expect, test } from 'vitest';
import { DEFAULT_MESH_CONFIG } from './model.js';
import { mergeMeshConfig, parseMeshConfigText } from './mesh-config.js';

const MESH = `
trustDomain: example.org
rootNamespace: mesh-root
connectTimeout: 2.5s
outboundTrafficPolicy: {mode: REGISTRY_ONLY}
accessLogFile: /dev/stdout
extensionProviders:
- name: my-ext-authz-grpc
  envoyExtAuthzGrpc:
    service: ext-authz.foo.svc.cluster.local
    port: 9000
    timeout: 0.5s
    failOpen: true
    includeRequestBodyInCheck: {maxRequestBytes: 1024, allowPartialMessage: true}
- name: my-ext-authz-http
  envoyExtAuthzHttp:
    service: foo/ext-authz.foo.svc.cluster.local
    port: 8000
    pathPrefix: /check
    statusOnError: "503"
    includeRequestHeadersInCheck: [x-ext-authz]
    headersToUpstreamOnAllow: [x-ext-authz-check-result]
    headersToDownstreamOnDeny: [x-ext-authz-check-result]
- name: zipkin
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
- name: prom
  prometheus: {}
defaultProviders: {tracing: [zipkin], metrics: [prometheus]}
`;

describe('parseMeshConfigText', () => {
  test('the bare MeshConfig: fields Meshwork reads, providers in Istio shape, others ignored with a warning', () => {
    const r = parseMeshConfigText(MESH);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.trustDomain).toBe('example.org');
    expect(r.value.rootNamespace).toBe('mesh-root');
    expect(r.value.connectTimeoutMs).toBe(2500);
    expect(r.value.outboundTrafficPolicy).toBe('REGISTRY_ONLY');
    expect(r.value.extensionProviders?.map((p) => p.name)).toEqual(['my-ext-authz-grpc', 'my-ext-authz-http', 'zipkin', 'prom']);
    expect(r.value.extensionProviders?.[0]?.envoyExtAuthzGrpc).toEqual({ service: 'ext-authz.foo.svc.cluster.local', port: 9000, timeout: '0.5s', failOpen: true, includeRequestBodyInCheck: { maxRequestBytes: 1024, allowPartialMessage: true } });
    expect(r.value.extensionProviders?.[1]?.envoyExtAuthzHttp?.statusOnError).toBe('503');
    expect(r.value.defaultProviders?.tracing).toEqual(['zipkin']);
    expect(r.warnings).toEqual(['accessLogFile: not used by Meshwork (ignored)']);
    const merged = mergeMeshConfig(DEFAULT_MESH_CONFIG, r.value);
    expect(merged.domainSuffix).toBe('cluster.local');
    expect(merged.trustDomain).toBe('example.org');
  });

  test('the istio ConfigMap (data.mesh) and an IstioOperator (spec.meshConfig) give the same MeshConfig', () => {
    const indented = MESH.split('\n').map((l) => `    ${l}`).join('\n');
    const cm = parseMeshConfigText(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |-\n${indented}\n`);
    const op = parseMeshConfigText(`apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n${MESH.split('\n').map((l) => `    ${l}`).join('\n')}\n`);
    const bare = parseMeshConfigText(MESH);
    expect(cm).toEqual(bare);
    expect(op).toEqual(bare);
  });

  test('an empty file sets nothing', () => {
    expect(parseMeshConfigText('')).toEqual({ ok: true, value: {}, warnings: [] });
  });

  test('every error is reported with its field path', () => {
    const r = parseMeshConfigText(`
connectTimeout: soon
outboundTrafficPolicy: {mode: SOMETIMES}
extensionProviders:
- name: a
  envoyExtAuthzGrpc: {service: x, port: 70000, statusOnError: "999", failOpen: "yes", timeout: 1x}
- name: a
  envoyExtAuthzHttp: {port: 80, pathPrefix: check, headersToUpstreamOnAllow: x, bogus: 1}
- name: ""
  zipkin: {service: z, port: 9411}
- name: two
  zipkin: {service: z, port: 9411}
  opentelemetry: {service: z, port: 4317}
- name: weird
  carrierPigeon: {}
`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^connectTimeout: invalid duration/),
        'outboundTrafficPolicy.mode: must be ALLOW_ANY or REGISTRY_ONLY',
        'extensionProviders[0].envoyExtAuthzGrpc.port: port must be in the range [1, 65535], found: 70000',
        expect.stringMatching(/^extensionProviders\[0\]\.envoyExtAuthzGrpc\.statusOnError: unsupported statusOnError "999"/),
        'extensionProviders[0].envoyExtAuthzGrpc.failOpen: must be true or false',
        expect.stringMatching(/^extensionProviders\[0\]\.envoyExtAuthzGrpc\.timeout: invalid duration/),
        'extensionProviders[1].name: extension provider name must be unique, found duplicate: a',
        'extensionProviders[1].envoyExtAuthzHttp.service: is required',
        'extensionProviders[1].envoyExtAuthzHttp.pathPrefix: pathPrefix must begin with `/`, found: "check"',
        'extensionProviders[1].envoyExtAuthzHttp.headersToUpstreamOnAllow: must be a list of strings',
        'extensionProviders[1].envoyExtAuthzHttp.bogus: unknown field',
        'extensionProviders[2].name: extension provider name must not be empty',
        'extensionProviders[3]: must set exactly one provider kind, found: zipkin, opentelemetry',
        'extensionProviders[4].carrierPigeon: unknown provider kind',
      ]),
    );
    expect(r.errors).toHaveLength(14);
  });

  test('a ConfigMap without a mesh key, or with broken mesh YAML, is an error', () => {
    expect(parseMeshConfigText('kind: ConfigMap\ndata: {}\n')).toEqual({ ok: false, errors: ['data.mesh: the ConfigMap has no mesh key'] });
    const r = parseMeshConfigText('kind: ConfigMap\ndata:\n  mesh: "a: [b"\n');
    expect(r.ok).toBe(false);
  });
});
