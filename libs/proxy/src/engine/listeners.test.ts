/**
 * The listener manager with real sockets: one listener with an HTTP chain (HTTP/1.1 and h2c on
 * the same port, told apart by their first bytes) and one with SNI-matched TLS passthrough next
 * to a plain TCP default chain, against real upstreams; an update that removes a listener.
 */
import * as http from 'node:http';
import { connect as netConnect, createServer, type Server } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../config/compile.js';
import type { CompiledConfig, EngineClock } from '../model.js';
import { ClusterManager } from './clusters.js';
import { ListenerManager } from './listeners.js';

const clock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
const raw = (b: Buffer): Buffer => b;
const closers: (() => unknown)[] = [];
let httpPort = 0;
let grpcPort = 0;
let tcpPort = 0;
let sniPort = 0;
let sniFirstByte = -1;

async function listen(s: Server | http.Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  closers.push(() => s.close());
  return (s.address() as { port: number }).port;
}

const staticCluster = (name: string, port: number, h2 = false): Record<string, unknown> => ({
  name,
  type: 'STATIC',
  connectTimeout: { seconds: 1 },
  loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port } } } }] }] },
  ...(h2 ? { typedExtensionProtocolOptions: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicitHttpConfig: { http2ProtocolOptions: {} } } } } : {}),
});
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

function config(withTcpListener: boolean): CompiledConfig {
  const r = compileConfig({
    listeners: [
      {
        name: 'virtualOutbound',
        address: { socketAddress: { address: '0.0.0.0', portValue: 15001 } },
        filterChains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: { '@type': HCM, statPrefix: 'outbound', rds: { routeConfigName: '15001', configSource: { ads: {}, resourceApiVersion: 'V3' } }, httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }] } }] }],
      },
      ...(withTcpListener
        ? [
            {
              name: 'tcp_9000',
              address: { socketAddress: { address: '127.0.0.1', portValue: 9000 } },
              filterChains: [{ filterChainMatch: { serverNames: ['secure.example'], transportProtocol: 'tls' }, filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP, statPrefix: 'sni', cluster: 'sni' } }] }],
              defaultFilterChain: { filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP, statPrefix: 'tcp', cluster: 'tcp' } }] },
            },
          ]
        : []),
    ],
    routes: [
      {
        name: '15001',
        virtualHosts: [
          { name: 'web', domains: ['web:80', 'web'], routes: [{ match: { prefix: '/' }, route: { cluster: 'web' } }] },
          { name: 'echo', domains: ['echo:9090'], routes: [{ match: { prefix: '/' }, route: { cluster: 'grpc' } }] },
        ],
      },
    ],
    clusters: [staticCluster('web', httpPort), staticCluster('grpc', grpcPort, true), staticCluster('tcp', tcpPort), staticCluster('sni', sniPort)],
    endpoints: [],
  });
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.value;
}

let clusters: ClusterManager;
let lm: ListenerManager;
const ports = new Map<string, number>();

beforeAll(async () => {
  httpPort = await listen(http.createServer((req, res) => res.end(`web ${req.method} ${req.url} host=${req.headers.host}`)));
  const g = new grpc.Server();
  g.addService({ echo: { path: '/t.E/Echo', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } }, { echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`grpc:${c.request.toString()}`)) });
  grpcPort = await new Promise<number>((res, rej) => g.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  closers.push(() => g.forceShutdown());
  tcpPort = await listen(createServer((c) => c.on('data', (d: Buffer) => c.end(`tcp:${d.toString()}`))));
  sniPort = await listen(
    createServer((c) =>
      c.once('data', (d: Buffer) => {
        sniFirstByte = d[0];
        c.destroy();
      }),
    ),
  );
  clusters = new ClusterManager(clock);
  lm = new ListenerManager({ clusters, clock, bind: (plan) => (plan.name === 'virtualOutbound' || plan.name === 'tcp_9000' ? { host: '127.0.0.1', port: 0 } : undefined) });
  const cfg = config(true);
  clusters.apply(cfg);
  expect(await lm.apply(cfg)).toEqual([]);
  for (const [n, p] of lm.ports()) ports.set(n, p);
});

afterAll(async () => {
  await lm?.close();
  clusters?.close();
  for (const c of closers) await c();
});

