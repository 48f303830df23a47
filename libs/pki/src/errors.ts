/**
 * Named errors of libs/pki. Each carries a stable `MESH_ERR_*` code; citadel maps them to gRPC
 * statuses at its edge (CsrParseError/SpiffeIdError/TtlError → InvalidArgument, IdentityMismatchError →
 * PermissionDenied, ...). Nothing here knows about gRPC.
 */

/** Base class: every pki error has a stable code and an optional cause. */
export class PkiError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A CSR could not be decoded (not PEM/DER, bad ASN.1, unsupported key or signature algorithm). */
export class CsrParseError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CSR_PARSE', message, options);
  }
}

/** A CSR decoded but its self-signature does not verify: the requester does not hold the key. */
export class CsrSignatureError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CSR_SIGNATURE', message, options);
  }
}

/** A string is not a SPIFFE ID of the form spiffe://<trust-domain>/ns/<ns>/sa/<sa>. */
export class SpiffeIdError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_SPIFFE_ID', message, options);
  }
}

/** The identity requested does not match what the caller proved (or the SAN set is not exactly one URI). */
export class IdentityMismatchError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_IDENTITY_MISMATCH', message, options);
  }
}

/** A requested lifetime is not acceptable (not positive, or above the maximum). */
export class TtlError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_TTL', message, options);
  }
}

/** Key material is unusable: unsupported algorithm, key does not match certificate, unreadable PEM. */
export class KeyError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_KEY', message, options);
  }
}

/** A certificate could not be decoded, or is not the kind of certificate the caller needs (e.g. not a CA). */
export class CertificateError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CERTIFICATE', message, options);
  }
}

/** A certificate chain does not verify up to a trusted root (broken link, expired, not a CA, wrong usage). */
export class ChainVerificationError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CHAIN_VERIFY', message, options);
  }
}

/** The certificate authority could not be reached or refused the request (used by the certificate manager). */
export class IssuanceError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_ISSUANCE', message, options);
  }
}

/** The caller of a CA operation could not be authenticated (no, expired, forged or unverifiable credentials). */
export class AuthenticationError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_UNAUTHENTICATED', message, options);
  }
}

/** An operation is not possible in the CA's current mode (e.g. rotating a plugged-in root). */
export class CaStateError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CA_STATE', message, options);
  }
}

/** A CSR's subject alternative names are not exactly one URI SAN (SPIFFE X.509-SVID §2). */
export class CsrSanError extends PkiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CSR_SAN', message, options);
  }
}
