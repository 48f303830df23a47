// Oracle test: every golden case of libs/translate (testdata/<case>/expected.yaml, the resources
// pilot sends) must compile with zero errors, and for requests derived from each case the compiled
// RouteTable must choose what simulate() from @meshwork/translate chooses (same route name and
// cluster, or a redirect / direct response). The simulator reads the resources directly, so this
// checks the compiled lookup structures against an independent reading of the same bytes.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { simulate, LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, type SimulatedRequest } from '@meshwork/translate';
import { Headers, type CompiledConfig, type RequestHead } from '../model.js';
import { compileConfig } from './compile.js';
import { selectFilterChain } from './listeners.js';
import { routeRequest, splitHostPort } from './routes.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'translate', 'testdata');
const cases = readdirSync(TESTDATA, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

type R = Record<string, unknown>;
const rec = (v: unknown): R => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as R) : {});
const arr = (v: unknown): R[] => (Array.isArray(v) ? (v as R[]) : []);
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function load(dir: string): Record<string, R[]> {
  return parse(readFileSync(join(TESTDATA, dir, 'expected.yaml'), 'utf8')) as Record<string, R[]>;
}

/** A concrete host for a domain pattern. */
function concrete(domain: string): string {
  if (domain === '*') return 'unknown.example';
  if (domain.startsWith('*')) return `x${domain.slice(1)}`;
  if (domain.endsWith('*')) return `${domain.slice(0, -1)}x`;
  return domain;
}

interface Probe {
  path: string;
  headers: Record<string, string>;
  /** From `:method` / `:scheme` header matchers (Istio's method and scheme matches). */
  method?: string;
  scheme?: 'http' | 'https';
}

/** Requests aimed at each route of a virtual host (and a few that miss). */
function probes(vh: R): Probe[] {
  const out: Probe[] = [
    { path: '/', headers: {} },
    { path: '/no/such/path-xyz', headers: {} },
  ];
  for (const r of arr(vh.routes)) {
    const m = rec(r.match);
    const paths: string[] = [];
    if (typeof m.prefix === 'string') paths.push(m.prefix || '/', `${m.prefix.endsWith('/') ? m.prefix : `${m.prefix}/`}sub?q=1`);
    if (typeof m.path === 'string') paths.push(m.path, `${m.path}?a=b`, m.path.toUpperCase());
    if (m.safeRegex) paths.push('/');
    const headers: Record<string, string> = {};
    const pseudo: Pick<Probe, 'method' | 'scheme'> = {};
    for (const h of arr(m.headers)) {
      const name = String(h.name).toLowerCase();
      const sm = rec(h.stringMatch);
      if (h.invertMatch === true) continue;
      if (name === ':method' && typeof sm.exact === 'string') pseudo.method = sm.exact;
      if (name === ':scheme' && (sm.exact === 'http' || sm.exact === 'https')) pseudo.scheme = sm.exact;
      if (name.startsWith(':')) continue;
      if (h.presentMatch === true) headers[name] = 'present';
      else if (typeof sm.exact === 'string') headers[name] = sm.exact;
      else if (typeof sm.prefix === 'string') headers[name] = `${sm.prefix}tail`;
      else if (typeof sm.suffix === 'string') headers[name] = `head${sm.suffix}`;
      else if (typeof sm.contains === 'string') headers[name] = `a${sm.contains}b`;
    }
    let query = '';
    for (const q of arr(m.queryParameters)) {
      const sm = rec(q.stringMatch);
      if (typeof sm.exact === 'string') query += `${query ? '&' : '?'}${String(q.name)}=${encodeURIComponent(sm.exact)}`;
    }
    for (const p of paths) {
      const full = query ? (p.includes('?') ? `${p}&${query.slice(1)}` : p + query) : p;
      out.push({ path: full, headers });
      if (pseudo.method || pseudo.scheme) out.push({ path: full, headers, ...pseudo });
      if (Object.keys(headers).length > 0) out.push({ path: full, headers: {} });
      // Header matchers that Istio turns into :method / :authority matches are not sent as regular headers.
      out.push({ path: full, headers: { ...headers, 'x-unrelated': '1' } });
    }
  }
  return out;
}

