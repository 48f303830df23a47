/**
 * A minimal Kubernetes API client: JSON GETs and streaming watches over node:http(s), with
 * the connection read from a kubeconfig or from the in-cluster service account.
 *
 * Why not @kubernetes/client-node: its 2.x line fetches through undici 8, which needs
 * Node >= 22.19 and fails to even load on the Node 20 this project targets. List and watch
 * are all the registry needs, so they are implemented here on Node's own HTTP client.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BackendError } from './errors.js';

/** Where and how to reach an API server. */
export interface KubeConnection {
  /** `https://10.96.0.1:443`, `http://127.0.0.1:8001` (kubectl proxy). */
  readonly server: string;
  readonly token?: string;
  /** PEM CA bundle to verify the server. */
  readonly ca?: string;
  /** PEM client certificate and key (kubeconfig client-certificate-data). */
  readonly cert?: string;
  readonly key?: string;
  readonly insecureSkipTlsVerify?: boolean;
}

/** A Kubernetes object as read from the API (only the fields the registry relies on are typed). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; controller?: boolean }[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** A list response. */
export interface KubeList {
  metadata?: { resourceVersion?: string };
  items?: KubeObject[];
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * inClusterConnection returns the connection a pod uses (the API server's service address
 * and the mounted service-account token and CA), or undefined outside a cluster.
 */
export async function inClusterConnection(env: NodeJS.ProcessEnv): Promise<KubeConnection | undefined> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  const [token, ca] = await Promise.all([readFile(join(SA_DIR, 'token'), 'utf8'), readFile(join(SA_DIR, 'ca.crt'), 'utf8')]);
  return { server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, token: token.trim(), ca };
}

/**
 * kubeconfigConnection reads a kubeconfig (default `$KUBECONFIG` or `~/.kube/config`) and
 * returns its current (or named) context's server and credentials. Supports tokens, client
 * certificates and CA files or inline data; exec and auth-provider plugins are not supported.
 */
export async function kubeconfigConnection(path?: string, context?: string): Promise<KubeConnection> {
  const file = path ?? join(homedir(), '.kube', 'config');
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new BackendError(`cannot read kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
  }
  type Named<T> = { name: string } & T;
  const pick = <T>(list: unknown, name: string | undefined, what: string): T => {
    const found = (Array.isArray(list) ? (list as Named<T>[]) : []).find((x) => x.name === name);
    if (!found) throw new BackendError(`kubeconfig ${file}: ${what} "${name ?? ''}" not found`);
    return found;
  };
  const ctxName = context ?? (doc['current-context'] as string | undefined);
  const ctx = pick<{ context: { cluster: string; user?: string } }>(doc.contexts, ctxName, 'context').context;
  const cluster = pick<{ cluster: Record<string, string | boolean> }>(doc.clusters, ctx.cluster, 'cluster').cluster;
  const user = ctx.user ? pick<{ user: Record<string, string> }>(doc.users, ctx.user, 'user').user : {};
  if (user.exec || user['auth-provider']) throw new BackendError(`kubeconfig ${file}: exec/auth-provider credentials are not supported; use a token or client certificate`);
  const data = async (inline: unknown, fileRef: unknown): Promise<string | undefined> =>
    typeof inline === 'string' ? Buffer.from(inline, 'base64').toString('utf8') : typeof fileRef === 'string' ? readFile(fileRef, 'utf8') : undefined;
  return {
    server: String(cluster.server),
    ca: await data(cluster['certificate-authority-data'], cluster['certificate-authority']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    token: user.token ?? (user.tokenFile ? (await readFile(user.tokenFile, 'utf8')).trim() : undefined),
    cert: await data(user['client-certificate-data'], user['client-certificate']),
    key: await data(user['client-key-data'], user['client-key']),
  };
}

/** An HTTP error from the API server, with the Status object's code when it sent one. */
export class KubeApiError extends BackendError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** KubeClient performs the API calls the registry needs. */
export class KubeClient {
  constructor(readonly conn: KubeConnection) {}

  /** getJson GETs a path and parses the JSON body; non-2xx answers throw KubeApiError. */
  async getJson<T>(path: string, query: Record<string, string> = {}, signal?: AbortSignal): Promise<T> {
    const res = await this.open(path, query, signal);
    const body = await readAll(res);
    if ((res.statusCode ?? 0) >= 300) throw new KubeApiError(res.statusCode ?? 0, `GET ${path}: ${res.statusCode} ${statusMessage(body)}`);
    return JSON.parse(body) as T;
  }

  /**
   * watch opens a watch stream and calls `onEvent` for each newline-delimited JSON event;
   * resolves when the server ends the stream (or `signal` aborts it).
   */
  async watch(path: string, query: Record<string, string>, onEvent: (e: { type: string; object: KubeObject }) => void, signal?: AbortSignal, idleTimeoutMs = 0): Promise<void> {
    const res = await this.open(path, { ...query, watch: 'true' }, signal, idleTimeoutMs);
    if ((res.statusCode ?? 0) >= 300) {
      const body = await readAll(res);
      throw new KubeApiError(res.statusCode ?? 0, `watch ${path}: ${res.statusCode} ${statusMessage(body)}`);
    }
    res.setEncoding('utf8');
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          let ev: { type: string; object: KubeObject };
          try {
            ev = JSON.parse(line) as { type: string; object: KubeObject };
          } catch {
            continue; // a torn line: the stream is broken anyway and will be re-opened
          }
          onEvent(ev);
        }
      });
      res.on('end', resolve);
      res.on('close', resolve);
      res.on('error', (err) => (signal?.aborted ? resolve() : reject(err)));
    });
  }

  private open(path: string, query: Record<string, string>, signal?: AbortSignal, idleTimeoutMs = 0): Promise<IncomingMessage> {
    const url = new URL(this.conn.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.conn.token) headers.authorization = `Bearer ${this.conn.token}`;
    const tls = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (tls ? httpsRequest : httpRequest)(
        url,
        { method: 'GET', headers, signal, ...(tls ? { ca: this.conn.ca, cert: this.conn.cert, key: this.conn.key, rejectUnauthorized: !this.conn.insecureSkipTlsVerify } : {}) },
        resolve,
      );
      req.on('error', reject);
      // A silently broken connection (no FIN, no RST) would leave a watch waiting forever:
      // with no bytes for this long (bookmarks arrive about every minute), drop it.
      if (idleTimeoutMs > 0) req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no data for ${idleTimeoutMs} ms`)));
      req.end();
    });
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (s += c));
    res.on('end', () => resolve(s));
    res.on('error', reject);
  });
}

function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: string };
    return s.message ?? body.slice(0, 200);
  } catch {
    return body.slice(0, 200);
  }
}
