/**
 * A DestinationRule whose host no Service or ServiceEntry defines configures nothing, and
 * a subset whose labels select no workload of its service leads to 503 UH
 * (Istio's destinationrule.SubsetSelectPodAnalyzer: UnknownDestinationRuleHost and
 * DestinationRuleSubsetNotSelectPods). Istio matches subset labels against pods of any
 * namespace; here they are combined with the service's own selector in its namespace,
 * as the endpoints of a subset are the service's endpoints with those labels.
 */
import { formatSelector, isWildcard } from './hosts.js';
import { DestinationRuleSubsetNotSelectPods, UnknownDestinationRuleHost } from './messages.js';
import { NETWORKING } from './mesh.js';
import { labelsOf, list, str, type DestinationRuleSpec } from './spec.js';
import type { Analyzer } from './types.js';

export const destinationRuleHosts: Analyzer = {
  id: 'destinationrule.Hosts',
  description: 'Checks that a DestinationRule host is a known service and, when workloads are known, that each subset selects some of its workloads',
  messages: [UnknownDestinationRuleHost, DestinationRuleSubsetNotSelectPods],
  run(mesh, report) {
    for (const dr of mesh.of(NETWORKING, 'DestinationRule')) {
      const spec = dr.body.spec as DestinationRuleSpec | undefined;
      const host = str(spec?.host);
      if (!host) continue;
      const ns = mesh.nsOf(dr);
      const fqdn = mesh.fqdn(host, ns);
      if (isWildcard(fqdn)) {
        // A wildcard rule is a default for many hosts; it only configures nothing when it covers none.
        if (mesh.servicesMatching(fqdn).length === 0 && !mesh.lookupHost(host, ns, list<string>(spec?.exportTo))) {
          report(UnknownDestinationRuleHost, dr, ['spec', 'host'], `The host ${host} defined in the DestinationRule does not match any services in the mesh.`);
        }
        continue;
      }
      const svc = mesh.lookupHost(host, ns, list<string>(spec?.exportTo));
      if (!svc) {
        report(UnknownDestinationRuleHost, dr, ['spec', 'host'], `The host ${host} defined in the DestinationRule does not match any services in the mesh${fqdn !== host ? ` (resolved as ${fqdn})` : ''}.`);
        continue;
      }
      // Without a selector the service's endpoints are not workloads we can see (external, DNS, static).
      if (!mesh.opts.workloadsKnown || !svc.selector) continue;
      list<{ name?: string; labels?: Record<string, string> }>(spec?.subsets).forEach((subset, i) => {
        const selector = { ...svc.selector, ...(labelsOf(subset?.labels) ?? {}) };
        if (mesh.workloadsSelectedBy(selector, svc.namespace).length > 0) return;
        report(DestinationRuleSubsetNotSelectPods, dr, ['spec', 'subsets', i], `The Subset ${subset?.name ?? `#${i}`} defined in the DestinationRule does not select any pods (no workload in namespace ${svc.namespace} has labels ${formatSelector(selector)}), which leads to 503 UH (no healthy upstream).`);
      });
    }
  },
};