interface Entry {
  listener: string;
  port: number;
  tls: boolean;
  sni?: string;
  routeConfig: R;
}

/** Every (listener, HTTP chain) and the route configuration it uses. */
function entries(res: Record<string, R[]>): { http: Entry[]; tcp: { listener: string; port: number; tls: boolean; sni?: string; cluster: string }[] } {
  const routes = res[ROUTE_TYPE] ?? [];
  const http: Entry[] = [];
  const tcp: { listener: string; port: number; tls: boolean; sni?: string; cluster: string }[] = [];
  for (const l of res[LISTENER_TYPE] ?? []) {
    const name = String(l.name);
    if (l.apiListener) {
      const hcm = rec(rec(l.apiListener).apiListener);
      const rc = hcm.routeConfig ? rec(hcm.routeConfig) : routes.find((r) => r.name === rec(hcm.rds).routeConfigName);
      const port = Number(/:(\d+)$/.exec(name)?.[1] ?? 80);
      if (rc) http.push({ listener: name, port, tls: false, routeConfig: rc });
      continue;
    }
    const lport = Number(rec(rec(l.address).socketAddress).portValue);
    const chains = [...arr(l.filterChains), ...(l.defaultFilterChain ? [rec(l.defaultFilterChain)] : [])];
    for (const c of chains) {
      const m = rec(c.filterChainMatch);
      const port = typeof rec(m.destinationPort).value === 'number' ? Number(rec(m.destinationPort).value) : lport;
      const tls = m.transportProtocol === 'tls' || (arr(m.serverNames).length > 0 && m.transportProtocol !== 'raw_buffer');
      const names = arr(m.serverNames) as unknown as string[];
      const sni = names.length > 0 ? concrete(names[0]) : undefined;
      for (const f of arr(c.filters)) {
        const tc = rec(f.typedConfig);
        if (tc['@type'] === HCM) {
          const rc = tc.routeConfig ? rec(tc.routeConfig) : routes.find((r) => r.name === rec(tc.rds).routeConfigName);
          if (rc) http.push({ listener: name, port, tls, ...(sni ? { sni } : {}), routeConfig: rc });
        } else if (typeof tc.cluster === 'string') tcp.push({ listener: name, port, tls, ...(sni ? { sni } : {}), cluster: tc.cluster });
      }
    }
  }
  return { http, tcp };
}

interface Outcome {
  route?: string;
  cluster?: string;
  /** Weighted splits as [name, weight], and a digest of the route's policies (see policies()). */
  split?: [string, number][];
  policies?: string;
  redirect?: boolean;
  direct?: { status: number; body?: string };
  none?: boolean;
}

function compiledOutcome(cfg: CompiledConfig, e: { listener: string; port: number; tls: boolean; sni?: string }, head: RequestHead): Outcome | string {
  const plan = cfg.listeners.get(e.listener);
  if (!plan) return `no compiled listener ${e.listener}`;
  const chain = selectFilterChain(plan, { destinationPort: e.port, transportProtocol: e.tls ? 'tls' : 'raw_buffer', ...(e.sni ? { serverName: e.sni } : {}) });
  if (!chain) return { none: true };
  if (chain.handler.kind === 'tcp') return { cluster: chain.handler.clusters[0].name };
  const table = cfg.routeTables.get(chain.handler.routeConfig);
  if (!table) return `no route table ${chain.handler.routeConfig}`;
  const r = routeRequest(table, head);
  if (!r.route) return { none: true };
  const a = r.route.action;
  const route = r.route.name || undefined;
  if (a.kind === 'redirect') return { redirect: true, ...(route ? { route } : {}) };
  if (a.kind === 'direct') return { direct: { status: a.status, ...(a.body !== undefined ? { body: a.body } : {}) }, ...(route ? { route } : {}) };
  if (a.clusters.length === 0) return { none: true };
  const heaviest = a.clusters.reduce((x, c) => (c.weight > x.weight ? c : x));
  const split = a.clusters.length > 1 ? { split: a.clusters.map((c): [string, number] => [c.name, c.weight]) } : {};
  const policies = [
    a.timeoutMs === undefined ? '-' : String(a.timeoutMs),
    a.retry ? String(a.retry.numRetries) : '-',
    r.route.fault ? `${r.route.fault.delay ? 'D' : ''}${r.route.fault.abort ? 'A' : ''}` : '-',
    r.route.cors ? 'C' : '-',
    String(a.mirrors.length),
    String(a.hashPolicy.length),
    a.rewrite ? 'R' : '-',
  ].join(' ');
  return { cluster: heaviest.name, ...(route ? { route } : {}), ...split, policies };
}

