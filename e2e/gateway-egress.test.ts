/**
 * Egress through an egress gateway with TLS origination (Istio's "Egress Gateways with TLS
 * Origination" task, its YAML with the host renamed and a CA file added): an application's
 * sidecar sends plain HTTP for external.example.com; the mesh route sends it to the egress
 * gateway; the gateway's route sends it to external.example.com:443, where a DestinationRule
 * originates TLS (SIMPLE, SNI, server certificate verified). The external server sees HTTPS from
 * the gateway only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, generateKeyPair, issueCertificate, privateKeyToPem } from '@meshwork/pki';
import { startGateway, type RunningGateway } from './gateway-support.js';
import { freePort, startSidecar, viaProxy, type RunningSidecar } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';

describe('egress gateway with TLS origination', () => {
  let dir: string;
  let pilot: RunningPilot;
  let gateway: RunningGateway;
  let client: RunningSidecar;
  let external: https.Server;
  let config = '';
  const seen: { path: string; sni: string | false | null; host: string }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-egress-e2e-'));
    const ca = createRootCa({ trustDomain: 'example.com' });
    const keys = generateKeyPair('ECDSA_P256');
    const cert = issueCertificate(ca, { publicKey: keys.publicKey, dnsNames: ['external.example.com'], ttlMs: 3_600_000 });
    writeFileSync(join(dir, 'ca.pem'), ca.rootPem);
    external = https.createServer({ cert: cert.chainPems[0], key: privateKeyToPem(keys.privateKey) }, (req, res) => {
      seen.push({ path: req.url ?? '', sni: (req.socket as TLSSocket).servername, host: req.headers.host ?? '' });
      res.end(JSON.stringify({ external: true, path: req.url }));
    });
    await new Promise<void>((r) => external.listen(0, '127.0.0.1', () => r()));
    const externalPort = (external.address() as AddressInfo).port;
    const egressPort = await freePort();
    config = `apiVersion: networking.istio.io/v1
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
# Where the egress gateway is reached (a Kubernetes Service in a cluster).
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: istio-egressgateway, namespace: istio-system}
spec:
  hosts: [istio-egressgateway.istio-system.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${egressPort}}, labels: {istio: egressgateway}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway, namespace: default}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [external.example.com]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egressgateway-for-external, namespace: default}
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets: [{name: external}]
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
    loadBalancer: {simple: ROUND_ROBIN}
    portLevelSettings:
    - port: {number: 443}
      tls: {mode: SIMPLE, sni: external.example.com, caCertificates: ${join(dir, 'ca.pem')}}
`;
    writeFileSync(join(dir, 'mesh.yaml'), config);
    pilot = await startPilot(['--config-dir', dir]);
    client = await startSidecar(pilot.xdsPort, 'sleep-1', { app: 'sleep' });
    gateway = await startGateway(pilot.xdsPort, new Map([[80, egressPort]]), ['--labels', 'istio=egressgateway,app=istio-egressgateway', '--name', 'istio-egressgateway', '--workload', 'istio-egressgateway-1']);
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await client?.stop();
    await pilot?.stop();
    external?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plain HTTP from the application leaves the mesh as verified HTTPS through the egress gateway', async () => {
    const r = await viaProxy(client, 'http://external.example.com/politics');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ external: true, path: '/politics' });
    expect(seen).toEqual([{ path: '/politics', sni: 'external.example.com', host: 'external.example.com' }]);
    // The gateway, not the sidecar, reached the external service.
    await until(() => gateway.accessLog().some((e) => e.path === '/politics'), `the gateway's access log line: ${gateway.logs().slice(-3000)}`);
    const line = gateway.accessLog().find((e) => e.path === '/politics');
    expect(line).toMatchObject({ response_code: 200, upstream_cluster: 'outbound|443||external.example.com' });
  });

  it('the external server certificate is verified: with another CA in the DestinationRule the gateway answers 503', async () => {
    writeFileSync(join(dir, 'other-ca.pem'), createRootCa({ trustDomain: 'other.example' }).rootPem);
    writeFileSync(join(dir, 'mesh.yaml'), config.replace(join(dir, 'ca.pem'), join(dir, 'other-ca.pem')));
    let status = 0;
    await until(async () => (status = (await viaProxy(client, 'http://external.example.com/verify')).status) === 503, 'the gateway to refuse the external certificate');
    expect(status).toBe(503);
    // Requests before the change reached the server; once it is in force none does.
    const after = await viaProxy(client, 'http://external.example.com/after');
    expect(after.status).toBe(503);
    expect(seen.some((s) => s.path === '/after')).toBe(false);
  });
});
