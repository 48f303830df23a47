/**
 * Test-only PKI for the engine's TLS tests (not exported from index.ts): a mesh CA, SVIDs for
 * SPIFFE identities, and the matching in-memory SDS secrets, built with @meshwork/pki as citadel
 * issues them (leaf first, root last).
 */
import { createRootCa, generateKeyPair, issueCertificate, issueSvid, privateKeyToPem, type CertificateAuthority } from '@meshwork/pki';
import { MemorySecretProvider, ROOT_CA_SECRET, WORKLOAD_CERT_SECRET, type CertificateSecret } from './secrets.js';

/** A CA for one trust domain. */
export function testCa(trustDomain = 'cluster.local'): CertificateAuthority {
  return createRootCa({ trustDomain });
}

/** An SVID for `spiffe://<td>/ns/<ns>/sa/<sa>` as a certificate secret. */
export function testSvid(ca: CertificateAuthority, namespace: string, serviceAccount: string, trustDomain = 'cluster.local', ttlMs = 3_600_000): CertificateSecret {
  const keys = generateKeyPair('ECDSA_P256');
  const identity = `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  const cert = issueSvid(ca, { publicKey: keys.publicKey, spiffeId: identity, ttlMs });
  return { kind: 'certificate', certChainPem: cert.chainPems.join(''), keyPem: privateKeyToPem(keys.privateKey), serialHex: cert.serialHex, identity, notBefore: cert.notBefore, notAfter: cert.notAfter };
}

/** A server certificate with DNS names (SIMPLE TLS origination to external services). */
export function testServerCert(ca: CertificateAuthority, dnsNames: readonly string[]): CertificateSecret {
  const keys = generateKeyPair('ECDSA_P256');
  const cert = issueCertificate(ca, { publicKey: keys.publicKey, dnsNames: [...dnsNames], ttlMs: 3_600_000 });
  return { kind: 'certificate', certChainPem: cert.chainPems.join(''), keyPem: privateKeyToPem(keys.privateKey), serialHex: cert.serialHex };
}

/** The SDS secrets a sidecar of `ns/sa` holds: `default` (its SVID) and `ROOTCA` (the CA's root). */
export function testSecrets(ca: CertificateAuthority, namespace: string, serviceAccount: string): MemorySecretProvider {
  const p = new MemorySecretProvider();
  p.set(WORKLOAD_CERT_SECRET, testSvid(ca, namespace, serviceAccount));
  p.set(ROOT_CA_SECRET, { kind: 'validation', trustedCaPem: ca.rootPem });
  return p;
}
