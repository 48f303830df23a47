/**
 * The real meshctl bin against a real pilot process (config API on its HTTP port, backed by the
 * NATS KV store of a real nats-server): apply/get/delete/analyze/version, and bad input at
 * every door — malformed YAML, an unknown kind, an invalid document, a batch the server refuses
 * partway, a Gateway naming a missing secret — leaving the running mesh's config as it was.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { root, startPilot, type RunningPilot } from './support.js';

let nats: NatsServerHandle;
let pilot: RunningPilot;
let pilotUrl: string;
const home = mkdtempSync(join(tmpdir(), 'meshctl-home-'));
const work = mkdtempSync(join(tmpdir(), 'meshctl-e2e-'));
const bin = join(root, 'apps/meshctl/bin/meshctl.js');

/** meshctl runs the meshctl bin (no context file: MESHCTL_PILOT names the pilot). */
function meshctl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const env = { PATH: process.env.PATH, HOME: home, MESHCTL_CONTEXT: join(home, 'none.json'), MESHCTL_PILOT: pilotUrl };
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...argv], { cwd: root, env, maxBuffer: 64 * 1024 * 1024 }, (err, out, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out, err: stderr });
    });
  });
}

/** stored returns what pilot's config API holds for a plural of networking.istio.io (all namespaces). */
async function stored(plural: string): Promise<{ name: string; resourceVersion: string; spec: unknown }[]> {
  const res = await fetch(`${pilotUrl}/apis/networking.istio.io/v1/${plural}`);
  const list = (await res.json()) as { items: { metadata: { name: string; resourceVersion: string }; spec: unknown }[] };
  return list.items.map((i) => ({ name: i.metadata.name, resourceVersion: i.metadata.resourceVersion, spec: i.spec }));
}

/** served returns the resource names pilot's own config source holds (what it translates for proxies). */
async function served(): Promise<string[]> {
  const configz = (await (await fetch(`${pilotUrl}/debug/configz`)).json()) as { source: string; resources: { kind: string; metadata: { name: string } }[] }[];
  return configz.flatMap((s) => s.resources.map((r) => `${r.kind}/${r.metadata.name}`)).sort();
}

function file(name: string, ...docs: string[]): string {
  const p = join(work, name);
  writeFileSync(p, docs.join('\n---\n'));
  return p;
}

const vs = (name: string, host: string): string => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}}\nspec: {hosts: [${host}], http: [{route: [{destination: {host: ${host}}}]}]}`;

beforeAll(async () => {
  nats = await startNatsServer();
  pilot = await startPilot(['--nats-url', nats.url]);
  pilotUrl = `http://127.0.0.1:${pilot.httpPort}`;
}, 30_000);
afterAll(async () => {
  await pilot?.stop();
  await nats?.stop();
});

