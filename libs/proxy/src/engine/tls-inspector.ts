/**
 * Envoy's TLS inspector: reads SNI (server_name, RFC 6066 §3) and ALPN (RFC 7301) from a TLS
 * ClientHello without terminating TLS, so filter chains can match on them (passthrough, SNI
 * routing, mTLS detection for PERMISSIVE). Only the first record is read; the listener manager
 * waits for that record to be complete before calling it (engine/listeners.ts readFirst).
 */

/** What the ClientHello offered. */
export interface ClientHelloInfo {
  readonly serverName?: string;
  readonly alpn: readonly string[];
}

/** inspectClientHello returns the SNI and ALPN of a TLS ClientHello, or undefined if `buf` does not start with one. */
export function inspectClientHello(buf: Buffer): ClientHelloInfo | undefined {
  // Record header: type 22 (handshake), version, length; handshake header: type 1 (ClientHello), 3-byte length.
  if (buf.length < 9 || buf[0] !== 0x16 || buf[5] !== 0x01) return undefined;
  const end = Math.min(buf.length, 5 + buf.readUInt16BE(3));
  let p = 9 + 2 + 32; // client_version, random
  if (p >= end) return { alpn: [] };
  p += 1 + buf[p]; // session_id
  if (p + 2 > end) return { alpn: [] };
  p += 2 + buf.readUInt16BE(p); // cipher_suites
  if (p + 1 > end) return { alpn: [] };
  p += 1 + buf[p]; // compression_methods
  if (p + 2 > end) return { alpn: [] };
  const extEnd = Math.min(end, p + 2 + buf.readUInt16BE(p));
  p += 2;
  let serverName: string | undefined;
  const alpn: string[] = [];
  while (p + 4 <= extEnd) {
    const type = buf.readUInt16BE(p);
    const len = buf.readUInt16BE(p + 2);
    const body = p + 4;
    if (body + len > extEnd) break;
    if (type === 0 && len >= 5) {
      // server_name_list: list length, then entries of (type 0 = host_name, 2-byte length, name).
      let q = body + 2;
      while (q + 3 <= body + len) {
        const nameType = buf[q];
        const nameLen = buf.readUInt16BE(q + 1);
        if (nameType === 0 && q + 3 + nameLen <= body + len) {
          serverName = buf.toString('ascii', q + 3, q + 3 + nameLen).toLowerCase();
          break;
        }
        q += 3 + nameLen;
      }
    } else if (type === 16 && len >= 2) {
      let q = body + 2;
      while (q < body + len) {
        const l = buf[q];
        if (q + 1 + l > body + len) break;
        alpn.push(buf.toString('ascii', q + 1, q + 1 + l));
        q += 1 + l;
      }
    }
    p = body + len;
  }
  return { ...(serverName !== undefined ? { serverName } : {}), alpn };
}
