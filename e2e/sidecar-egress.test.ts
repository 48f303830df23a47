/**
 * A Sidecar egress listener with captureMode NONE, through a real sidecar: the application dials
 * a plain loopback port (no HTTP proxy settings, any TCP protocol) and the sidecar carries the
 * connection to the service the listener names.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startSidecar, tcpCacheMesh, type RunningSidecar } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'sidecar-egress-'));
let pilot: RunningPilot;
let sidecar: RunningSidecar;
let echo: Server;
let egressPort = 0;

beforeAll(async () => {
  echo = createServer((c) => c.on('data', (d: Buffer) => c.write(`redis-ish:${d.toString()}`)));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const echoPort = (echo.address() as { port: number }).port;
  egressPort = await freePort();
  writeFileSync(join(dir, 'mesh.yaml'), tcpCacheMesh('web', egressPort, echoPort));
  pilot = await startPilot(['--config-dir', dir]);
  sidecar = await startSidecar(pilot.xdsPort, 'web-1', { app: 'web' });
}, 60_000);

afterAll(async () => {
  await sidecar?.stop();
  await pilot?.stop();
  echo?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('binds the egress listener on loopback and carries TCP to the service', async () => {
  await until(() => sidecar.logs().includes(`127.0.0.1:${egressPort}`), 'the egress listener to be bound');
  const reply = await new Promise<string>((resolve, reject) => {
    const s = connect(egressPort, '127.0.0.1', () => s.write('PING'));
    s.once('data', (d: Buffer) => {
      resolve(d.toString());
      s.destroy();
    });
    s.on('error', reject);
  });
  expect(reply).toBe('redis-ish:PING');
});
