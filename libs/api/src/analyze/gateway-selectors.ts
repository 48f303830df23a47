/**
 * A Gateway's selector must pick at least one gateway workload, or no proxy serves it
 * (Istio's gateway.IngressGatewayPortAnalyzer, selector part). With pilot's default
 * PILOT_SCOPE_GATEWAY_TO_NAMESPACE=false the selector applies to workloads of every
 * namespace. Only checked when the input lists the workloads.
 */
import { formatSelector } from './hosts.js';
import { ReferencedResourceNotFound } from './messages.js';
import { NETWORKING } from './mesh.js';
import { labelsOf, type GatewaySpec } from './spec.js';
import type { Analyzer } from './types.js';

export const gatewaySelectors: Analyzer = {
  id: 'gateway.Selectors',
  description: 'Checks that each Gateway selector matches a Pod or WorkloadEntry (when workloads are known)',
  messages: [ReferencedResourceNotFound],
  run(mesh, report) {
    if (!mesh.opts.workloadsKnown) return;
    for (const gw of mesh.of(NETWORKING, 'Gateway')) {
      const selector = labelsOf((gw.body.spec as GatewaySpec | undefined)?.selector);
      if (!selector || Object.keys(selector).length === 0) continue;
      if (mesh.workloadsSelectedBy(selector).length > 0) continue;
      report(ReferencedResourceNotFound, gw, ['spec', 'selector'], `Referenced selector not found: "${formatSelector(selector)}" (no Pod or WorkloadEntry in any namespace has these labels, so no gateway proxy serves this Gateway)`);
    }
  },
};
