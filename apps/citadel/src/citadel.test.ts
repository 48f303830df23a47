/**
 * Citadel against real sockets: TLS gRPC CreateCertificate, the HTTPS admin API, a fake Kubernetes
 * API server speaking the TokenReview wire format, and the openssl binary checking what was issued.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, createIntermediateCa, createRootCa, generateKeyPair, privateKeyToPem, verifyChain, type KeyPair } from '@meshwork/pki';
import { connect } from '@nats-io/transport-node';
import { readTrustBundle, watchTrustBundle, type TrustBundleMessage } from '@meshwork/bus';
import { startNatsServer } from '@meshwork/bus/testing';
import { startCitadel, type Citadel, type CitadelOptions } from './citadel.js';
import { loadCaService, type IstioCertificateResponse } from './ca-server.js';

/** must returns a value the test knows is present, failing loudly if it is not. */
function must<T>(v: T | undefined | null): T {
  if (v === undefined || v === null) throw new Error('expected a value');
  return v;
}

const TD = 'cluster.local';
const silent = { level: 'silent' } as const;
const tmp = mkdtempSync(join(tmpdir(), 'citadel-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;

function options(over: Partial<CitadelOptions> = {}): CitadelOptions {
  return {
    stateDir: join(tmp, `state-${dirs++}`),
    trustDomain: TD,
    listenAddress: '127.0.0.1',
    grpcPort: 0,
    adminPort: 0,
    monitoringPort: 0,
    caKeyAlgorithm: 'ECDSA_P256',
    rootTtl: 10 * 365 * 86400_000,
    workloadCertTtl: 86400_000,
    maxWorkloadCertTtl: 90 * 86400_000,
    serverDnsNames: ['localhost'],
    joinTokenMaxTtl: 86400_000,
    tokenAudiences: ['istio-ca'],
    rootOverlap: 3600_000,
    shutdownGrace: 1000,
    logLevel: 'silent',
    ...over,
  };
}

/** adminCall sends an HTTPS request to the admin API, trusting citadel's roots. */
function adminCall(c: Citadel, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: 'localhost', port: c.adminPort, method, path, ca: c.roots(), headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function adminToken(o: CitadelOptions): string {
  return readFileSync(join(o.stateDir, 'admin-token'), 'utf8').trim();
}

async function joinToken(c: Citadel, o: CitadelOptions, ns: string, sa: string): Promise<string> {
  const r = await adminCall(c, 'POST', '/v1/join-tokens', { namespace: ns, serviceAccount: sa, ttlSeconds: 600 }, adminToken(o));
  expect(r.status).toBe(201);
  return r.json.token as string;
}

interface CallResult {
  chain?: string[];
  code?: grpc.status;
  details?: string;
}

/** createCertificate calls CreateCertificate over TLS (optionally mTLS with `client`). */
function createCertificate(c: Citadel, req: { csr: string; validity_duration?: number }, opts: { bearer?: string; client?: { key: KeyPair; chain: string[] } } = {}): Promise<CallResult> {
  const { Client } = loadCaService();
  const creds = grpc.credentials.createSsl(Buffer.from(c.roots().join('')), opts.client ? Buffer.from(privateKeyToPem(opts.client.key.privateKey)) : null, opts.client ? Buffer.from(opts.client.chain.join('')) : null);
  const client = new Client(`localhost:${c.grpcPort}`, creds) as unknown as grpc.Client & {
    CreateCertificate(r: object, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, res?: IstioCertificateResponse) => void): void;
  };
  const md = new grpc.Metadata();
  if (opts.bearer !== undefined) md.set('authorization', `Bearer ${opts.bearer}`);
  return new Promise((resolve) => {
    client.CreateCertificate({ csr: req.csr, validity_duration: req.validity_duration ?? 0 }, md, (err, res) => {
      client.close();
      resolve(err ? { code: err.code, details: err.details } : { chain: must(res).cert_chain });
    });
  });
}

const idOf = (ns: string, sa: string): string => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

function opensslVerify(rootPem: string, chain: string[]): string {
  const d = join(tmp, `v${dirs++}`);
  mkdirSync(d);
  writeFileSync(join(d, 'root.pem'), rootPem);
  writeFileSync(join(d, 'chain.pem'), chain.slice(1).join(''));
  writeFileSync(join(d, 'leaf.pem'), chain[0]);
  return execFileSync('openssl', ['verify', '-CAfile', 'root.pem', '-untrusted', 'chain.pem', 'leaf.pem'], { cwd: d, encoding: 'utf8' }).trim();
}

async function metricValue(c: Citadel, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${c.monitoringPort}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe('citadel with a self-signed root', () => {
  const o = options();
  let c: Citadel;
  beforeAll(async () => {
    c = await startCitadel({ ...o, logger: undefined, logLevel: silent.level });
  });
  afterAll(async () => c.close());

  it('keeps its state in 0600 files and serves the root at <state-dir>/root-cert.pem', () => {
    for (const f of ['root-cert.pem', 'root-key.pem', 'admin-token', 'join-token-key']) expect(statSync(join(o.stateDir, f)).mode & 0o777).toBe(0o600);
    expect(statSync(o.stateDir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(o.stateDir, 'root-cert.pem'), 'utf8')).toBe(c.roots()[0]);
  });

  it('issues an SVID to a join-token holder, leaf first and root last, that openssl verifies', async () => {
    const token = await joinToken(c, o, 'default', 'reviews');
    const key = generateKeyPair();
    const r = await createCertificate(c, { csr: createCsr({ privateKey: key.privateKey, uris: [idOf('default', 'reviews')] }) }, { bearer: token });
    expect(r.code).toBeUndefined();
    expect(r.chain).toHaveLength(2);
    const root = readFileSync(join(o.stateDir, 'root-cert.pem'), 'utf8');
    expect(must(r.chain)[1]).toBe(root);
    expect(opensslVerify(root, must(r.chain))).toBe('leaf.pem: OK');
    const v = verifyChain(must(r.chain), root);
    expect(v.spiffeId).toBe(idOf('default', 'reviews'));
    expect(v.leaf.notAfter.getTime() - v.leaf.notBefore.getTime()).toBe(86400_000 + 60_000);
  });

  it('renews over mTLS with the current certificate and refuses a different identity', async () => {
    const token = await joinToken(c, o, 'shop', 'cart');
    const key = generateKeyPair();
    const first = await createCertificate(c, { csr: createCsr({ privateKey: key.privateKey, uris: [idOf('shop', 'cart')] }) }, { bearer: token });
    const next = generateKeyPair();
    const renewed = await createCertificate(c, { csr: createCsr({ privateKey: next.privateKey, uris: [idOf('shop', 'cart')] }), validity_duration: 3600 }, { client: { key, chain: must(first.chain) } });
    expect(renewed.code).toBeUndefined();
    expect(verifyChain(must(renewed.chain), c.roots()).spiffeId).toBe(idOf('shop', 'cart'));
    const other = await createCertificate(c, { csr: createCsr({ privateKey: next.privateKey, uris: [idOf('shop', 'payments')] }) }, { client: { key, chain: must(first.chain) } });
    expect(other.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('refuses bad requests with the right status and issues nothing', async () => {
    const issuedBefore = await metricValue(c, 'citadel_server_success_cert_issuance_count');
    const token = await joinToken(c, o, 'default', 'reviews');
    const key = generateKeyPair().privateKey;
    const csr = (uris: string[], extra: { dnsNames?: string[] } = {}): string => createCsr({ privateKey: key, uris, ...extra });
    const me = idOf('default', 'reviews');
    const stateKey = Buffer.from(readFileSync(join(o.stateDir, 'join-token-key'), 'utf8').trim(), 'base64');
    const claims = { ns: 'default', sa: 'reviews' };
    const expired = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('meshwork-citadel').setAudience(`meshwork-join:${TD}`).setSubject(me).setIssuedAt(1_000_000).setExpirationTime(1_000_600).sign(stateKey);
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('meshwork-citadel').setAudience(`meshwork-join:${TD}`).setSubject(me).setExpirationTime('1h').sign(Buffer.alloc(32, 7));
    const cases: Array<[string, Promise<CallResult>, grpc.status]> = [
      ['no credentials', createCertificate(c, { csr: csr([me]) }), grpc.status.UNAUTHENTICATED],
      ['expired join token', createCertificate(c, { csr: csr([me]) }, { bearer: expired }), grpc.status.UNAUTHENTICATED],
      ['forged join token', createCertificate(c, { csr: csr([me]) }, { bearer: forged }), grpc.status.UNAUTHENTICATED],
      ['unknown bearer token (no Kubernetes configured)', createCertificate(c, { csr: csr([me]) }, { bearer: 'abc' }), grpc.status.UNAUTHENTICATED],
      ["someone else's identity", createCertificate(c, { csr: csr([idOf('default', 'ratings')]) }, { bearer: token }), grpc.status.PERMISSION_DENIED],
      ['two URI SANs', createCertificate(c, { csr: csr([me, idOf('default', 'ratings')]) }, { bearer: token }), grpc.status.INVALID_ARGUMENT],
      ['a DNS SAN next to the URI', createCertificate(c, { csr: csr([me], { dnsNames: ['x.example'] }) }, { bearer: token }), grpc.status.INVALID_ARGUMENT],
      ['no SAN', createCertificate(c, { csr: csr([]) }, { bearer: token }), grpc.status.INVALID_ARGUMENT],
      ['malformed CSR', createCertificate(c, { csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n' }, { bearer: token }), grpc.status.INVALID_ARGUMENT],
      ['TTL over max', createCertificate(c, { csr: csr([me]), validity_duration: 91 * 86400 }, { bearer: token }), grpc.status.INVALID_ARGUMENT],
      ['wrong trust domain', createCertificate(c, { csr: csr(['spiffe://other.domain/ns/default/sa/reviews']) }, { bearer: token }), grpc.status.PERMISSION_DENIED],
    ];
    for (const [name, p, want] of cases) {
      const r = await p;
      expect({ name, code: r.code, chain: r.chain }).toEqual({ name, code: want, chain: undefined });
    }
    expect(await metricValue(c, 'citadel_server_success_cert_issuance_count')).toBe(issuedBefore);
    expect(await metricValue(c, 'citadel_server_authentication_failure_count')).toBeGreaterThanOrEqual(4);
    expect(await metricValue(c, 'citadel_server_csr_parsing_err_count')).toBeGreaterThanOrEqual(1);
    expect(await metricValue(c, 'citadel_server_csr_count')).toBeGreaterThanOrEqual(cases.length);
    expect(await metricValue(c, 'citadel_server_root_cert_expiry_seconds')).toBeGreaterThan(9 * 365 * 86400);
  });

  it('guards the admin API with the state-directory credential', async () => {
    expect((await adminCall(c, 'POST', '/v1/join-tokens', { namespace: 'a', serviceAccount: 'b' })).status).toBe(401);
    expect((await adminCall(c, 'POST', '/v1/join-tokens', { namespace: 'a', serviceAccount: 'b' }, 'wrong')).status).toBe(401);
    expect((await adminCall(c, 'POST', '/v1/join-tokens', { namespace: 'a/b', serviceAccount: 'b' }, adminToken(o))).status).toBe(400);
    expect((await adminCall(c, 'POST', '/v1/join-tokens', { namespace: 'a', serviceAccount: 'b', ttlSeconds: 10 * 86400 }, adminToken(o))).status).toBe(400);
    expect((await adminCall(c, 'GET', '/v1/ca/roots')).json.roots).toEqual(c.roots());
    const ready = await fetch(`http://127.0.0.1:${c.monitoringPort}/healthz/ready`);
    expect(ready.status).toBe(200);
  });
});

describe('citadel restarts and plug-ins', () => {
  it('keeps its root across a restart, so certificates issued before still verify', async () => {
    const o = options();
    const c1 = await startCitadel(o);
    const token = await joinToken(c1, o, 'default', 'a');
    const before = await createCertificate(c1, { csr: createCsr({ privateKey: generateKeyPair().privateKey, uris: [idOf('default', 'a')] }) }, { bearer: token });
    const root1 = c1.roots();
    await c1.close();
    const c2 = await startCitadel(o);
    try {
      expect(c2.roots()).toEqual(root1);
      expect(verifyChain(must(before.chain), c2.roots()).spiffeId).toBe(idOf('default', 'a'));
      // The join token (signed with the persisted key) still works after the restart.
      const after = await createCertificate(c2, { csr: createCsr({ privateKey: generateKeyPair().privateKey, uris: [idOf('default', 'a')] }) }, { bearer: token });
      expect(must(after.chain)[must(after.chain).length - 1]).toBe(root1[0]);
    } finally {
      await c2.close();
    }
  });

  it('signs as a plugged-in intermediate (Istio cacerts) and returns the full chain', async () => {
    const root = createRootCa({ trustDomain: TD, keyAlgorithm: 'RSA_2048' });
    const mid = createIntermediateCa(root, { trustDomain: TD });
    const cacerts = join(tmp, `cacerts-${dirs++}`);
    mkdirSync(cacerts);
    writeFileSync(join(cacerts, 'ca-cert.pem'), mid.certPem);
    writeFileSync(join(cacerts, 'ca-key.pem'), privateKeyToPem(mid.key));
    writeFileSync(join(cacerts, 'root-cert.pem'), root.rootPem);
    writeFileSync(join(cacerts, 'cert-chain.pem'), mid.certPem + root.rootPem);
    const o = options({ cacertsDir: cacerts });
    const c = await startCitadel(o);
    try {
      expect(readFileSync(join(o.stateDir, 'root-cert.pem'), 'utf8')).toBe(root.rootPem);
      const token = await joinToken(c, o, 'default', 'a');
      const r = await createCertificate(c, { csr: createCsr({ privateKey: generateKeyPair('RSA_2048').privateKey, uris: [idOf('default', 'a')] }) }, { bearer: token });
      expect(r.chain).toEqual([must(r.chain)[0], mid.certPem, root.rootPem]);
      expect(opensslVerify(root.rootPem, must(r.chain))).toBe('leaf.pem: OK');
      expect((await adminCall(c, 'POST', '/v1/ca/rotate-root', {}, adminToken(o))).status).toBe(409);
    } finally {
      await c.close();
    }
  });
});

describe('Kubernetes service-account tokens', () => {
  let api: Server;
  let apiUrl = '';
  const reviews: unknown[] = [];
  beforeAll(async () => {
    // A minimal API server: POST /apis/authentication.k8s.io/v1/tokenreviews, as kube-apiserver answers it.
    api = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/apis/authentication.k8s.io/v1/tokenreviews' || req.headers.authorization !== 'Bearer citadel-sa-token') {
          res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403 }));
          return;
        }
        const review = JSON.parse(body) as { apiVersion: string; kind: string; spec: { token: string; audiences?: string[] } };
        reviews.push(review);
        const valid = review.spec.token === 'good-sa-jwt';
        const status = valid
          ? { authenticated: true, user: { username: 'system:serviceaccount:bookinfo:details', uid: 'u1', groups: ['system:serviceaccounts', 'system:serviceaccounts:bookinfo', 'system:authenticated'] }, audiences: review.spec.audiences }
          : { authenticated: false, error: 'invalid bearer token, token lookup failed' };
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: review.spec, status }));
      });
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
    const a = api.address();
    apiUrl = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => api.close(() => r())));

  it('authenticates a service-account JWT with TokenReview and refuses an invalid one', async () => {
    const tokenFile = join(tmp, `sa-token-${dirs++}`);
    writeFileSync(tokenFile, 'citadel-sa-token\n');
    const c = await startCitadel(options({ k8sApi: apiUrl, k8sTokenFile: tokenFile }));
    try {
      const key = generateKeyPair().privateKey;
      const ok = await createCertificate(c, { csr: createCsr({ privateKey: key, uris: [idOf('bookinfo', 'details')] }) }, { bearer: 'good-sa-jwt' });
      expect(ok.code).toBeUndefined();
      expect(verifyChain(must(ok.chain), c.roots()).spiffeId).toBe(idOf('bookinfo', 'details'));
      expect(reviews[0]).toEqual({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'good-sa-jwt', audiences: ['istio-ca'] } });
      const bad = await createCertificate(c, { csr: createCsr({ privateKey: key, uris: [idOf('bookinfo', 'details')] }) }, { bearer: 'bad-sa-jwt' });
      expect(bad.code).toBe(grpc.status.UNAUTHENTICATED);
      const other = await createCertificate(c, { csr: createCsr({ privateKey: key, uris: [idOf('bookinfo', 'ratings')] }) }, { bearer: 'good-sa-jwt' });
      expect(other.code).toBe(grpc.status.PERMISSION_DENIED);
    } finally {
      await c.close();
    }
  });
});

