/**
 * Trace export chosen the Istio way: mixer gets Istio's MeshConfig (`--mesh-config`, here the
 * `istio` ConfigMap form) with a Zipkin and an OpenTelemetry (HTTP) extension provider, Zipkin
 * as `defaultProviders.tracing`. Spans go to Zipkin; once a mesh-wide Telemetry naming the
 * OpenTelemetry provider is stored in the mesh-config KV bucket (what `meshctl apply` writes in
 * local mode), mixer switches and new spans arrive over OTLP/HTTP instead. Both backends are
 * tiny real HTTP servers; spans are published on NATS the way sidecars publish them.
 */
import * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { spansSubject } from '@meshwork/bus';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { KvConfigStore } from '@meshwork/registry';
import { until } from './support.js';
import { metricSum, scrape, startMixer, type RunningMixer } from './mixer-support.js';

const dir = mkdtempSync(join(tmpdir(), 'mixer-providers-'));
let nats: NatsServerHandle;
let mixer: RunningMixer;
let nc: NatsConnection;
let backend: http.Server;
const posts: { path: string; body: string }[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  backend = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', body });
      res.statusCode = 200;
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const port = (backend.address() as AddressInfo).port;
  writeFileSync(
    join(dir, 'istio-configmap.yaml'),
    `apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |-
    extensionProviders:
    - name: zipkin
      zipkin: {service: 127.0.0.1, port: ${port}, path: /zipkin/api/v2/spans}
    - name: otel
      opentelemetry:
        service: 127.0.0.1
        port: ${port}
        http: {path: /otel/v1/traces}
    defaultProviders:
      tracing: [zipkin]
`,
  );
  nc = await connect({ servers: nats.url });
  mixer = await startMixer(nats.url, ['--mesh-config', join(dir, 'istio-configmap.yaml'), '--slo-nats-config=false']);
}, 60_000);

afterAll(async () => {
  if (mixer) expect(await mixer.stop()).toBe(0);
  await nc?.close();
  backend?.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const span = (traceId: string) => ({
  traceId,
  spanId: 'b7ad6b7169203331',
  name: 'reviews.default.svc.cluster.local:9080/*',
  kind: 'server',
  startUs: Date.now() * 1000,
  durationUs: 1500,
  error: false,
  attributes: { 'istio.canonical_service': 'reviews', 'istio.namespace': 'default', 'http.status_code': 200 },
});

it('exports to defaultProviders.tracing, then to the provider a mesh-wide Telemetry names', async () => {
  const A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
  nc.publish(spansSubject('default', 'reviews-v1'), JSON.stringify([span(A)]));
  await until(() => posts.some((p) => p.path === '/zipkin/api/v2/spans' && p.body.includes(A)), 'span A at the Zipkin provider');
  const zipkinSpan = (JSON.parse(posts.find((p) => p.body.includes(A))?.body ?? '[]') as { traceId: string; localEndpoint: { serviceName: string } }[])[0];
  expect(zipkinSpan).toMatchObject({ traceId: A, localEndpoint: { serviceName: 'reviews.default' } });

  const store = await KvConfigStore.open({ nc });
  await store.create({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'mesh-default', namespace: 'istio-system' }, spec: { tracing: [{ providers: [{ name: 'otel' }], randomSamplingPercentage: 10 }] } });
  await store.close();
  await until(() => mixer.logs().includes('otel http://127.0.0.1:'), 'mixer to switch to the otel provider');

  nc.publish(spansSubject('default', 'reviews-v1'), JSON.stringify([span(B)]));
  await until(() => posts.some((p) => p.path === '/otel/v1/traces' && p.body.includes(B)), 'span B at the OTLP provider');
  expect(posts.filter((p) => p.path === '/zipkin/api/v2/spans' && p.body.includes(B))).toHaveLength(0);
  const otlp = JSON.parse(posts.find((p) => p.path === '/otel/v1/traces')?.body ?? '{}') as { resourceSpans: { resource: { attributes: { key: string; value: { stringValue: string } }[] } }[] };
  expect(otlp.resourceSpans[0].resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'reviews.default' } });

  const text = await scrape(mixer);
  expect(metricSum(text, 'mixer_spans_exported_total', { target: 'zipkin', result: 'success' })).toBe(1);
  expect(metricSum(text, 'mixer_spans_exported_total', { target: 'otel', result: 'success' })).toBe(1);
}, 60_000);
