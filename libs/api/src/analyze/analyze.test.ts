import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateText } from '../validate.js';
import { ANALYZERS, ANALYZER_LIST, analyze } from './index.js';
import { exportScope, hostCoveredBy, hostsOverlap, namespacePatternMatches, scopesIntersect, toFqdn } from './hosts.js';
import { Mesh } from './mesh.js';
import { principalProblem } from './authorizationpolicy-principals.js';
import { protocolKnown } from './service-port-names.js';
import { findUnreachable, httpCovers, l4Covers } from './virtualservice-unreachable-rules.js';
import { resolveGatewayName } from './vs-walk.js';

describe('hosts', () => {
  it.each([
    ['reviews', 'default', 'reviews.default.svc.cluster.local'],
    ['Reviews', 'shop', 'reviews.shop.svc.cluster.local'],
    ['reviews.prod', 'default', 'reviews.prod'],
    ['*.example.com', 'default', '*.example.com'],
    ['*', 'default', '*'],
  ])('toFqdn(%s, %s) = %s', (host, ns, want) => {
    expect(toFqdn(host, ns, 'cluster.local')).toBe(want);
  });

  it.each([
    ['foo.com', 'foo.com', true],
    ['foo.com', 'bar.com', false],
    ['*.com', 'foo.com', true],
    ['bar.com', '*.com', true],
    ['*.foo.com', 'foo.com', false],
    ['*', 'foo.com', true],
    ['*', '*.com', true],
    ['*.a.com', '*.com', true],
  ])('hostsOverlap(%s, %s) = %s', (a, b, want) => {
    expect(hostsOverlap(a, b)).toBe(want);
  });

  it.each([
    ['a.foo.com', '*.foo.com', true],
    ['*.a.foo.com', '*.foo.com', true],
    ['*.foo.com', '*.a.foo.com', false],
    ['*.foo.com', 'a.foo.com', false],
    ['foo.com', '*.foo.com', false],
    ['x.y.svc.cluster.local', '*.local', true],
  ])('hostCoveredBy(%s, %s) = %s', (h, p, want) => {
    expect(hostCoveredBy(h, p)).toBe(want);
  });

  it('reads exportTo as pilot does', () => {
    expect(exportScope(undefined, 'a').all).toBe(true);
    expect(exportScope(['*'], 'a').all).toBe(true);
    expect([...exportScope(['.', 'b'], 'a').namespaces]).toEqual(['a', 'b']);
    expect(exportScope(['~'], 'a')).toEqual({ all: false, namespaces: new Set() });
    expect(scopesIntersect(exportScope(['.'], 'a'), exportScope(['.'], 'b'))).toBe(false);
    expect(scopesIntersect(exportScope(['.'], 'a'), exportScope(undefined, 'b'))).toBe(true);
    expect(scopesIntersect(exportScope(['~'], 'a'), exportScope(undefined, 'b'))).toBe(false);
  });

  it.each([
    ['*', 'x', true],
    ['team-*', 'team-a', true],
    ['*-prod', 'shop-prod', true],
    ['*-prod', 'shop-dev', false],
    ['shop', 'shop', true],
  ])('namespacePatternMatches(%s, %s) = %s', (p, ns, want) => {
    expect(namespacePatternMatches(p, ns)).toBe(want);
  });
});

describe('resolveGatewayName', () => {
  it.each([
    ['gw', 'shop', 'shop/gw'],
    ['./gw', 'shop', 'shop/gw'],
    ['istio-system/gw', 'shop', 'istio-system/gw'],
    ['gw.istio-system.svc.cluster.local', 'shop', 'istio-system/gw'],
    ['gw.istio-system', 'shop', 'istio-system/gw'],
  ])('%s in %s names %s', (ref, ns, want) => {
    const r = resolveGatewayName(ref, ns);
    expect(`${r.namespace}/${r.name}`).toBe(want);
  });
});

