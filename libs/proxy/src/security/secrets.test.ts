import { describe, expect, it } from 'vitest';
import { MemorySecretProvider, ROOT_CA_SECRET, tlsMaterial, WORKLOAD_CERT_SECRET } from './secrets.js';

describe('secrets', () => {
  it('resolves certificate and validation names to tls options', () => {
    const p = new MemorySecretProvider();
    p.set(WORKLOAD_CERT_SECRET, { kind: 'certificate', certChainPem: 'CHAIN', keyPem: 'KEY' });
    p.set(ROOT_CA_SECRET, { kind: 'validation', trustedCaPem: 'ROOTS' });
    expect(tlsMaterial(p, { certificate: 'default', validation: 'ROOTCA' })).toEqual({ ok: true, cert: 'CHAIN', key: 'KEY', ca: 'ROOTS' });
    expect(tlsMaterial(p, { validation: 'ROOTCA' })).toEqual({ ok: true, ca: 'ROOTS' });
  });

  it('names a missing or mistyped secret', () => {
    const p = new MemorySecretProvider();
    p.set('ROOTCA', { kind: 'validation', trustedCaPem: 'R' });
    expect(tlsMaterial(p, { certificate: 'default' })).toEqual({ ok: false, error: 'secret "default": no certificate available' });
    expect(tlsMaterial(p, { certificate: 'ROOTCA' })).toMatchObject({ ok: false });
    expect(tlsMaterial(undefined, { validation: 'ROOTCA' })).toMatchObject({ ok: false, error: expect.stringContaining('ROOTCA') });
  });

  it('tells subscribers about every change and bumps its version', () => {
    const p = new MemorySecretProvider();
    const seen: string[] = [];
    const off = p.onChange((n) => seen.push(n));
    p.set('default', { kind: 'certificate', certChainPem: 'a', keyPem: 'b' });
    p.delete('default');
    p.delete('default');
    off();
    p.set('ROOTCA', { kind: 'validation', trustedCaPem: 'r' });
    expect(seen).toEqual(['default', 'default']);
    expect(p.version).toBe(3);
  });
});

describe('test PKI', () => {
  it('gives a sidecar an SVID that chains to its CA', async () => {
    const { X509Certificate } = await import('node:crypto');
    const { testCa, testSecrets } = await import('./test-pki.js');
    const ca = testCa();
    const p = testSecrets(ca, 'default', 'reviews');
    const s = p.get('default');
    if (s?.kind !== 'certificate') throw new Error('no certificate');
    const leaf = new X509Certificate(s.certChainPem);
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/default/sa/reviews');
    expect(leaf.verify(new X509Certificate(ca.rootPem).publicKey)).toBe(true);
  });
});
