/**
 * Automatic mTLS and PeerAuthentication end to end (issue 6, "Done when"): a real citadel issues
 * both sidecars' SVIDs (join tokens), pilot serves them over mTLS, and traffic productpage →
 * reviews is asserted from the server's side — the application sees the client's SPIFFE ID in
 * `x-forwarded-client-cert` and the reviews sidecar counts `connection_security_policy=mutual_tls`.
 * PERMISSIVE takes plaintext and mTLS on one port; STRICT refuses plaintext (curl-like HTTP and
 * `openssl s_client` without a certificate) and a client certificate from another CA; with the
 * endpoint's tlsMode label gone, auto mTLS no longer applies and a DestinationRule ISTIO_MUTUAL
 * brings mTLS back.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRootCa, generateKeyPair, issueSvid, privateKeyToPem } from '@meshwork/pki';
import { joinToken, startCitadel, type RunningCitadel, startMtlsPilot, caFlags } from './citadel-support.js';
import { freePort, startSidecar, viaProxy, type RunningSidecar } from './sidecar-support.js';
import { until, type RunningPilot } from './support.js';

const tmp = mkdtempSync(join(tmpdir(), 'sidecar-mtls-'));
const stateDir = join(tmp, 'citadel');
const configDir = join(tmp, 'config');
let citadel: RunningCitadel;
let pilot: RunningPilot;
let securePort = 0;
let app: http.Server;
let appPort = 0;
let inbound = 0;
let reviews: RunningSidecar;
let productpage: RunningSidecar;
const REVIEWS = 'http://reviews.default.svc.cluster.local:9080/r';
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews';

/** The mesh: reviews with one endpoint (the sidecar's inbound port), tlsMode label optional, plus extra documents. */
function writeMesh(opts: { tlsModeLabel: boolean; extra?: string }): void {
  writeFileSync(
    join(configDir, 'mesh.yaml'),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${inbound}}, serviceAccount: bookinfo-reviews, labels: {app: reviews, version: v1, security.istio.io/tlsMode: ${opts.tlsModeLabel ? 'istio' : 'disabled'}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews, namespace: default}
spec:
  workloadSelector: {labels: {app: reviews}}
  ingress: [{port: {number: ${inbound}, protocol: HTTP, name: http}, defaultEndpoint: '127.0.0.1:${appPort}'}]
${opts.extra ?? ''}`,
  );
}

const STRICT = `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: STRICT}}`;

/** A plaintext HTTP request straight to the reviews sidecar's inbound port (curl http://...). */
function plainRequest(): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: inbound, path: '/plain', headers: { host: 'reviews' }, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e) => resolve(`error: ${e.message}`));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** openssl s_client against the inbound port; resolves with whether an HTTP answer came back over TLS. */
async function opensslRequest(certArgs: string[]): Promise<{ answered: boolean; output: string }> {
  const r = await promisify(execFile)('bash', ['-c', `printf 'GET /tls HTTP/1.1\\r\\nHost: reviews\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 openssl s_client -connect 127.0.0.1:${inbound} -quiet -verify_quiet -alpn http/1.1 ${certArgs.join(' ')} 2>&1`]).catch((e: { stdout: string }) => ({ stdout: e.stdout ?? '' }));
  return { answered: /HTTP\/1\.1 200/.test(r.stdout), output: r.stdout };
}

interface Seen {
  xfcc: string | null;
  path: string;
}
const seen: Seen[] = [];

