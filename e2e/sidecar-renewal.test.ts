/**
 * Certificate renewal under load (issue 6, "Done when"): both sidecars ask citadel for 4-second
 * SVIDs, so each renews about every 2 s; for 12 s a client keeps sending productpage → reviews
 * requests over Istio mTLS (keep-alive connections and fresh ones) while the certificates turn
 * over several times. The test counts failed requests: there must be none.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { joinToken, startCitadel, type RunningCitadel, startMtlsPilot, caFlags } from './citadel-support.js';
import { freePort, startSidecar, versionedApp, viaProxy, type RunningSidecar } from './sidecar-support.js';
import { until, type RunningPilot } from './support.js';

const tmp = mkdtempSync(join(tmpdir(), 'sidecar-renewal-'));
let citadel: RunningCitadel;
let pilot: RunningPilot;
let app: http.Server;
let reviews: RunningSidecar;
let productpage: RunningSidecar;
const URL_ = 'http://reviews.default.svc.cluster.local:9080/renewal';

async function serial(s: RunningSidecar): Promise<string> {
  const dump = (await (await fetch(`http://127.0.0.1:${s.adminPort}/config_dump?resource=dynamic_active_secrets`)).json()) as { configs: { name: string; versionInfo: string }[] };
  return dump.configs.find((c) => c.name === 'default')?.versionInfo ?? '';
}

beforeAll(async () => {
  const stateDir = join(tmp, 'citadel');
  citadel = await startCitadel(stateDir);
  const a = await versionedApp('v1');
  app = a.server;
  const inbound = await freePort();
  mkdirSync(join(tmp, 'config'));
  writeFileSync(
    join(tmp, 'config', 'mesh.yaml'),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${inbound}}, serviceAccount: bookinfo-reviews, labels: {app: reviews, version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews, namespace: default}
spec:
  workloadSelector: {labels: {app: reviews}}
  ingress: [{port: {number: ${inbound}, protocol: HTTP, name: http}, defaultEndpoint: '127.0.0.1:${a.port}'}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: STRICT}}
`,
  );
  writeFileSync(join(tmp, 'pilot-token'), await joinToken(citadel, stateDir, 'istio-system', 'pilot'));
  const started = await startMtlsPilot(citadel, join(tmp, 'pilot-token'), ['--config-dir', join(tmp, 'config')]);
  ({ pilot } = started);
  const { securePort } = started;
  const ca = async (sa: string): Promise<string[]> => {
    writeFileSync(join(tmp, `${sa}-token`), await joinToken(citadel, stateDir, 'default', sa));
    return ['--service-account', sa, '--secret-ttl', '4s', ...caFlags(citadel, join(tmp, `${sa}-token`))];
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

it('keeps every request working while both sidecars renew their certificates several times', async () => {
  await until(async () => (await viaProxy(productpage, URL_)).status === 200, 'mTLS traffic to flow');
  const before = { client: await serial(productpage), server: await serial(reviews) };
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const deadline = Date.now() + 12_000;
  let ok = 0;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: 6 }, async (_, w) => {
      while (Date.now() < deadline) {
        // Four workers reuse keep-alive connections to the sidecar, two open a new one per request.
        // A request that hangs is a failure to report, not a test timeout that hides which one.
        let timer: NodeJS.Timeout | undefined;
        const hung = new Promise<{ status: number; body: string }>((r) => (timer = setTimeout(() => r({ status: 0, body: 'no response within 10 s' }), 10_000)));
        const r = await Promise.race([viaProxy(productpage, URL_, w < 4 ? { agent: keepAlive } : {}).catch((e: Error) => ({ status: 0, body: e.message, headers: {} })), hung]);
        clearTimeout(timer);
        if (r.status === 200) ok++;
        else failures.push(`${r.status} ${r.body.slice(0, 80)}`);
      }
    }),
  );
  keepAlive.destroy();
  const after = { client: await serial(productpage), server: await serial(reviews) };
  expect(failures).toEqual([]);
  expect(ok).toBeGreaterThan(100);
  // Both certificates changed, several times each (issued-certificate log lines).
  expect(after.client).not.toBe(before.client);
  expect(after.server).not.toBe(before.server);
  const issued = (s: RunningSidecar): number => s.logs().split('\n').filter((l) => l.includes('"workload certificate issued"')).length;
  expect(issued(productpage)).toBeGreaterThanOrEqual(4);
  expect(issued(reviews)).toBeGreaterThanOrEqual(4);
}, 90_000);
