/**
 * Chain verification against a trust bundle, natively (node:crypto X509Certificate). Used by citadel to
 * authenticate renewals over mTLS and by workloads to check what they received.
 */
import { X509Certificate } from 'node:crypto';
import { certificatePems } from './der.js';
import { ChainVerificationError, CertificateError } from './errors.js';

/** What a certificate says, read natively. */
export interface CertificateInfo {
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly uris: string[];
  readonly dnsNames: string[];
  readonly isCa: boolean;
  readonly subject: string;
  readonly issuer: string;
  readonly fingerprint256: string;
}

/** sanList returns the typed entries of node's subjectAltName text ("URI:a, DNS:b"), keeping quoted values whole. */
function sanList(text: string | undefined): { uris: string[]; dnsNames: string[] } {
  const uris: string[] = [];
  const dnsNames: string[] = [];
  for (const m of (text ?? '').matchAll(/(URI|DNS):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g)) {
    const v = m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2];
    (m[1] === 'URI' ? uris : dnsNames).push(v);
  }
  return { uris, dnsNames };
}

/** certificateInfo returns the facts of a PEM/DER certificate (the first one of a bundle), or throws CertificateError. */
export function certificateInfo(cert: string | Buffer | X509Certificate): CertificateInfo {
  let x: X509Certificate;
  try {
    x = cert instanceof X509Certificate ? cert : new X509Certificate(typeof cert === 'string' ? (certificatePems(cert)[0] ?? cert) : cert);
  } catch (e) {
    throw new CertificateError(`cannot decode certificate: ${(e as Error).message}`, { cause: e });
  }
  return {
    serialHex: x.serialNumber.toUpperCase(),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    ...sanList(x.subjectAltName),
    isCa: x.ca,
    subject: x.subject,
    issuer: x.issuer,
    fingerprint256: x.fingerprint256,
  };
}

/** Result of a successful chain verification. */
export interface VerifiedChain {
  readonly leaf: CertificateInfo;
  /** The trusted root the chain ended at (PEM). */
  readonly rootPem: string;
  /** The leaf's URI SAN when it has exactly one (its SPIFFE ID), else undefined. */
  readonly spiffeId?: string;
}

/**
 * verifyChain returns the verified leaf when `chain` (leaf first; intermediates after; a trailing root
 * is allowed) leads to one of `roots` with every link signed by the next, every issuer a CA and every
 * certificate within its validity at `now`. Throws ChainVerificationError naming the first failure.
 */
export function verifyChain(chain: string | readonly string[] | readonly X509Certificate[], roots: string | readonly string[], now: Date = new Date()): VerifiedChain {
  const certs = toX509s(chain);
  const trusted = toX509s(roots);
  if (certs.length === 0) throw new ChainVerificationError('no certificate presented');
  if (trusted.length === 0) throw new ChainVerificationError('empty trust bundle');
  const t = now.getTime();
  const within = (x: X509Certificate): void => {
    if (t < Date.parse(x.validFrom)) throw new ChainVerificationError(`certificate "${x.subject || x.subjectAltName}" is not valid before ${x.validFrom}`);
    if (t > Date.parse(x.validTo)) throw new ChainVerificationError(`certificate "${x.subject || x.subjectAltName}" expired at ${x.validTo}`);
  };
  let current = certs[0];
  const intermediates = certs.slice(1);
  for (let depth = 0; depth < 10; depth++) {
    within(current);
    const root = trusted.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
    if (root) {
      within(root);
      const leaf = certificateInfo(certs[0]);
      return { leaf, rootPem: root.toString(), spiffeId: leaf.uris.length === 1 ? leaf.uris[0] : undefined };
    }
    // A self-signed certificate that is not in the bundle ends the walk: it is an untrusted root.
    const next = intermediates.find((c) => c !== current && current.checkIssued(c) && current.verify(c.publicKey));
    if (!next) throw new ChainVerificationError(`no trusted issuer for "${current.subject || current.subjectAltName}" (issuer "${current.issuer}")`);
    if (!next.ca) throw new ChainVerificationError(`issuer "${next.subject}" is not a CA`);
    current = next;
  }
  throw new ChainVerificationError('certificate chain is too long');
}

function toX509s(v: string | readonly string[] | readonly X509Certificate[]): X509Certificate[] {
  const list = typeof v === 'string' ? certificatePems(v) : v;
  try {
    return list.flatMap((c) => (c instanceof X509Certificate ? [c] : certificatePems(c).map((p) => new X509Certificate(p))));
  } catch (e) {
    throw new ChainVerificationError(`cannot decode certificate: ${(e as Error).message}`, { cause: e });
  }
}
