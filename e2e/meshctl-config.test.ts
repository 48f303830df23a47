/**
 * meshctl apply/get/delete over real HTTP against pilot's config API (the fastify plugin
 * pilot serves, backed by the in-memory store until pilot's process wiring lands).
 */
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configApi } from '@meshwork/discovery';
import { MemoryConfigStore } from '@meshwork/registry/testing';
import { runCli } from '@meshwork/meshctl';

let app: FastifyInstance;
let store: MemoryConfigStore;
let pilot: string;
const root = join(import.meta.dirname, '..');

async function meshctl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), readStdin: async () => '', cwd: root, env: { MESHCTL_PILOT: pilot, HOME: tmpdir() } });
  return { code, out, err };
}

beforeAll(async () => {
  store = new MemoryConfigStore();
  app = Fastify({ forceCloseConnections: true });
  await app.register(configApi, { store });
  await app.listen({ port: 0, host: '127.0.0.1' });
  pilot = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
afterAll(async () => app.close());

describe('meshctl against the config API', () => {
  it('applies Bookinfo routing, reports created/unchanged/configured, gets and deletes', async () => {
    const files = ['-f', 'samples/bookinfo/networking/destination-rule-all.yaml', '-f', 'samples/bookinfo/networking/virtual-service-all-v1.yaml'];
    const first = await meshctl('apply', ...files);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(first.out).toContain('virtualservice.networking.istio.io/reviews created');
    expect(first.out).toContain('destinationrule.networking.istio.io/reviews created');
    const again = await meshctl('apply', ...files);
    expect(again.out).toContain('virtualservice.networking.istio.io/reviews unchanged');
    const shift = await meshctl('apply', '-f', 'samples/bookinfo/networking/virtual-service-reviews-50-v3.yaml');
    expect(shift.out).toBe('virtualservice.networking.istio.io/reviews configured\n');

    const table = await meshctl('get', 'vs');
    expect(table.code).toBe(0);
    expect(table.out.split('\n')[0]).toMatch(/^NAME\s+AGE$/);
    expect(table.out).toContain('reviews');
    const one = await meshctl('get', 'virtualservice', 'reviews', '-o', 'yaml');
    expect(parse(one.out).spec.http[0].route.map((r: { weight: number }) => r.weight)).toEqual([50, 50]);

    expect((await meshctl('delete', 'vs', 'reviews')).out).toBe('virtualservice.networking.istio.io "reviews" deleted\n');
    const gone = await meshctl('get', 'vs', 'reviews');
    expect(gone.code).toBe(1);
    expect(gone.err).toContain('not found');
  });

  it('applies nothing when any input is invalid, and leaves the stored config as it was', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apply-'));
    writeFileSync(join(dir, 'mixed.yaml'), [
      'apiVersion: networking.istio.io/v1', 'kind: VirtualService', 'metadata: {name: good}', 'spec: {hosts: [good], http: [{route: [{destination: {host: good}}]}]}',
      '---',
      'apiVersion: networking.istio.io/v1', 'kind: VirtualService', 'metadata: {name: bad}', 'spec: {hosts: [bad], http: [{timeout: soon, route: [{destination: {host: bad}}]}]}',
    ].join('\n'));
    const before = store.list().length;
    const r = await meshctl('apply', '-f', join(dir, 'mixed.yaml'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('spec.http[0].timeout');
    expect(r.err).toContain('nothing applied');
    expect(store.list().length).toBe(before);
  });

  it('analyzes the running mesh (no -f), and files layered over it with --live', async () => {
    for (const k of ['vs', 'dr']) for (const n of ['productpage', 'reviews', 'ratings', 'details']) await meshctl('delete', k, n, '--ignore-not-found');
    expect((await meshctl('apply', '-f', 'samples/bookinfo/networking/virtual-service-all-v1.yaml')).code).toBe(0);
    // The routes name subsets no DestinationRule defines yet: the live analysis says so.
    const live = await meshctl('analyze', '-o', 'json');
    expect(live.code).toBe(1);
    const report = JSON.parse(live.out) as { messages: { code: string; reason: string; file?: string }[] };
    const missing = report.messages.filter((m) => /subset/i.test(m.reason));
    expect(missing.length).toBeGreaterThan(0);
    expect(missing[0]?.file).toMatch(/^pilot:VirtualService\/default\//);
    // The same analysis with the DestinationRules from a file on top: nothing missing.
    const layered = await meshctl('analyze', '--live', '-f', 'samples/bookinfo/networking/destination-rule-all.yaml', '-o', 'json');
    expect((JSON.parse(layered.out) as { messages: { reason: string }[] }).messages.filter((m) => /subset/i.test(m.reason))).toEqual([]);
    // -f alone stays an offline check of the files.
    const offline = await meshctl('analyze', '-f', 'samples/bookinfo/networking/destination-rule-all.yaml');
    expect(offline.code).toBe(0);
  });

  it('names malformed YAML and unknown kinds, and applies nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshctl-bad-'));
    writeFileSync(join(dir, 'broken.yaml'), 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x\n  spec: [\n');
    writeFileSync(join(dir, 'unknown.yaml'), 'apiVersion: networking.istio.io/v1\nkind: VirtualServic\nmetadata: {name: y}\nspec: {}\n');
    const before = (await meshctl('get', 'vs', '-A', '-o', 'json')).out;
    const broken = await meshctl('apply', '-f', join(dir, 'broken.yaml'));
    expect(broken.code).toBe(1);
    expect(broken.err).toContain('broken.yaml:3:18: Error [MESH_ERR_PARSE] YAML syntax error');
    expect(broken.err).toMatch(/nothing applied: \d+ document error\(s\) where the input could not be read or parsed/);
    const unknown = await meshctl('apply', '-f', join(dir, 'unknown.yaml'));
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('kind: unknown kind "VirtualServic" in apiVersion "networking.istio.io/v1"');
    expect((await meshctl('get', 'vs', '-A', '-o', 'json')).out).toBe(before);
  });

  it('says clearly when pilot is not reachable', async () => {
    let err = '';
    const code = await runCli(['get', 'vs', '--pilot', 'http://127.0.0.1:9'], { stdout: () => undefined, stderr: (t) => void (err += t), readStdin: async () => '', cwd: root, env: {} });
    expect(code).toBe(1);
    expect(err).toContain('cannot reach pilot at http://127.0.0.1:9');
  });
});
