import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { sampleHttpRecord } from '@meshwork/telemetry/testing';
import { buildMixerApp } from './http.js';
import { MixerMetrics } from './mixer-metrics.js';
import { TopologyStore } from './topology.js';
import { RecordFeed, type MixerContext, type MixerExtension } from './extension.js';

function setup(ready = true) {
  const metrics = new MixerMetrics();
  const topology = new TopologyStore();
  for (let i = 0; i < 4; i++) {
    const r = sampleHttpRecord({ startTime: Date.now(), responseCode: i === 0 ? 500 : 200, requestId: undefined });
    metrics.istio.record(r);
    topology.add(r);
  }
  metrics.counts.ingested = 4;
  return { metrics, topology, ready: () => ready };
}

describe('buildMixerApp', () => {
  it('serves /metrics with Istio and mixer metrics, and readiness', async () => {
    const s = setup(false);
    const app = await buildMixerApp({ registry: s.metrics.registry, ready: s.ready, topology: s.topology });
    const m = await app.inject('/metrics');
    expect(m.body).toContain('mixer_records_ingested_total 4');
    expect(m.body).toMatch(/istio_requests_total\{reporter="destination".*response_code="500".*\} 1/);
    expect((await app.inject('/healthz/ready')).statusCode).toBe(503);
    await app.close();
  });

  it('answers /api/graph in Kiali\'s shape and 400 with the parameter named on a bad query', async () => {
    const s = setup();
    const app = await buildMixerApp({ registry: s.metrics.registry, ready: s.ready, topology: s.topology });
    const g = (await app.inject('/api/graph?type=app&window=1m')).json();
    expect(g.graphType).toBe('app');
    expect(g.elements.edges[0].data).toMatchObject({ source: 'app:default/productpage', target: 'app:default/reviews', requests: 4, errors: 1, errorRate: 0.25 });
    const bad = await app.inject('/api/graph?type=pods');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'MESH_ERR_MIXER_BAD_QUERY', error: expect.stringContaining('type: "pods"') });
    await app.close();
  });

  it('streams the graph as server-sent events, a later event showing traffic added since the first', async () => {
    const s = setup();
    const app = await buildMixerApp({ registry: s.metrics.registry, ready: s.ready, topology: s.topology });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const requestsOf = (ev: string): number => (JSON.parse(ev.split('data: ')[1]) as { elements: { edges: { data: { requests: number } }[] } }).elements.edges[0].data.requests;
    // Events until one shows the 3 records added after the first (each event is sent every second).
    const events = await new Promise<string[]>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/graph/stream?type=workload&window=1m&interval=1' }, (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream');
        let buf = '';
        const got: string[] = [];
        res.on('data', (d: Buffer) => {
          buf += d.toString();
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            got.push(buf.slice(0, end));
            buf = buf.slice(end + 2);
            if (got.length === 1) for (let i = 0; i < 3; i++) s.topology.add(sampleHttpRecord({ startTime: Date.now(), responseCode: 200, requestId: undefined }));
            if (requestsOf(got[got.length - 1]) !== 4 || got.length >= 5) {
              req.destroy();
              resolve(got);
              return;
            }
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(events[0]).toMatch(/^id: 1\nevent: graph\ndata: \{/);
    expect(requestsOf(events[0])).toBe(4);
    // the next event already has them: the stream sends the graph as it is at each tick
    expect(events.map(requestsOf)).toEqual([4, 7]);
    expect(events[1]).toMatch(/^id: 2\nevent: graph\n/);
    await app.close();
  });

  it('registers extension routes, each in its own plugin scope', async () => {
    const s = setup();
    const ext: MixerExtension = { name: 'hello', routes: (app, ctx) => void app.get('/api/hello', async () => ({ replica: ctx.replica })) };
    const ctx = { replica: 'r1', records: new RecordFeed() } as unknown as MixerContext;
    const app = await buildMixerApp({ registry: s.metrics.registry, ready: s.ready, extensions: [ext], ctx });
    expect((await app.inject('/api/hello')).json()).toEqual({ replica: 'r1' });
    await app.close();
  });
});
