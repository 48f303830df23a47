/**
 * The built Bookinfo binary as a user runs it: generated --help, one clear line and an exit code
 * for bad input, JSON logs, and a graceful SIGTERM that lets an in-flight request finish.
 */
import { execFile, spawn } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { root, until } from './support.js';

const BIN = join(root, 'samples/bookinfo/bin/bookinfo.js');

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: root, env: { PATH: process.env.PATH }, timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('bookinfo binary', () => {
  it('--help lists every flag with its environment variable and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const s of ['--service', '--version', '--port', '--proxy', 'HTTP_PROXY', 'SERVICES_DOMAIN', 'DETAILS_HOSTNAME', 'RATINGS_SERVICE_PORT', 'STAR_COLOR']) expect(r.stdout).toContain(s);
  });

  it.each([
    [[], 2, 'bookinfo: --service (BOOKINFO_SERVICE) is required: one of productpage, details, reviews, ratings\n'],
    [['--service', 'catalog', '--port', '0'], 1, 'bookinfo: --service: "catalog" is not a Bookinfo service (one of productpage, details, reviews, ratings)\n'],
    [['--service', 'details', '--port', 'x'], 2, undefined],
  ])('%j exits %i with one line on stderr', async (args, code, line) => {
    const r = await run(args);
    expect(r.code).toBe(code);
    if (line) expect(r.stderr).toBe(line);
    else expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('says so in one line when the port is taken', async () => {
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as AddressInfo).port;
    const r = await run(['--service', 'details', '--port', String(port)]);
    blocker.close();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`bookinfo: port ${port} on 127.0.0.1 is already in use\n`);
  });

  it('SIGTERM lets an in-flight request finish, then exits 0', async () => {
    // A ratings stand-in that answers after a second, so reviews v2 is mid-request at SIGTERM.
    let ratingsAsked: () => void = () => undefined;
    const asked = new Promise<void>((r) => (ratingsAsked = r));
    const ratings = http.createServer((_req, res) => {
      ratingsAsked();
      setTimeout(() => res.end('{"id":0,"ratings":{"Reviewer1":5,"Reviewer2":4}}'), 1000);
    });
    await new Promise<void>((r) => ratings.listen(0, '127.0.0.1', () => r()));
    const proc = spawn(process.execPath, [BIN, '--service', 'reviews', '--version', 'v2', '--port', '0', '--ratings-hostname', '127.0.0.1', '--ratings-port', String((ratings.address() as AddressInfo).port)], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('"bookinfo ready"') || proc.exitCode !== null, 'reviews to start');
    const ready = JSON.parse(out.split('\n').find((l) => l.includes('"bookinfo ready"')) as string) as { address: string; component: string; service: string; version: string };
    expect(ready).toMatchObject({ component: 'bookinfo', service: 'reviews', version: 'v2' });
    const answer = fetch(`http://${ready.address}/reviews/0`).then(async (r) => ({ status: r.status, body: (await r.json()) as { reviews: { rating: unknown }[] } }));
    await asked;
    const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    proc.kill('SIGTERM');
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.body.reviews[0].rating).toEqual({ stars: 5, color: 'black' });
    expect(await exited).toBe(0);
    ratings.close();
    expect(out).toContain('"msg":"stopped"');
  });
});
