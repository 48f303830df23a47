/**
 * An AuthorizationPolicy that applies to no workload (Istio's
 * auth.AuthorizationPoliciesAnalyzer, workload part): a selector matching no workload of its
 * namespace (of any namespace for a policy in the mesh root namespace), or a namespace-wide
 * policy in a namespace without workloads. Only checked when the input lists the workloads;
 * policies attached with `targetRef(s)` are left alone.
 */
import { formatSelector } from './hosts.js';
import { NoMatchingWorkloadsFound } from './messages.js';
import { SECURITY } from './mesh.js';
import { labelsOf } from './spec.js';
import type { Analyzer } from './types.js';

export const authorizationPolicyWorkloads: Analyzer = {
  id: 'authorizationpolicy.Workloads',
  description: 'Checks that each AuthorizationPolicy applies to some workload (when workloads are known)',
  messages: [NoMatchingWorkloadsFound],
  run(mesh, report) {
    if (!mesh.opts.workloadsKnown) return;
    for (const ap of mesh.of(SECURITY, 'AuthorizationPolicy')) {
      const spec = ap.body.spec as { selector?: { matchLabels?: unknown }; targetRef?: unknown; targetRefs?: unknown[] } | undefined;
      if (spec?.targetRef || (Array.isArray(spec?.targetRefs) && spec.targetRefs.length > 0)) continue;
      const ns = mesh.nsOf(ap);
      const meshWide = ns === mesh.opts.meshRootNamespace;
      const selector = labelsOf(spec?.selector?.matchLabels);
      const hasSelector = !!selector && Object.keys(selector).length > 0;
      if (meshWide && !hasSelector) continue; // applies to every workload of the mesh
      if (mesh.workloadsSelectedBy(selector, meshWide ? undefined : ns).length > 0) continue;
      const where = meshWide ? 'in the mesh' : `in namespace ${ns}`;
      report(NoMatchingWorkloadsFound, ap, hasSelector ? ['spec', 'selector'] : ['metadata', 'namespace'], hasSelector
        ? `No matching workloads for this resource with the following labels: ${formatSelector(selector)} (no Pod or WorkloadEntry ${where} has them), so the policy applies to nothing`
        : `No workloads ${where}, so this namespace-wide policy applies to nothing`);
    }
  },
};
