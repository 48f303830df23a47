/**
 * ClusterLoadAssignment building (Istio's EDS): endpoints grouped by locality, with
 * locality weights and failover priorities from the DestinationRule's locality settings.
 */
import type { Endpoint, Locality, ProxyNode, Service, MeshServicePort } from '@meshwork/api';
import { socketAddress, type EnvoyResource } from './envoy.js';
import { clusterName } from './names.js';
import { portEndpoints } from './cluster.js';
import { policyFor, subsetLabels } from './policy.js';
import { eachTarget, hostInputs, memoized } from './memo.js';
import { stableJson } from './hash.js';
import { destinationRuleFor, type EffectiveDestinationRule, type MeshSnapshot } from './snapshot.js';

function isIp(a: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(a) || (a.includes(':') && /^[0-9a-fA-F:.]+$/.test(a));
}

function localityKey(l: Locality | undefined): string {
  return `${l?.region ?? ''}/${l?.zone ?? ''}/${l?.subzone ?? ''}`;
}

/** Istio's locality patterns: `region/zone/subzone` where any part may be `*` or missing. */
function localityMatches(pattern: string, l: Locality | undefined): boolean {
  const [r, z, s] = pattern.split('/');
  const part = (p: string | undefined, v: string | undefined): boolean => p === undefined || p === '*' || p === (v ?? '');
  return part(r, l?.region) && part(z, l?.zone) && part(s, l?.subzone);
}

/**
 * Failover priority of a locality seen from the proxy (Istio's applyLocalityFailover):
 * same subzone 0, same zone 1, same region 2, a configured failover region 3, anything else 4.
 * Priorities are compacted afterwards so they stay consecutive as Envoy requires.
 */
function failoverPriority(proxy: Locality, l: Locality | undefined, failoverTo: readonly string[]): number {
  if ((l?.region ?? '') === (proxy.region ?? '')) {
    if ((l?.zone ?? '') === (proxy.zone ?? '')) return (l?.subzone ?? '') === (proxy.subzone ?? '') ? 0 : 1;
    return 2;
  }
  return failoverTo.includes(l?.region ?? '') ? 3 : 4;
}

/** The value of a failoverPriority label for a workload: topology labels come from the locality. */
function topologyValue(label: string, labels: Readonly<Record<string, string>>, l: Locality | undefined): string | undefined {
  switch (label) {
    case 'topology.kubernetes.io/region':
      return l?.region;
    case 'topology.kubernetes.io/zone':
      return l?.zone;
    case 'topology.istio.io/subzone':
      return l?.subzone;
    default:
      return labels[label];
  }
}

/** Istio's failoverPriority: 0 when all listed labels match the proxy, 1 when all but the last, and so on. */
function labelFailoverPriority(priorityLabels: readonly string[], proxy: ProxyNode, e: Endpoint): number {
  let matched = 0;
  for (const label of priorityLabels) {
    const mine = topologyValue(label, proxy.labels, proxy.locality);
    if (mine === undefined || mine !== topologyValue(label, e.labels, e.locality)) break;
    matched++;
  }
  return priorityLabels.length - matched;
}

const localities = new WeakMap<ProxyNode, string>();
function localityJson(proxy: ProxyNode): string {
  let j = localities.get(proxy);
  if (j === undefined) localities.set(proxy, (j = stableJson(proxy.locality)));
  return j;
}

// Whether a rule may rank endpoints by the proxy's labels (failoverPriority anywhere in it): then its
// service's load assignments are not shared between views with different labels.
const labelRanked = new WeakMap<EffectiveDestinationRule, boolean>();
function mayRankByLabels(dr: EffectiveDestinationRule | undefined): boolean {
  if (!dr) return false;
  let v = labelRanked.get(dr);
  if (v === undefined) labelRanked.set(dr, (v = JSON.stringify(dr.spec).includes('"failoverPriority"')));
  return v;
}

/**
 * buildServiceLoadAssignments returns the ClusterLoadAssignments of one visible service for this
 * proxy, in buildServiceClusters' order. Memoized per service; each assignment is memoized too.
 */
export function buildServiceLoadAssignments(proxy: ProxyNode, snapshot: MeshSnapshot, svc: Service): readonly EnvoyResource[] {
  const dr = destinationRuleFor(snapshot, proxy, svc.hostname, svc.namespace);
  // The union of buildLoadAssignment's keys over the service's ports and the rule's subsets.
  const key = ['eds*', proxy.type, ...hostInputs(snapshot, svc, dr), localityJson(proxy), mayRankByLabels(dr) ? stableJson(proxy.labels) : ''];
  return memoized(snapshot, key, () => eachTarget(svc, dr, (p, subset) => buildLoadAssignment(proxy, snapshot, svc, p, subset)));
}