beforeAll(async () => {
  citadel = await startCitadel(stateDir);
  mkdirSync(configDir);
  app = http.createServer((req, res) => {
    seen.push({ xfcc: (req.headers['x-forwarded-client-cert'] as string | undefined) ?? null, path: req.url ?? '' });
    res.end(JSON.stringify({ xfcc: req.headers['x-forwarded-client-cert'] ?? null, peerMetadata: req.headers['x-envoy-peer-metadata'] ?? null, peerMetadataId: req.headers['x-envoy-peer-metadata-id'] ?? null }));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appPort = (app.address() as { port: number }).port;
  inbound = await freePort();
  writeMesh({ tlsModeLabel: true });
  writeFileSync(join(tmp, 'pilot-token'), await joinToken(citadel, stateDir, 'istio-system', 'pilot'));
  ({ pilot, securePort } = await startMtlsPilot(citadel, join(tmp, 'pilot-token'), ['--config-dir', configDir]));
  const ca = async (sa: string): Promise<string[]> => {
    writeFileSync(join(tmp, `${sa}-token`), await joinToken(citadel, stateDir, 'default', sa));
    return ['--service-account', sa, ...caFlags(citadel, join(tmp, `${sa}-token`))];
  };
  reviews = await startSidecar(securePort, 'reviews-v1-1', { app: 'reviews', version: 'v1' }, await ca('bookinfo-reviews'));
  productpage = await startSidecar(securePort, 'productpage-v1-1', { app: 'productpage', version: 'v1' }, await ca('bookinfo-productpage'));
}, 90_000);

afterAll(async () => {
  for (const s of [productpage, reviews]) await s?.stop();
  await pilot?.stop();
  await citadel?.stop();
  app?.close();
  rmSync(tmp, { recursive: true, force: true });
});

it('auto mTLS: the server side sees the client SVID (XFCC) and counts mutual_tls with the source principal', async () => {
  await until(async () => (await viaProxy(productpage, REVIEWS)).status === 200, 'productpage → reviews');
  const r = await viaProxy(productpage, REVIEWS);
  const xfcc = String((JSON.parse(r.body) as { xfcc: string | null }).xfcc);
  expect(xfcc).toContain(`URI=${CLIENT_ID}`);
  expect(xfcc).toContain(`By=${SERVER_ID}`);
  expect(xfcc).toMatch(/Hash=[0-9a-f]{64}/);
  // The exchange headers are taken off before the application.
  expect(JSON.parse(r.body)).toMatchObject({ peerMetadata: null, peerMetadataId: null });
  const metrics = await (await fetch(`http://127.0.0.1:${reviews.statsPort}/stats/prometheus`)).text();
  const line = metrics.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"') && l.includes('connection_security_policy="mutual_tls"'));
  expect(line, metrics.split('\n').filter((l) => l.startsWith('istio_requests_total')).join('\n')).toBeDefined();
  expect(line).toContain(`source_principal="${CLIENT_ID}"`);
  expect(line, line).toContain(`destination_principal="${SERVER_ID}"`);
  // Istio's metadata exchange: the source sidecar's headers name its workload, app and version.
  expect(line).toContain('source_workload="productpage-v1"');
  expect(line).toContain('source_app="productpage"');
  expect(line).toContain('source_version="v1"');
  expect(line).toContain('source_workload_namespace="default"');
});

it('PERMISSIVE (no PeerAuthentication): the same port also takes plaintext, which reaches the app without XFCC', async () => {
  expect(await plainRequest()).toBe(200);
  expect(seen.at(-1)).toEqual({ xfcc: null, path: '/plain' });
});

it('STRICT refuses plaintext, a TLS client without a certificate and a certificate from another CA; mesh traffic still flows', async () => {
  writeMesh({ tlsModeLabel: true, extra: STRICT });
  await until(async () => (await plainRequest()) !== 200, 'STRICT to reach the reviews sidecar');
  expect(await plainRequest()).toMatch(/^error: /);
  const noCert = await opensslRequest([]);
  expect(noCert.answered).toBe(false);
  // A workload certificate for the right identity, but signed by a CA the mesh does not trust.
  const foreign = createRootCa({ trustDomain: 'cluster.local' });
  const keys = generateKeyPair('ECDSA_P256');
  const svid = issueSvid(foreign, { publicKey: keys.publicKey, spiffeId: CLIENT_ID, ttlMs: 3_600_000 });
  writeFileSync(join(tmp, 'foreign.pem'), svid.chainPems.join(''));
  writeFileSync(join(tmp, 'foreign.key'), privateKeyToPem(keys.privateKey));
  const foreignCert = await opensslRequest(['-cert', join(tmp, 'foreign.pem'), '-key', join(tmp, 'foreign.key')]);
  expect(foreignCert.answered).toBe(false);
  expect(seen.some((s) => s.path === '/tls')).toBe(false);
  expect((await viaProxy(productpage, REVIEWS)).status).toBe(200);
});

it('without the tlsMode label auto mTLS stops (plaintext, refused under STRICT); DestinationRule ISTIO_MUTUAL brings mTLS back', async () => {
  writeMesh({ tlsModeLabel: false, extra: STRICT });
  await until(async () => (await viaProxy(productpage, REVIEWS)).status === 503, 'plaintext to the STRICT sidecar to fail');
  writeMesh({
    tlsModeLabel: false,
    extra: `${STRICT}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}`,
  });
  await until(async () => (await viaProxy(productpage, REVIEWS)).status === 200, 'ISTIO_MUTUAL to bring mTLS back');
  const r = await viaProxy(productpage, REVIEWS);
  expect(String((JSON.parse(r.body) as { xfcc: string | null }).xfcc)).toContain(`URI=${CLIENT_ID}`);
});
