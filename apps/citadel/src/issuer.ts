/**
 * The signing decision for one request, free of transport: parse and verify the CSR, check that its
 * only SAN is the caller's own SPIFFE ID, check the requested lifetime, sign. Every refusal is a named
 * pki error; the gRPC edge (ca-server.ts) turns them into statuses.
 */
import { CsrSanError, formatSpiffeId, IdentityMismatchError, issueCertificate, issueSvid, parseCsr, parseSpiffeId, TtlError, type CertificateAuthority, type IssuedCertificate } from '@meshwork/pki';

export interface IssuePolicy {
  readonly trustDomain: string;
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  /**
   * Control-plane identities (SPIFFE ID → DNS names) that may add those DNS SANs next to their URI SAN,
   * e.g. pilot for its xDS mTLS port; the X.509-SVID spec allows other SAN types besides the one URI.
   */
  readonly controlPlaneDnsNames?: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * parseControlPlaneDnsNames returns the map of `--control-plane-dns-names` entries `<ns>/<sa>=<dns name>`
 * (repeatable per identity), or throws naming the bad entry.
 */
export function parseControlPlaneDnsNames(trustDomain: string, entries: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const e of entries) {
    const m = /^([^/=\s]+)\/([^/=\s]+)=([A-Za-z0-9.*-]+)$/.exec(e);
    if (!m) throw new Error(`control-plane DNS entry "${e}" must be <namespace>/<service-account>=<dns name>`);
    const id = formatSpiffeId({ trustDomain, namespace: m[1], serviceAccount: m[2] });
    const names = out.get(id) ?? new Set<string>();
    names.add(m[3].toLowerCase());
    out.set(id, names);
  }
  return out;
}

/**
 * signForCaller returns the SVID for `callerId` when the CSR asks for exactly that identity. Throws
 * CsrParseError/CsrSignatureError (malformed CSR), CsrSanError (not exactly one URI SAN),
 * IdentityMismatchError (another identity or trust domain) or TtlError (lifetime above the maximum).
 */
export function signForCaller(ca: CertificateAuthority, policy: IssuePolicy, callerId: string, csrPem: string, validitySeconds: number, now?: Date): IssuedCertificate {
  const csr = parseCsr(csrPem);
  const allowedDns = policy.controlPlaneDnsNames?.get(callerId);
  const dnsNames = allowedDns ? csr.dnsNames : [];
  const sanCount = csr.uris.length + csr.dnsNames.length + csr.ipAddresses.length + csr.emails.length + csr.otherSans;
  if (csr.uris.length !== 1 || sanCount !== 1 + dnsNames.length) {
    throw new CsrSanError(`CSR must carry exactly one URI SAN, ${callerId}${allowedDns ? ', plus DNS SANs this control-plane identity may use' : ', and no other SAN'}; it has ${csr.uris.length} URI and ${sanCount - csr.uris.length} other SANs`);
  }
  const requested = csr.uris[0];
  if (requested !== callerId) {
    let td = '';
    try {
      td = parseSpiffeId(requested).trustDomain;
    } catch {
      // Not even a SPIFFE ID: still someone else's identity from the caller's point of view.
    }
    const why = td !== '' && td !== policy.trustDomain ? `trust domain "${td}" is not "${policy.trustDomain}"` : `the caller is ${callerId}`;
    throw new IdentityMismatchError(`CSR asks for ${requested}, but ${why}`);
  }
  if (!Number.isInteger(validitySeconds) || validitySeconds < 0) throw new TtlError(`validity_duration must be a whole, non-negative number of seconds, got ${validitySeconds}`);
  const ttlMs = validitySeconds === 0 ? policy.defaultTtlMs : validitySeconds * 1000;
  // Istio refuses (rather than shortens) a lifetime above the maximum, so callers learn the limit.
  if (ttlMs > policy.maxTtlMs) throw new TtlError(`requested TTL ${validitySeconds}s is greater than the max allowed TTL ${policy.maxTtlMs / 1000}s`);
  if (allowedDns && dnsNames.length > 0) {
    const denied = dnsNames.filter((d) => !allowedDns.has(d.toLowerCase()));
    if (denied.length > 0) throw new IdentityMismatchError(`${callerId} may not use DNS name(s) ${denied.join(', ')}`);
    return issueCertificate(ca, { publicKey: csr.publicKey, uris: [callerId], dnsNames, ttlMs, now });
  }
  return issueSvid(ca, { publicKey: csr.publicKey, spiffeId: callerId, trustDomain: policy.trustDomain, ttlMs, now });
}
