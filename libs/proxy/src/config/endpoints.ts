/**
 * ClusterLoadAssignment → EndpointSet: priorities → localities (with their load_balancing_weight)
 * → hosts (weight, health, Istio metadata). Endpoint objects are reused from the previous set
 * when nothing about them changed, so balancer and outlier state keyed by the object survives an
 * EDS push.
 */
import type { Endpoint, EndpointSet, LocalityEndpoints } from '../model.js';
import { at, enumName, int, isMessage, obj, objects, Problems, str, wrapped, type Obj } from './fields.js';

const HEALTH = ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'] as const;

/** Envoy routes to UNKNOWN, HEALTHY and (when nothing better is left) DEGRADED hosts; the model's boolean keeps DEGRADED usable. */
const USABLE = new Set<string>(['UNKNOWN', 'HEALTHY', 'DEGRADED']);

/** The identity of an endpoint for reuse across updates: everything the model exposes. */
export function endpointKey(e: Endpoint): string {
  const m = e.meta;
  return `${e.address}|${e.port}|${e.weight}|${e.healthy ? 1 : 0}|${m?.tlsMode ?? ''}|${m?.workload ?? ''}|${m?.namespace ?? ''}|${m?.identity ?? ''}`;
}

/** A pool of endpoints from the previous set, taken at most once each. */
export class EndpointReuse {
  private readonly pool = new Map<string, Endpoint[]>();

  constructor(previous?: EndpointSet) {
    if (!previous) return;
    for (const prio of previous.priorities) {
      for (const loc of prio) {
        for (const e of loc.endpoints) {
          const k = endpointKey(e);
          const l = this.pool.get(k);
          if (l) l.push(e);
          else this.pool.set(k, [e]);
        }
      }
    }
  }

  /** take returns the previous object equal to `e`, or `e`. */
  take(e: Endpoint): Endpoint {
    const l = this.pool.get(endpointKey(e));
    return l?.shift() ?? e;
  }
}

/** Istio endpoint metadata: `istio.workload` is `name;namespace;app;version;cluster`; tlsMode sits under `envoy.transport_socket_match`. */
function endpointMeta(md: unknown): Endpoint['meta'] | undefined {
  if (!isMessage(md) || !isMessage(md.filterMetadata)) return undefined;
  const fm = md.filterMetadata;
  const out: { tlsMode?: string; workload?: string; namespace?: string; identity?: string } = {};
  const tsm = fm['envoy.transport_socket_match'];
  if (isMessage(tsm) && typeof tsm.tlsMode === 'string') out.tlsMode = tsm.tlsMode;
  const istio = fm.istio;
  if (isMessage(istio)) {
    if (typeof istio.workload === 'string') {
      const [name, ns] = istio.workload.split(';');
      if (name) out.workload = name;
      if (ns) out.namespace = ns;
    }
    if (typeof istio.identity === 'string') out.identity = istio.identity;
    if (typeof istio.tlsMode === 'string' && out.tlsMode === undefined) out.tlsMode = istio.tlsMode;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** socketAddress reads `address.socket_address` (address and port_value); other address kinds are errors. */
export function socketAddress(p: Problems, holder: Obj, path: string): { address: string; port: number } | undefined {
  const a = obj(p, holder, 'address', path);
  if (!a) {
    p.error(at(path, 'address'), 'is required');
    return undefined;
  }
  const ap = at(path, 'address');
  const sa = obj(p, a, 'socketAddress', ap);
  if (!sa) {
    p.error(ap, 'only socket_address is supported');
    return undefined;
  }
  const sp = at(ap, 'socketAddress');
  const address = str(p, sa, 'address', sp);
  if (!address) p.error(at(sp, 'address'), 'is required');
  if (sa.namedPort !== undefined && sa.namedPort !== null) p.error(at(sp, 'namedPort'), 'not supported');
  if (sa.resolverName) p.error(at(sp, 'resolverName'), 'not supported');
  const protocol = sa.protocol;
  if (protocol !== undefined && protocol !== null && protocol !== 'TCP' && protocol !== 0) p.error(at(sp, 'protocol'), 'only TCP is supported');
  const port = int(p, sa, 'portValue', sp, 0, 65535) ?? 0;
  return address ? { address, port } : undefined;
}

/**
 * compileLoadAssignment compiles a ClusterLoadAssignment (or a cluster's inline load_assignment)
 * into an EndpointSet, reusing unchanged Endpoint objects of `previous`.
 */
export function compileLoadAssignment(p: Problems, cla: Obj, path: string, previous?: EndpointSet): EndpointSet | undefined {
  const before = p.errors.length;
  const reuse = new EndpointReuse(previous);
  const priorities: LocalityEndpoints[][] = [];
  for (const le of objects(p, cla, 'endpoints', path)) {
    const priority = int(p, le.v, 'priority', le.path, 0, 127) ?? 0;
    const loc = obj(p, le.v, 'locality', le.path) ?? {};
    const lp = at(le.path, 'locality');
    const region = str(p, loc, 'region', lp);
    const zone = str(p, loc, 'zone', lp);
    const subZone = str(p, loc, 'subZone', lp);
    const weight = wrapped(p, le.v, 'loadBalancingWeight', le.path, 1, 0xffffffff);
    const endpoints: Endpoint[] = [];
    for (const lb of objects(p, le.v, 'lbEndpoints', le.path)) {
      const kind = lb.v.endpointName !== undefined && lb.v.endpointName !== null ? 'endpointName' : 'endpoint';
      if (kind === 'endpointName') {
        p.error(at(lb.path, 'endpointName'), 'named endpoints are not supported');
        continue;
      }
      const ep = obj(p, lb.v, 'endpoint', lb.path);
      if (!ep) {
        p.error(at(lb.path, 'endpoint'), 'is required');
        continue;
      }
      const sa = socketAddress(p, ep, at(lb.path, 'endpoint'));
      const health = enumName(p, lb.v, 'healthStatus', lb.path, HEALTH) ?? 'UNKNOWN';
      const w = wrapped(p, lb.v, 'loadBalancingWeight', lb.path, 1, 0xffffffff) ?? 1;
      if (!sa) continue;
      const meta = endpointMeta(lb.v.metadata);
      endpoints.push(reuse.take({ address: sa.address, port: sa.port, weight: w, healthy: USABLE.has(health), ...(meta ? { meta } : {}) }));
    }
    while (priorities.length <= priority) priorities.push([]);
    priorities[priority].push({
      locality: { ...(region ? { region } : {}), ...(zone ? { zone } : {}), ...(subZone ? { subZone } : {}) },
      ...(weight !== undefined ? { weight } : {}),
      endpoints,
    });
  }
  if (p.errors.length !== before) return undefined;
  return { priorities };
}
