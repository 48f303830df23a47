/**
 * Test-only (not exported from index.ts): a running engine for testing filters end to end — one
 * HTTP listener (`http`: the given http_filters, then the router, to an upstream answering
 * `upstream`) and one TCP listener (`tcp`: the given network filters, then tcp_proxy, to an
 * upstream writing `tcp-upstream`), bound on ephemeral loopback ports.
 */
import * as http from 'node:http';
import { createServer, type Server } from 'node:net';
import { compileConfig } from '../config/compile.js';
import type { EngineClock } from '../model.js';
import { ClusterManager } from './clusters.js';
import { ListenerManager } from './listeners.js';

const clock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const ROUTER = { name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

export interface FilterEngine {
  readonly httpPort: number;
  readonly tcpPort: number;
  close(): Promise<void>;
}

function listen(s: Server | http.Server): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
}

/** startFilterEngine returns the engine described in the file comment, running. */
export async function startFilterEngine(httpFilters: readonly Record<string, unknown>[], networkFilters: readonly Record<string, unknown>[]): Promise<FilterEngine> {
  const up = http.createServer((_q, r) => r.end('upstream'));
  const tcpUp = createServer((c) => c.end('tcp-upstream'));
  const upPort = await listen(up);
  const tcpUpPort = await listen(tcpUp);
  const cluster = (name: string, port: number): Record<string, unknown> => ({ name, type: 'STATIC', connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port } } } }] }] } });
  const r = compileConfig({
    listeners: [
      { name: 'http', address: { socketAddress: { address: '127.0.0.1', portValue: 1 } }, filterChains: [{ filters: [{ name: 'hcm', typedConfig: { '@type': HCM, statPrefix: 'x', routeConfig: { name: 'r', virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] }, httpFilters: [...httpFilters, ROUTER] } }] }] },
      { name: 'tcp', address: { socketAddress: { address: '127.0.0.1', portValue: 2 } }, filterChains: [{ filters: [...networkFilters, { name: 'tcp', typedConfig: { '@type': TCP, statPrefix: 't', cluster: 'tcpup' } }] }] },
    ],
    routes: [],
    clusters: [cluster('up', upPort), cluster('tcpup', tcpUpPort)],
    endpoints: [],
  });
  if (!r.ok) throw new Error(r.errors.join('; '));
  const clusters = new ClusterManager(clock);
  clusters.apply(r.value);
  const lm = new ListenerManager({ clusters, clock, bind: () => ({ host: '127.0.0.1', port: 0 }) });
  await lm.apply(r.value);
  return {
    httpPort: lm.ports().get('http') ?? 0,
    tcpPort: lm.ports().get('tcp') ?? 0,
    close: async () => {
      await lm.close();
      clusters.close();
      up.close();
      tcpUp.close();
    },
  };
}
