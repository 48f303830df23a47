/**
 * SPIFFE IDs as Istio uses them: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>
 * (SPIFFE ID spec §2: lower-case trust domain of [a-z0-9.-_], path segments of [A-Za-z0-9.-_], no
 * empty, "." or ".." segments, no query or fragment).
 */
import { SpiffeIdError } from './errors.js';

/** A workload identity. */
export interface WorkloadIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** The SPIFFE spec caps a SPIFFE ID at 2048 bytes. */
const MAX_ID_LENGTH = 2048;

/** validateTrustDomain returns the trust domain unchanged, or throws SpiffeIdError saying why it is not one. */
export function validateTrustDomain(td: string): string {
  if (td === '' || td.length > 255 || !TRUST_DOMAIN.test(td)) {
    throw new SpiffeIdError(`trust domain "${td}" must be 1-255 characters of lower-case letters, digits, ".", "-" or "_"`);
  }
  return td;
}

function validateSegment(what: string, s: string): void {
  if (s === '.' || s === '..' || !SEGMENT.test(s)) throw new SpiffeIdError(`${what} "${s}" is not a valid SPIFFE path segment (letters, digits, ".", "-", "_"; not "." or "..")`);
}

/** formatSpiffeId returns spiffe://<td>/ns/<ns>/sa/<sa> for an identity, or throws SpiffeIdError. */
export function formatSpiffeId(id: WorkloadIdentity): string {
  validateTrustDomain(id.trustDomain);
  validateSegment('namespace', id.namespace);
  validateSegment('service account', id.serviceAccount);
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** parseSpiffeId returns the identity named by an Istio-form SPIFFE ID, or throws SpiffeIdError saying what is wrong. */
export function parseSpiffeId(uri: string): WorkloadIdentity {
  if (uri.length > MAX_ID_LENGTH) throw new SpiffeIdError(`SPIFFE ID is longer than ${MAX_ID_LENGTH} bytes`);
  const m = /^spiffe:\/\/([^/]*)(\/.*)?$/.exec(uri);
  if (!m) throw new SpiffeIdError(`"${uri}" is not a SPIFFE ID (must start with spiffe://)`);
  if (/[?#]/.test(uri)) throw new SpiffeIdError(`SPIFFE ID "${uri}" must not have a query or fragment`);
  const td = validateTrustDomain(m[1]);
  const segs = (m[2] ?? '').split('/').slice(1);
  if (segs.length !== 4 || segs[0] !== 'ns' || segs[2] !== 'sa') {
    throw new SpiffeIdError(`SPIFFE ID "${uri}" is not a workload identity of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`);
  }
  validateSegment('namespace', segs[1]);
  validateSegment('service account', segs[3]);
  return { trustDomain: td, namespace: segs[1], serviceAccount: segs[3] };
}

/** trustDomainId returns spiffe://<td>, the ID of a trust domain itself. */
export function trustDomainId(td: string): string {
  return `spiffe://${validateTrustDomain(td)}`;
}
