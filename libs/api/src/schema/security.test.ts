import { describe, expect, it } from 'vitest';
import { validateText } from '../validate.js';
import { findKindByName } from '../registry.js';
import { checkJwks, checkJwksUri, checkPathTemplate, checkPortString, checkServiceAccount, checkWildcardValue, conditionKey } from './security.js';

/** errorsOf validates one resource and returns its errors as `path | reason`. */
function errorsOf(kind: string, spec: unknown, apiVersion = 'security.istio.io/v1'): string[] {
  const doc = JSON.stringify({ apiVersion, kind, metadata: { name: 'p', namespace: 'ns' }, spec });
  return validateText(doc).diagnostics.map((d) => `${d.path} | ${d.reason}`);
}

describe('checkPathTemplate (Istio CheckValidPathTemplate cases)', () => {
  it.each([
    '/{*}/foo',
    '/{*}/foo/',
    '/foo/{**}/bar',
    '/foo/bar/{**}',
    '/foo/{*}/bar/{**}',
    'foo/bar/{*}',
    '{*}/bar/{**}',
    // No template: globs are AuthorizationPolicy's own prefix/suffix matching.
    '/admin*',
    '*.png',
    '/a*b',
  ])('accepts %s', (p) => {
    expect(checkPathTemplate(p)).toBeUndefined();
  });

  it.each([
    ['/foo/{**}buzz/bar', 'only allowed in the operators'],
    ['/{*}/foo/{}/bar', 'only allowed in the operators'],
    ['/foo/{*}/bar/*', 'not a valid literal'],
    ['/foo/{*}/bar/**/buzz', 'not a valid literal'],
    ['/foo/{buzz}/bar/{**}', 'only allowed in the operators'],
    ['/foo/{buzz=*}/bar/{**}', 'only allowed in the operators'],
    ['/{*}/foo/{buzz=**}/bar', 'only allowed in the operators'],
    ['/{*}/foo/{**}bar', 'only allowed in the operators'],
    ['/{*}/foo/{*}.txt', 'only allowed in the operators'],
    ['/{*}/foo/{temp', 'only allowed in the operators'],
    ['/{*}/foo/temp}/bar', 'only allowed in the operators'],
    ['/{**}/foo/temp/{*}/bar', 'last operator'],
    ['/{**}/{**}', 'last operator'],
    ['/{**}/foo/temp/{**}/bar', 'last operator'],
    ['/{*}/foo/?abc', 'not a valid literal'],
    ['/foo//{*}', 'not a valid literal'],
    ['', 'empty value'],
  ])('rejects %s', (p, why) => {
    expect(checkPathTemplate(p)).toContain(why);
  });
});

describe('conditionKey (Istio ValidateAttribute)', () => {
  it.each([
    'request.headers[x-token]',
    'source.ip',
    'remote.ip',
    'source.namespace',
    'source.serviceAccount',
    'source.principal',
    'source.trustDomain',
    'request.auth.principal',
    'request.auth.audiences',
    'request.auth.presenter',
    'request.auth.claims[iss]',
    'request.auth.claims[nested.key]',
    'destination.ip',
    'destination.port',
    'connection.sni',
    'experimental.envoy.filters.network.mysql_proxy[db.table]',
  ])('knows %s', (key) => {
    expect(conditionKey(key).ok).toBe(true);
  });

  it.each([
    ['request.headers[]', 'bad key'],
    ['request.headers', 'bad key'],
    ['request.auth.claims[', 'bad key'],
    ['experimental.envoy.filters.foo', 'bad key'],
    ['destination.namespace', 'replaced by metadata.namespace'],
    ['destination.labels[app]', 'replaced by the workload selector'],
    ['destination.name', 'only supported in v1alpha1'],
    ['destination.user', 'only supported in v1alpha1'],
    ['request.method', 'unknown attribute'],
    ['source.ip.v4', 'unknown attribute'],
  ])('refuses %s', (key, why) => {
    const r = conditionKey(key);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(why);
  });

  it('checks values by key', () => {
    const check = (key: string, v: string): string | undefined => {
      const r = conditionKey(key);
      return r.ok ? r.check?.(v) : 'bad key';
    };
    expect(check('source.ip', '10.0.0.0/8')).toBeUndefined();
    expect(check('source.ip', '10.0.0.0/99')).toContain('CIDR');
    expect(check('destination.port', '0')).toBeUndefined();
    expect(check('destination.port', '65536')).toContain('bad port');
    expect(check('source.serviceAccount', 'ns/sa')).toBeUndefined();
    expect(check('source.serviceAccount', 'ns/*')).toContain('wildcard');
    expect(check('source.trustDomain', '*.corp')).toBeUndefined();
    expect(check('source.trustDomain', 'a*b')).toContain('start or end');
    // Keys without a value rule accept anything non-empty, wildcards included (Istio does).
    expect(check('source.principal', 'cluster.local/ns/*/sa/x')).toBeUndefined();
  });
});

