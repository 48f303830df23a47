/**
 * Certificate authority operations: self-signed roots, intermediates, and leaf certificates (SPIFFE
 * X.509-SVIDs for workloads, DNS-named certificates for the control plane). The TBSCertificate is
 * built with node-forge's ASN.1 encoder and signed with node:crypto.
 */
import { createHash, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import {
  authorityKeyIdentifierAsn1,
  basicConstraintsAsn1,
  extension,
  extKeyUsageAsn1,
  generalNamesAsn1,
  KEY_USAGE,
  keyIdentifierAsn1,
  keyUsageAsn1,
  nameAsn1,
  OID,
  signatureAlgorithmFor,
  signedStructure,
  timeAsn1,
  algorithmIdentifier,
  type NameAttributes,
  type SubjectAltNames,
} from './asn1.js';
import { certificateParts, certificatePems, derChildren, derElement, pemBlocks, readTlv, TAG, toDer, toPem } from './der.js';
import { CertificateError, IdentityMismatchError, KeyError, TtlError } from './errors.js';
import { generateKeyPair, isRsa, keyAlgorithmOf, privateKeyFromPem, spkiDer, type KeyAlgorithm } from './keys.js';
import { parseSpiffeId } from './spiffe.js';

const asn1 = forge.asn1;

const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** Default SVID lifetime (Istio's DEFAULT_WORKLOAD_CERT_TTL). */
export const DEFAULT_SVID_TTL_MS = 24 * HOUR;
/** Longest SVID lifetime Meshwork ever signs; longer requests are clamped here (Istio's default max is 90 days). */
export const MAX_SVID_TTL_MS = 90 * DAY;
/** Default root lifetime: 10 years, as Istio's self-signed CA. */
export const DEFAULT_ROOT_TTL_MS = 3650 * DAY;
/** Certificates start this far in the past so a peer whose clock is slightly behind accepts them at once. */
export const BACKDATE_MS = 60_000;

/** A signing CA: its certificate, key, and the chain from it up to (and including) the root. */
export interface CertificateAuthority {
  readonly certPem: string;
  readonly certDer: Buffer;
  readonly key: KeyObject;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly notAfter: Date;
  /** PEMs from this CA's certificate to the root, root last (a self-signed root: just itself). */
  readonly chainPems: readonly string[];
  /** The root this CA chains to. */
  readonly rootPem: string;
  /** Raw subject Name of the CA certificate, copied as the issuer of what it signs. */
  readonly subjectDer: Buffer;
  /** Subject key identifier, copied as the authority key identifier of what it signs. */
  readonly keyId: Buffer;
}

/** A certificate just signed. */
export interface IssuedCertificate {
  readonly certPem: string;
  /** Leaf first, root last: what IstioCertificateResponse.cert_chain carries. */
  readonly chainPems: readonly string[];
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** keyIdentifier returns the RFC 5280 §4.2.1.2 method-1 key identifier: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Buffer): Buffer {
  const seq = readTlv(spki, 0);
  const [, bits] = derChildren(spki, seq);
  return createHash('sha1').update(spki.subarray(bits.contentStart + 1, bits.end)).digest();
}

/** randomSerial returns a positive, minimally encoded 128-bit random serial (CA/B and SPIFFE ask for unpredictable serials). */
export function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x7f) || 0x01;
  return b;
}

interface TbsInput {
  serial: Buffer;
  sigOid: string;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: forge.asn1.Asn1[];
}

function tbsDer(t: TbsInput): Buffer {
  const version = derElement(TAG.CONTEXT_0, [toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, String.fromCharCode(2)))]);
  const serial = derElement(0x02, [t.serial]);
  const validity = derElement(TAG.SEQUENCE, [toDer(timeAsn1(t.notBefore)), toDer(timeAsn1(t.notAfter))]);
  const exts = derElement(TAG.CONTEXT_3, [derElement(TAG.SEQUENCE, t.extensions.map(toDer))]);
  return derElement(TAG.SEQUENCE, [version, serial, toDer(algorithmIdentifier(t.sigOid)), t.issuer, validity, t.subject, t.spki, exts]);
}

