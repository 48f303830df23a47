/** A segment of a field path: an object key or an array index. */
export type PathSegment = string | number;

export type Severity = 'Error' | 'Warning' | 'Info';

/** Identifies one resource in messages: `VirtualService default/reviews`. */
export interface ResourceRef {
  readonly kind: string;
  readonly apiVersion?: string;
  readonly namespace?: string;
  readonly name: string;
}

/** Where a resource or field came from. */
export interface SourcePosition {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
}

/**
 * One finding about the input: a validation error, or an analyzer message. `path` is
 * the field path in kubectl's notation (`spec.http[1].route[0].weight`), empty for the
 * whole resource.
 */
export interface Diagnostic extends SourcePosition {
  readonly severity: Severity;
  /** Stable code: `MESH_ERR_*` for validation, `IST*`/`MW*` for analyzers. */
  readonly code: string;
  readonly resource?: ResourceRef;
  readonly path: string;
  readonly reason: string;
}

/** formatPath renders path segments as `spec.http[1].route[0].weight`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** formatRef renders `Kind namespace/name` (or `Kind name` for cluster-scoped kinds). */
export function formatRef(ref: ResourceRef): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`;
}

/**
 * formatDiagnostic renders one line the way compilers do:
 * `file:line:col: Error [CODE] VirtualService default/reviews: spec.http[0]: reason`.
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.file ? `${d.file}${d.line ? `:${d.line}${d.column ? `:${d.column}` : ''}` : ''}: ` : '';
  const what = d.resource ? `${formatRef(d.resource)}: ` : '';
  const path = d.path ? `${d.path}: ` : '';
  return `${where}${d.severity} [${d.code}] ${what}${path}${d.reason}`;
}
