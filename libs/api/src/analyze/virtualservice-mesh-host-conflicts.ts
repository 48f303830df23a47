/**
 * Two VirtualServices bound to the mesh gateway (the sidecars) for the same host, visible
 * in a common namespace: pilot keeps one and the outcome depends on creation order
 * (Istio's virtualservice.ConflictingMeshGatewayHostsAnalyzer).
 */
import { exportScope, hostsOverlap, isWildcard, visibleIn, type ExportScope } from './hosts.js';
import { ConflictingMeshGatewayVirtualServiceHosts } from './messages.js';
import { NETWORKING } from './mesh.js';
import { list, type VirtualServiceSpec } from './spec.js';
import type { Analyzer } from './types.js';
import type { MeshResource } from '../validate.js';

interface Entry {
  readonly vs: MeshResource;
  readonly host: string;
  readonly hostIndex: number;
  readonly scope: ExportScope;
}

export const virtualServiceMeshHostConflicts: Analyzer = {
  id: 'virtualservice.ConflictingMeshGatewayHosts',
  description: 'Checks that no two VirtualServices bound to the mesh gateway define the same host for the same namespaces',
  messages: [ConflictingMeshGatewayVirtualServiceHosts],
  run(mesh, report) {
    const entries: Entry[] = [];
    for (const vs of mesh.of(NETWORKING, 'VirtualService')) {
      const spec = vs.body.spec as VirtualServiceSpec | undefined;
      const gws = list<string>(spec?.gateways);
      if (gws.length > 0 && !gws.includes('mesh')) continue;
      const ns = mesh.nsOf(vs);
      const scope = exportScope(list<string>(spec?.exportTo), ns);
      list<string>(spec?.hosts).forEach((h, i) => {
        if (typeof h === 'string') entries.push({ vs, host: mesh.fqdn(h, ns), hostIndex: i, scope });
      });
    }
    const reported = new Set<MeshResource>();
    for (const e of entries) {
      if (reported.has(e.vs)) continue;
      // As Istio: equal hosts conflict when some namespace sees both; a wildcard host exported
      // everywhere also conflicts with the hosts it covers in a narrower scope.
      const others = entries.filter((o) => o.vs !== e.vs && conflict(e, o));
      if (others.length === 0) continue;
      const names = [...new Set([e, ...others].map((x) => `${mesh.nsOf(x.vs)}/${x.vs.metadata.name}`))].sort();
      reported.add(e.vs);
      report(ConflictingMeshGatewayVirtualServiceHosts, e.vs, ['spec', 'hosts', e.hostIndex], `The VirtualServices ${names.join(',')} associated with mesh gateway define the same host ${e.host}, so which one applies depends on creation order. Merge them into a single VirtualService.`);
    }
  },
};

function conflict(a: Entry, b: Entry): boolean {
  if (a.host === b.host) return a.scope.all || b.scope.all || [...a.scope.namespaces].some((n) => visibleIn(b.scope, n));
  if (a.scope.all === b.scope.all) return false;
  const [narrow, wide] = a.scope.all ? [b, a] : [a, b];
  return (isWildcard(wide.host) || isWildcard(narrow.host)) && hostsOverlap(narrow.host, wide.host);
}
