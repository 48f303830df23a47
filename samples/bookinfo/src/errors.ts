/**
 * Named errors of the Bookinfo sample (STYLE.md 11). They become HTTP answers (the sample's own
 * "unavailable" messages) in the service handlers, or one line on stderr in main.ts.
 */

/** The configuration asks for something the sample does not have (an unknown service name). */
export class BookinfoConfigError extends Error {
  readonly code = 'MESH_ERR_BOOKINFO_CONFIG';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BookinfoConfigError';
  }
}

/** A call to another Bookinfo service failed before an answer arrived: refused, reset or timed out. */
export class UpstreamError extends Error {
  readonly code: 'MESH_ERR_BOOKINFO_UPSTREAM' | 'MESH_ERR_BOOKINFO_UPSTREAM_TIMEOUT';
  constructor(message: string, timedOut: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamError';
    this.code = timedOut ? 'MESH_ERR_BOOKINFO_UPSTREAM_TIMEOUT' : 'MESH_ERR_BOOKINFO_UPSTREAM';
  }
}
