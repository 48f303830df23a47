import { describe, expect, it } from 'vitest';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, type ResourceObject } from '@meshwork/xds';
import { sampleResources } from '@meshwork/xds/testing';
import * as http from 'node:http';
import { buildAdminApp, buildHealthApp, buildMergedMetricsApp, clustersText, statsText, type AdminSource, type ClusterStatus } from './admin.js';
import type { ResourceSet } from './xds-agent.js';
import { MemorySecretProvider } from '@meshwork/proxy';

const s = sampleResources('echo');
const byName = (rs: ResourceObject[], key = 'name'): Map<string, ResourceObject> => new Map(rs.map((r) => [String(r[key]), r]));
const SET: ResourceSet = {
  listeners: byName(s[LISTENER_TYPE]),
  routes: byName(s[ROUTE_TYPE]),
  clusters: byName(s[CLUSTER_TYPE]),
  endpoints: byName(s[ENDPOINT_TYPE], 'clusterName'),
  versions: { [CLUSTER_TYPE]: 'c1', [LISTENER_TYPE]: 'l1', [ROUTE_TYPE]: 'r1', [ENDPOINT_TYPE]: 'e1' },
};
const CLUSTERS: ClusterStatus[] = [
  {
    name: 'outbound|8080||echo.default.svc.cluster.local',
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    hosts: [
      { address: '10.0.0.1', port: 8080, weight: 1, healthy: true, ejected: false, activeRequests: 2, activeConnections: 1, locality: { region: 'eu' } },
      { address: '10.0.0.2', port: 8080, weight: 1, healthy: true, ejected: true, activeRequests: 0, activeConnections: 0 },
    ],
  },
];

function source(over: Partial<AdminSource> = {}): AdminSource & { quits: number; level: string } {
  const st = { quits: 0, level: 'info' };
  return Object.assign(st, {
    node: { id: 'sidecar~10.0.0.9~echo-1.default~default.svc.cluster.local' },
    resources: () => SET,
    xdsStatus: () => ({ [CLUSTER_TYPE]: { version: 'c1', resources: 1 } }),
    clusters: () => CLUSTERS,
    ready: () => true,
    prometheus: async () => ({ contentType: 'text/plain; version=0.0.4', text: '# HELP istio_requests_total x\n# TYPE istio_requests_total counter\nistio_requests_total{response_code="200"} 3\n' }),
    quit: () => st.quits++,
    logLevel: { get: () => st.level, set: (l: string) => (st.level = l) },
    ...over,
  });
}

