/**
 * A destination subset must be defined by a DestinationRule for that host which the
 * VirtualService's namespace can see (Istio's virtualservice.DestinationRuleAnalyzer).
 * Pilot would otherwise route to a cluster that does not exist: 503 NR/UH.
 */
import { exportScope, visibleIn } from './hosts.js';
import { ReferencedResourceNotFound } from './messages.js';
import { NETWORKING } from './mesh.js';
import { list, str, type DestinationRuleSpec, type VirtualServiceSpec } from './spec.js';
import type { Analyzer } from './types.js';
import { mirrorDestinations, routeDestinations } from './vs-walk.js';

export const virtualServiceDestinationSubsets: Analyzer = {
  id: 'virtualservice.DestinationSubsets',
  description: 'Checks that every subset a VirtualService routes or mirrors to is defined by a visible DestinationRule for that host',
  messages: [ReferencedResourceNotFound],
  run(mesh, report) {
    for (const vs of mesh.of(NETWORKING, 'VirtualService')) {
      const spec = vs.body.spec as VirtualServiceSpec | undefined;
      const ns = mesh.nsOf(vs);
      const vantage = [ns, ...list<string>(spec?.exportTo).filter((e) => e !== '*' && e !== '~').map((e) => (e === '.' ? ns : e))];
      for (const ref of [...routeDestinations(spec), ...mirrorDestinations(spec)]) {
        const host = str(ref.destination.host);
        const subset = str(ref.destination.subset);
        if (!host || !subset) continue;
        const fqdn = mesh.fqdn(host, ns);
        const drs = mesh.destinationRulesFor(fqdn, vantage);
        const subsetsOf = (r: (typeof drs)[number]) => list<{ name?: string }>((r.body.spec as DestinationRuleSpec | undefined)?.subsets).map((s) => s?.name);
        if (drs.some((r) => subsetsOf(r).includes(subset))) continue;
        let why: string;
        if (drs.length > 0) {
          const names = [...new Set(drs.flatMap(subsetsOf).filter((s): s is string => !!s))];
          const label = (r: (typeof drs)[number]) => {
            const h = mesh.fqdn(str((r.body.spec as DestinationRuleSpec | undefined)?.host) ?? '', mesh.nsOf(r));
            return `${mesh.nsOf(r)}/${r.metadata.name}${h === fqdn ? '' : ` (host ${h})`}`;
          };
          why = `DestinationRule ${drs.map(label).join(', ')} for ${fqdn} defines ${names.length ? `subsets ${names.join(', ')}` : 'no subsets'}`;
        } else {
          const hidden = mesh.of(NETWORKING, 'DestinationRule').find((r) => {
            const s = r.body.spec as DestinationRuleSpec | undefined;
            return mesh.fqdn(str(s?.host) ?? '', mesh.nsOf(r)) === fqdn && !vantage.some((n) => visibleIn(exportScope(list<string>(s?.exportTo), mesh.nsOf(r)), n));
          });
          why = hidden
            ? `DestinationRule ${mesh.nsOf(hidden)}/${hidden.metadata.name} for ${fqdn} is not exported to namespace ${ns}`
            : `no DestinationRule in the input has host ${fqdn}`;
        }
        const what = ref.role === 'mirror' ? 'mirror+subset' : 'host+subset';
        report(ReferencedResourceNotFound, vs, [...ref.path, 'subset'], `Referenced ${what} in destinationrule not found: "${host}+${subset}" (${why})`);
      }
    }
  },
};
