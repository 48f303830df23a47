import { describe, expect, it } from 'vitest';
import { createCsr, parseCsr } from './csr.js';
import { CsrParseError, CsrSignatureError } from './errors.js';
import { generateKeyPair, spkiDer } from './keys.js';
import { pemBlocks, toPem } from './der.js';

describe('CSR', () => {
  it.each(['ECDSA_P256', 'ECDSA_P384', 'RSA_2048'] as const)('creates and parses a %s CSR with its SANs', (alg) => {
    const kp = generateKeyPair(alg);
    const pem = createCsr({ privateKey: kp.privateKey, uris: ['spiffe://cluster.local/ns/a/sa/b'], dnsNames: ['x.example'], ipAddresses: ['10.1.2.3', '::1'] });
    const csr = parseCsr(pem);
    expect(csr.keyAlgorithm).toBe(alg);
    expect(csr.uris).toEqual(['spiffe://cluster.local/ns/a/sa/b']);
    expect(csr.dnsNames).toEqual(['x.example']);
    expect(csr.ipAddresses).toEqual(['10.1.2.3', '0:0:0:0:0:0:0:1']);
    expect(csr.spki.equals(spkiDer(kp.publicKey))).toBe(true);
  });

  it('parses DER and a CSR without SANs', () => {
    const kp = generateKeyPair();
    const der = pemBlocks(createCsr({ privateKey: kp.privateKey }), 'CERTIFICATE REQUEST')[0];
    expect(parseCsr(der).uris).toEqual([]);
  });

  it('refuses a CSR whose signature was tampered with', () => {
    const kp = generateKeyPair();
    const der = pemBlocks(createCsr({ privateKey: kp.privateKey, uris: ['spiffe://td/ns/a/sa/b'] }), 'CERTIFICATE REQUEST')[0];
    // Flip a bit inside the SAN URI ("b" → "c"): the structure stays valid, the signature no longer matches.
    const i = der.lastIndexOf(Buffer.from('sa/b'));
    der[i + 3] ^= 0x01;
    expect(() => parseCsr(toPem(der, 'CERTIFICATE REQUEST'))).toThrow(CsrSignatureError);
  });

  it.each([
    ['not PEM', 'hello'],
    ['garbage PEM', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'],
    ['truncated', () => { const d = pemBlocks(createCsr({ privateKey: generateKeyPair().privateKey }), 'CERTIFICATE REQUEST')[0]; return toPem(d.subarray(0, d.length - 5), 'CERTIFICATE REQUEST'); }],
  ])('refuses a malformed CSR (%s)', (_n, input) => {
    const text = typeof input === 'function' ? input() : input;
    expect(() => parseCsr(text)).toThrow(CsrParseError);
  });
});
