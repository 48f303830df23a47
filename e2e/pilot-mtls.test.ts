/**
 * Pilot's mTLS xDS port (15012) with a real citadel: pilot gets its serving certificate from
 * citadel with a join token (SPIFFE ID istio-system/pilot + DNS SANs), proxies authenticate pilot
 * by the trust bundle and the DNS name they dial, and pilot accepts a proxy only if its
 * citadel-issued certificate matches the node's namespace/service account.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateInfo, citadelTransport, createRootCa, generateKeyPair, issueSvid, privateKeyToPem, WorkloadCertManager } from '@meshwork/pki';
import { CLUSTER_TYPE, createAdsClient, type AdsClient } from '@meshwork/xds';
import { joinToken, startCitadel, type RunningCitadel, startMtlsPilot } from './citadel-support.js';
import { until, type RunningPilot } from './support.js';

const tmp = mkdtempSync(join(tmpdir(), 'pilot-mtls-'));
const stateDir = join(tmp, 'citadel');
let citadel: RunningCitadel;
let pilot: RunningPilot;
let securePort = 0;
let rootPem = '';
const managers: WorkloadCertManager[] = [];
const clients: AdsClient[] = [];

const CONFIG = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 10.1.0.1}]
`;

/** workloadCert asks citadel (join token, then CSR) for the certificate of ns/sa. */
async function workloadCert(ns: string, sa: string): Promise<{ key: string; chain: string }> {
  const token = await joinToken(citadel, stateDir, ns, sa);
  const m = new WorkloadCertManager({ spiffeId: `spiffe://cluster.local/ns/${ns}/sa/${sa}`, roots: [rootPem], transport: citadelTransport({ address: `localhost:${citadel.ports.grpcPort}`, roots: () => [rootPem], token: () => token }) });
  managers.push(m);
  await m.start();
  const c = m.current();
  if (!c) throw new Error('no certificate after start()');
  return { key: c.keyPem, chain: c.chainPems.slice(0, -1).join('') };
}

const node = (ns: string, sa?: string): Record<string, unknown> => ({ id: `sidecar~10.9.0.1~app-1.${ns}~${ns}.svc.cluster.local`, metadata: { NAMESPACE: ns, ...(sa ? { SERVICE_ACCOUNT: sa } : {}) } });

