/**
 * The real meshwork-pilot process: --config-dir only (no NATS, no Kubernetes), a real ADS
 * client, config changes on disk pushed to it, invalid files refused and counted.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdsClient, type AdsClient } from '@meshwork/xds';
import { runCli } from '@meshwork/meshctl';
import { root, startPilot, until, type RunningPilot } from './support.js';

const bin = join(root, 'apps/pilot/bin/meshwork-pilot.js');
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

const SE = (version: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.11, labels: {app: ratings, version: ${version}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: default}
spec:
  host: ratings.default.svc.cluster.local
  subsets: [{name: ${version}, labels: {version: ${version}}}]
`;

let dir: string;
let pilot: RunningPilot;
let xdsPort = 0;
let httpPort = 0;
let client: AdsClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pilot-config-'));
  writeFileSync(join(dir, 'ratings.yaml'), SE('v1'));
  pilot = await startPilot(['--config-dir', dir]);
  xdsPort = pilot.xdsPort;
  httpPort = pilot.httpPort;
  client = createAdsClient({ target: `127.0.0.1:${xdsPort}`, node: { id: 'sidecar~127.0.0.9~reviews-v1-1.default~default.svc.cluster.local', metadata: { NAMESPACE: 'default' } } });
  client.subscribe(CDS);
  client.subscribe(EDS);
}, 30_000);

afterAll(async () => {
  client?.close();
  await pilot?.stop();
});

describe('meshwork-pilot', () => {
  it('serves the config directory to a real xDS client and pushes file changes', async () => {
    await until(() => client.resources(CDS).has('outbound|9080|v1|ratings.default.svc.cluster.local'), 'the v1 subset cluster');
    await until(() => client.resources(EDS).has('outbound|9080|v1|ratings.default.svc.cluster.local'), 'its endpoints');
    writeFileSync(join(dir, 'ratings.yaml'), SE('v2'));
    await until(() => client.resources(CDS).has('outbound|9080|v2|ratings.default.svc.cluster.local'), 'the change to reach the client');
    const syncz = (await (await fetch(`http://127.0.0.1:${httpPort}/debug/syncz`)).json()) as { proxy: string }[];
    expect(syncz[0].proxy).toContain('reviews-v1-1');
  });

  it('refuses an invalid file without touching what proxies have, and counts it', async () => {
    const before = client.version(CDS);
    writeFileSync(join(dir, 'broken.yaml'), 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: broken, namespace: default}\nspec: {host: "bad host!"}\n');
    await until(async () => (await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()).includes('pilot_total_rejected_configs{source="file"} 1'), 'the rejection to be counted');
    const configz = await (await fetch(`http://127.0.0.1:${httpPort}/debug/configz`)).json();
    expect(JSON.stringify(configz)).toContain('spec.host');
    expect(client.version(CDS)).toBe(before);
    expect(client.resources(CDS).has('outbound|9080|v2|ratings.default.svc.cluster.local')).toBe(true);
  });

  it('meshctl proxy-status shows the proxy SYNCED and proxy-config lists what it was sent', async () => {
    const meshctl = async (...argv: string[]) => {
      let out = '';
      let err = '';
      const code = await runCli([...argv, '--pilot', `http://127.0.0.1:${httpPort}`], { stdout: (t) => void (out += t), stderr: (t) => void (err += t), readStdin: async () => '', cwd: root, env: {} });
      return { code, out, err };
    };
    await until(async () => (await meshctl('proxy-status')).out.includes('SYNCED'), 'SYNCED');
    const st = await meshctl('proxy-status');
    expect(st.out.split('\n')[0]).toMatch(/^NAME\s+CDS\s+LDS\s+EDS\s+RDS$/);
    expect(st.out).toMatch(/sidecar~127\.0\.0\.9~reviews-v1-1\.default~default\.svc\.cluster\.local\s+SYNCED/);
    const pc = await meshctl('proxy-config', 'cluster', 'sidecar~127.0.0.9~reviews-v1-1.default~default.svc.cluster.local');
    expect(pc.code).toBe(0);
    expect(pc.out).toContain('outbound|9080|v2|ratings.default.svc.cluster.local');
  });

  it('--help lists every flag, and a taken port fails with one clear line', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--config-dir', '--nats-url', '--kubeconfig', '--xds-port', '--monitoring-port', '--debounce-after']) expect(help.out).toContain(flag);
    const busy = await run(['--config-dir', dir, '--xds-port', String(xdsPort), '--monitoring-port', '0']);
    expect(busy.code).toBe(1);
    expect(busy.err.trim().split('\n')).toHaveLength(1);
    expect(busy.err).toContain(`cannot listen for xDS on 127.0.0.1:${xdsPort}`);
  });
});

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => resolve({ code: code ?? -1, out, err }));
  });
}