/** The virtual host (RDS or inline in a listener) that holds a route object. */
function vhostOf(res: Record<string, R[]>, route: R): R | undefined {
  const configs = [...(res[ROUTE_TYPE] ?? [])];
  for (const l of res[LISTENER_TYPE] ?? []) {
    for (const c of [...arr(l.filterChains), rec(l.defaultFilterChain)]) for (const f of arr(c.filters)) if (rec(f.typedConfig).routeConfig) configs.push(rec(rec(f.typedConfig).routeConfig));
    const api = rec(rec(l.apiListener).apiListener);
    if (api.routeConfig) configs.push(rec(api.routeConfig));
  }
  for (const rc of configs) for (const vh of arr(rc.virtualHosts)) if (arr(vh.routes).includes(route)) return vh;
  return undefined;
}

const ms = (d: unknown): number | undefined => (d && typeof d === 'object' ? Number(rec(d).seconds ?? 0) * 1000 + Number(rec(d).nanos ?? 0) / 1e6 : undefined);

/**
 * The same digest read straight from the Envoy route (the simulator's matched route): route
 * timeout (tightened by max_stream_duration, default 15 s), retries (vhost policy when the route
 * has none), fault kinds, CORS, mirror and hash-policy counts, whether anything rewrites.
 */
function policies(route: R, vhost: R | undefined): string {
  const a = rec(route.route);
  let timeout = ms(a.timeout);
  const msd = ms(rec(a.maxStreamDuration).maxStreamDuration);
  if (msd !== undefined && msd > 0) timeout = (timeout ?? 15000) === 0 ? msd : Math.min(timeout ?? 15000, msd);
  const rp = a.retryPolicy ? rec(a.retryPolicy) : vhost?.retryPolicy ? rec(vhost.retryPolicy) : undefined;
  const tpfc = { ...rec(vhost?.typedPerFilterConfig), ...rec(route.typedPerFilterConfig) };
  const fault = rec(tpfc['envoy.filters.http.fault']);
  const cors = tpfc['envoy.filters.http.cors'];
  const corsOn = cors !== undefined && Number(rec(rec(rec(cors).filterEnabled).defaultValue).numerator ?? 100) !== 0;
  const faultKinds = `${fault.delay ? 'D' : ''}${fault.abort ? 'A' : ''}`;
  return [
    timeout === undefined ? '-' : String(timeout),
    rp ? String(rec(rp.numRetries).value ?? 1) : '-',
    faultKinds || '-',
    corsOn ? 'C' : '-',
    String(arr(a.requestMirrorPolicies).length),
    String(arr(a.hashPolicy).length),
    a.prefixRewrite !== undefined || a.regexRewrite || a.hostRewriteLiteral ? 'R' : '-',
  ].join(' ');
}

function simulatedOutcome(res: Record<string, R[]>, req: SimulatedRequest): Outcome {
  const s = simulate(res, req);
  const route = s.route || undefined;
  if (s.redirect) return { redirect: true, ...(route ? { route } : {}) };
  if (s.directResponse) {
    // simulate() reports inline_string bodies only; inline_bytes (base64 in object form) is decoded here.
    const bytes = rec(rec(rec(s.matchedRoute).directResponse).body).inlineBytes;
    const direct = typeof bytes === 'string' ? { ...s.directResponse, body: Buffer.from(bytes, 'base64').toString('utf8') } : s.directResponse;
    return { direct, ...(route ? { route } : {}) };
  }
  if (s.cluster !== undefined) {
    const split = s.weightedClusters && s.weightedClusters.length > 1 ? { split: s.weightedClusters.map((c): [string, number] => [c.name, c.weight]) } : {};
    return { cluster: s.cluster, ...(route ? { route } : {}), ...split, ...(s.matchedRoute ? { policies: policies(s.matchedRoute, vhostOf(res, s.matchedRoute)) } : {}) };
  }
  return { none: true };
}