/**
 * buildLoadAssignment returns the ClusterLoadAssignment of `outbound|port|subset|host`:
 * healthy and unhealthy endpoints (Envoy skips the unhealthy ones) grouped by locality,
 * locality weight = sum of endpoint weights, auto-mTLS metadata (`tlsMode`) for sidecars, and
 * priorities when the DestinationRule enables locality failover or failoverPriority (both need outlier detection,
 * as in Istio) or weights from `localityLbSetting.distribute`.
 */
export function buildLoadAssignment(proxy: ProxyNode, snapshot: MeshSnapshot, svc: Service, port: MeshServicePort, subset: string): EnvoyResource {
  const dr = destinationRuleFor(snapshot, proxy, svc.hostname, svc.namespace);
  const pol = policyFor(dr, port.port, subset);
  const lls = pol.loadBalancer?.localityLbSetting;
  const byLabels = (lls?.failoverPriority ?? []).length > 0 && lls?.enabled !== false && pol.outlierDetection !== undefined;
  // Every input computeLoadAssignment reads; the proxy's labels only matter to failoverPriority.
  const key = ['eds', proxy.type, port.port, subset, ...hostInputs(snapshot, svc, dr), localityJson(proxy), byLabels ? stableJson(proxy.labels) : ''];
  return memoized(snapshot, key, () => computeLoadAssignment(proxy, snapshot, svc, port, subset, dr, byLabels));
}

function computeLoadAssignment(proxy: ProxyNode, snapshot: MeshSnapshot, svc: Service, port: MeshServicePort, subset: string, dr: EffectiveDestinationRule | undefined, byLabels: boolean): EnvoyResource {
  const name = clusterName('outbound', port.port, subset, svc.hostname);
  const pol = policyFor(dr, port.port, subset);
  const labels = subset === '' ? undefined : subsetLabels(dr, subset);
  if (subset !== '' && labels === undefined) return { clusterName: name, endpoints: [] };
  // gRPC clients reject a whole assignment holding a non-IP address (grpc-js-xds), so names are left out for them.
  const eps = portEndpoints(snapshot, svc, port, labels).filter((e) => proxy.type !== 'grpc' || isIp(e.address));
  const lls = pol.loadBalancer?.localityLbSetting;
  // failoverPriority ranks endpoints by how many of the listed labels (in order) they share with the proxy.
  const labelPriority = (e: Endpoint): number => (byLabels ? labelFailoverPriority(lls?.failoverPriority ?? [], proxy, e) : 0);
  const groups = new Map<string, Endpoint[]>();
  for (const e of eps) {
    const k = `${localityKey(e.locality)}#${labelPriority(e)}`;
    const g = groups.get(k);
    if (g) g.push(e);
    else groups.set(k, [e]);
  }
  const localityOn = lls?.enabled !== false && proxy.locality !== undefined;
  const failover = byLabels || (localityOn && pol.outlierDetection !== undefined && !(lls?.distribute && lls.distribute.length > 0));
  const distribute = localityOn ? (lls?.distribute ?? []).find((d) => localityMatches(d.from ?? '*', proxy.locality)) : undefined;
  const failoverTo = (lls?.failover ?? []).filter((f) => f.from === proxy.locality?.region).map((f) => f.to ?? '');
  const out: EnvoyResource[] = [];
  for (const [, g] of [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const loc = g[0].locality;
    let weight = g.reduce((a, e) => a + (e.weight ?? 1), 0);
    if (distribute) {
      const to = distribute.to ?? {};
      const key = Object.keys(to).find((p) => localityMatches(p, loc));
      if (key === undefined) continue;
      weight = to[key];
    }
    const lbEndpoints = g
      .slice()
      .sort((a, b) => (a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1))
      .map((e) => ({
        endpoint: { address: socketAddress(e.address, e.port) },
        healthStatus: e.healthy ? 'HEALTHY' : 'UNHEALTHY',
        loadBalancingWeight: { value: e.weight ?? 1 },
        ...(proxy.type !== 'grpc' ? { metadata: { filterMetadata: { 'envoy.transport_socket_match': { tlsMode: e.tlsMode } } } } : {}),
      }));
    // Always present, even empty: gRPC clients reject locality-less groups (Istio sends {} too).
    const locality = loc ? { ...(loc.region ? { region: loc.region } : {}), ...(loc.zone ? { zone: loc.zone } : {}), ...(loc.subzone ? { subZone: loc.subzone } : {}) } : {};
    out.push({
      locality,
      lbEndpoints,
      loadBalancingWeight: { value: weight },
      ...(byLabels ? { priority: labelPriority(g[0]) } : failover && proxy.locality ? { priority: failoverPriority(proxy.locality, loc, failoverTo) } : {}),
    });
  }
  if (failover) {
    const used = [...new Set(out.map((o) => o.priority as number))].sort((a, b) => a - b);
    for (const o of out) {
      o.priority = used.indexOf(o.priority as number);
      if (o.priority === 0) delete o.priority;
    }
  }
  return { clusterName: name, endpoints: out };
}
