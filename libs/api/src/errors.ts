/**
 * Named errors of libs/api. Each carries a stable `MESH_ERR_*` code; apps map them to
 * exit codes or HTTP/gRPC statuses at their edge.
 */
export class MeshApiError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A file or directory could not be read. */
export class SourceReadError extends MeshApiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_SOURCE_READ', message, options);
  }
}

/** A resource failed validation; `diagnostics` holds every problem found. */
export class ValidationFailedError extends MeshApiError {
  readonly diagnostics: readonly import('./diagnostics.js').Diagnostic[];
  constructor(diagnostics: readonly import('./diagnostics.js').Diagnostic[]) {
    super('MESH_ERR_VALIDATION', `${diagnostics.length} validation error(s): ${diagnostics[0]?.reason ?? ''}`);
    this.diagnostics = diagnostics;
  }
}