describe('meshctl against a running pilot', () => {
  it('applies Bookinfo routing, reports created/unchanged/configured, gets (table, wide, yaml) and deletes', async () => {
    const files = ['-f', 'samples/bookinfo/networking/destination-rule-all.yaml', '-f', 'samples/bookinfo/networking/virtual-service-all-v1.yaml'];
    const first = await meshctl('apply', ...files);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(first.out).toContain('virtualservice.networking.istio.io/reviews created');
    expect(first.out).toContain('destinationrule.networking.istio.io/reviews created');
    expect((await meshctl('apply', ...files)).out).toContain('virtualservice.networking.istio.io/reviews unchanged');
    const shift = await meshctl('apply', '-f', 'samples/bookinfo/networking/virtual-service-reviews-50-v3.yaml');
    expect(shift.out).toBe('virtualservice.networking.istio.io/reviews configured\n');
    // pilot serves what was applied (its config source, not only the API's store).
    expect(await served()).toContain('VirtualService/reviews');

    const table = await meshctl('get', 'vs');
    expect(table.code).toBe(0);
    expect(table.out.split('\n')[0]).toMatch(/^NAME\s+AGE$/);
    const wide = await meshctl('get', 'vs', '-o', 'wide');
    expect(wide.out.split('\n')[0]).toMatch(/^NAME\s+GATEWAYS\s+HOSTS\s+AGE$/);
    expect(wide.out).toMatch(/^reviews\s+\[reviews\]\s+\S+$/m);
    const one = await meshctl('get', 'virtualservice', 'reviews', '-o', 'yaml');
    expect(parse(one.out).spec.http[0].route.map((r: { weight: number }) => r.weight)).toEqual([50, 50]);

    expect((await meshctl('delete', 'vs', 'reviews')).out).toBe('virtualservice.networking.istio.io "reviews" deleted\n');
    const gone = await meshctl('get', 'vs', 'reviews');
    expect(gone.code).toBe(1);
    expect(gone.err).toContain('not found');
  });

  it('refuses malformed YAML, an unknown kind and an invalid document, applying nothing and leaving the running mesh as it was', async () => {
    const broken = file('broken.yaml', 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x\n  spec: [\n');
    const unknown = file('unknown.yaml', 'apiVersion: networking.istio.io/v1\nkind: VirtualServic\nmetadata: {name: y}\nspec: {}\n');
    const mixed = file('mixed.yaml', vs('good', 'good'), 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bad}\nspec: {hosts: [bad], http: [{timeout: soon, route: [{destination: {host: bad}}]}]}');
    const before = await stored('virtualservices');
    const servedBefore = await served();
    expect(before.length).toBeGreaterThan(0);

    const b = await meshctl('apply', '-f', broken);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/broken\.yaml:3:18: Error \[MESH_ERR_PARSE\] YAML syntax error/);
    expect(b.err).toMatch(/nothing applied: \d+ document error\(s\) where the input could not be read or parsed/);
    const u = await meshctl('apply', '-f', unknown);
    expect(u.code).toBe(1);
    expect(u.err).toContain('kind: unknown kind "VirtualServic" in apiVersion "networking.istio.io/v1"');
    const m = await meshctl('apply', '-f', mixed);
    expect(m.code).toBe(1);
    expect(m.err).toContain('spec.http[0].timeout');
    expect(m.err).toContain('nothing applied');
    expect(await stored('virtualservices')).toEqual(before);
    expect(await served()).toEqual(servedBefore);
  });

  it('applies a multi-document file atomically: a document the server refuses leaves none of the batch stored', async () => {
    const before = await stored('virtualservices');
    const ratings = before.find((r) => r.name === 'ratings');
    expect(ratings).toBeDefined();
    // Valid for meshctl and for pilot's validation, but over the store's 1 MiB value limit
    // (nats-server's max_payload): refused at write time, after the first two were written.
    const huge = `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: huge, annotations: {note: ${'x'.repeat(1_200_000)}}}\nspec: {hosts: [huge], http: [{route: [{destination: {host: huge}}]}]}`;
    const batch = file('batch.yaml', vs('ratings', 'ratings.changed'), vs('brand-new', 'brand-new'), huge);
    const r = await meshctl('apply', '-f', batch);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/items\[2\] \(VirtualService default\/huge\): .*nothing applied \(2 earlier item\(s\) rolled back\)/);
    expect(r.out).toBe('');
    const after = await stored('virtualservices');
    expect(after.map((x) => x.name)).toEqual(before.map((x) => x.name));
    expect(after.find((x) => x.name === 'ratings')?.spec).toEqual(ratings?.spec);
    expect((await meshctl('get', 'vs', 'brand-new')).code).toBe(1);
    expect(await served()).not.toContain('VirtualService/brand-new');
  });

  it('warns on apply, and reports in analyze, a Gateway credentialName naming no secret the gateway can read', async () => {
    const secrets = join(work, 'secrets');
    mkdirSync(join(secrets, 'present-cert'), { recursive: true });
    const gw = file(
      'gateway.yaml',
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: shop-gw}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n' +
        '    - {port: {number: 443, name: https, protocol: HTTPS}, hosts: [shop.example.com], tls: {mode: SIMPLE, credentialName: missing-cert}}\n' +
        '    - {port: {number: 8443, name: https-2, protocol: HTTPS}, hosts: [api.example.com], tls: {mode: SIMPLE, credentialName: present-cert}}\n',
    );
    const applied = await meshctl('apply', '-f', gw, '--secret-dir', secrets);
    expect(applied.code).toBe(0);
    expect(applied.out).toBe('gateway.networking.istio.io/shop-gw created\n');
    expect(applied.err).toBe('Warning: gateway.networking.istio.io/shop-gw (namespace default) spec.servers[0].tls.credentialName: Referenced credentialName not found: "missing-cert" (no Secret "missing-cert" in namespace default nor in the gateway secret directory: the server\'s TLS handshakes are refused until it exists) [IST0101]\n');

    const live = await meshctl('analyze', '--secret-dir', secrets, '-o', 'json');
    expect(live.code).toBe(1);
    const creds = (JSON.parse(live.out) as { messages: { code: string; resourceRef: string; path: string; reason: string }[] }).messages.filter((x) => x.path.includes('credentialName'));
    expect(creds).toEqual([expect.objectContaining({ code: 'IST0101', resourceRef: 'Gateway default/shop-gw', path: 'spec.servers[0].tls.credentialName', reason: expect.stringContaining('"missing-cert"') })]);
    const offline = await meshctl('analyze', '-f', gw, '--secret-dir', secrets);
    expect(offline.code).toBe(1);
    expect(offline.out).toMatch(/gateway\.yaml:\d+:\d+: Error \[IST0101\] Gateway default\/shop-gw: spec\.servers\[0\]\.tls\.credentialName: Referenced credentialName not found: "missing-cert"/);
    // No secret source at all (no directory, no Secret stored or in the files): the check is skipped, not guessed.
    expect((await meshctl('analyze', '-f', gw)).code).toBe(0);
    expect((await meshctl('delete', 'gw', 'shop-gw')).code).toBe(0);
  });

  it('analyzes the running mesh (no -f), and files layered over it with --live', async () => {
    const cleared = await meshctl('delete', '-f', 'samples/bookinfo/networking/destination-rule-all.yaml', '-f', 'samples/bookinfo/networking/virtual-service-all-v1.yaml', '--ignore-not-found');
    expect(cleared.code).toBe(0);
    expect(await stored('destinationrules')).toEqual([]);
    expect((await meshctl('apply', '-f', 'samples/bookinfo/networking/virtual-service-all-v1.yaml')).code).toBe(0);
    // The routes name subsets no DestinationRule defines yet: the live analysis says so.
    const live = await meshctl('analyze', '-o', 'json');
    expect(live.code).toBe(1);
    const report = JSON.parse(live.out) as { messages: { code: string; reason: string; file?: string }[] };
    const missing = report.messages.filter((m) => /subset/i.test(m.reason));
    expect(missing.length).toBeGreaterThan(0);
    expect(missing[0]?.file).toMatch(/^pilot:VirtualService\/default\//);
    const layered = await meshctl('analyze', '--live', '-f', 'samples/bookinfo/networking/destination-rule-all.yaml', '-o', 'json');
    expect((JSON.parse(layered.out) as { messages: { reason: string }[] }).messages.filter((m) => /subset/i.test(m.reason))).toEqual([]);
  });

  it("prints the client and control plane versions, and only the client's (exit 0) when pilot is not reachable", async () => {
    const v = await meshctl('version');
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^client version: \d+\.\d+\.\d+ \(node v[\d.]+\)\ncontrol plane version: \d+\.\d+\.\d+ \(pilot at http:\/\/127\.0\.0\.1:\d+\)\n$/);
    const json = JSON.parse((await meshctl('version', '-o', 'json')).out) as { clientVersion: { version: string }; meshVersion: { component: string; info: { version: string } }[] };
    expect(json.meshVersion[0]).toMatchObject({ component: 'pilot', info: { version: json.clientVersion.version } });
    // A port nothing listens on (just freed): connection refused.
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const down = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    await new Promise((r) => srv.close(r));
    const off = await meshctl('version', '--pilot', down);
    expect(off.code).toBe(0);
    expect(off.out).toMatch(/^client version: \S+ \(node v[\d.]+\)\n$/);
    expect(off.err).toContain(`note: no control plane version: cannot reach pilot at ${down}: connect ECONNREFUSED`);
    const get = await meshctl('get', 'vs', '--pilot', down);
    expect(get.code).toBe(1);
    expect(get.err).toContain(`cannot reach pilot at ${down}`);
  });
});
