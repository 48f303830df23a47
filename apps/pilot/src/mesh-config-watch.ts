/**
 * Pilot's --mesh-config file, read at start and followed afterwards, as istiod follows its mesh
 * config (the `istio` ConfigMap mounted as a file): a changed file is read again and, when it
 * parses, put in force with a push to every proxy. A file that does not parse (or vanished) is
 * logged with every error and changes nothing: the last good mesh config stays in force.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { mergeMeshConfig, parseMeshConfigText, type MeshConfig } from '@meshwork/api';

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** readMeshConfigFile returns the file's text and the fields it sets; throws one message with every error. */
export async function readMeshConfigFile(file: string, log: Log): Promise<{ text: string; fields: Partial<MeshConfig> }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --mesh-config ${file}: ${(err as Error).message}`);
  }
  const r = parseMeshConfigText(text);
  if (!r.ok) throw new Error(`invalid --mesh-config ${file}: ${r.errors.join('; ')}`);
  for (const w of r.warnings) log.warn({ file }, `mesh config: ${w}`);
  return { text, fields: r.value };
}

export interface MeshConfigWatchOptions {
  readonly file: string;
  /** What the flags give; the file's fields override it (at start and on every reload). */
  readonly base: MeshConfig;
  /** The text that is in force (read at start): an event that leaves the file as it was changes nothing. */
  readonly initialText: string;
  /** Called with each new mesh config that parsed. */
  readonly onChange: (meshConfig: MeshConfig) => void;
  readonly log: Log;
  /** Quiet period after the last file event before the file is read (editors write in steps). */
  readonly debounceMs?: number;
}

/**
 * watchMeshConfig follows the file. It watches the file's directory rather than the file: a
 * ConfigMap volume replaces its files by swapping a symlink (`..data`), and editors often write a
 * new file and rename it over the old one; both leave a watch on the old inode silent.
 * Returns a function that stops watching.
 */
export function watchMeshConfig(o: MeshConfigWatchOptions): () => void {
  const name = basename(o.file);
  let inForce = o.initialText;
  let timer: NodeJS.Timeout | undefined;
  let reading = Promise.resolve();
  const reload = async (): Promise<void> => {
    let read;
    try {
      read = await readMeshConfigFile(o.file, o.log);
    } catch (err) {
      o.log.error({ file: o.file }, `${(err as Error).message}; the mesh config in force is kept`);
      return;
    }
    if (read.text === inForce) return;
    inForce = read.text;
    const next = mergeMeshConfig(o.base, read.fields);
    o.log.info({ file: o.file, extensionProviders: (read.fields.extensionProviders ?? []).map((p) => p.name) }, 'mesh config reloaded');
    o.onChange(next);
  };
  const w: FSWatcher = watch(dirname(o.file), (_event, changed) => {
    if (changed !== null && changed !== name && !changed.startsWith('..')) return;
    clearTimeout(timer);
    // One read at a time, in event order.
    timer = setTimeout(() => (reading = reading.then(reload)), o.debounceMs ?? 100);
  });
  w.on('error', (err) => o.log.error({ file: o.file, err: err.message }, 'cannot watch the mesh config file; changes to it need a restart'));
  return () => {
    clearTimeout(timer);
    w.close();
  };
}
