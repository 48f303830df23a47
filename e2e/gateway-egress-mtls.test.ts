/**
 * Istio's egress task in its mutual TLS form: the application's sidecar and the egress gateway
 * both hold SVIDs from a real citadel; the sidecar reaches the gateway over ISTIO_MUTUAL (SNI
 * external.example.com, a DestinationRule subset), the gateway's ISTIO_MUTUAL server terminates
 * it, and the gateway originates TLS (SIMPLE) to the external server. Pilot serves both over
 * mutual TLS.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRootCa, generateKeyPair, issueCertificate, privateKeyToPem } from '@meshwork/pki';
import { joinToken, startCitadel, type RunningCitadel, startMtlsPilot, caFlags } from './citadel-support.js';
import { get, startGateway, type RunningGateway } from './gateway-support.js';
import { freePort, startSidecar, viaProxy, type RunningSidecar } from './sidecar-support.js';
import { until, type RunningPilot } from './support.js';

const tmp = mkdtempSync(join(tmpdir(), 'gateway-egress-mtls-'));
const stateDir = join(tmp, 'citadel');
let citadel: RunningCitadel;
let pilot: RunningPilot;
let gateway: RunningGateway;
let client: RunningSidecar;
let external: https.Server;
let egressPort = 0;
const seen: string[] = [];

beforeAll(async () => {
  const ca = createRootCa({ trustDomain: 'example.com' });
  const keys = generateKeyPair('ECDSA_P256');
  const cert = issueCertificate(ca, { publicKey: keys.publicKey, dnsNames: ['external.example.com'], ttlMs: 3_600_000 });
  writeFileSync(join(tmp, 'external-ca.pem'), ca.rootPem);
  external = https.createServer({ cert: cert.chainPems[0], key: privateKeyToPem(keys.privateKey) }, (req, res) => {
    seen.push(req.url ?? '');
    res.end(JSON.stringify({ external: true, path: req.url }));
  });
  await new Promise<void>((r) => external.listen(0, '127.0.0.1', () => r()));
  const externalPort = (external.address() as AddressInfo).port;
  egressPort = await freePort();

  citadel = await startCitadel(stateDir);
  writeFileSync(join(tmp, 'pilot-token'), await joinToken(citadel, stateDir, 'istio-system', 'pilot'));
  writeFileSync(join(tmp, 'gateway-token'), await joinToken(citadel, stateDir, 'istio-system', 'istio-egressgateway-service-account'));
  writeFileSync(join(tmp, 'sleep-token'), await joinToken(citadel, stateDir, 'default', 'sleep'));
  mkdirSync(join(tmp, 'config'));
  writeFileSync(
    join(tmp, 'config', 'mesh.yaml'),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: default}
spec:
  hosts: [external.example.com]
  ports:
  - {number: 80, name: http-port, protocol: HTTP}
  - {number: 443, name: https, protocol: HTTPS}
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http-port: ${externalPort}, https: ${externalPort}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: istio-egressgateway, namespace: istio-system}
spec:
  hosts: [istio-egressgateway.istio-system.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 80, name: https, protocol: HTTPS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {https: ${egressPort}}, labels: {istio: egressgateway}, serviceAccount: istio-egressgateway-service-account}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway, namespace: default}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: https, protocol: HTTPS}
    hosts: [external.example.com]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egressgateway-for-external, namespace: default}
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: external
    trafficPolicy:
      loadBalancer: {simple: ROUND_ROBIN}
      portLevelSettings:
      - port: {number: 80}
        tls: {mode: ISTIO_MUTUAL, sni: external.example.com}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-external-through-egress-gateway, namespace: default}
spec:
  hosts: [external.example.com]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route:
    - destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: external, port: {number: 80}}
      weight: 100
  - match: [{gateways: [istio-egressgateway], port: 80}]
    route:
    - destination: {host: external.example.com, port: {number: 443}}
      weight: 100
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate-tls-for-external, namespace: default}
spec:
  host: external.example.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 443}
      tls: {mode: SIMPLE, sni: external.example.com, caCertificates: ${join(tmp, 'external-ca.pem')}}
`,
  );
  const started = await startMtlsPilot(citadel, join(tmp, 'pilot-token'), ['--config-dir', join(tmp, 'config')]);
  ({ pilot } = started);
  const { securePort } = started;
  client = await startSidecar(securePort, 'sleep-1', { app: 'sleep' }, ['--service-account', 'sleep', ...caFlags(citadel, join(tmp, 'sleep-token'))]);
  gateway = await startGateway(securePort, new Map([[80, egressPort]]), ['--labels', 'istio=egressgateway,app=istio-egressgateway', '--name', 'istio-egressgateway', '--workload', 'istio-egressgateway-1', '--service-account', 'istio-egressgateway-service-account', ...caFlags(citadel, join(tmp, 'gateway-token'))]);
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  await client?.stop();
  await pilot?.stop();
  await citadel?.stop();
  external?.close();
  rmSync(tmp, { recursive: true, force: true });
});

it('sidecar → egress gateway over ISTIO_MUTUAL, gateway → external over verified TLS', async () => {
  const r = await viaProxy(client, 'http://external.example.com/politics');
  expect(r.status, r.body).toBe(200);
  expect(JSON.parse(r.body)).toEqual({ external: true, path: '/politics' });
  expect(seen).toEqual(['/politics']);
  await until(() => gateway.accessLog().some((e) => e.path === '/politics'), "the gateway's access log line");
  // The sidecar → gateway hop was TLS with the DestinationRule's SNI.
  const line = gateway.accessLog().find((e) => e.path === '/politics');
  expect(line).toMatchObject({ response_code: 200, requested_server_name: 'external.example.com', upstream_cluster: 'outbound|443||external.example.com' });
});

it('the egress gateway port refuses plain HTTP (ISTIO_MUTUAL only)', async () => {
  await expect(get(egressPort, 'external.example.com', '/plain')).rejects.toThrow();
  expect(seen).not.toContain('/plain');
});
