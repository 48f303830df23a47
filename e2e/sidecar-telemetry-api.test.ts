/**
 * The Telemetry resource decides which sidecars log and what (issue 7 item 5): pilot translates
 * `accessLogging` (the built-in `envoy` provider, a CEL filter) into the listeners' access logs and
 * the sidecars apply them — here only the productpage sidecar logs, and only failed requests.
 * Both sidecars run with --access-log=false, so every line comes from the Telemetry resource.
 * Tracing too: a Telemetry's `randomSamplingPercentage` reaches the selected sidecars as their
 * HCM's `tracing.random_sampling` and overrides their own --trace-sampling.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSidecar, startReviewsMesh, viaProxy, type ReviewsMesh, type RunningSidecar } from './sidecar-support.js';
import { until } from './support.js';

const TELEMETRY = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - match: [{headers: {x-fail: {exact: "1"}}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
  - route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: productpage-errors, namespace: default}
spec:
  selector: {matchLabels: {app: productpage}}
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: "response.code >= 400"}
  tracing:
  - randomSamplingPercentage: 100`;

let mesh: ReviewsMesh;
let client: RunningSidecar;
/** A sidecar no Telemetry selects, sampling none of its new traces (--trace-sampling=0). */
let other: RunningSidecar;
const URL_ = 'http://reviews.default.svc.cluster.local:9080/telemetry';

/** Access log lines a sidecar wrote (Istio's default TEXT format starts with the bracketed start time). */
function accessLines(s: RunningSidecar): string[] {
  return s
    .logs()
    .split('\n')
    .filter((l) => /^\[\d{4}-\d\d-\d\dT/.test(l));
}

beforeAll(async () => {
  mesh = await startReviewsMesh('sidecar-telemetry-api', TELEMETRY);
  // A second productpage sidecar without its own access log: what it logs comes from pilot.
  client = await startSidecar(mesh.pilot.xdsPort, 'productpage-v1-2', { app: 'productpage', version: 'v1' }, ['--access-log=false', '--trace-sampling=0']);
  other = await startSidecar(mesh.pilot.xdsPort, 'ratings-v1-1', { app: 'ratings', version: 'v1' }, ['--access-log=false', '--trace-sampling=0']);
}, 90_000);

afterAll(async () => {
  await other?.stop();
  await client?.stop();
  await mesh?.stop();
});

it("logs only what the Telemetry filter selects (failed requests), in Istio's default text format", async () => {
  await until(async () => (await viaProxy(client, URL_, { headers: { 'x-fail': '1' } })).status === 503, 'the fault route');
  for (let i = 0; i < 3; i++) expect((await viaProxy(client, `${URL_}?ok=${i}`)).status).toBe(200);
  expect((await viaProxy(client, `${URL_}?failed=1`, { headers: { 'x-fail': '1' } })).status).toBe(503);
  await until(() => accessLines(client).some((l) => l.includes('failed=1')), 'the failed request in the access log');
  const lines = accessLines(client);
  expect(lines.every((l) => / 503 /.test(l))).toBe(true);
  expect(lines.some((l) => l.includes('ok='))).toBe(false);
  expect(lines.find((l) => l.includes('failed=1'))).toMatch(/"GET \/telemetry\?failed=1 HTTP\/1\.1" 503 FI /);
});

it('a workload the Telemetry does not select gets none of its access logs (no text-format lines; its own --access-log JSON is separate)', async () => {
  const reviews = mesh.reviews[0] as RunningSidecar;
  expect(accessLines(reviews)).toEqual([]);
});

it("samples every new trace where the Telemetry's randomSamplingPercentage (100) selects the sidecar, and none where its own --trace-sampling=0 applies", async () => {
  /** The traceparent the reviews app received (it echoes it): the sampled flag is the first sidecar's decision, which the reviews sidecar keeps. */
  const flagsVia = async (s: RunningSidecar, i: number): Promise<string> => {
    const r = await viaProxy(s, `${URL_}?trace=${i}`);
    expect(r.status).toBe(200);
    return String((JSON.parse(r.body) as { traceparent: string | null }).traceparent).split('-')[3];
  };
  for (let i = 0; i < 5; i++) expect(await flagsVia(client, i)).toBe('01');
  for (let i = 0; i < 5; i++) expect(await flagsVia(other, i)).toBe('00');
});
