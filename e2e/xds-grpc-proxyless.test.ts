/**
 * The whole xDS path with a real proxyless gRPC client: a ServiceEntry on disk → the real
 * meshwork-pilot process (translate + libs/xds ADS) → @grpc/grpc-js-xds resolving
 * `xds:///echo.default.svc.cluster.local:<port>` → a call reaching a real local gRPC server.
 * A config change (the endpoint moves to a second server) reaches the client without a restart.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { echoBackend, echoCall as call, startPilot, until, xdsClient, type RunningPilot } from './support.js';

let dir: string;
let pilot: RunningPilot;
const servers: grpc.Server[] = [];
const ports: number[] = [];

// The service port is the first backend's; a moved endpoint keeps the service port and
// targets another one (ServiceEntry endpoint `ports`).
const serviceEntry = (targetPort: number): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${ports[0]}, name: grpc, protocol: GRPC}]
  endpoints:
  - {address: 127.0.0.1, ports: {grpc: ${targetPort}}, labels: {app: echo}}
`;

beforeAll(async () => {
  grpcXds.register();
  for (const name of ['a', 'b']) {
    const b = await echoBackend(name);
    servers.push(b.server);
    ports.push(b.port);
  }
  dir = mkdtempSync(join(tmpdir(), 'xds-proxyless-'));
  writeFileSync(join(dir, 'echo.yaml'), serviceEntry(ports[0]));
  pilot = await startPilot(['--config-dir', dir]);
}, 30_000);

afterAll(async () => {
  await pilot?.stop();
  for (const s of servers) s.forceShutdown();
});

it('a grpc-js-xds client calls a mesh service through pilot, and follows an endpoint change', async () => {
  const client = xdsClient(pilot.xdsPort, `xds:///echo.default.svc.cluster.local:${ports[0]}`, 'client-1');
  try {
    expect(await call(client, 'hello')).toBe('a:hello');
    writeFileSync(join(dir, 'echo.yaml'), serviceEntry(ports[1]));
    await until(async () => (await call(client, 'x').catch(() => '')) === 'b:x', 'calls to reach the moved endpoint');
    expect(await call(client, 'again')).toBe('b:again');
  } finally {
    client.close();
  }
});

it('serves listeners named as the client dialled them: short name and name.namespace resolve in the node namespace', async () => {
  writeFileSync(join(dir, 'echo.yaml'), serviceEntry(ports[0]));
  for (const [target, id] of [
    [`xds:///echo:${ports[0]}`, 'client-short'],
    [`xds:///echo.default:${ports[0]}`, 'client-ns'],
  ] as const) {
    const client = xdsClient(pilot.xdsPort, target, id);
    try {
      await until(async () => (await call(client, 'hi').catch(() => '')) === 'a:hi', `a call through ${target}`);
      const dump = (await (await fetch(`http://127.0.0.1:${pilot.httpPort}/debug/config_dump?proxyID=${encodeURIComponent(`sidecar~127.0.0.9~${id}.default~default.svc.cluster.local`)}`)).json()) as { lds?: { name: string }[] };
      expect(dump.lds?.map((l) => l.name)).toEqual([target.slice('xds:///'.length)]);
    } finally {
      client.close();
    }
  }
});
