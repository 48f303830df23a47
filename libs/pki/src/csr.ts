/**
 * PKCS#10 certificate signing requests (RFC 2986): creation for workloads and parsing plus native
 * signature verification for the CA. Only the public key and the subject alternative names of a CSR
 * matter to citadel; every other extension is decided by the CA, as in Istio.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { extension, generalNamesAsn1, nameAsn1, OID, SIGNATURE_DIGEST, signatureAlgorithmFor, signedStructure, verifyDer, type NameAttributes, type SubjectAltNames } from './asn1.js';
import { derChildren, derElement, pemBlocks, readTlv, slice, TAG, toDer, toPem, type Tlv } from './der.js';
import { CsrParseError, CsrSignatureError, KeyError } from './errors.js';
import { keyAlgorithmOf, rememberSpki, spkiDer, type KeyAlgorithm } from './keys.js';

const asn1 = forge.asn1;

/** What a workload asks for. */
export interface CsrOptions extends SubjectAltNames {
  /** Signing key of the requester; its public half goes into the CSR. */
  readonly privateKey: KeyObject;
  /** Subject attributes; SVID CSRs leave the subject empty as Istio's agent does. */
  readonly subject?: NameAttributes;
}

/** createCsr returns the PEM of a CSR for the given key and SANs, signed natively with that key. */
export function createCsr(opts: CsrOptions): string {
  const alg = keyAlgorithmOf(opts.privateKey);
  const sans = (opts.uris?.length ?? 0) + (opts.dnsNames?.length ?? 0) + (opts.ipAddresses?.length ?? 0);
  const attrs: forge.asn1.Asn1[] = [];
  if (sans > 0) {
    const exts = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [extension(OID.subjectAltName, isEmpty(opts.subject), generalNamesAsn1(opts))]);
    attrs.push(
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(OID.extensionRequest).getBytes()),
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [exts]),
      ]),
    );
  }
  const cri = derElement(TAG.SEQUENCE, [
    toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, String.fromCharCode(0))),
    toDer(nameAsn1(opts.subject ?? {})),
    spkiDer(opts.privateKey),
    derElement(TAG.CONTEXT_0, attrs.map(toDer)),
  ]);
  return toPem(signedStructure(cri, opts.privateKey, signatureAlgorithmFor(alg)), 'CERTIFICATE REQUEST');
}

function isEmpty(n: NameAttributes | undefined): boolean {
  return !n || (n.commonName === undefined && n.organization === undefined);
}

/** A decoded CSR whose signature has been verified. */
export interface ParsedCsr {
  readonly publicKey: KeyObject;
  readonly keyAlgorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo, exactly as in the CSR. */
  readonly spki: Buffer;
  readonly uris: string[];
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  readonly emails: string[];
  /** Count of SAN entries of other kinds (otherName, directoryName, ...); citadel refuses any. */
  readonly otherSans: number;
  /** OIDs of every extension requested. */
  readonly requestedExtensions: string[];
}

/**
 * parseCsr returns the public key and SANs of a PEM or DER CSR after verifying its self-signature
 * natively. Throws CsrParseError for anything malformed or unsupported and CsrSignatureError when
 * the signature does not verify (the requester does not hold the private key).
 */
