/**
 * Key stores: a directory of private files, and a Kubernetes Secret served by a minimal API server
 * that speaks the core/v1 Secret wire format (GET/POST/PUT, resourceVersion, 404 and 409 Status).
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCitadel } from './citadel.js';
import { directoryKeyStore, kubernetesSecretKeyStore } from './key-store.js';

/** must returns a value the test knows is present, failing loudly if it is not. */
function must<T>(v: T | undefined | null): T {
  if (v === undefined || v === null) throw new Error('expected a value');
  return v;
}

const tmp = mkdtempSync(join(tmpdir(), 'key-store-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface StoredSecret {
  metadata: { name: string; namespace: string; resourceVersion: string; [k: string]: unknown };
  data?: Record<string, string>;
  [k: string]: unknown;
}

/** A fake kube-apiserver for Secrets; `conflictNextPut` makes one PUT lose an optimistic-concurrency race. */
class FakeSecretsApi {
  secrets = new Map<string, StoredSecret>();
  rv = 100;
  conflictNextPut = false;
  requests: string[] = [];
  server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      this.requests.push(`${req.method} ${req.url}`);
      const status = (code: number, reason: string): void => {
        res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, code }));
      };
      if (req.headers.authorization !== 'Bearer citadel-sa') return status(401, 'Unauthorized');
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(req.url ?? '');
      if (!m) return status(404, 'NotFound');
      const [, ns, name] = m;
      const key = `${ns}/${name ?? ''}`;
      if (req.method === 'GET' && name) {
        const s = this.secrets.get(key);
        return s ? void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(s)) : status(404, 'NotFound');
      }
      const doc = JSON.parse(body) as StoredSecret;
      if (req.method === 'POST' && !name) {
        const k = `${ns}/${doc.metadata.name}`;
        if (this.secrets.has(k)) return status(409, 'AlreadyExists');
        const stored = { ...doc, metadata: { ...doc.metadata, namespace: ns, resourceVersion: String(++this.rv) } };
        this.secrets.set(k, stored);
        return void res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(stored));
      }
      if (req.method === 'PUT' && name) {
        const cur = this.secrets.get(key);
        if (!cur) return status(404, 'NotFound');
        if (this.conflictNextPut) {
          this.conflictNextPut = false;
          // Another writer got there first.
          cur.metadata.resourceVersion = String(++this.rv);
          cur.data = { ...(cur.data ?? {}), other: Buffer.from('x').toString('base64') };
          return status(409, 'Conflict');
        }
        if (doc.metadata.resourceVersion !== cur.metadata.resourceVersion) return status(409, 'Conflict');
        const stored = { ...doc, metadata: { ...doc.metadata, resourceVersion: String(++this.rv) } };
        this.secrets.set(key, stored);
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stored));
      }
      status(405, 'MethodNotAllowed');
    });
  });
  url = '';
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }
}

describe('directory key store', () => {
  it('writes private files atomically and reads back', async () => {
    const dir = join(tmp, 'dir');
    const s = await directoryKeyStore(dir);
    expect(await s.read('missing')).toBeUndefined();
    await s.write('root-key.pem', 'one');
    await s.write('root-key.pem', 'two');
    expect(await s.read('root-key.pem')).toBe('two');
    expect(statSync(join(dir, 'root-key.pem')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['root-key.pem']);
  });
});

describe('Kubernetes Secret key store', () => {
  const api = new FakeSecretsApi();
  beforeAll(() => api.start());
  afterAll(() => new Promise<void>((r) => api.server.close(() => r())));

  it('creates the Secret, updates it with resourceVersion, and retries a lost race without losing the other write', async () => {
    const s = kubernetesSecretKeyStore({ server: api.url, token: 'citadel-sa' }, 'istio-system', 'test-ca');
    expect(await s.read('root-key.pem')).toBeUndefined();
    await s.write('root-key.pem', 'KEY');
    await s.write('root-cert.pem', 'CERT');
    api.conflictNextPut = true;
    await s.write('admin-token', 'T');
    expect(await s.read('root-key.pem')).toBe('KEY');
    expect(await s.read('admin-token')).toBe('T');
    const stored = must(api.secrets.get('istio-system/test-ca'));
    expect(Object.keys(must(stored.data)).sort()).toEqual(['admin-token', 'other', 'root-cert.pem', 'root-key.pem']);
    expect(stored).toMatchObject({ kind: 'Secret', apiVersion: 'v1', type: 'Opaque' });
    await expect(kubernetesSecretKeyStore({ server: api.url, token: 'wrong' }, 'istio-system', 'test-ca').read('x')).rejects.toThrow('HTTP 401');
  });

  it('lets citadel keep its root across restarts in cluster mode', async () => {
    const tokenFile = join(tmp, 'sa');
    writeFileSync(tokenFile, 'citadel-sa');
    const base = {
      stateDir: join(tmp, 'unused'),
      keyStore: 'kubernetes',
      caSecret: 'istio-system/meshwork-ca-secret',
      k8sApi: api.url,
      k8sTokenFile: tokenFile,
      trustDomain: 'cluster.local',
      listenAddress: '127.0.0.1',
      grpcPort: 0,
      adminPort: 0,
      monitoringPort: 0,
      caKeyAlgorithm: 'ECDSA_P256',
      rootTtl: 10 * 365 * 86400_000,
      workloadCertTtl: 86400_000,
      maxWorkloadCertTtl: 90 * 86400_000,
      serverDnsNames: ['localhost'],
      joinTokenMaxTtl: 86400_000,
      tokenAudiences: ['istio-ca'],
      rootOverlap: 3600_000,
      shutdownGrace: 1000,
      logLevel: 'silent',
    };
    const c1 = await startCitadel(base);
    const roots = c1.roots();
    await c1.close();
    const c2 = await startCitadel(base);
    expect(c2.roots()).toEqual(roots);
    await c2.close();
    const secret = must(api.secrets.get('istio-system/meshwork-ca-secret'));
    expect(Buffer.from(must(secret.data)['root-cert.pem'], 'base64').toString()).toBe(roots[0]);
    expect(Object.keys(must(secret.data))).toEqual(expect.arrayContaining(['root-key.pem', 'trust-bundle.json', 'admin-token', 'join-token-key']));
  });
});
