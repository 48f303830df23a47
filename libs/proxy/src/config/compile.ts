/**
 * compileConfig: one consistent set of xDS resources (object form) → CompiledConfig, the lookup
 * structures the pipeline reads. Every resource is compiled, every error collected with its field
 * path; then the cross-checks: duplicate names, every RDS name a listener uses exists. A route to
 * an unknown cluster is only a warning, as in Envoy (503 with NC at request time), unless the
 * route configuration asks for validate_clusters; an EDS cluster without endpoints is fine
 * (warming is the xDS client's job).
 */
import type { ClusterPlan, CompiledConfig, EndpointSet, ListenerPlan, RouteTable } from '../model.js';
import { compileCluster } from './clusters.js';
import { compileLoadAssignment } from './endpoints.js';
import { describe, isMessage, Problems, type Obj } from './fields.js';
import { compileListener } from './listeners.js';
import { compileRouteConfig, type CompiledRouteConfig, type RouteCompileOptions } from './routes.js';

/** The resources of one update, in libs/xds object form. */
export interface ConfigInput {
  readonly listeners: readonly unknown[];
  readonly routes: readonly unknown[];
  readonly clusters: readonly unknown[];
  readonly endpoints: readonly unknown[];
  /** Per-type versions (type URL or short name → version), kept for /config_dump. */
  readonly versions?: Readonly<Record<string, string>>;
}

export interface CompileOptions extends RouteCompileOptions {
  /** The config in force: unchanged endpoints keep their objects (LB and outlier state survive). */
  readonly previous?: CompiledConfig;
}

/**
 * The outcome of a compilation: the config (with warnings) or every error found. `missingRoutes`
 * names the RDS route configurations listeners use that the input lacks (each also an error): an
 * xDS client that sees only those errors is waiting for RDS (Envoy warms such a listener rather
 * than rejecting it) and need not NACK.
 */
export type CompileResult =
  | { readonly ok: true; readonly value: CompiledConfig; readonly warnings: readonly string[]; readonly missingRoutes: readonly string[] }
  | { readonly ok: false; readonly errors: readonly string[]; readonly warnings: readonly string[]; readonly missingRoutes: readonly string[] };

function named(p: Problems, kind: string, list: readonly unknown[], nameKey: 'name' | 'clusterName'): { v: Obj; name: string; p: Problems }[] {
  const out: { v: Obj; name: string; p: Problems }[] = [];
  const seen = new Set<string>();
  if (!Array.isArray(list)) {
    p.for(`${kind}s`).error('', `expected a list of resources, got ${describe(list)}`);
    return out;
  }
  list.forEach((v, i) => {
    if (!isMessage(v)) {
      p.for(`${kind}[${i}]`).error('', `expected a message, got ${describe(v)}`);
      return;
    }
    const name = typeof v[nameKey] === 'string' ? (v[nameKey] as string) : '';
    const scoped = p.for(name ? `${kind} ${name}` : `${kind}[${i}]`);
    if (!name) {
      scoped.error(nameKey === 'name' ? 'name' : 'cluster_name', 'is required');
      return;
    }
    if (seen.has(name)) {
      scoped.error('', `duplicate ${kind} name`);
      return;
    }
    seen.add(name);
    out.push({ v, name, p: scoped });
  });
  return out;
}

/**
 * compileConfig compiles listeners, route configurations, clusters and load assignments into a
 * CompiledConfig, or returns every error (with resource and field path) when any resource is bad:
 * the caller NACKs and keeps its last good config. It never throws on bad input.
 */
export function compileConfig(input: ConfigInput, opts: CompileOptions = {}): CompileResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const missingRoutes: string[] = [];
  const root = new Problems('', errors, warnings);
  const routeOpts: RouteCompileOptions = opts.random ? { random: opts.random } : {};

  const clusters = new Map<string, ClusterPlan>();
  for (const c of named(root, 'cluster', input.clusters ?? [], 'name')) {
    const plan = compileCluster(c.p, c.v, opts.previous?.clusters.get(c.name)?.inlineEndpoints);
    if (plan) clusters.set(c.name, plan);
  }

  const endpoints = new Map<string, EndpointSet>();
  for (const e of named(root, 'cluster_load_assignment', input.endpoints ?? [], 'clusterName')) {
    const set = compileLoadAssignment(e.p, e.v, '', opts.previous?.endpoints.get(e.name));
    if (set) endpoints.set(e.name, set);
  }

  const compiledRoutes = new Map<string, CompiledRouteConfig>();
  const routeProblems = new Map<string, Problems>();
  for (const r of named(root, 'route_config', input.routes ?? [], 'name')) {
    const rc = compileRouteConfig(r.p, r.v, routeOpts);
    if (rc) compiledRoutes.set(r.name, rc);
    routeProblems.set(r.name, r.p);
  }

  const listeners = new Map<string, ListenerPlan>();
  const routeNames = new Set(compiledRoutes.keys());
  for (const l of named(root, 'listener', input.listeners ?? [], 'name')) {
    const cl = compileListener(l.p, l.v, routeOpts);
    if (!cl) continue;
    listeners.set(l.name, cl.plan);
    for (const [name, rc] of cl.inlineRoutes) {
      compiledRoutes.set(name, rc);
      routeProblems.set(name, l.p);
    }
    for (const ref of cl.rdsRefs) {
      // A name that failed to compile was already reported; only a truly missing one is reported here.
      if (!routeNames.has(ref.name) && !asList(input.routes).some((r) => isMessage(r) && r.name === ref.name)) {
        l.p.error(ref.path, `route configuration ${ref.name} does not exist`);
        if (!missingRoutes.includes(ref.name)) missingRoutes.push(ref.name);
      }
    }
    for (const ref of cl.clusterRefs) {
      if (!clusters.has(ref.cluster) && !clusterNamed(input.clusters, ref.cluster)) l.p.warn(ref.path, `cluster ${ref.cluster} does not exist (connections will be closed)`);
    }
  }

  for (const [name, rc] of compiledRoutes) {
    const p = routeProblems.get(name) as Problems;
    for (const ref of rc.clusterRefs) {
      if (clusters.has(ref.cluster) || clusterNamed(input.clusters, ref.cluster)) continue;
      if (rc.validateClusters) p.error(ref.path, `cluster ${ref.cluster} does not exist (validate_clusters)`);
      else p.warn(ref.path, `cluster ${ref.cluster} does not exist (503 NC at request time)`);
    }
  }

  if (errors.length > 0) return { ok: false, errors, warnings, missingRoutes };
  const routeTables = new Map<string, RouteTable>();
  for (const [name, rc] of compiledRoutes) routeTables.set(name, rc.table);
  return { ok: true, value: { versions: { ...(input.versions ?? {}) }, listeners, routeTables, clusters, endpoints }, warnings, missingRoutes };
}

function asList(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

function clusterNamed(list: readonly unknown[] | undefined, name: string): boolean {
  return asList(list).some((c) => isMessage(c) && c.name === name);
}
