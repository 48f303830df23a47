/**
 * The workload certificate manager (libs/pki) against a real `meshwork-citadel` process: first
 * certificate with a join token, renewals over mTLS at half-life while a TLS server keeps answering
 * a client with no failed request, then citadel going away (backoff, the valid certificate still
 * served) and coming back on the same state directory.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { certificateInfo, citadelTransport, WorkloadCertManager, type WorkloadCredentials } from '@meshwork/pki';
import { joinToken, startCitadel, type CitadelPorts, type RunningCitadel } from './citadel-support.js';

/** must returns a value the test knows is present, failing loudly if it is not. */
function must<T>(v: T | undefined | null): T {
  if (v === undefined || v === null) throw new Error('expected a value');
  return v;
}

const tmp = mkdtempSync(join(tmpdir(), 'citadel-workload-'));
const stateDir = join(tmp, 'state');
const ID = 'spiffe://cluster.local/ns/default/sa/ratings';

const citadels: RunningCitadel[] = [];
async function boot(ports?: CitadelPorts): Promise<RunningCitadel> {
  const c = await startCitadel(stateDir, [], ports);
  citadels.push(c);
  return c;
}

afterAll(async () => {
  for (const c of citadels) await c.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** ping opens a TLS connection to the workload, checks its SPIFFE ID against the bundle, and reads one answer. */
function ping(port: number, roots: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({
      host: '127.0.0.1',
      port,
      ca: [...roots],
      checkServerIdentity: (_h, cert) => (cert.subjectaltname === `URI:${ID}` ? undefined : new Error(`unexpected identity ${cert.subjectaltname}`)),
    });
    let data = '';
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

describe('workload certificate manager against a real citadel', () => {
  it('renews before expiry with no failed request, and rides out a citadel outage', async () => {
    const first = await boot();
    const rootPem = readFileSync(join(stateDir, 'root-cert.pem'), 'utf8');
    const token = await joinToken(first, stateDir, 'default', 'ratings');
    const manager = new WorkloadCertManager({
      spiffeId: ID,
      validitySeconds: 4,
      initialBackoffMs: 100,
      maxBackoffMs: 400,
      roots: [rootPem],
      transport: citadelTransport({ address: `localhost:${first.ports.grpcPort}`, roots: () => [rootPem], token: () => token }),
    });
    const rotations: WorkloadCredentials[] = [];
    const errors: string[] = [];
    let onRotate = (): void => undefined;
    manager.on('rotated', (c) => {
      rotations.push(c);
      onRotate();
    });
    manager.on('error', (e) => {
      errors.push(e.message);
    });
    await manager.start();
    const creds = (): { key: string; cert: string } => ({ key: must(manager.current()).keyPem, cert: must(manager.current()).chainPems.slice(0, -1).join('') });
    const server: Server = createServer(creds(), (s) => s.end(`hello from ${certificateInfo(must(manager.current()).chainPems[0]).serialHex}`));
    manager.on('rotated', () => server.setSecureContext(creds()));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;

    // Keep a client busy across two renewals; every request must succeed.
    let failures = 0;
    let successes = 0;
    const servedSerials = new Set<string>();
    let running = true;
    const client = (async () => {
      while (running) {
        try {
          servedSerials.add(await ping(port, manager.trustBundle()));
          successes++;
        } catch {
          failures++;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise<void>((r) => {
      onRotate = () => {
        if (rotations.length >= 3) r();
      };
    });
    running = false;
    await client;
    expect(failures).toBe(0);
    expect(successes).toBeGreaterThan(0);
    expect(new Set(rotations.map((c) => c.serialHex)).size).toBe(3);
    expect(servedSerials.size).toBeGreaterThanOrEqual(2);

    // Citadel goes away: attempts fail with backoff, the held certificate stays in service.
    await first.stop();
    const held = manager.current();
    await manager.renewNow();
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(manager.current()).toBe(held);
    expect(await ping(port, manager.trustBundle())).toMatch(/^hello from /);

    // Back on the same state directory and ports: same root, and the manager recovers by itself (mTLS renewal).
    const before = rotations.length;
    await boot(first.ports);
    expect(readFileSync(join(stateDir, 'root-cert.pem'), 'utf8')).toBe(rootPem);
    await new Promise<void>((r) => {
      onRotate = () => {
        if (rotations.length > before) r();
      };
      onRotate();
    });
    expect(manager.current()).not.toBe(held);
    manager.stop();
    server.close();
  });
});
