/**
 * Where citadel keeps its secrets. Locally a directory (0700) of 0600 files, written atomically so a
 * crash never leaves half a key. In a cluster, one Secret (read-modify-write on its resourceVersion).
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { kubeRequest, type KubeApiConfig } from './k8s-authn.js';

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

/** The parts of a core/v1 Secret the key store reads and writes. */
interface SecretDoc {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  type: string;
  data?: Record<string, string>;
}

/**
 * kubernetesSecretKeyStore returns a KeyStore kept in one Secret (cluster mode): every entry is a data
 * key. Writes are read-modify-write with the Secret's resourceVersion, retried on 409 Conflict, so two
 * citadel replicas starting at once cannot overwrite each other's root.
 */
export function kubernetesSecretKeyStore(api: KubeApiConfig, namespace: string, name: string): KeyStore {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  const get = async (): Promise<SecretDoc | undefined> => {
    const r = await kubeRequest(api, 'GET', `${path}/${encodeURIComponent(name)}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`reading Secret ${namespace}/${name}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
    return JSON.parse(r.text) as SecretDoc;
  };
  return {
    description: `Kubernetes Secret ${namespace}/${name}`,
    async read(key) {
      const s = await get();
      const v = s?.data?.[key];
      return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
    },
    async write(key, text) {
      for (let attempt = 0; attempt < 5; attempt++) {
        const s = await get();
        const value = Buffer.from(text, 'utf8').toString('base64');
        if (!s) {
          const doc: SecretDoc = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'meshwork-citadel' } }, type: 'Opaque', data: { [key]: value } };
          const r = await kubeRequest(api, 'POST', path, JSON.stringify(doc));
          if (r.status === 201 || r.status === 200) return;
          if (r.status !== 409) throw new Error(`creating Secret ${namespace}/${name}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
          continue;
        }
        const doc: SecretDoc = { ...s, data: { ...(s.data ?? {}), [key]: value } };
        const r = await kubeRequest(api, 'PUT', `${path}/${encodeURIComponent(name)}`, JSON.stringify(doc));
        if (r.status === 200) return;
        if (r.status !== 409) throw new Error(`updating Secret ${namespace}/${name}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
      }
      throw new Error(`updating Secret ${namespace}/${name}: too many conflicting writers`);
    },
  };
}