describe('trust bundle distribution', () => {
  it('publishes the roots on NATS at start and after rotate-root, and serves them over HTTP', async () => {
    const nats = await startNatsServer();
    const o = options({ natsUrl: nats.url });
    const c = await startCitadel(o);
    const nc = await connect({ servers: nats.url });
    try {
      expect((await readTrustBundle(nc))?.roots).toEqual(c.roots());
      const seen: TrustBundleMessage[] = [];
      let wake = (): void => undefined;
      const stop = await watchTrustBundle(nc, (b) => {
        seen.push(b);
        wake();
      });
      const rotated = await adminCall(c, 'POST', '/v1/ca/rotate-root', {}, adminToken(o));
      expect(rotated.status).toBe(200);
      await new Promise<void>((r) => {
        wake = () => {
          if (seen.some((b) => b.roots.length === 2)) r();
        };
        wake();
      });
      stop();
      expect(seen[seen.length - 1].roots).toEqual(c.roots());
      expect(c.roots()[0]).toBe(rotated.json.rootPem);
      const http = await (await fetch(`http://127.0.0.1:${c.monitoringPort}/ca/roots`)).text();
      expect(http).toBe(c.roots().join(''));
      // Citadel's own TLS now chains to the new root (through the cross certificate for old clients).
      const token = await joinToken(c, o, 'default', 'x');
      const r = await createCertificate(c, { csr: createCsr({ privateKey: generateKeyPair().privateKey, uris: [idOf('default', 'x')] }) }, { bearer: token });
      expect(r.chain).toHaveLength(3);
      expect(must(r.chain)[2]).toBe(c.roots()[0]);
      expect(opensslVerify(c.roots()[1], must(r.chain))).toBe('leaf.pem: OK');
    } finally {
      await nc.close();
      await c.close();
      await nats.stop();
    }
  });
});