describe('value checks', () => {
  it.each([
    ['cart', undefined],
    ['shop/cart', undefined],
    ['', 'empty'],
    ['*', 'wildcard'],
    ['a/b/c', 'expected format'],
    ['/cart', 'empty namespace'],
    ['shop/', 'empty serviceAccount'],
    [`ns/${'x'.repeat(320)}`, '320'],
  ])('service account %j', (v, why) => {
    const r = checkServiceAccount(v);
    if (why === undefined) expect(r).toBeUndefined();
    else expect(r).toContain(why);
  });

  it.each([
    ['exact', true],
    ['prefix*', true],
    ['*suffix', true],
    ['*', true],
    ['mid*dle', false],
    ['**', false],
    ['*a*', false],
  ])('wildcard value %j ok=%s', (v, ok) => {
    expect(checkWildcardValue(v) === undefined).toBe(ok);
  });

  it.each([
    ['0', true],
    ['80', true],
    ['65535', true],
    ['080', true],
    ['65536', false],
    ['-1', false],
    ['+80', false],
    ['http', false],
    ['', false],
  ])('port string %j ok=%s', (v, ok) => {
    expect(checkPortString(v) === undefined).toBe(ok);
  });

  it.each([
    ['https://example.com/.well-known/jwks.json', true],
    ['http://keys.internal:8080/jwks', true],
    ['ftp://example.com/jwks', false],
    ['example.com/jwks', false],
    ['', false],
  ])('jwksUri %j ok=%s', (v, ok) => {
    expect(checkJwksUri(v) === undefined).toBe(ok);
  });

  it.each([
    ['', true],
    ['{"keys": []}', true],
    ['{"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}', true],
    ['{"kty": "OKP", "crv": "Ed25519", "x": "a"}', true],
    ['{"kty": "oct", "k": "c2VjcmV0"}', true],
    ['{', false],
    ['{"keys": {}}', false],
    ['{"keys": [{"kty": "EC", "crv": "P-256", "x": "a"}]}', false],
    ['{"kid": "no-kty"}', false],
    ['42', false],
  ])('jwks %j ok=%s', (v, ok) => {
    expect(checkJwks(v) === undefined).toBe(ok);
  });
});

