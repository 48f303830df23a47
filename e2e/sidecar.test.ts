/**
 * Pilot and two real sidecars on loopback with real upstream servers: the productpage sidecar
 * proxies the application's requests (explicit HTTP proxy) to reviews' sidecar, which forwards
 * them to the reviews application — with VirtualService and DestinationRule behaviour observed
 * from the responses. Reviews' inbound port is declared by a Sidecar ingress listener with a
 * defaultEndpoint (the application's own port), as local mode does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReviewsMesh, viaProxy, type ReviewsMesh, type RunningSidecar } from './sidecar-support.js';
import { until } from './support.js';

let mesh: ReviewsMesh;
let productpage: RunningSidecar;
let reviews: readonly RunningSidecar[];
let inbound: readonly number[];
let appPorts: readonly number[];
const write = (vs = ''): void => mesh.write(vs);

beforeAll(async () => {
  mesh = await startReviewsMesh('sidecar-e2e');
  ({ productpage, reviews, inbound, appPorts } = mesh);
}, 60_000);

afterAll(async () => {
  await mesh?.stop();
});

const URL_ = 'http://reviews.default.svc.cluster.local:9080';

describe('pilot + sidecars on loopback', () => {
  it('carries a request from the source sidecar through the destination sidecar to the application', async () => {
    const r = await viaProxy(productpage, `${URL_}/reviews/1`, { method: 'POST', body: 'hello' });
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { version: string; method: string; path: string; body: string };
    expect(body).toMatchObject({ method: 'POST', path: '/reviews/1', body: 'hello' });
    expect(['v1', 'v2']).toContain(body.version);
    // Both sides report it in Istio's standard metrics, and the source logs it (Istio's JSON access log).
    const source = await (await fetch(`http://127.0.0.1:${productpage.statsPort}/stats/prometheus`)).text();
    if (process.env.DEBUG_E2E) process.stderr.write(source.split('\n').filter((l) => l.startsWith('istio_requests_total')).join('\n'));
    expect(source).toMatch(/istio_requests_total\{reporter="source",source_workload="productpage-v1",[^}]*source_workload_namespace="default",[^}]*destination_service="reviews.default.svc.cluster.local"[^}]*response_code="200"[^}]*\} [1-9]/);
    const dest = await (await fetch(`http://127.0.0.1:${reviews[body.version === 'v1' ? 0 : 1].statsPort}/stats/prometheus`)).text();
    expect(dest).toMatch(new RegExp(`istio_requests_total\\{reporter="destination",[^}]*destination_workload="reviews-${body.version}"[^}]*response_code="200"`));
    await until(() => productpage.logs().includes('"path":"/reviews/1"'), 'the access log line');
    const line = productpage.logs().split('\n').find((l) => l.includes('"path":"/reviews/1"')) ?? '{}';
    expect(JSON.parse(line)).toMatchObject({ method: 'POST', response_code: 200, upstream_cluster: 'outbound|9080||reviews.default.svc.cluster.local', authority: 'reviews.default.svc.cluster.local:9080' });
  });

  it('continues the trace through both sidecars and gives the request an x-request-id', async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = await viaProxy(productpage, `${URL_}/traced`, { headers: { traceparent: `00-${trace}-00f067aa0ba902b7-01` } });
    const body = JSON.parse(r.body) as { traceparent: string; requestId: string };
    // Same trace, a new parent: the destination sidecar's server span (itself a child of the source's client span).
    expect(body.traceparent).toMatch(new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`));
    expect(body.traceparent.split('-')[2]).not.toBe('00f067aa0ba902b7');
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reports readiness and Envoy-shaped admin pages', async () => {
    expect((await fetch(`http://127.0.0.1:${productpage.healthPort}/healthz/ready`)).status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${productpage.adminPort}/ready`)).text()).toBe('LIVE\n');
    const clusters = await (await fetch(`http://127.0.0.1:${productpage.adminPort}/clusters`)).text();
    expect(clusters).toContain(`outbound|9080||reviews.default.svc.cluster.local::127.0.0.1:${inbound[0]}::health_flags::healthy`);
    const dump = (await (await fetch(`http://127.0.0.1:${reviews[0].adminPort}/config_dump`)).json()) as { configs: { dynamicListeners?: { name: string }[] }[] };
    expect(dump.configs.flatMap((c) => c.dynamicListeners ?? []).map((l) => l.name)).toContain('virtualInbound');
  });

  it('routes by header and splits by weight as the VirtualService says, and follows a change', async () => {
    write(`---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v2}}]
  - route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
`);
    const version = async (h: Record<string, string> = {}): Promise<string> => (JSON.parse((await viaProxy(productpage, `${URL_}/r`, { headers: h })).body) as { version: string }).version;
    // Before the VirtualService, traffic is split at random: require a run of right answers.
    const routed = async (): Promise<boolean> => {
      for (let i = 0; i < 8; i++) if ((await version({ 'end-user': 'jason' })) !== 'v2' || (await version()) !== 'v1') return false;
      return true;
    };
    await until(routed, 'the VirtualService to take effect');
    for (let i = 0; i < 10; i++) {
      expect(await version()).toBe('v1');
      expect(await version({ 'end-user': 'jason' })).toBe('v2');
    }
    write(`---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - route:
    - {destination: {host: reviews.default.svc.cluster.local, subset: v1}, weight: 50}
    - {destination: {host: reviews.default.svc.cluster.local, subset: v2}, weight: 50}
`);
    // jason's requests only reach v1 once the new split replaced the header rule.
    await until(async () => {
      for (let i = 0; i < 8; i++) if ((await version({ 'end-user': 'jason' })) === 'v1') return true;
      return false;
    }, 'the weighted split');
    const seen = { v1: 0, v2: 0 };
    for (let i = 0; i < 200; i++) seen[(await version()) as 'v1' | 'v2']++;
    expect(seen.v1).toBeGreaterThan(60);
    expect(seen.v2).toBeGreaterThan(60);
  });

  it('answers fault aborts, redirects and direct responses at the source sidecar', async () => {
    write(`---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new}
  - match: [{uri: {exact: /health}}]
    directResponse: {status: 200, body: {string: ok}}
  - match: [{uri: {prefix: /broken}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
  - route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
`);
    await until(async () => (await viaProxy(productpage, `${URL_}/broken`)).status === 418, 'the fault to take effect');
    const redirect = await viaProxy(productpage, `${URL_}/old`);
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('http://reviews.default.svc.cluster.local:9080/new');
    expect(await viaProxy(productpage, `${URL_}/health`)).toMatchObject({ status: 200, body: 'ok' });
  });

  it('passes requests for hosts outside the mesh through to where they address (ALLOW_ANY), 503 when that fails', async () => {
    const direct = await viaProxy(productpage, `http://localhost:${appPorts[0]}/outside`);
    expect(direct.status).toBe(200);
    expect(JSON.parse(direct.body)).toMatchObject({ version: 'v1', path: '/outside' });
    expect((await viaProxy(productpage, 'http://nowhere.invalid:9080/')).status).toBe(503);
  });
});
