import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRootCa, generateKeyPair, issueCertificate, privateKeyToPem, type CertificateAuthority } from '@meshwork/pki';
import { MemorySecretProvider } from '@meshwork/proxy';
import { checkCredential, CredentialError, CredentialStore, kubeSecretCredential, readCredentialDir, watchCredentialDir } from './gateway-secrets.js';

function serverCert(ca: CertificateAuthority, dns: string): { cert: string; key: string } {
  const keys = generateKeyPair('ECDSA_P256');
  const c = issueCertificate(ca, { publicKey: keys.publicKey, dnsNames: [dns], ttlMs: 3_600_000 });
  return { cert: c.chainPems.join(''), key: privateKeyToPem(keys.privateKey) };
}

const ca = createRootCa({ trustDomain: 'example.com' });
const other = createRootCa({ trustDomain: 'other.example' });
const a = serverCert(ca, 'a.example.com');
const b = serverCert(ca, 'b.example.com');

const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

describe('checkCredential', () => {
  it('accepts a certificate with its key and describes it', () => {
    const s = checkCredential('a', a);
    expect(s).toMatchObject({ kind: 'certificate', certChainPem: a.cert, keyPem: a.key, identity: 'DNS:a.example.com' });
  });
  it.each([
    ['a key that is not the certificate\'s', { cert: a.cert, key: b.key }, 'does not belong'],
    ['a certificate without a key', { cert: a.cert }, 'tls.crt without tls.key'],
    ['a key without a certificate', { key: a.key }, 'tls.key without tls.crt'],
    ['a certificate that is not PEM', { cert: 'nope', key: a.key }, 'tls.crt is not a PEM certificate'],
    ['a CA that is not PEM', { ca: 'nope' }, 'ca.crt is not a PEM certificate'],
  ])('refuses %s', (_, data, msg) => {
    expect(() => checkCredential('x', data)).toThrow(CredentialError);
    expect(() => checkCredential('x', data)).toThrow(msg);
  });
  it('a CA-only credential serves no certificate', () => {
    expect(checkCredential('x-cacert', { ca: ca.rootPem })).toBeUndefined();
  });
});

describe('CredentialStore', () => {
  it('publishes kubernetes://<name> and kubernetes://<name>-cacert, and removes them with the credential', () => {
    const sink = new MemorySecretProvider();
    const store = new CredentialStore(sink);
    store.set('kube', 'a-cred', { ...a, ca: ca.rootPem });
    expect(sink.get('kubernetes://a-cred')).toMatchObject({ kind: 'certificate', certChainPem: a.cert });
    expect(sink.get('kubernetes://a-cred-cacert')).toEqual({ kind: 'validation', trustedCaPem: ca.rootPem });
    store.set('kube', 'a-cred', undefined);
    expect(sink.get('kubernetes://a-cred')).toBeUndefined();
    expect(sink.get('kubernetes://a-cred-cacert')).toBeUndefined();
  });

  it('a separate <name>-cacert credential wins over the ca.crt of <name> (Istio lookup order)', () => {
    const sink = new MemorySecretProvider();
    const store = new CredentialStore(sink);
    store.set('kube', 'a-cred', { ...a, ca: ca.rootPem });
    store.set('kube', 'a-cred-cacert', { ca: other.rootPem });
    expect(sink.get('kubernetes://a-cred-cacert')).toEqual({ kind: 'validation', trustedCaPem: other.rootPem });
    store.set('kube', 'a-cred-cacert', undefined);
    expect(sink.get('kubernetes://a-cred-cacert')).toEqual({ kind: 'validation', trustedCaPem: ca.rootPem });
  });

  it('keeps the last good certificate when an update is bad, and leaves other secrets alone', () => {
    const sink = new MemorySecretProvider();
    sink.set('default', { kind: 'validation', trustedCaPem: 'workload' });
    const store = new CredentialStore(sink);
    store.set('kube', 'a-cred', a);
    const changes: string[] = [];
    sink.onChange((n) => changes.push(n));
    store.set('kube', 'a-cred', { cert: a.cert, key: b.key });
    expect(sink.get('kubernetes://a-cred')).toMatchObject({ certChainPem: a.cert, keyPem: a.key });
    expect(changes).toEqual([]);
    store.set('kube', 'a-cred', b);
    expect(sink.get('kubernetes://a-cred')).toMatchObject({ certChainPem: b.cert });
    expect(changes).toEqual(['kubernetes://a-cred']);
    expect(sink.get('default')).toEqual({ kind: 'validation', trustedCaPem: 'workload' });
  });

  it('a local directory credential overrides a Kubernetes one of the same name', () => {
    const sink = new MemorySecretProvider();
    const store = new CredentialStore(sink);
    store.set('kube', 'cred', a);
    store.replaceAll('dir', new Map([['cred', b]]));
    expect(sink.get('kubernetes://cred')).toMatchObject({ certChainPem: b.cert });
    store.replaceAll('dir', new Map());
    expect(sink.get('kubernetes://cred')).toMatchObject({ certChainPem: a.cert });
  });
});

