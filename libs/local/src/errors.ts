/** Named errors of libs/local (STYLE.md 11). */

/** Why the local mesh could not start (a missing prerequisite, a component that never became ready). */
export class LocalMeshError extends Error {
  readonly code = 'MESH_ERR_LOCAL';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalMeshError';
  }
}
