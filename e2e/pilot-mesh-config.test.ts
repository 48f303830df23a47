/**
 * The real meshwork-pilot process follows its --mesh-config file as istiod follows the `istio`
 * ConfigMap: an edit that parses reaches a connected proxy (a real ADS client) without a
 * restart; an edit that does not parse is logged with the file and the reason and changes
 * nothing, for connected proxies and new ones alike; a file replaced by rename (editors,
 * ConfigMap volumes) is picked up too.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdsClient, type AdsClient } from '@meshwork/xds';
import { startPilot, until, type RunningPilot } from './support.js';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const CLUSTER = 'outbound|9080||ratings.default.svc.cluster.local';
const NODE = { id: 'sidecar~127.0.0.1~productpage-v1-1.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default', LABELS: { app: 'productpage' } } };

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.11}
`;
/** The istio ConfigMap with one mesh setting. */
const configMap = (connectTimeout: string): string => `apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    connectTimeout: ${connectTimeout}
`;

let dir: string;
let meshFile: string;
let pilot: RunningPilot;
const clients: AdsClient[] = [];

function client(): AdsClient {
  const c = createAdsClient({ target: `127.0.0.1:${pilot.xdsPort}`, node: NODE });
  c.subscribe(CDS);
  clients.push(c);
  return c;
}

/** The connect timeout (Duration object) of the ratings cluster as a client holds it, in ms. */
function timeoutMs(c: AdsClient): number | undefined {
  const t = (c.resources(CDS).get(CLUSTER) as { connectTimeout?: { seconds?: number | string; nanos?: number } } | undefined)?.connectTimeout;
  return t === undefined ? undefined : Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pilot-mesh-'));
  writeFileSync(join(dir, 'se.yaml'), SE);
  meshFile = join(dir, 'mesh', 'istio.yaml');
  mkdirSync(join(dir, 'mesh'));
  writeFileSync(meshFile, configMap('4s'));
  pilot = await startPilot(['--config-dir', dir, '--mesh-config', meshFile]);
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await pilot?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('pilot --mesh-config follows the file', () => {
  it('pushes an edit to a connected proxy, keeps the last good config on a bad edit, and reads a file renamed over it', async () => {
    const c = client();
    await until(() => timeoutMs(c) === 4000, 'the mesh config read at start (connectTimeout 4s)');

    // An edit in place.
    writeFileSync(meshFile, configMap('2.5s'));
    await until(() => timeoutMs(c) === 2500, 'the edited connectTimeout pushed');
    expect(pilot.logs()).toContain('mesh config reloaded');

    // A bad edit: logged with the file and the field, nothing changes.
    writeFileSync(meshFile, configMap('soon'));
    await until(() => pilot.logs().includes('the mesh config in force is kept'), 'the refusal in the log');
    const refusal = pilot.logs().split('\n').find((l) => l.includes('the mesh config in force is kept')) as string;
    expect(refusal).toContain(meshFile);
    expect(refusal).toContain('connectTimeout');
    expect(refusal).toContain('"level":50');
    expect(timeoutMs(c)).toBe(2500);
    // A proxy connecting now gets the last good config too.
    const late = client();
    await until(() => timeoutMs(late) !== undefined, 'the late client served');
    expect(timeoutMs(late)).toBe(2500);
    expect(pilot.proc.exitCode).toBeNull();

    // A good file renamed over the bad one (how editors and ConfigMap volumes replace files).
    const tmp = join(dir, 'mesh', '.istio.yaml.tmp');
    writeFileSync(tmp, configMap('7s'));
    renameSync(tmp, meshFile);
    await until(() => timeoutMs(c) === 7000 && timeoutMs(late) === 7000, 'the renamed file pushed to both proxies');
  }, 60_000);
});
