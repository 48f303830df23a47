/**
 * Loading resources from files and directories (recursively), as `meshctl validate -f`
 * and pilot's `--config-dir` do.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import { parseText, type ParseResult } from './parse.js';
import { SourceReadError } from './errors.js';

const EXTENSIONS = ['.yaml', '.yml', '.json'];

/** listResourceFiles returns the YAML/JSON files at `path` (a file, or a directory walked recursively), sorted. */
export async function listResourceFiles(path: string): Promise<string[]> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new SourceReadError(`cannot read "${path}": ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`, { cause: err });
  }
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (EXTENSIONS.some((x) => e.name.endsWith(x))) out.push(p);
    }
  };
  await walk(path);
  return out;
}

/**
 * loadPath parses every resource file at `path` (file or directory); `-` reads stdin text
 * given as `stdinText`. With `displayRoot`, file names in results are relative to it (as
 * a user typed them), which is how messages show them.
 */
export async function loadPath(path: string, stdinText?: string, displayRoot?: string): Promise<ParseResult> {
  if (path === '-') return parseText(stdinText ?? '', '<stdin>');
  const files = await listResourceFiles(path);
  const merged: ParseResult = { objects: [], errors: [] };
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch (err) {
      throw new SourceReadError(`cannot read "${f}": ${(err as Error).message}`, { cause: err });
    }
    const shown = displayRoot && isAbsolute(f) ? relative(displayRoot, f) : f;
    const r = parseText(text, shown.startsWith('..') ? f : shown);
    merged.objects.push(...r.objects);
    merged.errors.push(...r.errors);
  }
  return merged;
}