function httpGet(port: number, host: string, path: string, proxyForm = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: proxyForm ? `http://${host}${path}` : path, headers: { host }, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${b}`));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ListenerManager', () => {
  it("reports a TCP connection's open, its bytes every istio.stats tcp_reporting_duration while open, and its close", async () => {
    const upstream = await listen(createServer((c) => c.on('data', (d: Buffer) => c.write(d))));
    const r = compileConfig({
      listeners: [
        {
          name: 'tcp_stats',
          address: { socketAddress: { address: '127.0.0.1', portValue: 9100 } },
          filterChains: [
            {
              filters: [
                { name: 'istio.stats', typedConfig: { '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', typeUrl: 'type.googleapis.com/stats.PluginConfig', value: { tcp_reporting_duration: '0.04s' } } },
                { name: 'envoy.filters.network.tcp_proxy', typedConfig: { '@type': TCP, statPrefix: 'up', cluster: 'up' } },
              ],
            },
          ],
        },
      ],
      routes: [],
      clusters: [staticCluster('up', upstream)],
      endpoints: [],
    });
    if (!r.ok) throw new Error(r.errors.join('; '));
    const events: string[] = [];
    const cm = new ClusterManager(clock);
    const m = new ListenerManager({ clusters: cm, clock, bind: () => ({ host: '127.0.0.1', port: 0 }), onTcpOpen: () => events.push('open'), onTcpReport: (x) => events.push(`report ${x.sentBytes}`), onTcp: (x) => events.push(`close ${x.sentBytes} ${x.reportedSentBytes ?? 0} ${x.opened === true}`) });
    cm.apply(r.value);
    expect(await m.apply(r.value)).toEqual([]);
    const s = netConnect(m.ports().get('tcp_stats') ?? 0, '127.0.0.1');
    await new Promise<void>((res) => s.once('connect', () => res()));
    s.write('hello');
    await new Promise<void>((res) => s.once('data', () => res()));
    // Several 40 ms intervals while the connection stays open.
    await new Promise((res) => setTimeout(res, 200));
    s.end();
    await new Promise((res) => s.once('close', res));
    await new Promise((res) => setTimeout(res, 50));
    await m.close();
    cm.close();
    expect(events).toEqual(['open', 'report 5', 'close 5 5 true']);
  });


  it('serves HTTP/1.1 (Host-routed and absolute-form) and h2c gRPC on one HTTP listener', async () => {
    const port = ports.get('virtualOutbound') ?? 0;
    expect(await httpGet(port, 'web', '/a')).toBe('200 web GET /a host=web');
    expect(await httpGet(port, 'web:80', '/b', true)).toMatch(/^200 web GET \/b/);
    expect(await httpGet(port, 'nowhere', '/')).toMatch(/^404/);
    const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'echo:9090' });
    const reply = await new Promise<string>((resolve, reject) => c.makeUnaryRequest('/t.E/Echo', raw, raw, Buffer.from('hi'), (e, r) => (e ? reject(e) : resolve(r?.toString() ?? ''))));
    expect(reply).toBe('grpc:hi');
    c.close();
  });

  it('routes TLS by SNI to a passthrough chain and anything else to the default TCP chain', async () => {
    const port = ports.get('tcp_9000') ?? 0;
    const plain = await new Promise<string>((resolve) => {
      const s = netConnect(port, '127.0.0.1', () => s.write('ping'));
      let b = '';
      s.on('data', (d: Buffer) => (b += d.toString()));
      s.on('close', () => resolve(b));
    });
    expect(plain).toBe('tcp:ping');
    // A TLS client naming secure.example: its ClientHello reaches the passthrough upstream untouched.
    await new Promise<void>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'secure.example', rejectUnauthorized: false });
      s.on('error', () => undefined);
      s.once('close', () => resolve());
    });
    expect(sniFirstByte).toBe(0x16);
  });

  it('closes listeners that a new configuration drops', async () => {
    const port = ports.get('tcp_9000') ?? 0;
    const cfg = config(false);
    clusters.apply(cfg);
    await lm.apply(cfg);
    expect(lm.ports().has('tcp_9000')).toBe(false);
    const refused = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.on('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });
});
