/** Named errors of @meshwork/proxy (STYLE.md 11): each has a stable MESH_ERR_* code and an optional cause. */

export class ProxyError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A set of xDS resources that cannot be compiled (the proxy NACKs it and keeps its last good config); errors carry field paths. */
export class ConfigCompileError extends ProxyError {
  constructor(readonly errors: readonly string[]) {
    super('MESH_ERR_PROXY_CONFIG', `config rejected: ${errors.join('; ')}`);
  }
}

/** Malformed HTTP from a peer (answered 400 / connection closed), with what was wrong. */
export class HttpParseError extends ProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_PROXY_HTTP_PARSE', message, options);
  }
}
