/**
 * Named errors of libs/registry. Each carries a stable `MESH_ERR_*` code; apps map them to
 * HTTP/gRPC statuses at their edge (Conflict → 409, NotFound → 404, AlreadyExists → 409).
 */
import type { Diagnostic } from '@meshwork/api';

export class RegistryError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A write named a resourceVersion that is no longer current (optimistic concurrency lost). */
export class ConflictError extends RegistryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CONFLICT', message, options);
  }
}

/** A create named a resource that already exists. */
export class AlreadyExistsError extends RegistryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_ALREADY_EXISTS', message, options);
  }
}

/** A replace, delete or get named a resource that does not exist. */
export class NotFoundError extends RegistryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_NOT_FOUND', message, options);
  }
}

/** A write was refused by validation (libs/api); `diagnostics` says why. Nothing was stored. */
export class InvalidResourceError extends RegistryError {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    super('MESH_ERR_VALIDATION', `invalid resource: ${diagnostics.map((d) => (d.path ? `${d.path}: ${d.reason}` : d.reason)).join('; ')}`);
    this.diagnostics = diagnostics;
  }
}

/** The backing store (NATS, Kubernetes API) failed or is unreachable. */
export class BackendError extends RegistryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_REGISTRY_BACKEND', message, options);
  }
}
