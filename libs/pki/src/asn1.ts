/**
 * ASN.1 building blocks for X.509 certificates and PKCS#10 CSRs (RFC 5280, RFC 2986), built with
 * node-forge's ASN.1 encoder. Signatures are made and checked with node:crypto, never forge's JS RSA.
 */
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { isRsa, type KeyAlgorithm } from './keys.js';
import { derElement, TAG, toDer } from './der.js';

const asn1 = forge.asn1;
const T = asn1.Type;
const C = asn1.Class;

export const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
} as const;

/** Digest used with each signature algorithm OID, as node:crypto names it. */
export const SIGNATURE_DIGEST: Readonly<Record<string, string>> = {
  [OID.ecdsaWithSha256]: 'sha256',
  [OID.ecdsaWithSha384]: 'sha384',
  [OID.ecdsaWithSha512]: 'sha512',
  [OID.sha256WithRsa]: 'sha256',
  [OID.sha384WithRsa]: 'sha384',
  [OID.sha512WithRsa]: 'sha512',
};

/** signatureAlgorithmFor returns the signature OID a key of this algorithm signs with (SHA-384 for P-384, else SHA-256). */
export function signatureAlgorithmFor(alg: KeyAlgorithm): string {
  if (alg === 'ECDSA_P384') return OID.ecdsaWithSha384;
  return isRsa(alg) ? OID.sha256WithRsa : OID.ecdsaWithSha256;
}

/** algorithmIdentifier returns the AlgorithmIdentifier of a signature OID (NULL parameters for RSA, absent for ECDSA per RFC 5758). */
export function algorithmIdentifier(oid: string): forge.asn1.Asn1 {
  const parts = [asn1.create(C.UNIVERSAL, T.OID, false, asn1.oidToDer(oid).getBytes())];
  if (oid.startsWith('1.2.840.113549')) parts.push(asn1.create(C.UNIVERSAL, T.NULL, false, ''));
  return asn1.create(C.UNIVERSAL, T.SEQUENCE, true, parts);
}

/** Subject or issuer attributes Meshwork sets (Istio puts only O=<trust domain> on its CA certificates). */
export interface NameAttributes {
  readonly commonName?: string;
  readonly organization?: string;
}

/** nameAsn1 returns an X.501 Name; empty attributes give the empty Name SVIDs use. */
export function nameAsn1(attrs: NameAttributes): forge.asn1.Asn1 {
  const rdns: forge.asn1.Asn1[] = [];
  const add = (oid: string, value: string): void => {
    rdns.push(
      asn1.create(C.UNIVERSAL, T.SET, true, [
        asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [
          asn1.create(C.UNIVERSAL, T.OID, false, asn1.oidToDer(oid).getBytes()),
          asn1.create(C.UNIVERSAL, T.UTF8, false, forge.util.encodeUtf8(value)),
        ]),
      ]),
    );
  };
  if (attrs.organization !== undefined) add(OID.organization, attrs.organization);
  if (attrs.commonName !== undefined) add(OID.commonName, attrs.commonName);
  return asn1.create(C.UNIVERSAL, T.SEQUENCE, true, rdns);
}