describe('kubeSecretCredential', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  it('reads kubernetes.io/tls keys and generic cert/key/cacert keys', () => {
    expect(kubeSecretCredential({ type: 'kubernetes.io/tls', metadata: { name: 'x' }, data: { 'tls.crt': b64(a.cert), 'tls.key': b64(a.key), 'ca.crt': b64(ca.rootPem) } })).toEqual({ ...a, ca: ca.rootPem });
    expect(kubeSecretCredential({ metadata: { name: 'x' }, data: { cert: b64(a.cert), key: b64(a.key) } })).toEqual(a);
    expect(kubeSecretCredential({ metadata: { name: 'x' }, stringData: { cacert: ca.rootPem } })).toEqual({ ca: ca.rootPem });
  });
  it('a Secret with no TLS material is not a credential', () => {
    expect(kubeSecretCredential({ type: 'kubernetes.io/service-account-token', metadata: { name: 't' }, data: { token: b64('abc') } })).toBeUndefined();
  });
});

describe('secret directory', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const writeCred = (dir: string, name: string, files: Record<string, string>): void => {
    mkdirSync(join(dir, name), { recursive: true });
    for (const [f, t] of Object.entries(files)) writeFileSync(join(dir, name, f), t);
  };

  it('reads <dir>/<name>/{tls.crt,tls.key,ca.crt}, skipping files and empty directories', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-secrets-'));
    dirs.push(dir);
    writeCred(dir, 'a-cred', { 'tls.crt': a.cert, 'tls.key': a.key, 'ca.crt': ca.rootPem });
    writeCred(dir, 'empty', {});
    writeFileSync(join(dir, 'README'), 'not a credential');
    const creds = await readCredentialDir(dir);
    expect([...creds.keys()]).toEqual(['a-cred']);
    expect(creds.get('a-cred')).toEqual({ ...a, ca: ca.rootPem });
  });

  it('a missing directory is a CredentialError naming it', async () => {
    await expect(readCredentialDir('/nonexistent/meshwork-secrets')).rejects.toThrow('secret directory /nonexistent/meshwork-secrets');
  });

  it('follows a Kubernetes secret volume update (the ..data symlink swapped atomically)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-secrets-'));
    dirs.push(dir);
    const vol = join(dir, 'a-cred');
    // The kubelet's layout: timestamped directory, ..data pointing at it, files pointing into ..data.
    writeCred(vol, '..2026_01', { 'tls.crt': a.cert, 'tls.key': a.key });
    symlinkSync('..2026_01', join(vol, '..data'));
    for (const f of ['tls.crt', 'tls.key']) symlinkSync(join('..data', f), join(vol, f));
    const sink = new MemorySecretProvider();
    const stop = await watchCredentialDir(new CredentialStore(sink), dir, { debounceMs: 20 });
    try {
      expect(sink.get('kubernetes://a-cred')).toMatchObject({ certChainPem: a.cert });
      writeCred(vol, '..2026_02', { 'tls.crt': b.cert, 'tls.key': b.key });
      symlinkSync('..2026_02', join(vol, '..data_tmp'));
      renameSync(join(vol, '..data_tmp'), join(vol, '..data'));
      await until(() => (sink.get('kubernetes://a-cred') as { certChainPem: string }).certChainPem === b.cert, 'the swapped certificate to be loaded');
    } finally {
      stop();
    }
  });

  it('follows credentials being added, replaced and removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-secrets-'));
    dirs.push(dir);
    writeCred(dir, 'a-cred', { 'tls.crt': a.cert, 'tls.key': a.key });
    const sink = new MemorySecretProvider();
    const stop = await watchCredentialDir(new CredentialStore(sink), dir, { debounceMs: 20 });
    try {
      expect(sink.get('kubernetes://a-cred')).toMatchObject({ certChainPem: a.cert });
      writeCred(dir, 'b-cred', { 'tls.crt': b.cert, 'tls.key': b.key });
      await until(() => sink.get('kubernetes://b-cred') !== undefined, 'b-cred to be loaded');
      writeCred(dir, 'a-cred', { 'tls.crt': b.cert, 'tls.key': b.key });
      await until(() => (sink.get('kubernetes://a-cred') as { certChainPem: string }).certChainPem === b.cert, 'a-cred to be replaced');
      rmSync(join(dir, 'b-cred'), { recursive: true });
      await until(() => sink.get('kubernetes://b-cred') === undefined, 'b-cred to be removed');
    } finally {
      stop();
    }
  });
});
