import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeClient, kubeconfigConnection } from './kube-client.js';
import { KubeCollection } from './kube-collection.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from './testing.js';
import { silentLogger } from './types.js';

const cm = (name: string, v: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { v } });

describe('KubeCollection', () => {
  let api: FakeKubeApiServer;
  let col: KubeCollection | undefined;
  beforeEach(async () => {
    api = await startFakeKubeApiServer();
    api.define('v1', 'configmaps');
  });
  afterEach(async () => {
    await col?.stop();
    col = undefined;
    await api.close();
  });

  it('a bookmark moves the resume point, so a reconnect after compaction needs no re-list', async () => {
    api.put(cm('a', '1'));
    let changes = 0;
    let changed: () => void = () => undefined;
    col = new KubeCollection({ client: new KubeClient({ server: api.url }), path: '/api/v1/configmaps', log: silentLogger, retryMs: 20, onChange: () => (changes++, changed()) });
    await col.start();
    expect(col.listCount).toBe(1);
    // wait for the watch to be open, then change an unrelated collection to move the global version
    while (api.openWatches === 0) await new Promise((r) => setTimeout(r, 5));
    api.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' } });
    const target = String(api.resourceVersion);
    api.bookmark();
    while (col.resourceVersion !== target) await new Promise((r) => setTimeout(r, 5));
    api.compact();
    api.endWatches();
    const next = new Promise<void>((r) => (changed = r));
    api.put(cm('b', '2'));
    await next;
    expect(col.items().map((o) => o.metadata.name).sort()).toEqual(['a', 'b']);
    expect(col.listCount).toBe(1);
    expect(changes).toBeGreaterThan(0);
  });
});

describe('kubeconfigConnection', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshwork-kcfg-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the current context’s server, CA data and token', async () => {
    const file = join(dir, 'config');
    await writeFile(file, `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: ${Buffer.from('CA PEM').toString('base64')}
contexts:
- name: dev
  context: {cluster: c1, user: u1}
users:
- name: u1
  user: {token: abc}
`);
    expect(await kubeconfigConnection(file)).toEqual({ server: 'https://10.0.0.1:6443', ca: 'CA PEM', insecureSkipTlsVerify: false, token: 'abc', cert: undefined, key: undefined });
    await expect(kubeconfigConnection(file, 'nope')).rejects.toMatchObject({ code: 'MESH_ERR_REGISTRY_BACKEND' });
  });
});