/** ads opens an ADS stream on the mTLS port, dialling `pilot.istio-system.svc` (a DNS SAN of pilot's certificate). */
function ads(creds: grpc.ChannelCredentials, n: Record<string, unknown>, errors: string[]): AdsClient {
  const c = createAdsClient({
    target: `127.0.0.1:${securePort}`,
    credentials: creds,
    channelOptions: { 'grpc.ssl_target_name_override': 'pilot.istio-system.svc', 'grpc.default_authority': 'pilot.istio-system.svc' },
    node: n,
    backoff: { initialMs: 50, maxMs: 200 },
    onStreamError: (e) => errors.push(e.message),
  });
  c.subscribe(CLUSTER_TYPE);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  citadel = await startCitadel(stateDir);
  rootPem = readFileSync(citadel.rootCertPath, 'utf8');
  const tokenFile = join(tmp, 'pilot-token');
  writeFileSync(tokenFile, await joinToken(citadel, stateDir, 'istio-system', 'pilot'));
  const configDir = join(tmp, 'config');
  mkdirSync(configDir);
  writeFileSync(join(configDir, 'reviews.yaml'), CONFIG);
  ({ pilot, securePort } = await startMtlsPilot(citadel, tokenFile, ['--config-dir', configDir]));
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  for (const m of managers) m.stop();
  await pilot?.stop();
  await citadel?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('pilot mTLS xDS (15012)', () => {
  it('serves a citadel-issued certificate for istio-system/pilot with its DNS SANs, chaining to the mesh root', async () => {
    const peer = await new Promise<Buffer>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: securePort, ca: rootPem, servername: 'pilot.istio-system.svc', ALPNProtocols: ['h2'] }, () => {
        resolve(s.getPeerCertificate().raw);
        s.destroy();
      });
      s.on('error', reject);
    });
    const info = certificateInfo(peer);
    expect(info.uris).toEqual(['spiffe://cluster.local/ns/istio-system/sa/pilot']);
    expect(info.dnsNames).toEqual(expect.arrayContaining(['localhost', 'pilot.istio-system.svc', 'istiod.istio-system.svc']));
    expect((await fetch(`http://127.0.0.1:${pilot.httpPort}/healthz/ready`)).status).toBe(200);
  });

  it('streams config to a proxy whose certificate matches its node, and /debug/syncz shows the proven identity', async () => {
    const { key, chain } = await workloadCert('default', 'reviews');
    const errors: string[] = [];
    const c = ads(grpc.credentials.createSsl(Buffer.from(rootPem), Buffer.from(key), Buffer.from(chain)), node('default', 'reviews'), errors);
    await until(() => (c.resources(CLUSTER_TYPE)?.size ?? 0) > 0, 'clusters over mTLS');
    expect([...(c.resources(CLUSTER_TYPE)?.keys() ?? [])]).toContain('outbound|9080||reviews.default.svc.cluster.local');
    const syncz = (await (await fetch(`http://127.0.0.1:${pilot.httpPort}/debug/syncz`)).json()) as { proxy: string; identity?: string }[];
    expect(syncz.find((p) => p.proxy === node('default').id)?.identity).toBe('spiffe://cluster.local/ns/default/sa/reviews');
    expect(errors).toEqual([]);
  });

  it('refuses a proxy claiming another namespace or service account than its certificate (PERMISSION_DENIED)', async () => {
    const { key, chain } = await workloadCert('default', 'ratings');
    for (const n of [node('prod'), node('default', 'reviews')]) {
      const errors: string[] = [];
      const c = ads(grpc.credentials.createSsl(Buffer.from(rootPem), Buffer.from(key), Buffer.from(chain)), n, errors);
      await until(() => errors.length > 0, 'the stream to be refused');
      expect(errors[0]).toMatch(/PERMISSION_DENIED|7 /);
      expect(errors[0]).toContain('spiffe://cluster.local/ns/default/sa/ratings');
      expect(c.resources(CLUSTER_TYPE)?.size ?? 0).toBe(0);
      c.close();
    }
    expect(pilot.logs()).toContain('identity check failed');
  });

  it('refuses a TLS client without a certificate, one whose certificate comes from another CA, and plaintext', async () => {
    const other = createRootCa({ trustDomain: 'cluster.local' });
    const k = generateKeyPair('ECDSA_P256');
    const forged = issueSvid(other, { publicKey: k.publicKey, spiffeId: 'spiffe://cluster.local/ns/default/sa/reviews' });
    for (const creds of [
      grpc.credentials.createSsl(Buffer.from(rootPem)),
      grpc.credentials.createSsl(Buffer.from(rootPem), Buffer.from(privateKeyToPem(k.privateKey)), Buffer.from(forged.certPem)),
      grpc.credentials.createInsecure(),
    ]) {
      const errors: string[] = [];
      const c = ads(creds, node('default', 'reviews'), errors);
      await until(() => errors.length > 0, 'the connection to fail');
      expect(errors[0]).toMatch(/UNAVAILABLE|14 /);
      expect(c.resources(CLUSTER_TYPE)?.size ?? 0).toBe(0);
      c.close();
    }
  });

  it('is refused by a proxy that does not trust the mesh root (pilot is authenticated by the bundle)', async () => {
    const { key, chain } = await workloadCert('default', 'reviews');
    const wrongRoot = createRootCa({ trustDomain: 'cluster.local' }).certPem;
    const errors: string[] = [];
    const c = ads(grpc.credentials.createSsl(Buffer.from(wrongRoot), Buffer.from(key), Buffer.from(chain)), node('default', 'reviews'), errors);
    await until(() => errors.length > 0, 'the handshake to fail');
    expect(c.resources(CLUSTER_TYPE)?.size ?? 0).toBe(0);
    c.close();
  });
});
