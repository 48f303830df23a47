/**
 * Root rotation: the bundle, the cross certificate, pruning after the overlap, restarts in between,
 * and real TLS connections between workloads on both sides of a rotation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPair, issueSvid, privateKeyToPem, verifyChain } from '@meshwork/pki';
import { CaState, type CaStateOptions } from './ca-state.js';
import { directoryKeyStore } from './key-store.js';

const tmp = mkdtempSync(join(tmpdir(), 'ca-state-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const HOUR = 3600_000;

async function open(clock: { t: number }, dir = join(tmp, String(n++))): Promise<{ state: CaState; dir: string; opts: CaStateOptions }> {
  const opts: CaStateOptions = { trustDomain: 'cluster.local', keyAlgorithm: 'ECDSA_P256', rootTtlMs: 10 * 365 * 24 * HOUR, now: () => new Date(clock.t) };
  return { state: await CaState.open(await directoryKeyStore(dir), opts), dir, opts };
}

/** A workload: its key, chain as it presents it (without the root) and the bundle it trusts. */
interface Workload {
  key: string;
  chain: string;
  trusts: string[];
}

function workload(state: CaState, sa: string, trusts: string[]): Workload {
  const kp = generateKeyPair();
  const svid = issueSvid(state.signer, { publicKey: kp.publicKey, spiffeId: `spiffe://cluster.local/ns/default/sa/${sa}` });
  return { key: privateKeyToPem(kp.privateKey), chain: svid.chainPems.slice(0, -1).join(''), trusts };
}

/** mtls connects client → server with mutual TLS; resolves with the identity each side saw, or rejects. */
async function mtls(server: Workload, client: Workload): Promise<{ serverSaw: string; clientSaw: string }> {
  const srv = createServer({ key: server.key, cert: server.chain, ca: server.trusts, requestCert: true, rejectUnauthorized: true }, (s: TLSSocket) => {
    s.end(String(s.getPeerCertificate().subjectaltname));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  try {
    return await new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, key: client.key, cert: client.chain, ca: client.trusts, checkServerIdentity: () => undefined }, () => {
        const clientSaw = String(s.getPeerCertificate().subjectaltname);
        let data = '';
        s.on('data', (d: Buffer) => (data += d.toString()));
        s.on('end', () => resolve({ serverSaw: data, clientSaw }));
      });
      s.on('error', reject);
    });
  } finally {
    srv.close();
  }
}

describe('root rotation', () => {
  it('trusts both roots during the overlap, signs with the new one through a cross certificate, and drops the old after the window', async () => {
    const clock = { t: Date.parse('2031-03-01T00:00:00Z') };
    const { state, dir } = await open(clock);
    const oldRoot = state.roots()[0];
    const changes: string[][] = [];
    state.onRootsChanged((r) => changes.push(r));
    const r = await state.rotateRoot(2 * HOUR);
    expect(state.roots()).toEqual([r.rootPem, oldRoot]);
    expect(changes).toEqual([[r.rootPem, oldRoot]]);
    expect(state.signer.chainPems).toEqual([state.crossCertificate, r.rootPem]);

    // A restart during the overlap keeps the new root, both anchors and the cross certificate.
    const again = await open(clock, dir);
    expect(again.state.roots()).toEqual([r.rootPem, oldRoot]);
    expect(again.state.signer.chainPems).toEqual(state.signer.chainPems);

    clock.t += HOUR;
    expect(await state.prune()).toBe(false);
    clock.t += 2 * HOUR;
    expect(await state.prune()).toBe(true);
    expect(state.roots()).toEqual([r.rootPem]);
    expect(state.signer.chainPems).toEqual([r.rootPem]);
    expect(changes).toHaveLength(2);
    const after = await open(clock, dir);
    expect(after.state.roots()).toEqual([r.rootPem]);
    expect(after.state.signer.chainPems).toEqual([r.rootPem]);
  });

  it('keeps rotated and not-yet-rotated workloads talking over mTLS in every mix', async () => {
    const { state } = await open({ t: Date.now() });
    const oldRoot = state.roots()[0];
    // Before: everyone has an old-root certificate and trusts the old root only.
    const oldA = workload(state, 'a', [oldRoot]);
    await state.rotateRoot(2 * HOUR);
    const both = state.roots();
    // Rotated: new-root certificate, new bundle. Lagging: old certificate and still the old bundle.
    const newB = workload(state, 'b', both);
    const oldC = workload(state, 'c', [oldRoot]);
    const newD = workload(state, 'd', both);
    const pairs: Array<[Workload, Workload]> = [
      [oldA, newB],
      [newB, oldA],
      [oldC, newD],
      [newD, oldC],
      [newB, newD],
      [oldA, oldC],
      // Worst case: a workload that got a new certificate but an old bundle, and one with neither.
      [{ ...newB, trusts: [oldRoot] }, oldA],
      [oldA, { ...newB, trusts: [oldRoot] }],
    ];
    for (const [server, client] of pairs) {
      const r = await mtls(server, client);
      expect(r.serverSaw).toMatch(/^URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/[a-d]$/);
      expect(r.clientSaw).toMatch(/^URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/[a-d]$/);
    }
    // After the window only the new root is trusted: old-root certificates are refused.
    const newOnly = { ...newD, trusts: [state.roots()[0]] };
    // (With TLS 1.3 the client may finish its handshake before the server refuses; either way the server never serves it.)
    expect(await mtls(newOnly, oldA).then((r) => r.serverSaw, () => '')).toBe('');
    expect(verifyChain(newB.chain, [state.roots()[0]]).spiffeId).toBe('spiffe://cluster.local/ns/default/sa/b');
  });
});
