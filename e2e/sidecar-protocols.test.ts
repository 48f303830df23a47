/**
 * Protocols through the mesh with real sidecars: gRPC (HTTP/2 cleartext from the application to
 * its sidecar, HTTP/2 between sidecars, trailers and status codes end to end) and a WebSocket
 * upgrade over HTTP/1.1 whose bytes flow both ways through both sidecars.
 */
import * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startSidecar, type RunningSidecar } from './sidecar-support.js';
import { startPilot, type RunningPilot } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'sidecar-proto-'));
const raw = (b: Buffer): Buffer => b;
let pilot: RunningPilot;
let client: RunningSidecar;
let server: RunningSidecar;
let grpcServer: grpc.Server;
let wsServer: http.Server;

beforeAll(async () => {
  grpcServer = new grpc.Server();
  grpcServer.addService(
    {
      echo: { path: '/t.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
      fail: { path: '/t.Echo/Fail', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
    },
    {
      echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const md = new grpc.Metadata();
        md.set('x-served-by', 'ratings');
        cb(null, Buffer.from(`echo:${c.request.toString()}:${String(c.metadata.get('x-user')[0] ?? '')}`), md);
      },
      fail: (_c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.PERMISSION_DENIED, details: 'go away' }),
    },
  );
  const grpcPort = await new Promise<number>((res, rej) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  // A WebSocket-style server: answers the upgrade with 101, then echoes bytes upper-cased.
  wsServer = http.createServer((_req, res) => res.end('not an upgrade'));
  wsServer.on('upgrade', (req, socket: Socket) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-path: ${req.url}\r\n\r\n`);
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
  });
  await new Promise<void>((r) => wsServer.listen(0, '127.0.0.1', () => r()));
  const wsPort = (wsServer.address() as { port: number }).port;
  const [grpcInbound, wsInbound] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'mesh.yaml'),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9090, name: grpc, protocol: GRPC}, {number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {grpc: ${grpcInbound}, http: ${wsInbound}}, labels: {app: ratings}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ratings, namespace: default}
spec:
  workloadSelector: {labels: {app: ratings}}
  ingress:
  - {port: {number: ${grpcInbound}, protocol: GRPC, name: grpc}, defaultEndpoint: '127.0.0.1:${grpcPort}'}
  - {port: {number: ${wsInbound}, protocol: HTTP, name: http}, defaultEndpoint: '127.0.0.1:${wsPort}'}
`,
  );
  pilot = await startPilot(['--config-dir', dir]);
  server = await startSidecar(pilot.xdsPort, 'ratings-v1-1', { app: 'ratings', version: 'v1' });
  client = await startSidecar(pilot.xdsPort, 'reviews-v1-1', { app: 'reviews', version: 'v1' });
}, 60_000);

afterAll(async () => {
  if (process.env.DEBUG_E2E) process.stderr.write(`${server?.logs()}\n${client?.logs()}\n`);
  for (const s of [client, server]) await s?.stop();
  await pilot?.stop();
  grpcServer?.forceShutdown();
  wsServer?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('protocols through two sidecars', () => {
  it('carries gRPC calls with metadata, trailers and error statuses', async () => {
    // The application dials its sidecar and names the service as the authority (explicit mode).
    const c = new grpc.Client(`127.0.0.1:${client.outboundPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'ratings.default.svc.cluster.local:9090' });
    const md = new grpc.Metadata();
    md.set('x-user', 'jason');
    const result = await new Promise<{ value: string; trailers: grpc.Metadata }>((resolve, reject) => {
      let value = '';
      const call = c.makeUnaryRequest('/t.Echo/Echo', raw, raw, Buffer.from('hi'), md, { deadline: Date.now() + 10_000 }, (e, r) => {
        if (e) reject(e);
        value = r?.toString() ?? '';
      });
      call.on('status', (s: grpc.StatusObject) => resolve({ value, trailers: s.metadata }));
    });
    expect(result.value).toBe('echo:hi:jason');
    expect(result.trailers.get('x-served-by')).toEqual(['ratings']);
    await expect(
      new Promise((resolve, reject) => c.makeUnaryRequest('/t.Echo/Fail', raw, raw, Buffer.from('x'), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r)))),
    ).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'go away' });
    c.close();
  });

  it('upgrades to a WebSocket-style tunnel and carries bytes both ways', async () => {
    const answer = await new Promise<{ status: number; path: string; echoed: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: client.outboundPort, path: 'http://ratings.default.svc.cluster.local:9080/ws', headers: { host: 'ratings.default.svc.cluster.local:9080', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' }, agent: false });
      req.on('upgrade', (res, socket: Socket) => {
        socket.write('hello over the tunnel');
        socket.once('data', (d: Buffer) => {
          resolve({ status: res.statusCode ?? 0, path: String(res.headers['x-path']), echoed: d.toString() });
          socket.destroy();
        });
      });
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    expect(answer).toEqual({ status: 101, path: '/ws', echoed: 'HELLO OVER THE TUNNEL' });
  });
});
