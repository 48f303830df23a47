/**
 * Kubernetes `Status` objects: how the config API reports errors, so that kubectl-style
 * clients (and meshctl) read them the way they read an API server's.
 */
import { formatPath, type Diagnostic } from '@meshwork/api';

export type StatusReason = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Invalid' | 'BadRequest' | 'MethodNotAllowed' | 'InternalError' | 'ServiceUnavailable';

export interface Status {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Success' | 'Failure';
  readonly message: string;
  readonly reason?: StatusReason;
  readonly details?: { name?: string; group?: string; kind?: string; causes?: { field: string; message: string; reason: string }[] };
  readonly code: number;
}

/** statusOf returns a Failure Status with its HTTP code. */
export function statusOf(code: number, reason: StatusReason, message: string, details?: Status['details']): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** invalidStatus returns the 422 Status for a refused resource, one cause per diagnostic (field path + reason). */
export function invalidStatus(kind: string, name: string, group: string, diagnostics: readonly Diagnostic[]): Status {
  const causes = diagnostics.map((d) => ({ field: d.path, message: d.reason, reason: d.code === 'MESH_ERR_VALIDATION' ? 'FieldValueInvalid' : d.code }));
  const summary = diagnostics.map((d) => (d.path ? `${d.path}: ${d.reason}` : d.reason)).join(', ');
  return statusOf(422, 'Invalid', `${kind} "${name}" is invalid: ${summary}`, { name, group, kind, causes });
}

/** successStatus is what a DELETE returns. */
export function successStatus(kind: string, name: string, group: string): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', message: `${kind} "${name}" deleted`, details: { name, group, kind }, code: 200 };
}

export { formatPath };
