/** Named errors of @meshwork/agent (STYLE.md 11): each has a stable MESH_ERR_* code and an optional cause. */

export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The application after `--` could not be started. */
export class AppStartError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_AGENT_APP_START', message, options);
  }
}
