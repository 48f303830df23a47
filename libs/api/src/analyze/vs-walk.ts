/** Walking a VirtualService's routes: every destination and gateway reference with its field path. */
import { list, str, type Destination, type HTTPRoute, type L4Route, type VirtualServiceSpec } from './spec.js';
import type { Path } from './types.js';

/** A destination named by a VirtualService, with the path of its `destination` object. */
export interface DestinationRef {
  readonly destination: Destination;
  readonly path: Path;
  /** `route` for traffic destinations, `mirror` for copies. */
  readonly role: 'route' | 'mirror';
}

/** routeDestinations returns every http/tcp/tls route destination of a VirtualService. */
export function routeDestinations(spec: VirtualServiceSpec | undefined): DestinationRef[] {
  const out: DestinationRef[] = [];
  for (const section of ['http', 'tcp', 'tls'] as const) {
    list<HTTPRoute | L4Route>(spec?.[section]).forEach((rule, i) => {
      list<{ destination?: Destination }>(rule?.route).forEach((rd, j) => {
        if (rd?.destination) out.push({ destination: rd.destination, path: ['spec', section, i, 'route', j, 'destination'], role: 'route' });
      });
    });
  }
  return out;
}

/** mirrorDestinations returns the `mirror` and `mirrors[]` destinations of HTTP routes. */
export function mirrorDestinations(spec: VirtualServiceSpec | undefined): DestinationRef[] {
  const out: DestinationRef[] = [];
  list<HTTPRoute>(spec?.http).forEach((rule, i) => {
    if (rule?.mirror) out.push({ destination: rule.mirror, path: ['spec', 'http', i, 'mirror'], role: 'mirror' });
    list<{ destination?: Destination }>(rule?.mirrors).forEach((m, j) => {
      if (m?.destination) out.push({ destination: m.destination, path: ['spec', 'http', i, 'mirrors', j, 'destination'], role: 'mirror' });
    });
  });
  return out;
}

/** A gateway named by a VirtualService (top level or in a match), with its path. */
export interface GatewayRef {
  readonly name: string;
  readonly path: Path;
}

/** gatewayRefs returns every gateway name a VirtualService binds to, top level and per match. */
export function gatewayRefs(spec: VirtualServiceSpec | undefined): GatewayRef[] {
  const out: GatewayRef[] = [];
  list<string>(spec?.gateways).forEach((g, i) => {
    if (str(g)) out.push({ name: g, path: ['spec', 'gateways', i] });
  });
  for (const section of ['http', 'tcp', 'tls'] as const) {
    list<HTTPRoute | L4Route>(spec?.[section]).forEach((rule, i) => {
      list<{ gateways?: string[] }>(rule?.match).forEach((m, j) => {
        list<string>(m?.gateways).forEach((g, k) => {
          if (str(g)) out.push({ name: g, path: ['spec', section, i, 'match', j, 'gateways', k] });
        });
      });
    });
  }
  return out;
}

/**
 * resolveGatewayName returns `namespace/name` for a gateway reference written in a
 * VirtualService of `namespace`, as pilot's resolveGatewayName does: `name` and `./name`
 * are local, `ns/name` explicit, and the legacy `name.ns.svc.cluster.local` form names `ns`.
 */
export function resolveGatewayName(ref: string, namespace: string): { namespace: string; name: string } {
  const slash = ref.indexOf('/');
  if (slash >= 0) {
    const ns = ref.slice(0, slash);
    return { namespace: ns === '.' ? namespace : ns, name: ref.slice(slash + 1) };
  }
  const dot = ref.indexOf('.');
  if (dot < 0) return { namespace, name: ref };
  const rest = ref.slice(dot + 1);
  const dot2 = rest.indexOf('.');
  return { namespace: dot2 < 0 ? rest : rest.slice(0, dot2), name: ref.slice(0, dot) };
}

/** ruleName renders a rule as pilot's messages do: `"name"` when named, else `#index`. */
export function ruleName(rule: { name?: string } | undefined, index: number): string {
  return rule && typeof rule.name === 'string' && rule.name !== '' ? JSON.stringify(rule.name) : `#${index}`;
}
