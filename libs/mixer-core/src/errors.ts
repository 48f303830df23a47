/** Named errors of @meshwork/mixer-core (STYLE.md 11): each has a stable MESH_ERR_* code and an optional cause. */

export class MixerError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The telemetry stream or its consumer could not be created or read (NATS without JetStream, limits refused). */
export class IngestSetupError extends MixerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_MIXER_INGEST_SETUP', message, options);
  }
}

/** A graph query named an unknown graph type, window or namespace filter; the HTTP edge answers 400. */
export class BadGraphQueryError extends MixerError {
  constructor(message: string) {
    super('MESH_ERR_MIXER_BAD_QUERY', message);
  }
}

/** --graph-degraded-ratio / --graph-failing-ratio are not ratios in 0..1 with degraded below failing; mixer exits naming the flag. */
export class BadHealthThresholdsError extends MixerError {
  constructor(message: string) {
    super('MESH_ERR_MIXER_BAD_HEALTH_THRESHOLDS', message);
  }
}

/** An extension (traces, logs, SLOs, rate limits) failed to start; mixer exits with its name. */
export class ExtensionStartError extends MixerError {
  constructor(name: string, options?: { cause?: unknown }) {
    super('MESH_ERR_MIXER_EXTENSION', `extension "${name}" did not start: ${(options?.cause as Error | undefined)?.message ?? 'unknown error'}`, options);
  }
}
