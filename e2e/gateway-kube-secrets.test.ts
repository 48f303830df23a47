/**
 * credentialName from Kubernetes Secrets: the gateway binary list-watches Secrets of its
 * namespace on a (fake) Kubernetes API server speaking the real list/watch wire format, and a
 * SIMPLE server serves the kubernetes.io/tls Secret it names — replaced and deleted while running.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, generateKeyPair, issueCertificate, privateKeyToPem, type CertificateAuthority } from '@meshwork/pki';
import { startFakeKubeApiServer, type FakeKubeApiServer } from '@meshwork/registry/testing';
import { startGateway, type RunningGateway } from './gateway-support.js';
import { freePort, versionedApp } from './sidecar-support.js';
import { startPilot, until, writeKubeconfig, type RunningPilot } from './support.js';

function leaf(ca: CertificateAuthority, dns: string): { cert: string; key: string; serial: string } {
  const keys = generateKeyPair('ECDSA_P256');
  const c = issueCertificate(ca, { publicKey: keys.publicKey, dnsNames: [dns], ttlMs: 3_600_000 });
  return { cert: c.chainPems[0], key: privateKeyToPem(keys.privateKey), serial: c.serialHex.toLowerCase() };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const secret = (c: { cert: string; key: string }): Parameters<FakeKubeApiServer['put']>[0] => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'bookinfo-cred', namespace: 'istio-system' },
  type: 'kubernetes.io/tls',
  data: { 'tls.crt': b64(c.cert), 'tls.key': b64(c.key) },
});

/** The serial of the certificate served for this SNI, or the handshake error. */
function served(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca }, () => {
      resolve(s.getPeerCertificate().serialNumber.toLowerCase());
      s.end();
    });
    s.on('error', (err) => resolve(`error: ${err.message}`));
  });
}

describe('gateway credentials from Kubernetes Secrets', () => {
  let dir: string;
  let kube: FakeKubeApiServer;
  let pilot: RunningPilot;
  let gateway: RunningGateway;
  let app: http.Server;
  let port = 0;
  const ca = createRootCa({ trustDomain: 'example.com' });
  const first = leaf(ca, 'bookinfo.example.com');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-kube-e2e-'));
    kube = await startFakeKubeApiServer();
    kube.define('v1', 'secrets');
    kube.put(secret(first));
    // Not a credential: ignored.
    kube.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'token', namespace: 'istio-system' }, type: 'Opaque', data: { token: b64('x') } });
    writeKubeconfig(join(dir, 'kubeconfig'), kube.url);
    const pp = await versionedApp('productpage-v1');
    app = pp.server;
    port = await freePort();
    const mesh = join(dir, 'mesh');
    mkdirSync(mesh);
    writeFileSync(
      join(mesh, 'mesh.yaml'),
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: productpage, namespace: default}
spec:
  hosts: [productpage.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${pp.port}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${port}, name: https, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: SIMPLE, credentialName: bookinfo-cred}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo, namespace: default}
spec:
  hosts: [bookinfo.example.com]
  gateways: [istio-system/bookinfo-gateway]
  http:
  - route: [{destination: {host: productpage, port: {number: 9080}}}]
`,
    );
    writeFileSync(join(dir, 'ca.pem'), ca.rootPem);
    pilot = await startPilot(['--config-dir', mesh]);
    gateway = await startGateway(pilot.xdsPort, new Map(), ['--kube-secrets', '--kubeconfig', join(dir, 'kubeconfig')]);
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await pilot?.stop();
    await kube?.close();
    app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the kubernetes.io/tls Secret the server names', async () => {
    expect(gateway.logs()).toContain('"credentials":["bookinfo-cred"]');
    const r = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile('curl', ['-sS', '--max-time', '10', '--resolve', `bookinfo.example.com:${port}:127.0.0.1`, '--cacert', join(dir, 'ca.pem'), `https://bookinfo.example.com:${port}/productpage`], (err, out) => resolve({ code: err ? 1 : 0, out })),
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ version: 'productpage-v1', path: '/productpage' });
    expect(await served(port, 'bookinfo.example.com', ca.rootPem)).toBe(first.serial);
  });

  it('follows the Secret being replaced and deleted', async () => {
    const renewed = leaf(ca, 'bookinfo.example.com');
    kube.put(secret(renewed));
    await until(async () => (await served(port, 'bookinfo.example.com', ca.rootPem)) === renewed.serial, 'the replaced Secret to be served');
    kube.remove('v1', 'Secret', 'istio-system', 'bookinfo-cred');
    await until(async () => (await served(port, 'bookinfo.example.com', ca.rootPem)).startsWith('error'), 'the deleted Secret to stop being served');
  });
});