describe('AuthorizationPolicy cross-field rules', () => {
  it('treats an empty rules list as no rules: fine for ALLOW (allow nothing), refused for DENY', () => {
    expect(errorsOf('AuthorizationPolicy', { rules: [] })).toEqual([]);
    expect(errorsOf('AuthorizationPolicy', { action: 'DENY', rules: [] })).toEqual([
      'spec.rules | action DENY without rules never matches any request; add an empty rule {} to apply it to every request',
    ]);
  });

  it('accepts empty from/to lists as "any", as Istio does (protobuf cannot tell them from absent)', () => {
    expect(errorsOf('AuthorizationPolicy', { rules: [{ from: [], to: [] }] })).toEqual([]);
  });

  it('lets AUDIT policies use every field', () => {
    expect(
      errorsOf('AuthorizationPolicy', {
        action: 'AUDIT',
        rules: [{ from: [{ source: { principals: ['a'], requestPrincipals: ['b'] } }], when: [{ key: 'request.auth.claims[x]', values: ['y'] }] }],
      }),
    ).toEqual([]);
  });

  it('allows ipBlocks, remoteIpBlocks and header conditions with CUSTOM', () => {
    expect(
      errorsOf('AuthorizationPolicy', {
        action: 'CUSTOM',
        provider: { name: 'opa' },
        rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'], notRemoteIpBlocks: ['1.2.3.4'] } }], when: [{ key: 'request.headers[x]', values: ['y'] }] }],
      }),
    ).toEqual([]);
  });

  it('refuses a provider without CUSTOM, naming the effective action', () => {
    expect(errorsOf('AuthorizationPolicy', { action: 'AUDIT', provider: { name: 'x' }, rules: [{}] })).toEqual(['spec.provider | provider may only be set with action CUSTOM, found AUDIT']);
  });

  it('reports a mistyped list once, not also as an empty source', () => {
    expect(errorsOf('AuthorizationPolicy', { rules: [{ from: [{ source: { principals: 'a' } }] }] })).toEqual([
      'spec.rules[0].from[0].source.principals | expected array, got string "a"',
    ]);
  });
});

describe('RequestAuthentication', () => {
  it('accepts a rule with only a jwksUri (Istio requires issuer or jwksUri)', () => {
    expect(errorsOf('RequestAuthentication', { jwtRules: [{ jwksUri: 'https://example.com/keys' }] })).toEqual([]);
  });
});

describe('PeerAuthentication', () => {
  it('refuses an empty port map without a selector twice over, like the CRD', () => {
    expect(errorsOf('PeerAuthentication', { portLevelMtls: {} })).toEqual([
      'spec.portLevelMtls | portLevelMtls, if set, must have at least one port',
      'spec.portLevelMtls | portLevelMtls requires a workload selector',
    ]);
  });
});

describe('istio.io/dry-run annotation', () => {
  const withDryRun = (value: string, spec: unknown): string[] => {
    const doc = JSON.stringify({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'ns', annotations: { 'istio.io/dry-run': value } }, spec });
    return validateText(doc).diagnostics.map((d) => `${d.path} | ${d.reason}`);
  };

  it.each(['true', 'false', '1', '0', 't', 'F', 'TRUE', 'False'])('accepts Go boolean %j on an ALLOW policy', (v) => {
    expect(withDryRun(v, { rules: [{}] })).toEqual([]);
  });

  it.each(['yes', 'on', 'tRuE', ''])('refuses %j', (v) => {
    expect(withDryRun(v, { action: 'DENY', rules: [{}] })).toHaveLength(1);
  });

  it('leaves an unknown action to its own error', () => {
    expect(withDryRun('true', { action: 'BLOCK' })).toEqual(['spec.action | must be one of "ALLOW", "DENY", "AUDIT", "CUSTOM"; got string "BLOCK"']);
  });
});

describe('registration', () => {
  it.each([
    ['ap', 'AuthorizationPolicy'],
    ['authorizationpolicies', 'AuthorizationPolicy'],
    ['ra', 'RequestAuthentication'],
    ['pa', 'PeerAuthentication'],
    ['peerauthentication.security.istio.io', 'PeerAuthentication'],
  ])('%s names %s', (name, kind) => {
    const def = findKindByName(name);
    expect(def?.kind).toBe(kind);
    expect(def?.versions).toEqual(['v1', 'v1beta1']);
    expect(def?.categories).toEqual(['istio-io', 'security-istio-io']);
  });
});
