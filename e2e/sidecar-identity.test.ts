/**
 * A sidecar's workload identity end to end: it gets its SVID from a real citadel with a join
 * token (key in memory), then streams its configuration from pilot over mutual TLS on 15012;
 * pilot checks the certificate against the node and shows the identity in /debug/syncz. A
 * sidecar whose token is for another service account gets no certificate and never becomes ready.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { joinToken, startCitadel, type RunningCitadel, startMtlsPilot } from './citadel-support.js';
import { startSidecar, type RunningSidecar } from './sidecar-support.js';
import { type RunningPilot } from './support.js';

const tmp = mkdtempSync(join(tmpdir(), 'sidecar-identity-'));
const stateDir = join(tmp, 'citadel');
let citadel: RunningCitadel;
let pilot: RunningPilot;
let securePort = 0;
const sidecars: RunningSidecar[] = [];

beforeAll(async () => {
  citadel = await startCitadel(stateDir);
  writeFileSync(join(tmp, 'pilot-token'), await joinToken(citadel, stateDir, 'istio-system', 'pilot'));
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
  endpoints: [{address: 127.0.0.1, ports: {http: 1}}]
`,
  );
  ({ pilot, securePort } = await startMtlsPilot(citadel, join(tmp, 'pilot-token'), ['--config-dir', join(tmp, 'config')]));
}, 60_000);

afterAll(async () => {
  for (const s of sidecars) await s.stop();
  await pilot?.stop();
  await citadel?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

it('gets a workload certificate from citadel and streams config from pilot over mutual TLS', async () => {
  writeFileSync(join(tmp, 'reviews-token'), await joinToken(citadel, stateDir, 'default', 'bookinfo-reviews'));
  const s = await startSidecar(securePort, 'reviews-v1-1', { app: 'reviews', version: 'v1' }, ['--service-account', 'bookinfo-reviews', '--ca-address', `localhost:${citadel.ports.grpcPort}`, '--ca-root-cert', citadel.rootCertPath, '--ca-token-file', join(tmp, 'reviews-token')]);
  sidecars.push(s);
  expect(s.logs()).toContain('workload certificate issued');
  const syncz = (await (await fetch(`http://127.0.0.1:${pilot.httpPort}/debug/syncz`)).json()) as { proxy: string; identity?: string }[];
  expect(syncz.find((p) => p.proxy.includes('reviews-v1-1'))?.identity).toBe('spiffe://cluster.local/ns/default/sa/bookinfo-reviews');
  const clusters = await (await fetch(`http://127.0.0.1:${s.adminPort}/clusters`)).text();
  expect(clusters).toContain('outbound|9080||reviews.default.svc.cluster.local');
});

it('does not become ready when its token is for another service account (no certificate, no config), and keeps asking', async () => {
  writeFileSync(join(tmp, 'other-token'), await joinToken(citadel, stateDir, 'default', 'bookinfo-ratings'));
  // Two refusals: the sidecar is still alive after the first one's backoff (it once exited 0 there,
  // its retry timer being all that was left in its event loop).
  await expect(startSidecar(securePort, 'reviews-v2-1', { app: 'reviews', version: 'v2' }, ['--service-account', 'bookinfo-reviews', '--ca-address', `localhost:${citadel.ports.grpcPort}`, '--ca-root-cert', citadel.rootCertPath, '--ca-token-file', join(tmp, 'other-token')], [], 20_000, /PERMISSION_DENIED[^]*PERMISSION_DENIED/)).rejects.toThrow(/not ready: [^]*PERMISSION_DENIED[^]*PERMISSION_DENIED/);
});