/** Whole seconds: X.509 times have one-second precision, so Date values compare equal after a round trip. */
function seconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/** Options for a new CA certificate. */
export interface CaOptions {
  /** Trust domain; becomes O=<trust domain> in the subject as Istio does. */
  readonly trustDomain: string;
  readonly commonName?: string;
  readonly keyAlgorithm?: KeyAlgorithm;
  readonly ttlMs?: number;
  readonly now?: Date;
  /** Existing key to certify (root rotation keeps nothing, but tests and plug-ins may pass one). */
  readonly privateKey?: KeyObject;
}

function caExtensions(spki: Buffer, authorityKeyId: Buffer | undefined, pathLen?: number): { exts: forge.asn1.Asn1[]; keyId: Buffer } {
  const keyId = keyIdentifier(spki);
  const exts = [
    extension(OID.keyUsage, true, keyUsageAsn1([KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])),
    extension(OID.basicConstraints, true, basicConstraintsAsn1(true, pathLen)),
    extension(OID.subjectKeyIdentifier, false, keyIdentifierAsn1(keyId)),
  ];
  if (authorityKeyId) exts.push(extension(OID.authorityKeyIdentifier, false, authorityKeyIdentifierAsn1(authorityKeyId)));
  return { exts, keyId };
}

/** createRootCa returns a new self-signed root CA (ECDSA P-256 and 10 years unless told otherwise). */
export function createRootCa(opts: CaOptions): CertificateAuthority {
  const key = opts.privateKey ?? generateKeyPair(opts.keyAlgorithm ?? 'ECDSA_P256').privateKey;
  const alg = keyAlgorithmOf(key);
  const now = (opts.now ?? new Date()).getTime();
  const spki = spkiDer(key);
  const name = toDer(nameAsn1({ organization: opts.trustDomain, commonName: opts.commonName }));
  const { exts } = caExtensions(spki, undefined);
  const sigOid = signatureAlgorithmFor(alg);
  const der = signedStructure(
    tbsDer({ serial: randomSerial(), sigOid, issuer: name, subject: name, notBefore: seconds(now - BACKDATE_MS), notAfter: seconds(now + (opts.ttlMs ?? DEFAULT_ROOT_TTL_MS)), spki, extensions: exts }),
    key,
    sigOid,
  );
  const pem = toPem(der, 'CERTIFICATE');
  return loadCertificateAuthority({ certPem: pem, key, chainPem: pem, rootPem: pem });
}

/** createIntermediateCa returns a new CA certified by `parent` (its chain is itself + the parent's chain). */
export function createIntermediateCa(parent: CertificateAuthority, opts: CaOptions): CertificateAuthority {
  const key = opts.privateKey ?? generateKeyPair(opts.keyAlgorithm ?? 'ECDSA_P256').privateKey;
  const now = (opts.now ?? new Date()).getTime();
  const spki = spkiDer(key);
  const { exts } = caExtensions(spki, parent.keyId);
  const sigOid = signatureAlgorithmFor(parent.keyAlgorithm);
  const notAfter = Math.min(now + (opts.ttlMs ?? DEFAULT_ROOT_TTL_MS / 2), parent.notAfter.getTime());
  const der = signedStructure(
    tbsDer({
      serial: randomSerial(),
      sigOid,
      issuer: parent.subjectDer,
      subject: toDer(nameAsn1({ organization: opts.trustDomain, commonName: opts.commonName ?? 'Intermediate CA' })),
      notBefore: seconds(now - BACKDATE_MS),
      notAfter: seconds(notAfter),
      spki,
      extensions: exts,
    }),
    parent.key,
    sigOid,
  );
  const pem = toPem(der, 'CERTIFICATE');
  return loadCertificateAuthority({ certPem: pem, key, chainPem: [pem, ...parent.chainPems].join(''), rootPem: parent.rootPem });
}

