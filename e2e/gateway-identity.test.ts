/**
 * The gateway's identity end to end: with --ca-address it gets an SVID for
 * spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account from a real
 * citadel (join token), streams its configuration from pilot over mutual TLS, and its SDS
 * (/config_dump) holds the workload certificate next to the credentialName secrets of --secret-dir;
 * an ISTIO_MUTUAL server terminates mesh mTLS with that certificate for clients holding an SVID of
 * the same mesh, and refuses others.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import * as https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { citadelTransport, createRootCa, generateKeyPair, issueCertificate, privateKeyToPem, WorkloadCertManager } from '@meshwork/pki';
import { joinToken, startCitadel, type RunningCitadel, startMtlsPilot } from './citadel-support.js';
import { startGateway, type RunningGateway } from './gateway-support.js';
import { freePort, versionedApp } from './sidecar-support.js';
import { type RunningPilot } from './support.js';

const tmp = mkdtempSync(join(tmpdir(), 'gateway-identity-'));
const stateDir = join(tmp, 'citadel');
let citadel: RunningCitadel;
let pilot: RunningPilot;
let gateway: RunningGateway;
let securePort = 0;
let mtlsPort = 0;
let app: http.Server;

beforeAll(async () => {
  citadel = await startCitadel(stateDir);
  writeFileSync(join(tmp, 'pilot-token'), await joinToken(citadel, stateDir, 'istio-system', 'pilot'));
  writeFileSync(join(tmp, 'gateway-token'), await joinToken(citadel, stateDir, 'istio-system', 'istio-ingressgateway-service-account'));
  mkdirSync(join(tmp, 'config'));
  mkdirSync(join(tmp, 'secrets', 'bookinfo-cred'), { recursive: true });
  const ca = createRootCa({ trustDomain: 'example.com' });
  const keys = generateKeyPair('ECDSA_P256');
  writeFileSync(join(tmp, 'secrets', 'bookinfo-cred', 'tls.crt'), issueCertificate(ca, { publicKey: keys.publicKey, dnsNames: ['bookinfo.example.com'], ttlMs: 3_600_000 }).chainPems[0]);
  writeFileSync(join(tmp, 'secrets', 'bookinfo-cred', 'tls.key'), privateKeyToPem(keys.privateKey));
  const port = await freePort();
  mtlsPort = await freePort();
  const pp = await versionedApp('productpage-v1');
  app = pp.server;
  writeFileSync(
    join(tmp, 'config', 'mesh.yaml'),
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${port}, name: https, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: SIMPLE, credentialName: bookinfo-cred}
  - port: {number: ${mtlsPort}, name: tls-mesh, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
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
kind: VirtualService
metadata: {name: productpage, namespace: default}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http: [{route: [{destination: {host: productpage, port: {number: 9080}}}]}]
`,
  );
  ({ pilot, securePort } = await startMtlsPilot(citadel, join(tmp, 'pilot-token'), ['--config-dir', join(tmp, 'config')]));
  gateway = await startGateway(securePort, new Map(), ['--ca-address', `localhost:${citadel.ports.grpcPort}`, '--ca-root-cert', citadel.rootCertPath, '--ca-token-file', join(tmp, 'gateway-token'), '--secret-dir', join(tmp, 'secrets')]);
}, 90_000);

afterAll(async () => {
  await gateway?.stop();
  await pilot?.stop();
  await citadel?.stop();
  app?.close();
  rmSync(tmp, { recursive: true, force: true });
});

it('gets its SVID from citadel and streams config from pilot over mutual TLS as a router', async () => {
  expect(gateway.logs()).toContain('workload certificate issued');
  const syncz = (await (await fetch(`http://127.0.0.1:${pilot.httpPort}/debug/syncz`)).json()) as { proxy: string; identity?: string }[];
  const me = syncz.find((p) => p.proxy.startsWith('router~'));
  expect(me?.identity).toBe('spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account');
});

it('its SDS holds the workload certificate, the trust bundle and the credentialName secret', async () => {
  const dump = await (await fetch(`http://127.0.0.1:${gateway.adminPort}/config_dump`)).text();
  for (const name of ['"default"', '"ROOTCA"', '"kubernetes://bookinfo-cred"']) expect(dump).toContain(name);
  // Keys never leave the process.
  expect(dump).not.toContain('PRIVATE KEY');
});

it('an ISTIO_MUTUAL server accepts a client with an SVID of the mesh and refuses one without a certificate', async () => {
  const root = readFileSync(citadel.rootCertPath, 'utf8');
  const token = await joinToken(citadel, stateDir, 'default', 'client');
  const manager = new WorkloadCertManager({ spiffeId: 'spiffe://cluster.local/ns/default/sa/client', roots: [root], transport: citadelTransport({ address: `localhost:${citadel.ports.grpcPort}`, roots: () => [root], token: () => token }) });
  await manager.start();
  try {
    const c = manager.current();
    if (!c) throw new Error('no client certificate');
    // The gateway's certificate is its SVID (a URI SAN, no DNS name): the chain is verified, the host name is not.
    const call = (tls: https.RequestOptions): Promise<{ status: number; body: string; peer: string }> =>
      new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: mtlsPort, path: '/productpage', ca: root, checkServerIdentity: () => undefined, agent: false, ...tls }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peer: (res.socket as TLSSocket).getPeerCertificate().subjectaltname ?? '' }));
        });
        req.on('error', reject);
        req.end();
      });
    const ok = await call({ key: c.keyPem, cert: c.chainPems.slice(0, -1).join('') });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ version: 'productpage-v1', path: '/productpage' });
    expect(ok.peer).toBe('URI:spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account');
    await expect(call({})).rejects.toThrow();
  } finally {
    manager.stop();
  }
});
