/**
 * The gateway's identity end to end: with --ca-address it gets an SVID for
 * spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account from a real
 * citadel (join token), streams its configuration from pilot over mutual TLS, and its SDS
 * (/config_dump) holds the workload certificate next to the credentialName secrets of --secret-dir.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRootCa, generateKeyPair, issueCertificate, privateKeyToPem } from '@meshwork/pki';
import { joinToken, startCitadel, type RunningCitadel } from './citadel-support.js';
import { startGateway, type RunningGateway } from './gateway-support.js';
import { freePort } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';

const tmp = mkdtempSync(join(tmpdir(), 'gateway-identity-'));
const stateDir = join(tmp, 'citadel');
let citadel: RunningCitadel;
let pilot: RunningPilot;
let gateway: RunningGateway;
let securePort = 0;

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
`,
  );
  pilot = await startPilot(['--config-dir', join(tmp, 'config'), '--secure-xds-port', '0', '--ca-address', `localhost:${citadel.ports.grpcPort}`, '--ca-root-cert', citadel.rootCertPath, '--ca-token-file', join(tmp, 'pilot-token')]);
  await until(() => pilot.logs().includes('"secure xDS ready"'), 'pilot to serve mTLS xDS');
  const line = pilot.logs().split('\n').find((l) => l.includes('"secure xDS ready"')) ?? '{}';
  securePort = Number((JSON.parse(line) as { secureXds: string }).secureXds.split(':').pop());
  gateway = await startGateway(securePort, new Map(), ['--ca-address', `localhost:${citadel.ports.grpcPort}`, '--ca-root-cert', citadel.rootCertPath, '--ca-token-file', join(tmp, 'gateway-token'), '--secret-dir', join(tmp, 'secrets')]);
}, 90_000);

afterAll(async () => {
  await gateway?.stop();
  await pilot?.stop();
  await citadel?.stop();
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