/** The files of a plugged-in CA, Istio's cacerts layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem). */
export interface CaMaterial {
  readonly certPem: string;
  readonly key: KeyObject | string;
  /** cert-chain.pem: the CA certificate and its issuers up to the root (may omit the root, or be empty). */
  readonly chainPem?: string;
  readonly rootPem: string;
}

/**
 * loadCertificateAuthority returns a signing CA from PEM material after checking that the key matches
 * the certificate, that the certificate is a CA, and that the chain reaches the root. Throws
 * CertificateError or KeyError naming the problem.
 */
export function loadCertificateAuthority(m: CaMaterial): CertificateAuthority {
  const key = typeof m.key === 'string' ? privateKeyFromPem(m.key) : m.key;
  const [certDer] = pemBlocks(m.certPem, 'CERTIFICATE');
  if (!certDer) throw new CertificateError('CA certificate PEM has no CERTIFICATE block');
  const x = new X509Certificate(certDer);
  if (!x.ca) throw new CertificateError(`certificate "${x.subject}" is not a CA (basicConstraints cA is not true)`);
  if (!x.checkPrivateKey(key)) throw new KeyError('CA private key does not match the CA certificate');
  const [rootDer] = pemBlocks(m.rootPem, 'CERTIFICATE');
  if (!rootDer) throw new CertificateError('root certificate PEM has no CERTIFICATE block');
  const rootPem = toPem(rootDer, 'CERTIFICATE');
  const certPem = toPem(certDer, 'CERTIFICATE');
  const chain = certificatePems(m.chainPem ?? '');
  if (chain.length === 0 || chain[0] !== certPem) chain.unshift(certPem);
  if (chain[chain.length - 1] !== rootPem) chain.push(rootPem);
  // Every link must be signed by the next, ending at a self-signed root.
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = new X509Certificate(chain[i]);
    const parent = new X509Certificate(chain[i + 1]);
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) throw new CertificateError(`CA chain is broken: "${child.subject}" is not signed by "${parent.subject}"`);
  }
  const root = new X509Certificate(rootPem);
  if (!root.checkIssued(root) || !root.verify(root.publicKey)) throw new CertificateError('root certificate is not self-signed');
  const parts = certificateParts(certDer);
  return {
    certPem,
    certDer,
    key,
    keyAlgorithm: keyAlgorithmOf(key),
    notAfter: new Date(x.validTo),
    chainPems: chain,
    rootPem,
    subjectDer: parts.subject,
    keyId: keyIdentifier(parts.spki),
  };
}

/** What a leaf certificate says about its subject. */
export interface LeafOptions extends SubjectAltNames {
  /** Public key to certify (from a verified CSR). */
  readonly publicKey: KeyObject;
  readonly ttlMs?: number;
  readonly now?: Date;
  /** Subject attributes; empty by default (the identity lives in the SAN, which is then critical). */
  readonly subject?: NameAttributes;
}

/**
 * issueCertificate returns a leaf certificate signed by `ca` for any SAN set (control-plane servers
 * use DNS SANs): cA=false, keyUsage critical digitalSignature (+keyEncipherment for RSA keys), EKU
 * serverAuth+clientAuth, random serial, lifetime clamped to MAX_SVID_TTL_MS and to the CA's own expiry.
 */