describe('golden cases compile and route as simulate() does', () => {
  test('there are golden cases to check', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });
  for (const dir of cases) {
    test(dir, () => {
      const res = load(dir);
      const r = compileConfig({
        listeners: res[LISTENER_TYPE] ?? [],
        routes: res[ROUTE_TYPE] ?? [],
        clusters: res[CLUSTER_TYPE] ?? [],
        endpoints: res[ENDPOINT_TYPE] ?? [],
        versions: { [LISTENER_TYPE]: dir },
      });
      expect(r.ok ? [] : r.errors).toEqual([]);
      if (!r.ok) return;
      const cfg = r.value;
      expect(cfg.listeners.size).toBe((res[LISTENER_TYPE] ?? []).length);
      expect(cfg.clusters.size).toBe((res[CLUSTER_TYPE] ?? []).length);
      expect(cfg.endpoints.size).toBe((res[ENDPOINT_TYPE] ?? []).length);
      const { http, tcp } = entries(res);
      const mismatches: string[] = [];
      let compared = 0;
      for (const e of http) {
        for (const vh of arr(e.routeConfig.virtualHosts)) {
          for (const d of arr(vh.domains) as unknown as string[]) {
            const authority = concrete(d);
            const [host] = splitHostPort(authority);
            for (const pr of probes(vh)) {
              const scheme = pr.scheme ?? (e.tls ? 'https' : 'http');
              const method = pr.method ?? 'GET';
              const req: SimulatedRequest = { host, port: e.port, path: pr.path, method, headers: pr.headers, listener: e.listener, authority, scheme, tls: e.tls, ...(e.sni ? { sni: e.sni } : {}) };
              const head: RequestHead = { method, path: pr.path, authority, scheme, headers: new Headers(Object.entries(pr.headers).flat()) };
              const want = simulatedOutcome(res, req);
              const got = compiledOutcome(cfg, e, head);
              compared++;
              if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`${e.listener} ${authority}${pr.path} ${JSON.stringify(pr.headers)}: compiled ${JSON.stringify(got)}, simulate ${JSON.stringify(want)}`);
            }
          }
        }
      }
      for (const t of tcp) {
        const want = simulatedOutcome(res, { host: t.sni ?? '10.0.0.1', port: t.port, listener: t.listener, tls: t.tls, ...(t.sni ? { sni: t.sni } : {}) });
        const got = compiledOutcome(cfg, t, { method: 'GET', path: '/', authority: '', scheme: 'http', headers: new Headers() });
        compared++;
        if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`tcp ${t.listener}:${t.port} sni=${t.sni ?? ''}: compiled ${JSON.stringify(got)}, simulate ${JSON.stringify(want)}`);
      }
      expect(mismatches.slice(0, 15)).toEqual([]);
      expect(compared).toBeGreaterThan(0);

      // Clusters: the plan says what the Envoy cluster says.
      const LB: Record<string, string> = { ROUND_ROBIN: 'round-robin', LEAST_REQUEST: 'least-request', RANDOM: 'random', RING_HASH: 'ring-hash', MAGLEV: 'maglev', CLUSTER_PROVIDED: 'cluster-provided' };
      for (const c of res[CLUSTER_TYPE] ?? []) {
        const plan = cfg.clusters.get(String(c.name));
        const tlsSockets = [rec(c.transportSocket), ...arr(c.transportSocketMatches).map((m) => rec(m.transportSocket))].filter((t) => String(rec(t.typedConfig)['@type']).endsWith('UpstreamTlsContext'));
        const want = {
          discovery: String(c.type ?? 'STATIC').toLowerCase().replace('_', '-'),
          lb: LB[String(c.lbPolicy ?? 'ROUND_ROBIN')],
          eds: c.type === 'EDS' ? String(rec(c.edsClusterConfig).serviceName ?? c.name) : undefined,
          tls: tlsSockets.length > 0,
          sni: tlsSockets.length > 0 ? rec(tlsSockets[0].typedConfig).sni : undefined,
          outlier: c.outlierDetection !== undefined,
          endpointsKnown: c.type === 'EDS' ? cfg.endpoints.has(String(rec(c.edsClusterConfig).serviceName ?? c.name)) : true,
        };
        const got = {
          discovery: plan?.discovery,
          lb: plan?.lb.kind,
          eds: plan?.discovery === 'eds' ? plan.edsServiceName : undefined,
          tls: plan?.tls !== undefined,
          sni: plan?.tls?.sni,
          outlier: plan?.outlier !== undefined,
          endpointsKnown: true,
        };
        expect(got, String(c.name)).toEqual(want);
      }
    });
  }
});