export function parseCsr(input: string | Uint8Array): ParsedCsr {
  let der: Buffer;
  if (typeof input === 'string') {
    const blocks = [...pemBlocks(input, 'CERTIFICATE REQUEST'), ...pemBlocks(input, 'NEW CERTIFICATE REQUEST')];
    if (blocks.length !== 1) throw new CsrParseError(blocks.length === 0 ? 'no PEM "CERTIFICATE REQUEST" block found' : 'more than one CSR in the input');
    der = blocks[0];
  } else der = Buffer.from(input);
  let cri: Tlv, algOid: string, sig: Buffer, spki: Buffer;
  const result = { uris: [] as string[], dnsNames: [] as string[], ipAddresses: [] as string[], emails: [] as string[], otherSans: 0, requestedExtensions: [] as string[] };
  try {
    const outer = readTlv(der, 0);
    if (outer.tag !== TAG.SEQUENCE || outer.end !== der.length) throw new Error('not a single DER SEQUENCE');
    const top = derChildren(der, outer);
    if (top.length !== 3) throw new Error('CertificationRequest must have 3 parts');
    [cri] = top;
    algOid = oidAt(der, derChildren(der, top[1])[0]);
    if (top[2].tag !== TAG.BIT_STRING || der[top[2].contentStart] !== 0) throw new Error('signature is not a whole-byte BIT STRING');
    sig = der.subarray(top[2].contentStart + 1, top[2].end);
    const fields = derChildren(der, cri);
    if (fields.length < 3 || fields[0].tag !== 0x02) throw new Error('CertificationRequestInfo is malformed');
    if (fields[0].end - fields[0].contentStart !== 1 || der[fields[0].contentStart] !== 0) throw new Error('unsupported CSR version (want v1 = 0)');
    spki = slice(der, fields[2]);
    if (fields[3] && fields[3].tag === TAG.CONTEXT_0) {
      for (const attr of derChildren(der, fields[3])) {
        const [oid, values] = derChildren(der, attr);
        if (oidAt(der, oid) !== OID.extensionRequest) continue;
        for (const exts of derChildren(der, values)) {
          for (const ext of derChildren(der, exts)) {
            const parts = derChildren(der, ext);
            const extOid = oidAt(der, parts[0]);
            result.requestedExtensions.push(extOid);
            if (extOid !== OID.subjectAltName) continue;
            const value = parts[parts.length - 1];
            const inner = der.subarray(value.contentStart, value.end);
            readSans(inner, result);
          }
        }
      }
    }
  } catch (e) {
    if (e instanceof CsrParseError) throw e;
    throw new CsrParseError(`malformed CSR: ${(e as Error).message}`, { cause: e });
  }
  if (!SIGNATURE_DIGEST[algOid]) throw new CsrParseError(`unsupported CSR signature algorithm ${algOid}`);
  let publicKey: KeyObject, keyAlgorithm: KeyAlgorithm;
  try {
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    rememberSpki(publicKey, Buffer.from(spki));
    keyAlgorithm = keyAlgorithmOf(publicKey);
  } catch (e) {
    throw new CsrParseError(`unsupported CSR public key: ${e instanceof KeyError ? e.message : (e as Error).message}`, { cause: e });
  }
  if (!verifyDer(slice(der, cri), publicKey, algOid, sig)) throw new CsrSignatureError('CSR signature does not verify with its public key');
  return { publicKey, keyAlgorithm, spki, ...result };
}

function oidAt(der: Buffer, t: Tlv): string {
  if (t.tag !== 0x06) throw new Error('expected an OBJECT IDENTIFIER');
  return asn1.derToOid(forge.util.createBuffer(der.subarray(t.contentStart, t.end).toString('binary')));
}

function readSans(gn: Buffer, out: { uris: string[]; dnsNames: string[]; ipAddresses: string[]; emails: string[]; otherSans: number }): void {
  const seq = readTlv(gn, 0);
  if (seq.tag !== TAG.SEQUENCE) throw new Error('subjectAltName is not a SEQUENCE');
  for (const n of derChildren(gn, seq)) {
    const v = gn.subarray(n.contentStart, n.end);
    switch (n.tag) {
      case 0x81:
        out.emails.push(v.toString('latin1'));
        break;
      case 0x82:
        out.dnsNames.push(v.toString('latin1'));
        break;
      case 0x86:
        out.uris.push(v.toString('latin1'));
        break;
      case 0x87:
        out.ipAddresses.push(formatIp(v));
        break;
      default:
        out.otherSans++;
    }
  }
}

function formatIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const groups: string[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return groups.join(':');
}
