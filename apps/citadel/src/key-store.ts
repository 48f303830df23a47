/**
 * Where citadel keeps its secrets. Locally a directory (0700) of 0600 files, written atomically so a
 * crash never leaves half a key; a Kubernetes Secret implementation can sit behind the same interface.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** A small named-blob store for CA material. */
export interface KeyStore {
  /** read returns the stored text, or undefined when the entry does not exist. */
  read(name: string): Promise<string | undefined>;
  /** write stores the text, replacing any previous value atomically. */
  write(name: string, text: string): Promise<void>;
  /** describe names the store for logs ("directory /x"). */
  readonly description: string;
}

/** directoryKeyStore returns a KeyStore over a directory, creating it (mode 0700) if needed. */
export async function directoryKeyStore(dir: string): Promise<KeyStore> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return {
    description: `directory ${dir}`,
    async read(name) {
      try {
        return await readFile(join(dir, name), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async write(name, text) {
      const tmp = join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
      await writeFile(tmp, text, { mode: 0o600 });
      // writeFile's mode is filtered by the umask; make sure the final file is private.
      await chmod(tmp, 0o600);
      await rename(tmp, join(dir, name));
    },
  };
}
