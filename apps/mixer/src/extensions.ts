/**
 * The parts of mixer beyond ingestion, metrics and topology (traces, access logs, SLOs, the
 * rate-limit gRPC service on 8081). Each is a MixerExtension from a lib; adding one is one line
 * here: its flags join --help, its routes join the 15014 app, its service starts after
 * ingestion and closes on SIGTERM.
 */
import { logsExtension, sloExtension, tracesExtension, type MixerExtension } from '@meshwork/mixer-core';
import { rateLimitExtension } from '@meshwork/ratelimit';

/** The extensions mixer starts, in this order (their flags follow mixer's in --help). */
export const MIXER_EXTENSIONS: readonly MixerExtension[] = [
  tracesExtension,
  logsExtension,
  sloExtension,
  rateLimitExtension,
];