describe('match coverage', () => {
  it.each([
    [{}, { uri: { exact: '/a' } }, true],
    [{ uri: { prefix: '/' } }, { headers: { a: { exact: 'b' } } }, true],
    [{ uri: { prefix: '/a' } }, { uri: { prefix: '/ab' } }, true],
    [{ uri: { prefix: '/ab' } }, { uri: { prefix: '/a' } }, false],
    [{ uri: { prefix: '/a' } }, { uri: { exact: '/a/b' } }, true],
    [{ uri: { exact: '/a' } }, { uri: { prefix: '/a' } }, false],
    [{ uri: { regex: '/a.*' } }, { uri: { regex: '/a.*' } }, true],
    [{ uri: { regex: '/a.*' } }, { uri: { exact: '/abc' } }, false],
    [{ uri: { prefix: '/a' } }, { uri: { prefix: '/a' }, ignoreUriCase: true }, false],
    [{ uri: { prefix: '/A' }, ignoreUriCase: true }, { uri: { prefix: '/a/b' } }, true],
    [{ headers: { 'X-User': { exact: 'j' } } }, { headers: { 'x-user': { exact: 'j' } }, uri: { prefix: '/' } }, true],
    [{ headers: { x: {} } }, { headers: { x: { prefix: 'a' } } }, true],
    [{ headers: { x: { prefix: 'a' } } }, { headers: { x: {} } }, false],
    [{ queryParams: { q: { exact: '1' } } }, {}, false],
    [{ port: 80 }, { port: 80, method: { exact: 'GET' } }, true],
    [{ port: 80 }, { port: 81 }, false],
    [{ sourceLabels: { app: 'a' } }, { sourceLabels: { app: 'a', v: '1' } }, true],
    [{ gateways: ['g1', 'g2'] }, { gateways: ['g1'] }, true],
    [{ gateways: ['g1'] }, {}, false],
    [{ withoutHeaders: { x: { exact: '1' } } }, { withoutHeaders: { x: { exact: '1' } }, uri: { exact: '/' } }, true],
    [{ sourceNamespace: 'a' }, { sourceNamespace: 'b' }, false],
  ])('http %j covers %j: %s', (a, b, want) => {
    expect(httpCovers(a as never, b as never)).toBe(want);
  });

  it.each([
    [{ port: 443 }, { port: 443, sniHosts: ['a.com'] }, true],
    [{ sniHosts: ['*.com'] }, { sniHosts: ['a.com', 'b.com'] }, true],
    [{ sniHosts: ['a.com'] }, { sniHosts: ['a.com', 'b.com'] }, false],
    [{ destinationSubnets: ['10.0.0.0/8'] }, { destinationSubnets: ['10.0.0.0/8'] }, true],
    [{ destinationSubnets: ['10.0.0.0/8'] }, {}, false],
  ])('l4 %j covers %j: %s', (a, b, want) => {
    expect(l4Covers(a as never, b as never)).toBe(want);
  });

  it('names the rule that makes a later one dead', () => {
    const found = findUnreachable([{ name: 'all' }, { match: [{ uri: { exact: '/x' } }] }], httpCovers as never);
    expect(found).toEqual([{ rule: 1, reason: 'VirtualService rule #1 not used: rule "all" before it has no match, so it takes every request' }]);
  });
});

describe('principals', () => {
  const mesh = new Mesh([], { trustDomain: 'td.example', trustDomainAliases: ['old.example'] });
  it.each([
    ['td.example/ns/a/sa/b', undefined],
    ['old.example/ns/a/sa/b', undefined],
    ['cluster.local/ns/a/sa/b', undefined],
    ['*/ns/a/sa/b', undefined],
    ['*.example/ns/a/sa/b', undefined],
    ['td.*/ns/a/sa/b', undefined],
    ['ns/a/sa/b', undefined],
    ['*', undefined],
    ['other.example/ns/a/sa/b', 'MW0201'],
    ['spiffe://td.example/ns/a/sa/b', 'MW0202'],
  ])('%s → %s', (p, code) => {
    expect(principalProblem(mesh, p)?.msg.code).toBe(code);
  });
});

describe('protocolKnown', () => {
  it.each([
    [{ name: 'http' }, true],
    [{ name: 'HTTP-web' }, true],
    [{ name: 'grpc-web' }, true],
    [{ name: 'grpc-web-x' }, true],
    [{ name: 'http_proxy' }, true],
    [{ name: 'web' }, false],
    [{ name: 'web', appProtocol: 'http' }, true],
    [{ name: 'http', appProtocol: 'custom' }, false],
    [{ name: 'x', appProtocol: 'kubernetes.io/h2c' }, true],
    [{ name: 'x', protocol: 'UDP' }, true],
    [{ port: 3306 }, true],
    [{ port: 8080 }, false],
  ])('%j → %s', (port, want) => {
    expect(protocolKnown(port)).toBe(want);
  });
});

describe('analyze', () => {
  const text = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: [a]
  http:
    - route:
        - destination: {host: a}
`;

  it('points findings at file and line when resources keep their source', () => {
    const { resources } = validateText(text, 'vs.yaml');
    const [d] = analyze(resources);
    expect(d).toMatchObject({ code: 'IST0101', severity: 'Error', file: 'vs.yaml', line: 9, path: 'spec.http[0].route[0].destination.host' });
    expect(d.resource).toMatchObject({ kind: 'VirtualService', namespace: 'shop', name: 'vs' });
  });

  it('works on resources built in code (no source position)', () => {
    const { resources } = validateText(text);
    const stripped = resources.map(({ source: _s, ...r }) => r);
    const [d] = analyze(stripped);
    expect(d.code).toBe('IST0101');
    expect(d.file).toBeUndefined();
    expect(d.line).toBeUndefined();
  });

  it('finds nothing in an empty input', () => {
    expect(analyze([])).toEqual([]);
  });
});

describe('catalogue', () => {
  it('lists every message of every analyzer once, with stable code shapes', () => {
    const keys = ANALYZERS.map((a) => `${a.analyzer} ${a.code}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const a of ANALYZERS) expect(a.code).toMatch(/^(IST|MW)\d{4}$/);
    expect(new Set(ANALYZER_LIST.map((a) => a.id)).size).toBe(ANALYZER_LIST.length);
  });

  it('gives one name and severity per code', () => {
    const byCode = new Map<string, string>();
    for (const a of ANALYZERS) {
      const v = `${a.name} ${a.severity}`;
      expect(byCode.get(a.code) ?? v, a.code).toBe(v);
      byCode.set(a.code, v);
    }
  });
});

describe('docs/analyzers.md', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'analyzers.md'), 'utf8');
  it('documents every code with its name and severity, and every analyzer', () => {
    for (const a of ANALYZERS) {
      expect(doc, a.code).toContain(`| ${a.code} | ${a.name} | ${a.severity} |`);
      expect(doc, a.analyzer).toContain(`| \`${a.analyzer}\` |`);
    }
  });
});
