/** Rendering findings as text, JSON or YAML (`-o`). */
import { stringify } from 'yaml';
import { formatDiagnostic, formatRef, type Diagnostic } from '@meshwork/api';

export type OutputFormat = 'text' | 'json' | 'yaml';

export const OUTPUT_FORMATS: readonly OutputFormat[] = ['text', 'json', 'yaml'];

/** diagnosticJson returns the stable machine-readable shape of one finding. */
export function diagnosticJson(d: Diagnostic): Record<string, unknown> {
  return {
    severity: d.severity,
    code: d.code,
    ...(d.resource
      ? { resource: { kind: d.resource.kind, ...(d.resource.apiVersion ? { apiVersion: d.resource.apiVersion } : {}), ...(d.resource.namespace ? { namespace: d.resource.namespace } : {}), name: d.resource.name }, resourceRef: formatRef(d.resource) }
      : {}),
    path: d.path,
    reason: d.reason,
    ...(d.file ? { file: d.file } : {}),
    ...(d.line ? { line: d.line } : {}),
    ...(d.column ? { column: d.column } : {}),
  };
}

/** render returns the document for `-o json|yaml`. */
export function render(format: Exclude<OutputFormat, 'text'>, doc: unknown): string {
  return format === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc);
}

/** textLines renders findings one per line, compiler style. */
export function textLines(diags: readonly Diagnostic[]): string {
  return diags.map((d) => `${formatDiagnostic(d)}\n`).join('');
}
