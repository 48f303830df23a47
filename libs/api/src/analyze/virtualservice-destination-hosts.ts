/**
 * Every VirtualService destination (routes and mirrors) must name a host that a Service or
 * ServiceEntry defines and makes visible to the VirtualService, on a port it exposes
 * (Istio's virtualservice.DestinationHostAnalyzer).
 */
import { ReferencedResourceNotFound, VirtualServiceDestinationPortSelectorRequired } from './messages.js';
import { NETWORKING, type Mesh } from './mesh.js';
import { clusterServiceOf } from './hosts.js';
import { list, str, type VirtualServiceSpec } from './spec.js';
import type { Analyzer } from './types.js';
import { mirrorDestinations, routeDestinations } from './vs-walk.js';

export const virtualServiceDestinationHosts: Analyzer = {
  id: 'virtualservice.DestinationHosts',
  description: 'Checks that VirtualService route and mirror destinations name a known host (Service or ServiceEntry) and one of its ports',
  messages: [ReferencedResourceNotFound, VirtualServiceDestinationPortSelectorRequired],
  run(mesh, report) {
    for (const vs of mesh.of(NETWORKING, 'VirtualService')) {
      const spec = vs.body.spec as VirtualServiceSpec | undefined;
      const ns = mesh.nsOf(vs);
      const exportTo = list<string>(spec?.exportTo);
      for (const ref of [...routeDestinations(spec), ...mirrorDestinations(spec)]) {
        const host = str(ref.destination.host);
        if (!host) continue;
        const what = ref.role === 'mirror' ? 'mirror host' : 'host';
        const svc = mesh.lookupHost(host, ns, exportTo);
        if (!svc) {
          report(ReferencedResourceNotFound, vs, [...ref.path, 'host'], `Referenced ${what} not found: ${JSON.stringify(host)}${whyNotFound(mesh, host, ns)}`);
          continue;
        }
        if (svc.ports.length === 0) continue;
        const port = ref.destination.port?.number;
        if (typeof port === 'number') {
          if (!svc.ports.some((p) => p.number === port)) {
            report(ReferencedResourceNotFound, vs, [...ref.path, 'port', 'number'], `Referenced host:port not found: "${host}:${port}" (${svc.host} exposes ${portList(svc.ports)})`);
          }
        } else if (svc.ports.length > 1) {
          report(VirtualServiceDestinationPortSelectorRequired, vs, ref.path, `This VirtualService routes to a service "${host}" that exposes multiple ports ${portList(svc.ports)}. Specifying a port in the destination is required to disambiguate.`);
        }
      }
    }
  },
};

function portList(ports: readonly { number: number }[]): string {
  return `[${ports.map((p) => p.number).join(' ')}]`;
}

// whyNotFound explains the lookup so that the fix is obvious: the name it resolved to,
// a Service hidden by exportTo, or a `name.namespace` host missing its `.svc.<suffix>`.
function whyNotFound(mesh: Mesh, host: string, ns: string): string {
  const fqdn = mesh.fqdn(host, ns);
  const hidden = mesh.serviceHosts.find((s) => s.host === fqdn);
  if (hidden) return ` (${hidden.resource.kind} ${hidden.namespace}/${hidden.resource.metadata.name} defines it but is not exported to namespace ${ns})`;
  const parts = fqdn.split('.');
  if (parts.length === 2 && !clusterServiceOf(fqdn, mesh.opts.domainSuffix)) {
    const full = `${fqdn}.svc.${mesh.opts.domainSuffix}`;
    if (mesh.serviceHosts.some((s) => s.host === full)) return ` (a host with a dot is taken as fully qualified; did you mean ${full}?)`;
  }
  const resolved = fqdn === host.toLowerCase() ? '' : `resolved as ${fqdn}; `;
  return ` (${resolved}no Service or ServiceEntry in the input defines it)`;
}
