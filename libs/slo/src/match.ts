/**
 * Which requests an objective covers: its service (`host`, a short name resolved in the SLO's
 * namespace as DestinationRule hosts are), the reporter whose view counts, and the optional
 * `match` entries (ORed; fields inside one entry ANDed).
 */
import { RE2JS } from 're2js';
import type { ServiceLevelObjectiveSpec } from '@meshwork/api';

/** The fields of a request record an objective looks at (a subset of @meshwork/telemetry's RequestRecord). */
export interface SloRequest {
  readonly reporter: 'source' | 'destination';
  readonly destinationService: { readonly host?: string };
  readonly method?: string;
  readonly path?: string;
  readonly authority?: string;
  /** `outbound|9080||reviews.default.svc.cluster.local` or `inbound|9080||`: the service port is read from it. */
  readonly upstreamCluster?: string;
}

type StringMatch = { exact?: string; prefix?: string; regex?: string };

/** resolveSloHost returns the FQDN an objective's host names: short names get `<ns>.svc.<domainSuffix>`. */
export function resolveSloHost(host: string, namespace: string, domainSuffix = 'cluster.local'): string {
  const h = host.endsWith('.') ? host.slice(0, -1) : host;
  return h.includes('.') ? h : `${h}.${namespace}.svc.${domainSuffix}`;
}

function stringMatcher(m: StringMatch): (v: string | undefined) => boolean {
  if (m.exact !== undefined) return (v) => v === m.exact;
  if (m.prefix !== undefined) return (v) => v !== undefined && v.startsWith(m.prefix as string);
  if (m.regex !== undefined) {
    // Istio's regex matches are full matches (RE2 anchored), as in VirtualService.
    const re = RE2JS.compile(m.regex);
    return (v) => v !== undefined && re.matches(v);
  }
  return () => true;
}

/** requestPort returns the service port of a request: from the cluster name, else the authority. */
export function requestPort(r: SloRequest): number | undefined {
  const c = /^(?:outbound|inbound)\|(\d+)\|/.exec(r.upstreamCluster ?? '');
  if (c) return Number(c[1]);
  const a = /:(\d+)$/.exec(r.authority ?? '');
  return a ? Number(a[1]) : undefined;
}

/** The path without its query string, as URI matches see it. */
function pathOnly(p: string | undefined): string | undefined {
  if (p === undefined) return undefined;
  const q = p.indexOf('?');
  return q < 0 ? p : p.slice(0, q);
}

/**
 * sloRequestMatcher returns the predicate telling whether a request record counts towards the
 * objective: its destination service is the objective's host, the reporter is the one the
 * objective asks for (default DESTINATION), and it matches one of the `match` entries if any.
 */
export function sloRequestMatcher(spec: ServiceLevelObjectiveSpec, namespace: string, domainSuffix = 'cluster.local'): (r: SloRequest) => boolean {
  const host = resolveSloHost(spec.host, namespace, domainSuffix);
  const reporter = spec.reporter === 'SOURCE' ? 'source' : 'destination';
  const entries = (spec.match ?? []).map((m) => {
    const uri = m.uri ? stringMatcher(m.uri as StringMatch) : undefined;
    const method = m.method ? stringMatcher(m.method as StringMatch) : undefined;
    const port = m.port;
    return (r: SloRequest): boolean => (!uri || uri(pathOnly(r.path))) && (!method || method(r.method)) && (port === undefined || requestPort(r) === port);
  });
  return (r) => {
    if (r.reporter !== reporter || r.destinationService.host !== host) return false;
    return entries.length === 0 || entries.some((e) => e(r));
  };
}
