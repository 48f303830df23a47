/**
 * The ingress gateway's TLS servers end to end, with the clients operators use: `curl --resolve`
 * and `openssl s_client -servername`. One Gateway on one port carries SIMPLE and MUTUAL servers
 * whose certificates come by credentialName from a watched secret directory (SNI picks the
 * certificate), a PASSTHROUGH server routed by SNI to a backend that terminates TLS itself (a TLS
 * VirtualService), and a server whose credential does not exist; a second port carries a TCP
 * route. The Gateway ports are the free ports themselves, so Host headers carry the real port.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, generateKeyPair, issueCertificate, privateKeyToPem, type CertificateAuthority } from '@meshwork/pki';
import { startGateway, type RunningGateway } from './gateway-support.js';
import { freePort, versionedApp } from './sidecar-support.js';
import { startPilot, until, type RunningPilot } from './support.js';

function leaf(ca: CertificateAuthority, dns: string): { cert: string; key: string; serial: string } {
  const keys = generateKeyPair('ECDSA_P256');
  const c = issueCertificate(ca, { publicKey: keys.publicKey, dnsNames: [dns], ttlMs: 3_600_000 });
  return { cert: c.chainPems[0], key: privateKeyToPem(keys.privateKey), serial: c.serialHex };
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    p.stdin?.end(input ?? '');
  });
}

/** The serial of the certificate a TLS handshake with this SNI is answered with. */
function servedSerial(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['http/1.1'] }, () => {
      const serial = s.getPeerCertificate().serialNumber.toLowerCase();
      s.end();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

describe('ingress gateway (TLS)', () => {
  let dir: string;
  let secrets: string;
  let pilot: RunningPilot;
  let gateway: RunningGateway;
  const servers: (http.Server | net.Server)[] = [];
  const ca = createRootCa({ trustDomain: 'example.com' });
  const clientCa = createRootCa({ trustDomain: 'clients.example.com' });
  const bookinfo = leaf(ca, 'bookinfo.example.com');
  const reviews = leaf(ca, 'reviews.example.com');
  const secure = leaf(ca, 'passthrough.example.com');
  const client = leaf(clientCa, 'client.example.com');
  let port = 0;
  let tcpPort = 0;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-tls-e2e-'));
    secrets = join(dir, 'secrets');
    for (const [name, c, caPem] of [
      ['bookinfo-cred', bookinfo, undefined],
      ['reviews-cred', reviews, clientCa.rootPem],
    ] as const) {
      mkdirSync(join(secrets, name), { recursive: true });
      writeFileSync(join(secrets, name, 'tls.crt'), c.cert);
      writeFileSync(join(secrets, name, 'tls.key'), c.key);
      if (caPem) writeFileSync(join(secrets, name, 'ca.crt'), caPem);
    }
    files.ca = join(dir, 'ca.pem');
    files.clientCert = join(dir, 'client.pem');
    files.clientKey = join(dir, 'client-key.pem');
    writeFileSync(files.ca, ca.rootPem);
    writeFileSync(files.clientCert, client.cert);
    writeFileSync(files.clientKey, client.key);

    const pp = await versionedApp('productpage-v1');
    const rv = await versionedApp('reviews-v1');
    // The passthrough backend terminates TLS itself with its own certificate.
    const tlsBackend = https.createServer({ cert: secure.cert, key: secure.key }, (req, res) => res.end(JSON.stringify({ backend: 'secure', path: req.url })));
    await new Promise<void>((r) => tlsBackend.listen(0, '127.0.0.1', () => r()));
    const echo = net.createServer((s) => s.on('data', (d) => s.write(`echo:${d.toString()}`)));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    servers.push(pp.server, rv.server, tlsBackend, echo);
    const portOf = (s: net.Server): number => (s.address() as net.AddressInfo).port;
    port = await freePort();
    tcpPort = await freePort();
    const se = (name: string, p: number, proto: string, ep: number): string => `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${p}, name: ${proto.toLowerCase()}, protocol: ${proto}}]
  endpoints: [{address: 127.0.0.1, ports: {${proto.toLowerCase()}: ${ep}}}]
`;
    writeFileSync(
      join(dir, 'mesh.yaml'),
      se('productpage', 9080, 'HTTP', pp.port) +
        se('reviews', 9080, 'HTTP', rv.port) +
        se('secure', 9443, 'TLS', portOf(tlsBackend)) +
        se('tcp-echo', 9000, 'TCP', portOf(echo)) +
        `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tls-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${port}, name: https-bookinfo, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: SIMPLE, credentialName: bookinfo-cred, minProtocolVersion: TLSV1_2, maxProtocolVersion: TLSV1_2}
  - port: {number: ${port}, name: https-reviews, protocol: HTTPS}
    hosts: [reviews.example.com]
    tls: {mode: MUTUAL, credentialName: reviews-cred}
  - port: {number: ${port}, name: https-missing, protocol: HTTPS}
    hosts: [missing.example.com]
    tls: {mode: SIMPLE, credentialName: missing-cred}
  - port: {number: ${port}, name: tls-passthrough, protocol: TLS}
    hosts: [passthrough.example.com]
    tls: {mode: PASSTHROUGH}
  - port: {number: ${tcpPort}, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo, namespace: default}
spec:
  hosts: [bookinfo.example.com, missing.example.com]
  gateways: [tls-gateway]
  http:
  - route: [{destination: {host: productpage, port: {number: 9080}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.example.com]
  gateways: [tls-gateway]
  http:
  - route: [{destination: {host: reviews, port: {number: 9080}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: passthrough, namespace: default}
spec:
  hosts: [passthrough.example.com]
  gateways: [tls-gateway]
  tls:
  - match: [{port: ${port}, sniHosts: [passthrough.example.com]}]
    route: [{destination: {host: secure.default.svc.cluster.local, port: {number: 9443}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo, namespace: default}
spec:
  hosts: ["*"]
  gateways: [tls-gateway]
  tcp:
  - match: [{port: ${tcpPort}}]
    route: [{destination: {host: tcp-echo.default.svc.cluster.local, port: {number: 9000}}}]
`,
    );
    pilot = await startPilot(['--config-dir', dir]);
    gateway = await startGateway(pilot.xdsPort, new Map(), ['--secret-dir', secrets]);
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await pilot?.stop();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const curl = (host: string, path: string, extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> =>
    run('curl', ['-sS', '--max-time', '10', '--resolve', `${host}:${port}:127.0.0.1`, '--cacert', files.ca, '-w', '\n%{http_code}', ...extra, `https://${host}:${port}${path}`]);

  it('SIMPLE: curl --resolve gets productpage over TLS with the bookinfo certificate (SNI)', async () => {
    const r = await curl('bookinfo.example.com', '/productpage');
    expect(r.stderr).toBe('');
    const [body, status] = r.stdout.split('\n');
    expect(status).toBe('200');
    expect(JSON.parse(body)).toMatchObject({ version: 'productpage-v1', path: '/productpage' });
  });

  it('SNI chooses among the certificates of one port', async () => {
    expect(await servedSerial(port, 'bookinfo.example.com', ca.rootPem)).toBe(bookinfo.serial.toLowerCase());
    expect(await servedSerial(port, 'reviews.example.com', ca.rootPem)).toBe(reviews.serial.toLowerCase());
    const s = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'reviews.example.com', '-CAfile', files.ca, '-verify_hostname', 'reviews.example.com', '-verify_return_error', '-cert', files.clientCert, '-key', files.clientKey]);
    expect(s.stdout).toContain('Verify return code: 0 (ok)');
  });

  it('min/max TLS version: a TLSV1_2-only server negotiates TLS 1.2 and refuses a TLS 1.3-only client', async () => {
    const ok = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'bookinfo.example.com', '-CAfile', files.ca, '-tls1_2']);
    expect(ok.stdout).toMatch(/New, TLSv1\.2,/);
    const refused = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'bookinfo.example.com', '-CAfile', files.ca, '-tls1_3']);
    expect(refused.code).not.toBe(0);
    // The other servers of the port keep TLS 1.3.
    const v13 = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'reviews.example.com', '-CAfile', files.ca, '-tls1_3', '-cert', files.clientCert, '-key', files.clientKey]);
    expect(v13.stdout).toMatch(/New, TLSv1\.3,/);
  });

  it('MUTUAL: a client certificate from the credential CA is required', async () => {
    const ok = await curl('reviews.example.com', '/reviews/1', ['--cert', files.clientCert, '--key', files.clientKey]);
    expect(ok.stdout.split('\n').pop()).toBe('200');
    expect(JSON.parse(ok.stdout.split('\n')[0])).toMatchObject({ version: 'reviews-v1', path: '/reviews/1' });
    const none = await curl('reviews.example.com', '/reviews/1');
    expect(none.code).not.toBe(0);
    const stranger = leaf(createRootCa({ trustDomain: 'stranger.example' }), 'client.example.com');
    writeFileSync(join(dir, 'stranger.pem'), stranger.cert);
    writeFileSync(join(dir, 'stranger-key.pem'), stranger.key);
    const wrong = await curl('reviews.example.com', '/reviews/1', ['--cert', join(dir, 'stranger.pem'), '--key', join(dir, 'stranger-key.pem')]);
    expect(wrong.code).not.toBe(0);
  });

  it('a server whose credential does not exist is reported, refuses its handshakes, and the other servers are unaffected', async () => {
    expect(gateway.logs()).toMatch(/"secret":"kubernetes:\/\/missing-cred".*TLS server names a secret the gateway does not have/);
    const r = await curl('missing.example.com', '/productpage');
    expect(r.code).not.toBe(0);
    const ok = await curl('bookinfo.example.com', '/productpage');
    expect(ok.stdout.split('\n').pop()).toBe('200');
  });

  it('PASSTHROUGH: the SNI routes the untouched TLS stream to a backend that terminates it', async () => {
    const r = await curl('passthrough.example.com', '/hello');
    const [body, status] = r.stdout.split('\n');
    expect(status).toBe('200');
    expect(JSON.parse(body)).toEqual({ backend: 'secure', path: '/hello' });
    expect(await servedSerial(port, 'passthrough.example.com', ca.rootPem)).toBe(secure.serial.toLowerCase());
  });

  it('TCP: a tcp route forwards bytes both ways', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(tcpPort, '127.0.0.1', () => s.write('ping'));
      s.on('data', (d) => {
        resolve(d.toString());
        s.end();
      });
      s.on('error', reject);
    });
    expect(got).toBe('echo:ping');
  });

  it('a credential replaced in the secret directory is served to new connections', async () => {
    const renewed = leaf(ca, 'bookinfo.example.com');
    writeFileSync(join(secrets, 'bookinfo-cred', 'tls.key'), renewed.key);
    writeFileSync(join(secrets, 'bookinfo-cred', 'tls.crt'), renewed.cert);
    let serial = '';
    await until(async () => (serial = await servedSerial(port, 'bookinfo.example.com', ca.rootPem).catch(() => '')) === renewed.serial.toLowerCase(), 'the renewed certificate to be served');
    expect(serial).toBe(renewed.serial.toLowerCase());
    const ok = await curl('bookinfo.example.com', '/productpage');
    expect(ok.stdout.split('\n').pop()).toBe('200');
  });
});
