/**
 * The RBAC engine's pieces: path normalization, URI templates, CIDR ranges, remote address, and
 * the compile errors that keep a rule this engine cannot evaluate from being skipped silently.
 */
import { describe, expect, test } from 'vitest';
import { Problems } from '../config/fields.js';
import { compileHttpRbac, compileNetworkRbac } from '../config/rbac.js';
import { Headers } from '../model.js';
import { cidrMatcher, normalizePath, remoteAddress, RBAC_FILTER_STATE_KEY, uriTemplateRegex } from './rbac.js';

describe('normalizePath (Istio default BASE: normalize_path, no slash merging)', () => {
  test.each([
    ['/a/b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/b/../c', '/a/c'],
    ['/../a', '/a'],
    ['/a/..', '/'],
    ['/a/.', '/a/'],
    ['/%61dmin', '/admin'],
    ['/a%2fb', '/a%2Fb'],
    ['/a//b', '/a//b'],
    ['/info?x=/../y', '/info'],
    ['/p#frag', '/p'],
  ])('%s → %s', (input, out) => expect(normalizePath(input)).toBe(out));
});

describe('uriTemplateRegex', () => {
  test('* is one non-empty segment, ** the rest', () => {
    const one = uriTemplateRegex('/api/*/reviews');
    expect(one?.test('/api/v1/reviews')).toBe(true);
    expect(one?.test('/api//reviews')).toBe(false);
    expect(one?.test('/api/a/b/reviews')).toBe(false);
    const rest = uriTemplateRegex('/files/**');
    expect(rest?.test('/files/a/b/c')).toBe(true);
    expect(rest?.test('/files/')).toBe(true);
    expect(rest?.test('/other/a')).toBe(false);
    expect(uriTemplateRegex('/v/{name=*}/x')?.test('/v/n/x')).toBe(true);
    expect(uriTemplateRegex('no-slash')).toBeUndefined();
  });
});

describe('cidrMatcher and remoteAddress', () => {
  test('IPv4, IPv4-mapped IPv6 and IPv6', () => {
    const v4 = cidrMatcher('10.0.0.0', 8);
    expect(v4?.('10.255.0.1')).toBe(true);
    expect(v4?.('::ffff:10.1.2.3')).toBe(true);
    expect(v4?.('11.0.0.1')).toBe(false);
    expect(v4?.('not-an-ip')).toBe(false);
    expect(cidrMatcher('2001:db8::', 32)?.('2001:db8::1')).toBe(true);
    expect(cidrMatcher('10.0.0.0', 33)).toBeUndefined();
  });
  test('remote address: last x-forwarded-for entry, else the peer', () => {
    const down = { remoteAddress: '10.0.0.9', remotePort: 1, localAddress: '10.0.0.1', localPort: 80 };
    const req = (xff?: string) => ({ method: 'GET', path: '/', authority: 'a', scheme: 'http' as const, headers: new Headers(xff ? ['x-forwarded-for', xff] : []) });
    expect(remoteAddress({ req: req('1.1.1.1, 2.2.2.2'), down })).toBe('2.2.2.2');
    expect(remoteAddress({ req: req(), down })).toBe('10.0.0.9');
  });
});

describe('RBAC filter compile', () => {
  const policy = (extra: Record<string, unknown>) => ({ rules: { action: 'ALLOW', policies: { p: { permissions: [{ any: true }], principals: [{ any: true }], ...extra } } } });
  test('CEL conditions, filter_state principals and the matcher API are errors, not skipped', () => {
    for (const tc of [policy({ condition: { id: 1 } }), { rules: { policies: { p: { permissions: [{ any: true }], principals: [{ filterState: { key: 'k' } }] } } } }, { matcher: {} }]) {
      const p = new Problems('t', []);
      expect(compileHttpRbac(p, tc, 'rbac')).toBeUndefined();
      expect(p.errors.length).toBeGreaterThan(0);
    }
  });
  test('a policy needs permissions and principals', () => {
    const p = new Problems('t', []);
    compileHttpRbac(p, { rules: { policies: { p: { permissions: [{ any: true }] } } } }, 'rbac');
    expect(p.errors.join()).toContain('principal');
  });
  test('no rules: nothing enforced; shadow rules recorded in the filter state, never denying', async () => {
    const p = new Problems('t', []);
    const stage = compileHttpRbac(p, { shadowRules: { action: 'DENY', policies: { shadow: { permissions: [{ any: true }], principals: [{ any: true }] } } }, shadowRulesStatPrefix: 'istio_dry_run_deny_' }, 'rbac');
    expect(p.errors).toEqual([]);
    const state = new Map<string, unknown>();
    const d = await stage?.run({ req: { method: 'GET', path: '/', authority: 'a', scheme: 'http', headers: new Headers() }, down: { remoteAddress: '1.1.1.1', remotePort: 1, localAddress: '2.2.2.2', localPort: 80 }, state });
    expect(d).toBeUndefined();
    expect(state.get(RBAC_FILTER_STATE_KEY)).toEqual({ istio_dry_run_deny_shadow_engine_result: 'denied', istio_dry_run_deny_shadow_effective_policy_id: 'shadow' });
  });
  test('network RBAC: a header permission sees no headers', async () => {
    const p = new Problems('t', []);
    const stage = compileNetworkRbac(p, { statPrefix: 'tcp.', rules: { action: 'DENY', policies: { h: { permissions: [{ header: { name: ':method', presentMatch: true } }], principals: [{ any: true }] } } } }, 'rbac');
    expect(p.errors).toEqual([]);
    expect(await stage?.run({ remoteAddress: '1.1.1.1', remotePort: 1, localAddress: '2.2.2.2', localPort: 80 })).toBeUndefined();
  });
});

