import { describe, expect, it } from 'vitest';
import { createCsr, createRootCa, CsrParseError, CsrSanError, generateKeyPair, IdentityMismatchError, TtlError, verifyChain } from '@meshwork/pki';
import { parseControlPlaneDnsNames, signForCaller, type IssuePolicy } from './issuer.js';

const ca = createRootCa({ trustDomain: 'cluster.local' });
const key = generateKeyPair().privateKey;
const ME = 'spiffe://cluster.local/ns/default/sa/reviews';
const PILOT = 'spiffe://cluster.local/ns/istio-system/sa/pilot';
const policy: IssuePolicy = {
  trustDomain: 'cluster.local',
  defaultTtlMs: 86400_000,
  maxTtlMs: 7 * 86400_000,
  controlPlaneDnsNames: parseControlPlaneDnsNames('cluster.local', ['istio-system/pilot=pilot.istio-system.svc', 'istio-system/pilot=localhost']),
};

describe('signForCaller', () => {
  it('signs the caller its own identity with the default or requested lifetime', () => {
    const d = signForCaller(ca, policy, ME, createCsr({ privateKey: key, uris: [ME] }), 0);
    expect(d.notAfter.getTime() - d.notBefore.getTime()).toBe(86400_000 + 60_000);
    const h = signForCaller(ca, policy, ME, createCsr({ privateKey: key, uris: [ME] }), 3600);
    expect(h.notAfter.getTime() - h.notBefore.getTime()).toBe(3600_000 + 60_000);
    expect(verifyChain(h.chainPems, ca.rootPem).spiffeId).toBe(ME);
  });

  it.each([
    ['another identity', ME, { uris: ['spiffe://cluster.local/ns/default/sa/ratings'] }, 0, IdentityMismatchError, 'the caller is'],
    ['another trust domain', ME, { uris: ['spiffe://evil.example/ns/default/sa/reviews'] }, 0, IdentityMismatchError, 'trust domain "evil.example"'],
    ['two URI SANs', ME, { uris: [ME, ME] }, 0, CsrSanError, 'exactly one URI SAN'],
    ['a DNS SAN from a workload', ME, { uris: [ME], dnsNames: ['reviews'] }, 0, CsrSanError, 'no other SAN'],
    ['an IP SAN', ME, { uris: [ME], ipAddresses: ['10.0.0.1'] }, 0, CsrSanError, 'exactly one URI SAN'],
    ['no SAN', ME, {}, 0, CsrSanError, 'has 0 URI'],
    ['a TTL over the max', ME, { uris: [ME] }, 8 * 86400, TtlError, 'greater than the max allowed TTL'],
    ['a negative TTL', ME, { uris: [ME] }, -5, TtlError, 'non-negative'],
    ['a DNS name pilot may not use', PILOT, { uris: [PILOT], dnsNames: ['reviews.default.svc'] }, 0, IdentityMismatchError, 'may not use DNS name(s) reviews.default.svc'],
  ] as const)('refuses %s', (_name, caller, sans, ttl, Err, msg) => {
    const csr = createCsr({ privateKey: key, ...sans });
    expect(() => signForCaller(ca, policy, caller, csr, ttl)).toThrow(Err);
    expect(() => signForCaller(ca, policy, caller, csr, ttl)).toThrow(msg);
  });

  it('refuses a malformed CSR', () => {
    expect(() => signForCaller(ca, policy, ME, 'not a csr', 0)).toThrow(CsrParseError);
  });

  it('gives a control-plane identity its allowed DNS SANs next to the SPIFFE ID', () => {
    const c = signForCaller(ca, policy, PILOT, createCsr({ privateKey: key, uris: [PILOT], dnsNames: ['pilot.istio-system.svc', 'localhost'] }), 0);
    const v = verifyChain(c.chainPems, ca.rootPem);
    expect(v.spiffeId).toBe(PILOT);
    expect(v.leaf.dnsNames).toEqual(['pilot.istio-system.svc', 'localhost']);
  });

  it('rejects malformed control-plane entries', () => {
    expect(() => parseControlPlaneDnsNames('cluster.local', ['pilot=localhost'])).toThrow('<namespace>/<service-account>=<dns name>');
  });
});
