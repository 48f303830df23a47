/**
 * A VirtualService's gateways (top level and per match) must exist, and a gateway it binds
 * to must serve at least one of its hosts (Istio's virtualservice.GatewayAnalyzer). `mesh`
 * is the sidecars, always present.
 */
import { hostsOverlap } from './hosts.js';
import { ReferencedResourceNotFound, VirtualServiceHostNotFoundInGateway } from './messages.js';
import { GATEWAY_API, NETWORKING, type Mesh } from './mesh.js';
import { list, str, type GatewaySpec, type K8sGatewaySpec, type VirtualServiceSpec } from './spec.js';
import type { Analyzer } from './types.js';
import { gatewayRefs, resolveGatewayName } from './vs-walk.js';
import type { MeshResource } from '../validate.js';

export const virtualServiceGateways: Analyzer = {
  id: 'virtualservice.Gateways',
  description: 'Checks that the gateways a VirtualService binds to exist and serve at least one of its hosts',
  messages: [ReferencedResourceNotFound, VirtualServiceHostNotFoundInGateway],
  run(mesh, report) {
    const find = (group: string, ns: string, name: string) => mesh.of(group, 'Gateway').find((g) => mesh.nsOf(g) === ns && g.metadata.name === name);
    for (const vs of mesh.of(NETWORKING, 'VirtualService')) {
      const spec = vs.body.spec as VirtualServiceSpec | undefined;
      const ns = mesh.nsOf(vs);
      const hosts = list<string>(spec?.hosts).filter((h) => typeof h === 'string');
      for (const ref of gatewayRefs(spec)) {
        if (ref.name === 'mesh') continue;
        const { namespace, name } = resolveGatewayName(ref.name, ns);
        const istioGw = find(NETWORKING, namespace, name);
        const k8sGw = istioGw ? undefined : find(GATEWAY_API, namespace, name);
        if (!istioGw && !k8sGw) {
          const elsewhere = [...mesh.of(NETWORKING, 'Gateway'), ...mesh.of(GATEWAY_API, 'Gateway')].find((g) => g.metadata.name === name);
          const hint = elsewhere ? `; a Gateway ${name} exists in namespace ${mesh.nsOf(elsewhere)}: write ${mesh.nsOf(elsewhere)}/${name}` : '';
          report(ReferencedResourceNotFound, vs, ref.path, `Referenced gateway not found: ${JSON.stringify(ref.name)} (no Gateway ${namespace}/${name} in the input${hint})`);
          continue;
        }
        // Only the top-level binding selects hosts; per-match gateways narrow a rule.
        if (ref.path[1] !== 'gateways' || hosts.length === 0) continue;
        const served = istioGw ? istioGatewayHosts(mesh, istioGw, ns) : k8sGatewayHosts(k8sGw as MeshResource);
        const vsHosts = hosts.flatMap((h) => [h, mesh.fqdn(h, ns)]);
        if (!served.some((g) => vsHosts.some((h) => hostsOverlap(g, h)))) {
          report(VirtualServiceHostNotFoundInGateway, vs, ref.path, `none of the hosts [${hosts.join(' ')}] of this VirtualService is served by Gateway ${namespace}/${name} (it serves [${served.join(' ') || 'nothing for this namespace'}]): the binding has no effect`);
        }
      }
    }
  },
};

// istioGatewayHosts returns the hosts a Gateway serves to VirtualServices of `vsNs`: a server
// host `ns/host` is for VirtualServices in ns only, `./host` for the gateway's own namespace.
function istioGatewayHosts(mesh: Mesh, gw: MeshResource, vsNs: string): string[] {
  const gwNs = mesh.nsOf(gw);
  const out: string[] = [];
  for (const server of list<NonNullable<GatewaySpec['servers']>[number]>((gw.body.spec as GatewaySpec | undefined)?.servers)) {
    for (const h of list<string>(server?.hosts)) {
      if (!str(h)) continue;
      const slash = h.indexOf('/');
      if (slash < 0) {
        out.push(h);
        continue;
      }
      const scope = h.slice(0, slash);
      const host = h.slice(slash + 1);
      if (scope === '*' || scope === vsNs || (scope === '.' && gwNs === vsNs)) out.push(host);
    }
  }
  return out;
}

function k8sGatewayHosts(gw: MeshResource): string[] {
  const listeners = list<{ hostname?: string }>((gw.body.spec as K8sGatewaySpec | undefined)?.listeners);
  // A listener without a hostname accepts every host.
  return listeners.map((l) => str(l?.hostname) ?? '*');
}
