#!/usr/bin/env node
// The bare-Node reference of bench/gateway/tls-floor.mjs: node's own tls.Server answering every
// request with a fixed 100 B HTTP/1.1 response (closing when the request says `Connection: close`),
// with the gateway's session-ticket renewal (so a client resumes every connection, as with
// HAProxy) and nothing else: no parsing beyond that header, no routing, no upstream, no telemetry.
// Usage: node tls-floor-server.mjs <port> <key.pem> <cert.pem>; prints `ready <port>`.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:tls';
import { renewTicketsOnResumption } from '../../libs/proxy/dist/security/downstream-tls.js';

const [port, keyFile, certFile] = process.argv.slice(2);
const body = 'x'.repeat(100);
const keep = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
const close = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
const server = createServer({ key: readFileSync(keyFile), cert: readFileSync(certFile), ALPNProtocols: ['http/1.1'] }, (s) => {
  s.setNoDelay(true);
  s.on('error', () => undefined);
  s.on('data', (d) => {
    // one request per read (wrk waits for each response); pipelining is not exercised here
    if (/\r\nconnection: *close\r\n/i.test(d.toString('latin1'))) s.end(close);
    else s.write(keep);
  });
});
renewTicketsOnResumption(server);
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