/** Subject alternative names (RFC 5280 §4.2.1.6 GeneralName choices we use). */
export interface SubjectAltNames {
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

function ipBytes(ip: string): string {
  if (ip.includes(':')) {
    // Expand "::" then pack eight 16-bit groups.
    const [head, tail] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return groups.map((g) => { const n = parseInt(g, 16); return String.fromCharCode(n >> 8, n & 0xff); }).join('');
  }
  return ip.split('.').map((o) => String.fromCharCode(Number(o))).join('');
}

/** generalNamesAsn1 returns the GeneralNames SEQUENCE of a SAN set. */
export function generalNamesAsn1(san: SubjectAltNames): forge.asn1.Asn1 {
  const names: forge.asn1.Asn1[] = [];
  for (const d of san.dnsNames ?? []) names.push(asn1.create(C.CONTEXT_SPECIFIC, 2, false, d));
  for (const u of san.uris ?? []) names.push(asn1.create(C.CONTEXT_SPECIFIC, 6, false, u));
  for (const ip of san.ipAddresses ?? []) names.push(asn1.create(C.CONTEXT_SPECIFIC, 7, false, ipBytes(ip)));
  return asn1.create(C.UNIVERSAL, T.SEQUENCE, true, names);
}

/** extension returns one Extension { extnID, critical, extnValue OCTET STRING(DER of value) }. */
export function extension(oid: string, critical: boolean, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  const parts = [asn1.create(C.UNIVERSAL, T.OID, false, asn1.oidToDer(oid).getBytes())];
  // DER omits a BOOLEAN equal to its DEFAULT (critical DEFAULT FALSE).
  if (critical) parts.push(asn1.create(C.UNIVERSAL, T.BOOLEAN, false, String.fromCharCode(0xff)));
  parts.push(asn1.create(C.UNIVERSAL, T.OCTETSTRING, false, asn1.toDer(value).getBytes()));
  return asn1.create(C.UNIVERSAL, T.SEQUENCE, true, parts);
}

/** Key usage bits (RFC 5280 §4.2.1.3), numbered from the most significant bit. */
export const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

/** keyUsageAsn1 returns the KeyUsage BIT STRING with DER's minimal unused-bits count. */
export function keyUsageAsn1(bits: readonly number[]): forge.asn1.Asn1 {
  let v = 0;
  for (const b of bits) v |= 0x80 >> b;
  let unused = 0;
  while (unused < 7 && ((v >> unused) & 1) === 0) unused++;
  return asn1.create(C.UNIVERSAL, T.BITSTRING, false, String.fromCharCode(unused, v));
}

/** basicConstraintsAsn1 returns BasicConstraints; cA=false encodes as the empty SEQUENCE (DER drops defaults). */
export function basicConstraintsAsn1(ca: boolean, pathLen?: number): forge.asn1.Asn1 {
  const parts: forge.asn1.Asn1[] = [];
  if (ca) {
    parts.push(asn1.create(C.UNIVERSAL, T.BOOLEAN, false, String.fromCharCode(0xff)));
    if (pathLen !== undefined) parts.push(asn1.create(C.UNIVERSAL, T.INTEGER, false, asn1.integerToDer(pathLen).getBytes()));
  }
  return asn1.create(C.UNIVERSAL, T.SEQUENCE, true, parts);
}

/** extKeyUsageAsn1 returns ExtKeyUsageSyntax listing the purposes. */
export function extKeyUsageAsn1(oids: readonly string[]): forge.asn1.Asn1 {
  return asn1.create(C.UNIVERSAL, T.SEQUENCE, true, oids.map((o) => asn1.create(C.UNIVERSAL, T.OID, false, asn1.oidToDer(o).getBytes())));
}

/** keyIdentifierAsn1 returns SubjectKeyIdentifier (an OCTET STRING). */
export function keyIdentifierAsn1(id: Buffer): forge.asn1.Asn1 {
  return asn1.create(C.UNIVERSAL, T.OCTETSTRING, false, id.toString('binary'));
}

/** authorityKeyIdentifierAsn1 returns AuthorityKeyIdentifier with only keyIdentifier [0]. */
export function authorityKeyIdentifierAsn1(id: Buffer): forge.asn1.Asn1 {
  return asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [asn1.create(C.CONTEXT_SPECIFIC, 0, false, id.toString('binary'))]);
}

/** timeAsn1 returns UTCTime before 2050 and GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5). */
export function timeAsn1(d: Date): forge.asn1.Asn1 {
  const utc = d.getUTCFullYear() < 2050;
  return utc
    ? asn1.create(C.UNIVERSAL, T.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(C.UNIVERSAL, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

/** signDer returns the signature over `data` by `key` for a signature OID (DER ECDSA-Sig-Value or PKCS#1 v1.5). */
export function signDer(data: Buffer, key: KeyObject, sigOid: string): Buffer {
  return cryptoSign(SIGNATURE_DIGEST[sigOid], data, key);
}

/** verifyDer says whether `signature` over `data` verifies with `publicKey` under a signature OID. */
export function verifyDer(data: Buffer, publicKey: KeyObject, sigOid: string, signature: Buffer): boolean {
  const digest = SIGNATURE_DIGEST[sigOid];
  if (!digest) return false;
  try {
    return cryptoVerify(digest, data, publicKey, signature);
  } catch {
    return false;
  }
}

/**
 * signedStructure returns the DER of SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING signature }, the
 * shape of both certificates and CSRs, signing the exact TBS bytes natively.
 */
export function signedStructure(tbsDer: Buffer, key: KeyObject, sigOid: string): Buffer {
  const signature = signDer(tbsDer, key, sigOid);
  return derElement(TAG.SEQUENCE, [tbsDer, toDer(algorithmIdentifier(sigOid)), derElement(TAG.BIT_STRING, [Buffer.from([0]), signature])]);
}
