#!/usr/bin/env node
// In-process cost of one pilot push, without sockets: S services (ServiceEntry-like Services
// with two endpoints and a DestinationRule with two subsets each), V proxy views; translate +
// xDS snapshots for every view from a fresh mesh snapshot, then after one DestinationRule change
// (the convergence benchmark's change), the way DiscoveryServer does it (libs/discovery's
// ViewGenerator). Prints milliseconds per phase; for profiling the generate path
// (node --cpu-prof bench/pilot/push.bench.mjs). Usage: [BENCH_SERVICES=1000] [BENCH_VIEWS=20] [BENCH_ROUNDS=5]
import { validateText, DEFAULT_MESH_CONFIG } from '@meshwork/api';
import { buildSnapshot, parseNode } from '@meshwork/translate';
// Internal to libs/discovery (not part of its public door); the bench measures exactly what pilot runs.
import { ViewGenerator } from '../../libs/discovery/dist/view-generator.js';

const S = Number(process.env.BENCH_SERVICES ?? 1000);
const V = Number(process.env.BENCH_VIEWS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const services = [];
const endpoints = [];
for (let i = 0; i < S; i++) {
  const ns = `ns-${i % 10}`;
  const hostname = `svc-${i}.${ns}.svc.cluster.local`;
  services.push({ hostname, namespace: ns, name: `svc-${i}`, ports: [{ port: 8080, name: 'http', protocol: 'HTTP' }], addresses: [], resolution: 'STATIC', location: 'MESH_INTERNAL', exportTo: ['*'], labels: {}, source: 'serviceentry' });
  for (const v of [1, 2]) endpoints.push({ hostname, namespace: ns, servicePortName: 'http', address: `10.${(i >> 8) & 255}.${i & 255}.${v}`, port: 8080, labels: { app: `svc-${i}`, version: `v${v}` }, healthy: true, tlsMode: 'istio' });
}
const drYaml = (i, subset) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${i}, namespace: ns-${i % 10}}
spec:
  host: svc-${i}.ns-${i % 10}.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: ${subset}, labels: {version: v2}}]
`;
const configs = validateText(Array.from({ length: S }, (_, i) => drYaml(i, 'v2')).join('---\n')).resources;
const proxies = Array.from({ length: V }, (_, w) => parseNode({ id: `sidecar~10.200.0.${w}~app${w}-0.ns-${w % 10}~ns-${w % 10}.svc.cluster.local`, metadata: { NAMESPACE: `ns-${w % 10}`, LABELS: { app: `app${w}` } } }));

const views = new ViewGenerator();
const time = (f) => {
  const t = performance.now();
  const r = f();
  return [performance.now() - t, r];
};
let [msMesh, mesh] = time(() => buildSnapshot({ configs, services, endpoints, meshConfig: DEFAULT_MESH_CONFIG }));
let [msGen] = time(() => proxies.forEach((p) => views.generate(p, mesh)));
process.stdout.write(`${S} services, ${V} views: initial mesh ${msMesh.toFixed(0)} ms, generate ${msGen.toFixed(0)} ms\n`);
for (let k = 0; k < ROUNDS; k++) {
  const i = k % S;
  const changed = configs.slice();
  changed[i] = validateText(drYaml(i, `v${3 + k}`)).resources[0];
  configs.splice(0, configs.length, ...changed);
  [msMesh, mesh] = time(() => buildSnapshot({ configs, services, endpoints, meshConfig: DEFAULT_MESH_CONFIG }, { previous: mesh }));
  [msGen] = time(() => proxies.forEach((p) => views.generate(p, mesh)));
  process.stdout.write(`change ${k}: mesh ${msMesh.toFixed(0)} ms, generate ${msGen.toFixed(0)} ms (${(msGen / V).toFixed(1)} ms per view)\n`);
}
