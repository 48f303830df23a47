/**
 * RBAC through the real listeners: the filters libs/translate generates for an AuthorizationPolicy,
 * compiled and served by the ListenerManager over HTTP/2 (a denial answered with Envoy's 403,
 * an allowed request proxied) and as network RBAC on a TCP listener (the connection closed before
 * it reaches the upstream).
 */
import * as http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import { generateAll, LISTENER_TYPE } from '@meshwork/translate';
import { loadCase } from '@meshwork/translate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFilterEngine, type FilterEngine } from '../engine/test-filter-engine.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
let engine: FilterEngine;
let httpPort = 0;
let tcpPort = 0;

/** The RBAC filters translate puts on the workload's inbound chain for `port`. */
function translatedFilters(port: number): { http: Record<string, unknown>[]; network: Record<string, unknown>[] } {
  const kase = loadCase(`
proxy: {id: sidecar~10.1.0.20~pp-1.default~default.svc.cluster.local, labels: {app: pp}}
services:
- host: pp.default.svc.cluster.local
  ports: [{name: http, port: 9080, protocol: HTTP}, {name: tcp, port: 3306, protocol: TCP}]
  workloads: [{address: 10.1.0.20, labels: {app: pp}}]
configs:
- apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: deny-admin, namespace: default}
  spec: {action: DENY, rules: [{to: [{operation: {paths: [/admin/*]}}]}]}
- apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: from-10-or-get, namespace: default}
  spec: {rules: [{from: [{source: {ipBlocks: [10.0.0.0/8]}}]}, {to: [{operation: {methods: [GET]}}]}]}
`);
  const listeners = generateAll(kase.proxy, kase.snapshot)[LISTENER_TYPE] as { name: string; filterChains: { filterChainMatch?: { destinationPort?: { value: number } }; filters: { name: string; typedConfig: Record<string, unknown> }[] }[] }[];
  const chain = listeners.find((l) => l.name === 'virtualInbound')?.filterChains.find((c) => c.filterChainMatch?.destinationPort?.value === port);
  const filters = chain?.filters ?? [];
  const hcm = filters.find((f) => f.typedConfig['@type'] === HCM);
  return {
    http: ((hcm?.typedConfig.httpFilters as Record<string, unknown>[] | undefined) ?? []).filter((f) => String(f.name).includes('rbac')),
    network: filters.filter((f) => f.name === 'envoy.filters.network.rbac'),
  };
}

beforeAll(async () => {
  const httpRbac = translatedFilters(9080).http;
  const netRbac = translatedFilters(3306).network;
  expect(httpRbac).toHaveLength(2);
  expect(netRbac).toHaveLength(2);
  engine = await startFilterEngine(httpRbac, netRbac);
  ({ httpPort, tcpPort } = engine);
});

afterAll(async () => {
  await engine?.close();
});

function h2(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${httpPort}`);
    s.on('error', reject);
    const q = s.request({ ':method': method, ':path': path, ':authority': 'pp' });
    let body = '';
    let status = 0;
    q.on('response', (h) => (status = Number(h[':status'])));
    q.on('data', (c: Buffer) => (body += c.toString()));
    q.on('end', () => {
      s.close();
      resolve({ status, body });
    });
    q.end();
  });
}

describe('RBAC on real listeners', () => {
  it('HTTP/2: DENY answers 403 "RBAC: access denied"; ALLOW lets a matching request through; a miss is refused', async () => {
    expect(await h2('GET', '/admin/users')).toEqual({ status: 403, body: 'RBAC: access denied' });
    // 127.0.0.1 is not in 10.0.0.0/8, but GET matches the second ALLOW rule.
    expect(await h2('GET', '/home')).toEqual({ status: 200, body: 'upstream' });
    expect(await h2('POST', '/home')).toEqual({ status: 403, body: 'RBAC: access denied' });
  });

  it('TCP: network RBAC closes a connection no ALLOW rule matches (the GET-only rule is dropped on TCP)', async () => {
    const got = await new Promise<string>((resolve) => {
      const s = netConnect(tcpPort, '127.0.0.1', () => s.write('hi'));
      let b = '';
      s.on('data', (d: Buffer) => (b += d.toString()));
      s.on('error', () => undefined);
      s.on('close', () => resolve(b));
    });
    expect(got).toBe('');
  });
});