describe('admin port (Envoy 15000)', () => {
  it('dumps SDS secrets as Envoy SecretsConfigDump with the private key redacted', async () => {
    const secrets = new MemorySecretProvider();
    const notAfter = new Date('2026-11-27T00:00:00Z');
    secrets.set('default', { kind: 'certificate', certChainPem: 'CHAIN', keyPem: 'SECRET-KEY', serialHex: 'AB12', identity: 'spiffe://cluster.local/ns/default/sa/echo', notAfter });
    secrets.set('ROOTCA', { kind: 'validation', trustedCaPem: 'ROOTS' });
    const app = buildAdminApp(source({ secrets: () => secrets.all() }));
    const text = (await app.inject('/config_dump')).body;
    expect(text).not.toContain(Buffer.from('SECRET-KEY').toString('base64'));
    const only = (await app.inject('/config_dump?resource=dynamic_active_secrets')).json() as { configs: Record<string, unknown>[] };
    expect(only.configs).toEqual([
      {
        name: 'default',
        versionInfo: 'AB12',
        lastUpdated: expect.any(String),
        secret: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', name: 'default', tlsCertificate: { certificateChain: { inlineBytes: Buffer.from('CHAIN').toString('base64') }, privateKey: { inlineBytes: Buffer.from('[redacted]').toString('base64') } } },
        meshwork: { serialNumber: 'AB12', identity: 'spiffe://cluster.local/ns/default/sa/echo', notAfter: notAfter.toISOString() },
      },
      { name: 'ROOTCA', versionInfo: '', lastUpdated: expect.any(String), secret: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', name: 'ROOTCA', validationContext: { trustedCa: { inlineBytes: Buffer.from('ROOTS').toString('base64') } } } },
    ]);
  });

  it('dumps config in Envoy admin.v3 shape, with EDS on request and a resource filter', async () => {
    const app = buildAdminApp(source());
    const dump = (await app.inject('/config_dump')).json() as { configs: Record<string, unknown>[] };
    expect(dump.configs.map((c) => c['@type'])).toEqual([
      'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
      'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
    ]);
    expect(dump.configs[1]).toMatchObject({ versionInfo: 'c1', dynamicActiveClusters: [{ versionInfo: 'c1', cluster: { '@type': CLUSTER_TYPE, name: 'outbound|8080||echo.default.svc.cluster.local' } }] });
    expect(dump.configs[2]).toMatchObject({ dynamicListeners: [{ name: 'echo', activeState: { listener: { '@type': LISTENER_TYPE } } }] });
    const eds = (await app.inject('/config_dump?include_eds')).json() as { configs: Record<string, unknown>[] };
    expect(eds.configs.at(-1)).toMatchObject({ '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump', dynamicEndpointConfigs: [{ endpointConfig: { clusterName: 'outbound|8080||echo.default.svc.cluster.local' } }] });
    const only = (await app.inject('/config_dump?resource=dynamic_active_clusters')).json() as { configs: Record<string, unknown>[] };
    expect(only.configs).toHaveLength(1);
    expect(only.configs[0]).toMatchObject({ cluster: { name: 'outbound|8080||echo.default.svc.cluster.local' } });
  });

  it('lists clusters as Envoy text lines or JSON, with outlier ejections flagged', async () => {
    const text = clustersText(CLUSTERS);
    expect(text).toContain('outbound|8080||echo.default.svc.cluster.local::10.0.0.1:8080::health_flags::healthy\n');
    expect(text).toContain('outbound|8080||echo.default.svc.cluster.local::10.0.0.2:8080::health_flags::/failed_outlier_check\n');
    expect(text).toContain('outbound|8080||echo.default.svc.cluster.local::10.0.0.1:8080::rq_active::2\n');
    expect(text).toContain('outbound|8080||echo.default.svc.cluster.local::default_priority::max_retries::3\n');
    const app = buildAdminApp(source());
    expect((await app.inject('/clusters')).body).toBe(text);
    expect((await app.inject('/clusters?format=json')).json()).toEqual({ cluster_statuses: CLUSTERS });
  });

  it('serves stats as Prometheus text and as Envoy name: value lines', async () => {
    const app = buildAdminApp(source());
    expect((await app.inject('/stats/prometheus')).body).toContain('istio_requests_total{response_code="200"} 3');
    expect((await app.inject('/stats')).body).toBe('istio_requests_total{response_code="200"}: 3\n');
    expect(statsText('')).toBe('');
  });

  it('reports readiness (LIVE / PRE_INITIALIZING), quits after answering, and changes the log level', async () => {
    let ready = false;
    const src = source({ ready: () => ready });
    const app = buildAdminApp(src);
    expect((await app.inject('/ready')).statusCode).toBe(503);
    ready = true;
    expect((await app.inject('/ready')).body).toBe('LIVE\n');
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    const q = await app.inject({ method: 'POST', url: '/quitquitquit' });
    expect(q.body).toBe('OK\n');
    expect(src.quits).toBe(1);
    expect((await app.inject({ method: 'POST', url: '/logging?level=debug' })).body).toContain('meshwork: debug');
    expect(src.level).toBe('debug');
    expect((await app.inject({ method: 'POST', url: '/logging?level=loud' })).statusCode).toBe(400);
  });
});

describe('health port (Istio 15021)', () => {
  it('answers /healthz/ready 503 until ready, then 200', async () => {
    let ready = false;
    const app = buildHealthApp(() => ready);
    expect((await app.inject('/healthz/ready')).statusCode).toBe(503);
    ready = true;
    expect((await app.inject('/healthz/ready')).statusCode).toBe(200);
  });
});

describe('agent port (Istio 15020)', () => {
  it('merges the application metrics after the proxy metrics and counts failed scrapes', async () => {
    const appServer = http.createServer((_q, r) => r.end('# TYPE app_orders_total counter\napp_orders_total 7\n'));
    await new Promise<void>((r) => appServer.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(appServer.address() as { port: number }).port}/metrics`;
    const proxy = async (): Promise<{ contentType: string; text: string }> => ({ contentType: 'text/plain', text: 'istio_requests_total{reporter="source"} 3\n' });
    const merged = (await buildMergedMetricsApp({ prometheus: proxy, appMetricsUrl: url }).inject('/stats/prometheus')).body;
    expect(merged).toContain('istio_requests_total{reporter="source"} 3\n# TYPE app_orders_total counter\napp_orders_total 7');
    expect(merged).toContain('istio_agent_scrape_failures_total 0');
    appServer.close();
    const down = (await buildMergedMetricsApp({ prometheus: proxy, appMetricsUrl: url, timeoutMs: 500 }).inject('/stats/prometheus')).body;
    expect(down).toContain('istio_requests_total');
    expect(down).toContain('istio_agent_scrape_failures_total 1');
  });
});
