/**
 * The gateway's credential store (Istio's gateway SDS for `credentialName`): TLS credentials read
 * from a local secret directory (`<dir>/<name>/{tls.crt,tls.key,ca.crt}`, watched) and from
 * Kubernetes Secrets, published into the engine's SecretProvider under the SDS names pilot puts
 * in gateway filter chains: `kubernetes://<name>` (certificate and key) and
 * `kubernetes://<name>-cacert` (the CA that client certificates of MUTUAL servers must chain to).
 *
 * As Istio's secret controller does: a credential's keys may be `tls.crt`/`tls.key`/`ca.crt`
 * (type kubernetes.io/tls) or `cert`/`key`/`cacert` (generic); the CA of `<name>-cacert` comes from
 * a separate credential named `<name>-cacert` when there is one, else from `<name>`'s own `ca.crt`.
 * A credential whose certificate does not parse or does not match its key is refused with a
 * logged reason and the last good one stays in force.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { MemorySecretProvider, Secret } from '@meshwork/proxy';
import { AgentError } from './errors.js';
import type { SidecarLog } from './sidecar.js';

/** A credential that cannot be served (bad PEM, key not matching the certificate). */
export class CredentialError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_AGENT_CREDENTIAL', message, options);
  }
}

/** Istio's SDS prefix of gateway credentials. */
export const KUBERNETES_SECRET_PREFIX = 'kubernetes://';
/** Istio's suffix of the CA part of a credential (MUTUAL servers). */
export const CACERT_SUFFIX = '-cacert';

/** The PEM parts of one credential, whatever keys its source used. */
export interface CredentialData {
  readonly cert?: string;
  readonly key?: string;
  readonly ca?: string;
}

/** credentialData returns the PEM parts of a secret's data (UTF-8 strings): `tls.crt`/`tls.key`/`ca.crt` or `cert`/`key`/`cacert`. */
export function credentialData(data: Readonly<Record<string, string | undefined>>): CredentialData {
  const pick = (...keys: string[]): string | undefined => keys.map((k) => data[k]).find((v) => v !== undefined && v.trim() !== '');
  const cert = pick('tls.crt', 'cert');
  const key = pick('tls.key', 'key');
  const ca = pick('ca.crt', 'cacert');
  return { ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(ca ? { ca } : {}) };
}

/**
 * checkCredential returns the certificate secret a credential serves (undefined when it has no
 * certificate, a CA-only credential), or throws CredentialError: a certificate without a key, an
 * unparsable PEM, a key that does not match the leaf.
 */
export function checkCredential(name: string, c: CredentialData): Secret | undefined {
  if (c.ca !== undefined) {
    try {
      new X509Certificate(c.ca);
    } catch (err) {
      throw new CredentialError(`credential "${name}": ca.crt is not a PEM certificate: ${(err as Error).message}`, { cause: err });
    }
  }
  if (c.cert === undefined && c.key === undefined) return undefined;
  if (c.cert === undefined || c.key === undefined) throw new CredentialError(`credential "${name}": ${c.cert === undefined ? 'tls.key without tls.crt' : 'tls.crt without tls.key'}`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(c.cert);
  } catch (err) {
    throw new CredentialError(`credential "${name}": tls.crt is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(c.key));
  } catch (err) {
    throw new CredentialError(`credential "${name}": tls.key is not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!matches) throw new CredentialError(`credential "${name}": tls.key does not belong to the certificate in tls.crt`);
  return { kind: 'certificate', certChainPem: c.cert, keyPem: c.key, serialHex: leaf.serialNumber.toLowerCase(), ...(leaf.subjectAltName ? { identity: leaf.subjectAltName } : {}), notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) };
}

/** The source a credential came from: the secret directory wins over Kubernetes for one name (a local override). */
type Origin = 'dir' | 'kube';

/**
 * CredentialStore keeps the `kubernetes://…` secrets of a SecretProvider in step with the
 * credentials it is given (directory scans, Kubernetes Secret events). Other secrets of the
 * provider (the workload's `default` and `ROOTCA`) are left alone.
 */
export class CredentialStore {
  private readonly sources = new Map<Origin, Map<string, CredentialData>>([
    ['dir', new Map()],
    ['kube', new Map()],
  ]);
  /** What was last published per SDS name (to publish only changes). */
  private readonly published = new Map<string, string>();

  constructor(
    private readonly sink: MemorySecretProvider,
    private readonly log?: SidecarLog,
  ) {}

  /** set records a credential from one origin (undefined removes it) and republishes what changed. */
  set(origin: Origin, name: string, data: CredentialData | undefined): void {
    const m = this.of(origin);
    if (data === undefined) m.delete(name);
    else m.set(name, data);
    this.publish();
  }

  /** replaceAll sets the whole set of credentials of one origin (a directory scan). */
  replaceAll(origin: Origin, all: ReadonlyMap<string, CredentialData>): void {
    const m = this.of(origin);
    m.clear();
    for (const [k, v] of all) m.set(k, v);
    this.publish();
  }

  /** names returns the credential names known (either origin), sorted. */
  names(): string[] {
    return [...new Set([...this.of('dir').keys(), ...this.of('kube').keys()])].sort();
  }

  private of(origin: Origin): Map<string, CredentialData> {
    return this.sources.get(origin) as Map<string, CredentialData>;
  }

  private credential(name: string): CredentialData | undefined {
    return this.of('dir').get(name) ?? this.of('kube').get(name);
  }

