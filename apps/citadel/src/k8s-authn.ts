/**
 * Kubernetes service-account tokens, verified the way Istio's CA does: a TokenReview
 * (authentication.k8s.io/v1) against the API server, whose answer names the service account.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { AuthenticationError, formatSpiffeId } from '@meshwork/pki';

/** How to reach the Kubernetes API. */
export interface KubeApiConfig {
  readonly server: string;
  readonly token?: string;
  readonly caPem?: string;
  readonly clientCertPem?: string;
  readonly clientKeyPem?: string;
  readonly insecureSkipTlsVerify?: boolean;
}

interface KubeconfigDoc {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user: string } }>;
  clusters?: Array<{ name: string; cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string; 'insecure-skip-tls-verify'?: boolean } }>;
  users?: Array<{ name: string; user: { token?: string; tokenFile?: string; 'client-certificate-data'?: string; 'client-key-data'?: string; 'client-certificate'?: string; 'client-key'?: string } }>;
}

/** kubeRequest returns the status and body text of one Kubernetes API call (JSON in and out). */
export function kubeRequest(api: KubeApiConfig, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const url = new URL(path, api.server);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  if (api.token) headers.authorization = `Bearer ${api.token}`;
  const isHttps = url.protocol === 'https:';
  const req = (isHttps ? httpsRequest : httpRequest)(url, {
    method,
    headers,
    timeout: 10_000,
    ...(isHttps ? { ca: api.caPem, cert: api.clientCertPem, key: api.clientKeyPem, rejectUnauthorized: !api.insecureSkipTlsVerify } : {}),
  });
  return new Promise((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** kubeApiFromKubeconfig returns the API server and credentials of a kubeconfig's current context. */
export function kubeApiFromKubeconfig(path: string): KubeApiConfig {
  const doc = parseYaml(readFileSync(path, 'utf8')) as KubeconfigDoc;
  const ctx = doc.contexts?.find((c) => c.name === doc['current-context']) ?? doc.contexts?.[0];
  if (!ctx) throw new Error(`kubeconfig ${path} has no context`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.context.cluster)?.cluster;
  const user = doc.users?.find((u) => u.name === ctx.context.user)?.user ?? {};
  if (!cluster) throw new Error(`kubeconfig ${path}: cluster "${ctx.context.cluster}" not found`);
  const b64 = (s: string | undefined): string | undefined => (s ? Buffer.from(s, 'base64').toString('utf8') : undefined);
  const file = (p: string | undefined): string | undefined => (p ? readFileSync(p, 'utf8') : undefined);
  return {
    server: cluster.server,
    caPem: b64(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'],
    token: user.token ?? file(user.tokenFile)?.trim(),
    clientCertPem: b64(user['client-certificate-data']) ?? file(user['client-certificate']),
    clientKeyPem: b64(user['client-key-data']) ?? file(user['client-key']),
  };
}

/** The part of a TokenReview response citadel reads. */
interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string };
  audiences?: string[];
  error?: string;
}

/**
 * tokenReviewAuthenticator returns a function giving the SPIFFE ID of the service account a token
 * belongs to, or throwing AuthenticationError when the API server does not authenticate it.
 */
export function tokenReviewAuthenticator(api: KubeApiConfig, trustDomain: string, audiences: readonly string[]): (token: string) => Promise<string> {
  return async (token) => {
    const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audiences.length > 0 ? { audiences } : {}) } });
    let res: { status: number; text: string };
    try {
      res = await kubeRequest(api, 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', body);
    } catch (e) {
      throw new AuthenticationError(`TokenReview failed: ${(e as Error).message}`, { cause: e });
    }
    if (res.status !== 201 && res.status !== 200) throw new AuthenticationError(`TokenReview failed: HTTP ${res.status}`);
    const status = (JSON.parse(res.text) as { status?: TokenReviewStatus }).status ?? {};
    if (!status.authenticated) throw new AuthenticationError(`service account token not authenticated${status.error ? `: ${status.error}` : ''}`);
    if (audiences.length > 0 && !(status.audiences ?? []).some((a) => audiences.includes(a))) throw new AuthenticationError('service account token is not for this audience');
    const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(status.user?.username ?? '');
    if (!m) throw new AuthenticationError(`token belongs to "${status.user?.username ?? ''}", not a service account`);
    return formatSpiffeId({ trustDomain, namespace: m[1], serviceAccount: m[2] });
  };
}
