/**
 * Small DER and PEM helpers. node-forge builds and decodes ASN.1 values; these helpers give the
 * exact original bytes of an element (a signature covers bytes, and re-encoding a decoded value is
 * not guaranteed to reproduce them) and convert between forge's binary strings and Buffers.
 */
import forge from 'node-forge';
import { CertificateError } from './errors.js';

const asn1 = forge.asn1;

/** One DER element located inside a buffer: its tag byte and the byte ranges of header+content. */
export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the element. */
  readonly end: number;
}

/** readTlv returns the DER element starting at `offset`, or throws on a truncated/indefinite encoding. */
export function readTlv(buf: Uint8Array, offset: number): Tlv {
  if (offset + 2 > buf.length) throw new Error('truncated DER element');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte DER tags are not supported');
  let len = buf[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // DER forbids the indefinite form (n = 0); four length bytes are far beyond any certificate.
    if (n === 0 || n > 4) throw new Error('bad DER length');
    if (p + n > buf.length) throw new Error('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > buf.length) throw new Error('DER element runs past the end of its container');
  return { tag, start: offset, contentStart: p, end: p + len };
}

/** derChildren returns the elements directly inside the constructed element `outer`. */
export function derChildren(buf: Uint8Array, outer: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = outer.contentStart;
  while (p < outer.end) {
    const t = readTlv(buf, p);
    if (t.end > outer.end) throw new Error('DER element runs past its parent');
    out.push(t);
    p = t.end;
  }
  return out;
}

/** slice returns the bytes of a located element (header included). */
export function slice(buf: Buffer, t: Tlv): Buffer {
  return buf.subarray(t.start, t.end);
}

/** toDer returns the DER bytes of a forge ASN.1 value as a Buffer. */
export function toDer(obj: forge.asn1.Asn1): Buffer {
  return Buffer.from(asn1.toDer(obj).getBytes(), 'binary');
}

/** pemBlocks returns the DER bytes of every PEM block of type `label` in `text`, in order. */
export function pemBlocks(text: string, label: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  const out: Buffer[] = [];
  for (const m of text.matchAll(re)) out.push(Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
  return out;
}

/** toPem returns the PEM text of DER bytes under `label`, 64 characters a line as RFC 7468 asks. */
export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** certificatePems returns each certificate of a PEM bundle as its own PEM text, in order. */
export function certificatePems(bundle: string): string[] {
  return pemBlocks(bundle, 'CERTIFICATE').map((d) => toPem(d, 'CERTIFICATE'));
}

/**
 * certificateParts returns the raw TBS, subject and issuer Name bytes of a DER certificate: the
 * issuer field of a certificate we sign must be byte-identical to its issuer's subject (RFC 5280 §7.1
 * name chaining), so it is copied, never rebuilt.
 */
export function certificateParts(der: Buffer): { tbs: Buffer; issuer: Buffer; subject: Buffer; spki: Buffer } {
  try {
    const cert = readTlv(der, 0);
    const [tbs] = derChildren(der, cert);
    const f = derChildren(der, tbs);
    // version [0] EXPLICIT is optional (absent for v1).
    const o = f[0].tag === 0xa0 ? 1 : 0;
    return { tbs: slice(der, tbs), issuer: slice(der, f[o + 2]), subject: slice(der, f[o + 4]), spki: slice(der, f[o + 5]) };
  } catch (e) {
    throw new CertificateError(`cannot decode certificate: ${(e as Error).message}`, { cause: e });
  }
}

/** derElement returns the DER bytes of an element with `tag` whose content is the concatenation of `parts`. */
export function derElement(tag: number, parts: readonly Buffer[]): Buffer {
  const content = Buffer.concat(parts);
  const n = content.length;
  let header: Buffer;
  if (n < 0x80) header = Buffer.from([tag, n]);
  else if (n < 0x100) header = Buffer.from([tag, 0x81, n]);
  else if (n < 0x10000) header = Buffer.from([tag, 0x82, n >> 8, n & 0xff]);
  else header = Buffer.from([tag, 0x83, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([header, content]);
}

/** DER tag bytes used when assembling structures from raw parts. */
export const TAG = { SEQUENCE: 0x30, BIT_STRING: 0x03, CONTEXT_0: 0xa0, CONTEXT_3: 0xa3 } as const;
