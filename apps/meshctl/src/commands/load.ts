/** Reading `-f` arguments into validated resources, shared by validate and analyze. */
import { resolve } from 'node:path';
import { loadPath, validateParsed, MeshApiError, type Diagnostic, type MeshResource, type RawObject } from '@meshwork/api';
import type { CliIO } from '../io.js';

export interface Loaded {
  readonly files: number;
  readonly objects: RawObject[];
  readonly resources: MeshResource[];
  readonly diagnostics: Diagnostic[];
}

/**
 * loadInputs parses and validates every file named by `-f` (files, directories walked
 * recursively, `-` for stdin). A path that cannot be read becomes an error diagnostic,
 * so the other inputs are still checked.
 */
export async function loadInputs(paths: readonly string[], io: CliIO, defaultNamespace?: string): Promise<Loaded> {
  const objects: RawObject[] = [];
  const parseErrors: Diagnostic[] = [];
  const files = new Set<string>();
  for (const p of paths) {
    try {
      const stdin = p === '-' ? await io.readStdin() : undefined;
      const r = await loadPath(p === '-' ? p : resolve(io.cwd, p), stdin, io.cwd);
      objects.push(...r.objects);
      parseErrors.push(...r.errors);
      for (const o of r.objects) if (o.file) files.add(o.file);
      for (const e of r.errors) if (e.file) files.add(e.file);
    } catch (err) {
      if (!(err instanceof MeshApiError)) throw err;
      parseErrors.push({ severity: 'Error', code: err.code, path: '', reason: err.message, file: p });
    }
  }
  const { resources, diagnostics } = validateParsed(objects, parseErrors, { defaultNamespace });
  return { files: files.size, objects, resources, diagnostics: diagnostics.map((d) => relativize(d, io.cwd)) };
}

/** relativize shows file names relative to the working directory, as compilers do. */
export function relativize(d: Diagnostic, cwd: string): Diagnostic {
  if (!d.file || !d.file.startsWith(cwd + '/')) return d;
  return { ...d, file: d.file.slice(cwd.length + 1) };
}
