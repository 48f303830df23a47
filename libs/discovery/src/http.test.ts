import { describe, expect, it } from 'vitest';
import { MemoryConfigStore, MemoryServiceRegistry } from '@meshwork/registry/testing';
import { buildPilotHttp } from './http.js';
import { PilotMetrics } from './metrics.js';

describe('pilot HTTP', () => {
  it('serves metrics with Istio names, readiness, debug pages and the config API', async () => {
    const store = new MemoryConfigStore();
    const metrics = new PilotMetrics();
    metrics.xdsPushes.inc({ type: 'cds' });
    let ready = false;
    const app = await buildPilotHttp({
      metrics,
      store,
      sources: [store],
      registry: new MemoryServiceRegistry(),
      syncz: () => [{ proxy: 'sidecar~10.0.0.1~reviews-v1.default~default.svc.cluster.local', connectedAt: 'now', types: { cds: { sent: 'v1', acked: 'v1' } } }],
      ready: () => ready,
    });
    const m = await app.inject('/metrics');
    expect(m.body).toContain('pilot_xds_pushes{type="cds"} 1');
    expect(m.body).toContain('# TYPE pilot_proxy_convergence_time histogram');
    expect(m.body).toContain('pilot_total_rejected_configs{source="memory"} 0');
    expect((await app.inject('/healthz/ready')).statusCode).toBe(503);
    ready = true;
    expect((await app.inject('/healthz/ready')).statusCode).toBe(200);
    await store.create({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } });
    const configz = (await app.inject('/debug/configz')).json();
    expect(configz[0].resources[0]).toMatchObject({ kind: 'PeerAuthentication' });
    expect((await app.inject('/debug/syncz')).json()[0].types.cds.acked).toBe('v1');
    expect((await app.inject('/apis/security.istio.io/v1/namespaces/istio-system/peerauthentications/default')).statusCode).toBe(200);
    expect((await app.inject('/debug/config_dump?proxyID=nope')).statusCode).toBe(404);
    await app.close();
  });
});
