#!/usr/bin/env node
// Certificate issuance throughput of citadel, on one core (npm run bench:citadel pins with taskset).
//   (a) signing alone: issueSvid with an already-verified public key (forge builds the TBS, node:crypto signs);
//   (b) CSR path: parseCsr (+ native signature check) then issueSvid, what one request costs the CA;
//   (c) end to end over gRPC: a real `meshwork-citadel` process, TLS, join-token authentication,
//       CreateCertificate calls with 64 in flight (CSRs made beforehand: their cost is the workload's).
// For ECDSA P-256 and RSA 2048 (CA and workload keys alike). Prints a table and writes
// bench/results/citadel.json. Target: (a) ECDSA at least 1,000 certificates/s.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createCsr, createRootCa, generateKeyPair, issueSvid, parseCsr } from '@meshwork/pki';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SIGN_N = Number(process.env.BENCH_SIGN ?? 3000);
const E2E_N = Number(process.env.BENCH_E2E ?? 2000);
const TARGET = 1000;
const ID = 'spiffe://cluster.local/ns/default/sa/bench';

function rate(n, fn) {
  for (let i = 0; i < Math.min(200, n / 10); i++) fn(i); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return (n / (performance.now() - t0)) * 1000;
}

function local(alg) {
  const ca = createRootCa({ trustDomain: 'cluster.local', keyAlgorithm: alg });
  const pub = generateKeyPair(alg).publicKey;
  const csrs = Array.from({ length: 50 }, () => createCsr({ privateKey: generateKeyPair(alg).privateKey, uris: [ID] }));
  return {
    sign: rate(SIGN_N, () => issueSvid(ca, { publicKey: pub, spiffeId: ID })),
    csr: rate(SIGN_N, (i) => issueSvid(ca, { publicKey: parseCsr(csrs[i % csrs.length]).publicKey, spiffeId: ID })),
  };
}

async function endToEnd(alg) {
  const dir = mkdtempSync(join(tmpdir(), 'citadel-bench-'));
  const proc = spawn(process.execPath, [...(process.env.BENCH_CITADEL_NODE_ARGS ?? '').split(' ').filter(Boolean), join(root, 'apps/citadel/bin/meshwork-citadel.js'), '--state-dir', dir, '--grpc-port', '0', '--admin-port', '0', '--monitoring-port', '0', '--ca-key-algorithm', alg, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const ports = await new Promise((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d) => {
        out += d;
        for (const l of out.split('\n')) if (l.includes('"citadel ready"')) resolve(JSON.parse(l));
      });
      proc.once('exit', (c) => reject(new Error(`citadel exited ${c}`)));
    });
    proc.stdout.resume();
    const rootPem = readFileSync(join(dir, 'root-cert.pem'), 'utf8');
    const admin = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
    const token = await new Promise((resolve, reject) => {
      const req = request({ host: 'localhost', port: ports.adminPort, method: 'POST', path: '/v1/join-tokens', ca: rootPem, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' } }, (res) => {
        let t = '';
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve(JSON.parse(t).token));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ namespace: 'default', serviceAccount: 'bench', ttlSeconds: 3600 }));
    });
    const def = protoLoader.loadSync(join(root, 'apps/citadel/proto/ca.proto'), { keepCase: true, longs: Number, defaults: true });
    const Client = grpc.loadPackageDefinition(def).istio.v1.auth.IstioCertificateService;
    const client = new Client(`localhost:${ports.grpcPort}`, grpc.credentials.createSsl(Buffer.from(rootPem)));
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const csrs = Array.from({ length: 100 }, () => createCsr({ privateKey: generateKeyPair(alg).privateKey, uris: [ID] }));
    const call = (i) => new Promise((resolve, reject) => client.CreateCertificate({ csr: csrs[i % csrs.length] }, md, (e, r) => (e ? reject(e) : resolve(r))));
    const run = async (n) => {
      let next = 0;
      const worker = async () => {
        while (next < n) await call(next++);
      };
      await Promise.all(Array.from({ length: 64 }, worker));
    };
    await run(200);
    const t0 = performance.now();
    await run(E2E_N);
    const r = (E2E_N / (performance.now() - t0)) * 1000;
    client.close();
    return r;
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows = [];
for (const alg of ['ECDSA_P256', 'RSA_2048']) {
  const l = local(alg);
  rows.push({ algorithm: alg, signPerSec: Math.round(l.sign), csrAndSignPerSec: Math.round(l.csr), grpcEndToEndPerSec: Math.round(await endToEnd(alg)) });
}
const env = { node: process.version, cpu: cpus()[0]?.model, date: new Date().toISOString() };
console.log(`citadel issuance, certificates/s (node ${env.node}, ${env.cpu})`);
console.log('algorithm   | sign only | CSR parse+verify+sign | gRPC end to end (64 in flight)');
for (const r of rows) console.log(`${r.algorithm.padEnd(11)} | ${String(r.signPerSec).padStart(9)} | ${String(r.csrAndSignPerSec).padStart(21)} | ${String(r.grpcEndToEndPerSec).padStart(8)}`);
const ecdsa = rows[0].signPerSec;
console.log(`target: ECDSA P-256 signing >= ${TARGET}/s: ${ecdsa >= TARGET ? 'met' : 'NOT met'} (${ecdsa}/s)`);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/citadel.json'), `${JSON.stringify({ env, target: { ecdsaSignPerSec: TARGET }, rows }, null, 2)}\n`);