// The intent-level expectations written in each case's input.yaml (`simulate:` entries: "jason goes
// to reviews-v2", a 418 direct response, a redirect, no route), checked on the compiled config.
// Which listener a request enters is the listener module's job; simulate() picks it here.
describe('golden intents hold on the compiled config', () => {
  for (const dir of cases) {
    const raw = parse(readFileSync(join(TESTDATA, dir, 'input.yaml'), 'utf8')) as { simulate?: { name?: string; request: SimulatedRequest; cluster?: string; status?: number; redirect?: boolean; error?: string }[] };
    for (const [i, s] of (raw.simulate ?? []).entries()) {
      test(`${dir}: ${s.name ?? `#${i}`}`, () => {
        const res = load(dir);
        const r = compileConfig({ listeners: res[LISTENER_TYPE] ?? [], routes: res[ROUTE_TYPE] ?? [], clusters: res[CLUSTER_TYPE] ?? [], endpoints: res[ENDPOINT_TYPE] ?? [] });
        if (!r.ok) throw new Error(r.errors.join('\n'));
        const req = s.request;
        const listener = simulate(res, req).listener;
        if (s.error === 'MESH_ERR_SIM_NO_LISTENER' && listener === undefined) return;
        expect(listener, 'simulate found no listener').toBeDefined();
        const plan = r.value.listeners.get(String(listener));
        expect(plan).toBeDefined();
        if (!plan) return;
        const tls = req.tls ?? req.sni !== undefined;
        const chain = selectFilterChain(plan, { destinationPort: req.port, transportProtocol: tls ? 'tls' : 'raw_buffer', ...(req.sni ? { serverName: req.sni } : {}) });
        if (!chain) {
          expect(s.error).toBe('MESH_ERR_SIM_NO_LISTENER');
          return;
        }
        let cluster: string | undefined;
        let status: number | undefined;
        let redirect = false;
        let noRoute = false;
        if (chain.handler.kind === 'tcp') cluster = chain.handler.clusters[0].name;
        else {
          const table = r.value.routeTables.get(chain.handler.routeConfig);
          expect(table).toBeDefined();
          if (!table) return;
          const plain = (plan as { apiListener?: boolean }).apiListener || req.port === 80 || req.port === 443;
          const authority = req.authority ?? (plain ? req.host : `${req.host}:${req.port}`);
          const headers = new Headers(Object.entries(req.headers ?? {}).flatMap(([k, v]) => [k.toLowerCase(), v]));
          const head: RequestHead = { method: req.method ?? 'GET', path: req.path ?? '/', authority, scheme: req.scheme ?? (req.tls ? 'https' : 'http'), headers };
          const m = routeRequest(table, head);
          const a = m.route?.action;
          if (!a) noRoute = true;
          else if (a.kind === 'redirect') redirect = true;
          else if (a.kind === 'direct') status = a.status;
          else if (a.clusters.length > 0) cluster = a.clusters.reduce((x, c) => (c.weight > x.weight ? c : x)).name;
          else noRoute = true;
        }
        if (s.error === 'MESH_ERR_SIM_NO_ROUTE') expect(noRoute).toBe(true);
        else if (s.error === 'MESH_ERR_SIM_NO_CLUSTER') expect(cluster !== undefined && !r.value.clusters.has(cluster)).toBe(true);
        else if (s.error === undefined) {
          expect(noRoute).toBe(false);
          if (cluster !== undefined) expect(r.value.clusters.has(cluster), `cluster ${cluster} is compiled`).toBe(true);
        }
        if (s.cluster !== undefined) expect(cluster).toBe(s.cluster);
        if (s.status !== undefined) expect(status).toBe(s.status);
        if (s.redirect !== undefined) expect(redirect).toBe(s.redirect);
      });
    }
  }
});