  private publish(): void {
    const want = new Map<string, Secret>();
    for (const name of this.names()) {
      const c = this.credential(name) as CredentialData;
      let cert: Secret | undefined;
      try {
        cert = checkCredential(name, c);
      } catch (err) {
        // Keep what was served under these names before: a bad update must not take a listener down.
        this.log?.error({ credential: name, err: (err as Error).message }, 'credential refused; keeping the last good one');
        const sdsName = KUBERNETES_SECRET_PREFIX + name;
        const prev = this.sink.get(sdsName);
        if (prev && this.published.has(sdsName)) want.set(sdsName, prev);
        const prevCa = this.sink.get(sdsName + CACERT_SUFFIX);
        if (prevCa && this.published.has(sdsName + CACERT_SUFFIX)) want.set(sdsName + CACERT_SUFFIX, prevCa);
        continue;
      }
      if (cert) want.set(KUBERNETES_SECRET_PREFIX + name, cert);
      if (c.ca !== undefined) {
        // `<name>-cacert` from a credential of that name wins over `<name>`'s own ca.crt (Istio's lookup order).
        const caName = name.endsWith(CACERT_SUFFIX) && cert === undefined ? name : name + CACERT_SUFFIX;
        const separate = caName !== name && this.credential(caName)?.ca !== undefined;
        if (!separate) want.set(KUBERNETES_SECRET_PREFIX + caName, { kind: 'validation', trustedCaPem: c.ca });
      }
    }
    for (const name of [...this.published.keys()]) {
      if (want.has(name)) continue;
      this.published.delete(name);
      this.sink.delete(name);
    }
    for (const [name, secret] of want) {
      const key = secret.kind === 'certificate' ? secret.certChainPem + secret.keyPem : secret.trustedCaPem;
      if (this.published.get(name) === key) continue;
      this.published.set(name, key);
      this.sink.set(name, secret);
    }
  }
}

const FILES = ['tls.crt', 'tls.key', 'ca.crt', 'cert', 'key', 'cacert'];

/** readCredentialDir returns the credentials of a secret directory: one per subdirectory `<name>/` holding tls.crt/tls.key/ca.crt (or cert/key/cacert). */
export async function readCredentialDir(dir: string): Promise<Map<string, CredentialData>> {
  const out = new Map<string, CredentialData>();
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    throw new CredentialError(`secret directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  for (const name of entries.sort()) {
    if (name.startsWith('.')) continue;
    const sub = join(dir, name);
    // stat, not lstat: mounted Kubernetes secrets are symlinks into a `..data` directory.
    const st = await stat(sub).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    const data: Record<string, string> = {};
    for (const f of FILES) {
      const text = await readFile(join(sub, f), 'utf8').catch(() => undefined);
      if (text !== undefined) data[f] = text;
    }
    const c = credentialData(data);
    if (c.cert !== undefined || c.key !== undefined || c.ca !== undefined) out.set(name, c);
  }
  return out;
}

/**
 * watchCredentialDir loads a secret directory into the store and keeps it loaded: any change
 * under it (a file written, a credential added or removed, a Kubernetes `..data` symlink swap)
 * triggers a rescan after `debounceMs`. Resolves after the first load with the stop function.
 */
export async function watchCredentialDir(store: CredentialStore, dir: string, opts: { readonly log?: SidecarLog; readonly debounceMs?: number } = {}): Promise<() => void> {
  const debounceMs = opts.debounceMs ?? 50;
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let scanning: Promise<void> = Promise.resolve();
  const watchPath = (p: string): void => {
    if (watchers.has(p)) return;
    try {
      const w = watch(p, () => schedule());
      w.on('error', () => {
        w.close();
        watchers.delete(p);
        schedule();
      });
      watchers.set(p, w);
    } catch {
      // Gone between the listing and the watch: the next scan sees it.
    }
  };
  const scan = async (): Promise<void> => {
    if (stopped) return;
    const creds = await readCredentialDir(dir);
    if (stopped) return;
    for (const p of [...watchers.keys()]) {
      if (p !== dir && !creds.has(p.slice(dir.length + 1))) {
        watchers.get(p)?.close();
        watchers.delete(p);
      }
    }
    for (const name of creds.keys()) watchPath(join(dir, name));
    store.replaceAll('dir', creds);
  };
  const schedule = (): void => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      scanning = scanning.then(scan).catch((err: Error) => opts.log?.warn({ dir, err: err.message }, 'secret directory scan failed; keeping the credentials loaded'));
    }, debounceMs);
  };
  await scan();
  watchPath(dir);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
}

/** The parts of a Kubernetes Secret object the store reads. */
export interface KubeSecretObject {
  readonly type?: string;
  readonly metadata: { readonly name?: string; readonly namespace?: string };
  /** Base64 values, as the API returns them. */
  readonly data?: Readonly<Record<string, string>>;
  /** Plain values (as applied with stringData; the API folds them into data). */
  readonly stringData?: Readonly<Record<string, string>>;
}

/**
 * kubeSecretCredential returns the credential of a Kubernetes Secret, or undefined for a Secret
 * that holds no TLS material (a service-account token, an opaque config): those are not credentials.
 */
export function kubeSecretCredential(obj: KubeSecretObject): CredentialData | undefined {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries(obj.stringData ?? {})) data[k] = v;
  const c = credentialData(data);
  return c.cert !== undefined || c.key !== undefined || c.ca !== undefined ? c : undefined;
}
