/**
 * Every NATS name Meshwork uses, in one place (DESIGN §3). Nothing else in the code base
 * writes a subject, stream or bucket name as a string.
 */

/** JetStream KV bucket of mesh resources in local/VM mode; pilot replicas watch it. */
export const MESH_CONFIG_BUCKET = 'mesh-config';

/** JetStream KV bucket (with TTL) of auto-registered workloads. */
export const MESH_REGISTRY_BUCKET = 'mesh-registry';

/** JetStream stream of request/TCP records from sidecars and gateways. */
export const TELEMETRY_STREAM = 'MESH_TELEMETRY';

/** telemetrySubject returns the subject a workload publishes its records on. */
export function telemetrySubject(namespace: string, workload: string): string {
  return `mesh.telemetry.${token(namespace)}.${token(workload)}`;
}

/** Wildcard covering every telemetry subject (the stream's subject filter). */
export const TELEMETRY_SUBJECTS = 'mesh.telemetry.>';

/** Finished spans. */
export const SPANS_SUBJECTS = 'mesh.spans.>';

/** spansSubject returns the subject a workload publishes finished spans on. */
export function spansSubject(namespace: string, workload: string): string {
  return `mesh.spans.${token(namespace)}.${token(workload)}`;
}

/** Trust-bundle updates (root rotation). */
export const CA_ROOTS_SUBJECT = 'mesh.ca.roots';

/** KV bucket and key holding the current trust bundle, for late joiners. */
export const CA_BUCKET = 'mesh-ca';
export const CA_ROOTS_KEY = 'roots';

/** Push/health events the console shows live. */
export const EVENTS_SUBJECTS = 'mesh.events.>';

/** eventsSubject returns the subject of one kind of event (`push`, `health`, `slo`). */
export function eventsSubject(kind: string): string {
  return `mesh.events.${token(kind)}`;
}

/**
 * token makes a string safe as one subject token: NATS tokens may not contain `.`, `*`,
 * `>` or whitespace, so those become `_`.
 */
export function token(s: string): string {
  const t = s.replace(/[.*>\s]/g, '_');
  return t === '' ? '_' : t;
}