describe('regex shortcuts give RE2 answers', () => {
  const stage = (regex: string) => {
    const p = new Problems('t', []);
    const s = compileHttpRbac(p, { rules: { action: 'ALLOW', policies: { p: { permissions: [{ any: true }], principals: [{ authenticated: { principalName: { safeRegex: { regex } } } }] } } } }, 'rbac');
    expect(p.errors).toEqual([]);
    return (peer: string) => s?.run({ req: { method: 'GET', path: '/', authority: 'a', scheme: 'http', headers: new Headers() }, down: { remoteAddress: '1.1.1.1', remotePort: 1, localAddress: '2.2.2.2', localPort: 80, tls: { peerIdentities: [peer] } }, state: new Map() }) === undefined;
  };
  test.each([
    ['.*/ns/foo/.*', 'spiffe://td/ns/foo/sa/x', true],
    ['.*/ns/foo/.*', 'spiffe://td/ns/foobar/sa/x', false],
    ['.*/ns/foo/.*', 'spiffe://td\n/ns/foo/sa/x', false],
    ['spiffe://.*/ns/test/sa/curl', 'spiffe://a.b/ns/test/sa/curl', true],
    ['spiffe://.*/ns/test/sa/curl', 'spiffe:/ns/test/sa/curl', false],
    ['.+', 'x', true],
    ['.+', '', false],
    ['.+', '\n', false],
    ['spiffe://.+/ns/default/(.+/|)sa/sleep(/.+)?', 'spiffe://cluster.local/ns/default/sa/sleep', true],
  ])('%s ~ %j → %s', (regex, peer, ok) => expect(stage(regex)(peer)).toBe(ok));
});

describe('glob shortcut and IPv4 ranges', () => {
  test('glob pieces in order, no overlap with the ends', () => {
    const p = new Problems('t', []);
    const s = compileHttpRbac(p, { rules: { action: 'ALLOW', policies: { p: { permissions: [{ any: true }], principals: [{ authenticated: { principalName: { safeRegex: { regex: 'ab.*ba' } } } }] } } } }, 'rbac');
    const ok = (peer: string) => s?.run({ req: { method: 'GET', path: '/', authority: 'a', scheme: 'http', headers: new Headers() }, down: { remoteAddress: '1.1.1.1', remotePort: 1, localAddress: '2.2.2.2', localPort: 80, tls: { peerIdentities: [peer] } }, state: new Map() }) === undefined;
    expect(ok('aba')).toBe(false);
    expect(ok('abba')).toBe(true);
    expect(ok('abxxba')).toBe(true);
  });
  test('IPv4 edge cases', () => {
    expect(cidrMatcher('0.0.0.0', 0)?.('255.255.255.255')).toBe(true);
    expect(cidrMatcher('10.1.2.3', 32)?.('10.1.2.3')).toBe(true);
    expect(cidrMatcher('10.1.2.3', 32)?.('10.1.2.30')).toBe(false);
    expect(cidrMatcher('192.168.0.0', 23)?.('192.168.1.255')).toBe(true);
    expect(cidrMatcher('192.168.0.0', 23)?.('192.168.2.0')).toBe(false);
    expect(cidrMatcher('10.0.0.0', 8)?.('10.0.0')).toBe(false);
    expect(cidrMatcher('10.0.0.0', 8)?.('10.0.0.256')).toBe(false);
  });
});
