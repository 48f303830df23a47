import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createIntermediateCa, createRootCa, crossCertify, DEFAULT_SVID_TTL_MS, issueCertificate, issueSvid, loadCertificateAuthority, MAX_SVID_TTL_MS } from './cert.js';
import { certificateInfo, verifyChain } from './chain.js';
import { createCsr } from './csr.js';
import { CertificateError, ChainVerificationError, IdentityMismatchError, KeyError, SpiffeIdError } from './errors.js';
import { generateKeyPair, privateKeyToPem } from './keys.js';

const dir = mkdtempSync(join(tmpdir(), 'pki-openssl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** openssl runs the real openssl binary and returns stdout (throws with stderr on a non-zero exit). */
function openssl(args: string[], files: Record<string, string>): string {
  const sub = join(dir, String(n++));
  execFileSync('mkdir', ['-p', sub]);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(sub, name), text);
  return execFileSync('openssl', args, { cwd: sub, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';

describe('root CA and SVIDs checked by openssl', () => {
  it.each(['ECDSA_P256', 'RSA_2048'] as const)('a %s root signs ECDSA and RSA SVIDs that `openssl verify` accepts', (caAlg) => {
    const root = createRootCa({ trustDomain: 'cluster.local', keyAlgorithm: caAlg });
    for (const leafAlg of ['ECDSA_P256', 'RSA_2048'] as const) {
      const kp = generateKeyPair(leafAlg);
      const svid = issueSvid(root, { publicKey: kp.publicKey, spiffeId: ID, trustDomain: 'cluster.local' });
      expect(svid.chainPems).toHaveLength(2);
      expect(svid.chainPems[1]).toBe(root.rootPem);
      const out = openssl(['verify', '-CAfile', 'root.pem', '-untrusted', 'chain.pem', '-purpose', 'sslclient', 'leaf.pem'], {
        'root.pem': root.rootPem,
        'chain.pem': svid.chainPems.slice(1).join(''),
        'leaf.pem': svid.certPem,
      });
      expect(out.trim()).toBe('leaf.pem: OK');
      const text = openssl(['x509', '-in', 'leaf.pem', '-noout', '-text'], { 'leaf.pem': svid.certPem });
      expect(text).toMatch(/X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews\s/);
      expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      expect(text).toMatch(leafAlg === 'RSA_2048' ? /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\s/ : /X509v3 Key Usage: critical\s+Digital Signature\s/);
      expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
      expect(text).toContain(caAlg === 'RSA_2048' ? 'sha256WithRSAEncryption' : 'ecdsa-with-SHA256');
      expect(text).toMatch(/Subject: *\n/);
    }
    const rootText = openssl(['x509', '-in', 'root.pem', '-noout', '-text'], { 'root.pem': root.rootPem });
    expect(rootText).toMatch(/CA:TRUE/);
    expect(rootText).toMatch(/Certificate Sign, CRL Sign/);
    expect(rootText).toContain('O = cluster.local');
  });

  it('an intermediate CA returns the full chain, leaf first and root last, that openssl verifies', () => {
    const root = createRootCa({ trustDomain: 'cluster.local', keyAlgorithm: 'RSA_2048' });
    const mid = createIntermediateCa(root, { trustDomain: 'cluster.local' });
    const mid2 = createIntermediateCa(mid, { trustDomain: 'cluster.local', commonName: 'second' });
    const svid = issueSvid(mid2, { publicKey: generateKeyPair().publicKey, spiffeId: ID });
    expect(svid.chainPems).toHaveLength(4);
    expect(svid.chainPems[3]).toBe(root.rootPem);
    const out = openssl(['verify', '-CAfile', 'root.pem', '-untrusted', 'chain.pem', 'leaf.pem'], {
      'root.pem': root.rootPem,
      'chain.pem': svid.chainPems.slice(1, 3).join(''),
      'leaf.pem': svid.certPem,
    });
    expect(out.trim()).toBe('leaf.pem: OK');
    expect(verifyChain(svid.chainPems, [root.rootPem]).spiffeId).toBe(ID);
    // Without the intermediates openssl cannot build the chain.
    expect(() => openssl(['verify', '-CAfile', 'root.pem', 'leaf.pem'], { 'root.pem': root.rootPem, 'leaf.pem': svid.certPem })).toThrow();
  });

  it('openssl accepts our CSRs (req -verify)', () => {
    const kp = generateKeyPair('RSA_2048');
    const out = openssl(['req', '-in', 'csr.pem', '-noout', '-verify', '-text'], { 'csr.pem': createCsr({ privateKey: kp.privateKey, uris: [ID] }) });
    expect(out).toContain(`URI:${ID}`);
  });
});

describe('SVID rules', () => {
  const root = createRootCa({ trustDomain: 'cluster.local' });

  it('uses a 24h default TTL, clamps to 90 days and to the CA expiry', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const pub = generateKeyPair().publicKey;
    const ca = createRootCa({ trustDomain: 'cluster.local', now });
    const d = issueSvid(ca, { publicKey: pub, spiffeId: ID, now });
    expect(d.notAfter.getTime() - now.getTime()).toBe(DEFAULT_SVID_TTL_MS);
    const long = issueSvid(ca, { publicKey: pub, spiffeId: ID, now, ttlMs: 365 * 86400_000 });
    expect(long.notAfter.getTime() - now.getTime()).toBe(MAX_SVID_TTL_MS);
    const shortCa = createRootCa({ trustDomain: 'cluster.local', now, ttlMs: 3600_000 });
    expect(issueSvid(shortCa, { publicKey: pub, spiffeId: ID, now }).notAfter.getTime()).toBe(shortCa.notAfter.getTime());
  });

  it('gives every certificate a distinct positive serial', () => {
    const pub = generateKeyPair().publicKey;
    const serials = new Set(Array.from({ length: 200 }, () => issueSvid(root, { publicKey: pub, spiffeId: ID }).serialHex));
    expect(serials.size).toBe(200);
    for (const s of serials) expect(parseInt(s[0], 16)).toBeLessThan(8);
  });

  it('refuses a malformed SPIFFE ID and another trust domain', () => {
    const pub = generateKeyPair().publicKey;
    expect(() => issueSvid(root, { publicKey: pub, spiffeId: 'spiffe://cluster.local/ns/a' })).toThrow(SpiffeIdError);
    expect(() => issueSvid(root, { publicKey: pub, spiffeId: 'spiffe://other.td/ns/a/sa/b', trustDomain: 'cluster.local' })).toThrow(IdentityMismatchError);
  });

  it('issues DNS-named control-plane certificates', () => {
    const cert = issueCertificate(root, { publicKey: generateKeyPair().publicKey, dnsNames: ['citadel.istio-system.svc', 'localhost'], uris: [ID] });
    const info = certificateInfo(cert.certPem);
    expect(info.dnsNames).toEqual(['citadel.istio-system.svc', 'localhost']);
    expect(new X509Certificate(cert.certPem).checkHost('localhost')).toBe('localhost');
  });
});

describe('loading a plugged-in CA', () => {
  it('accepts Istio cacerts material and refuses mismatched pieces', () => {
    const root = createRootCa({ trustDomain: 'cluster.local' });
    const mid = createIntermediateCa(root, { trustDomain: 'cluster.local' });
    const keyPem = privateKeyToPem(mid.key);
    const loaded = loadCertificateAuthority({ certPem: mid.certPem, key: keyPem, chainPem: mid.certPem + root.rootPem, rootPem: root.rootPem });
    expect(loaded.chainPems).toEqual([mid.certPem, root.rootPem]);
    // cert-chain.pem without the root still ends at the root.
    expect(loadCertificateAuthority({ certPem: mid.certPem, key: keyPem, chainPem: mid.certPem, rootPem: root.rootPem }).chainPems).toEqual([mid.certPem, root.rootPem]);
    expect(() => loadCertificateAuthority({ certPem: mid.certPem, key: privateKeyToPem(root.key), rootPem: root.rootPem })).toThrow(KeyError);
    const other = createRootCa({ trustDomain: 'cluster.local' });
    expect(() => loadCertificateAuthority({ certPem: mid.certPem, key: keyPem, rootPem: other.rootPem })).toThrow(CertificateError);
    const leaf = issueSvid(root, { publicKey: generateKeyPair().publicKey, spiffeId: ID });
    expect(() => loadCertificateAuthority({ certPem: leaf.certPem, key: keyPem, rootPem: root.rootPem })).toThrow(/not a CA/);
  });
});

describe('verifyChain', () => {
  const root = createRootCa({ trustDomain: 'cluster.local' });
  const svid = issueSvid(root, { publicKey: generateKeyPair().publicKey, spiffeId: ID });

  it('accepts a chain to a trusted root and refuses an untrusted, expired or not-yet-valid one', () => {
    expect(verifyChain(svid.certPem, root.rootPem).leaf.uris).toEqual([ID]);
    const other = createRootCa({ trustDomain: 'cluster.local' });
    expect(() => verifyChain(svid.chainPems, [other.rootPem])).toThrow(ChainVerificationError);
    expect(verifyChain(svid.chainPems, [other.rootPem, root.rootPem]).rootPem).toBe(root.rootPem);
    expect(() => verifyChain(svid.certPem, root.rootPem, new Date(Date.now() + 2 * 86400_000))).toThrow(/expired/);
    expect(() => verifyChain(svid.certPem, root.rootPem, new Date(Date.now() - 3600_000))).toThrow(/not valid before/);
  });

  it('refuses a certificate signed by a key the root does not hold', () => {
    const kp = generateKeyPair();
    const fakeCa = { ...root, key: kp.privateKey };
    const forged = issueSvid(fakeCa, { publicKey: generateKeyPair().publicKey, spiffeId: ID });
    expect(() => verifyChain(forged.certPem, root.rootPem)).toThrow(ChainVerificationError);
  });
});

describe('cross certificates (root rotation)', () => {
  it('lets a new-root leaf verify against the old root alone and against the new root alone', () => {
    const oldRoot = createRootCa({ trustDomain: 'cluster.local' });
    const newRoot = createRootCa({ trustDomain: 'cluster.local', keyAlgorithm: 'RSA_2048' });
    const cross = crossCertify(newRoot, oldRoot, { ttlMs: 3600_000 });
    const leaf = issueSvid(newRoot, { publicKey: generateKeyPair().publicKey, spiffeId: ID });
    expect(verifyChain([leaf.certPem, cross], [oldRoot.rootPem]).rootPem).toBe(oldRoot.rootPem);
    expect(verifyChain([leaf.certPem, cross], [newRoot.rootPem]).rootPem).toBe(newRoot.rootPem);
    expect(() => verifyChain([leaf.certPem], [oldRoot.rootPem])).toThrow(ChainVerificationError);
    for (const trusted of [oldRoot.rootPem, newRoot.rootPem]) {
      const out = openssl(['verify', '-CAfile', 'root.pem', '-untrusted', 'chain.pem', 'leaf.pem'], { 'root.pem': trusted, 'chain.pem': cross, 'leaf.pem': leaf.certPem });
      expect(out.trim()).toBe('leaf.pem: OK');
    }
  });
});
