/**
 * Citadel end to end with the real binaries: `npx meshwork-citadel` on ephemeral ports, `meshctl
 * join-token create` against its admin API, a gRPC CreateCertificate with that token, and the openssl
 * binary verifying the result; `meshctl ca rotate-root` adds a root and new certificates chain to it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, generateKeyPair, verifyChain } from '@meshwork/pki';
import { meshctl, startCitadel, type CitadelPorts, type RunningCitadel } from './citadel-support.js';

const root = join(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'citadel-e2e-'));
const stateDir = join(tmp, 'state');

let citadel: RunningCitadel;
let ports: CitadelPorts;

function createCertificate(bearer: string, csr: string): Promise<string[]> {
  const def = protoLoader.loadSync(join(root, 'apps/citadel/proto/ca.proto'), { keepCase: true, longs: Number, defaults: true });
  const Client = (grpc.loadPackageDefinition(def) as unknown as { istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } } }).istio.v1.auth.IstioCertificateService;
  const roots = readFileSync(join(stateDir, 'root-cert.pem'));
  const client = new Client(`localhost:${ports.grpcPort}`, grpc.credentials.createSsl(roots)) as unknown as grpc.Client & {
    CreateCertificate(r: object, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, res?: { cert_chain: string[] }) => void): void;
  };
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${bearer}`);
  return new Promise((resolve, reject) =>
    client.CreateCertificate({ csr, validity_duration: 0 }, md, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res?.cert_chain ?? []);
    }),
  );
}

beforeAll(async () => {
  citadel = await startCitadel(stateDir, ['--root-overlap', '1h']);
  ports = citadel.ports;
});

afterAll(async () => {
  expect(await citadel?.stop()).toBe(0);
  rmSync(tmp, { recursive: true, force: true });
});

describe('meshwork-citadel + meshctl', () => {
  it('issues a join token with meshctl and a certificate with it that openssl verifies', async () => {
    const r = await meshctl(['join-token', 'create', '--citadel', `localhost:${ports.adminPort}`, '--state-dir', stateDir, '--ns', 'default', '--sa', 'productpage', '--ttl', '10m']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const key = generateKeyPair();
    const chain = await createCertificate(r.stdout.trim(), createCsr({ privateKey: key.privateKey, uris: ['spiffe://cluster.local/ns/default/sa/productpage'] }));
    writeFileSync(join(tmp, 'leaf.pem'), chain[0]);
    writeFileSync(join(tmp, 'chain.pem'), chain.slice(1).join(''));
    const out = await promisify(execFile)('openssl', ['verify', '-CAfile', join(stateDir, 'root-cert.pem'), '-untrusted', join(tmp, 'chain.pem'), join(tmp, 'leaf.pem')]);
    expect(out.stdout.trim()).toBe(`${join(tmp, 'leaf.pem')}: OK`);
    const text = await promisify(execFile)('openssl', ['x509', '-in', join(tmp, 'leaf.pem'), '-noout', '-text']);
    expect(text.stdout).toContain('URI:spiffe://cluster.local/ns/default/sa/productpage');
  });

  it('refuses meshctl without the admin credential', async () => {
    const r = await meshctl(['join-token', 'create', '--citadel', `localhost:${ports.adminPort}`, '--admin-token-file', join(tmp, 'nope'), '--ca-file', join(stateDir, 'root-cert.pem'), '--ns', 'a', '--sa', 'b']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('cannot read admin credential');
  });

  it('rotates the root: both roots served during the overlap, new certificates chain to the new root', async () => {
    const before = await (await fetch(`http://127.0.0.1:${ports.monitoringPort}/ca/roots`)).text();
    const oldRoot = readFileSync(join(stateDir, 'root-cert.pem'), 'utf8');
    const r = await meshctl(['ca', 'rotate-root', '--citadel', `localhost:${ports.adminPort}`, '--state-dir', stateDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^new root [0-9A-F:]+ .*previous roots stay trusted until /);
    const newRoot = readFileSync(join(stateDir, 'root-cert.pem'), 'utf8');
    expect(newRoot).not.toBe(oldRoot);
    const after = await (await fetch(`http://127.0.0.1:${ports.monitoringPort}/ca/roots`)).text();
    expect(before).toBe(oldRoot);
    expect(after).toBe(newRoot + oldRoot);
    const t = await meshctl(['join-token', 'create', '--citadel', `localhost:${ports.adminPort}`, '--state-dir', stateDir, '--ns', 'default', '--sa', 'reviews']);
    const chain = await createCertificate(t.stdout.trim(), createCsr({ privateKey: generateKeyPair().privateKey, uris: ['spiffe://cluster.local/ns/default/sa/reviews'] }));
    expect(chain[chain.length - 1]).toBe(newRoot);
    expect(verifyChain(chain, [newRoot]).spiffeId).toBe('spiffe://cluster.local/ns/default/sa/reviews');
  });
});