export function issueCertificate(ca: CertificateAuthority, opts: LeafOptions): IssuedCertificate {
  const ttl = opts.ttlMs ?? DEFAULT_SVID_TTL_MS;
  if (!(ttl > 0)) throw new TtlError(`certificate lifetime must be positive, got ${ttl} ms`);
  const subjectAlg = keyAlgorithmOf(opts.publicKey);
  const now = (opts.now ?? new Date()).getTime();
  const notBefore = seconds(now - BACKDATE_MS);
  const notAfter = seconds(Math.min(now + Math.min(ttl, MAX_SVID_TTL_MS), ca.notAfter.getTime()));
  const spki = spkiDer(opts.publicKey);
  const emptySubject = !opts.subject || (opts.subject.commonName === undefined && opts.subject.organization === undefined);
  const usage: number[] = [KEY_USAGE.digitalSignature];
  if (isRsa(subjectAlg)) usage.push(KEY_USAGE.keyEncipherment);
  const exts = [
    extension(OID.keyUsage, true, keyUsageAsn1(usage)),
    extension(OID.extKeyUsage, false, extKeyUsageAsn1([OID.serverAuth, OID.clientAuth])),
    extension(OID.basicConstraints, true, basicConstraintsAsn1(false)),
    extension(OID.authorityKeyIdentifier, false, authorityKeyIdentifierAsn1(ca.keyId)),
    // RFC 5280 §4.2.1.6: with an empty subject the SAN extension must be critical.
    extension(OID.subjectAltName, emptySubject, generalNamesAsn1(opts)),
  ];
  const serial = randomSerial();
  const sigOid = signatureAlgorithmFor(ca.keyAlgorithm);
  const der = signedStructure(
    tbsDer({ serial, sigOid, issuer: ca.subjectDer, subject: toDer(nameAsn1(opts.subject ?? {})), notBefore, notAfter, spki, extensions: exts }),
    ca.key,
    sigOid,
  );
  const certPem = toPem(der, 'CERTIFICATE');
  return { certPem, chainPems: [certPem, ...ca.chainPems], serialHex: serial.toString('hex').toUpperCase(), notBefore, notAfter };
}

/** Options for a workload SVID. */
export interface SvidOptions {
  readonly publicKey: KeyObject;
  /** spiffe://<td>/ns/<ns>/sa/<sa>; the certificate's one and only SAN. */
  readonly spiffeId: string;
  readonly ttlMs?: number;
  readonly now?: Date;
}

/**
 * issueSvid returns a SPIFFE X.509-SVID (spec §4-5): exactly one URI SAN, the workload's ID, empty
 * subject, leaf constraints as issueCertificate. Throws SpiffeIdError for a malformed ID and
 * IdentityMismatchError when the ID's trust domain is not the CA's.
 */
export function issueSvid(ca: CertificateAuthority, opts: SvidOptions & { readonly trustDomain?: string }): IssuedCertificate {
  const id = parseSpiffeId(opts.spiffeId);
  if (opts.trustDomain !== undefined && id.trustDomain !== opts.trustDomain) {
    throw new IdentityMismatchError(`SPIFFE ID trust domain "${id.trustDomain}" is not this CA's trust domain "${opts.trustDomain}"`);
  }
  return issueCertificate(ca, { publicKey: opts.publicKey, uris: [opts.spiffeId], ttlMs: opts.ttlMs, now: opts.now });
}

/**
 * crossCertify returns a CA certificate for `subject`'s name and key issued by `issuer` (a cross
 * certificate). During root rotation, chains [leaf, cross] built by the new root verify both for peers
 * that trust the new root and for peers that still only trust the old one.
 */
export function crossCertify(subject: CertificateAuthority, issuer: CertificateAuthority, opts: { ttlMs: number; now?: Date }): string {
  const now = (opts.now ?? new Date()).getTime();
  const spki = certificateParts(subject.certDer).spki;
  const { exts } = caExtensions(spki, issuer.keyId);
  const sigOid = signatureAlgorithmFor(issuer.keyAlgorithm);
  const der = signedStructure(
    tbsDer({
      serial: randomSerial(),
      sigOid,
      issuer: issuer.subjectDer,
      subject: subject.subjectDer,
      notBefore: seconds(now - BACKDATE_MS),
      notAfter: seconds(Math.min(now + opts.ttlMs, issuer.notAfter.getTime(), subject.notAfter.getTime())),
      spki,
      extensions: exts,
    }),
    issuer.key,
    sigOid,
  );
  return toPem(der, 'CERTIFICATE');
}
