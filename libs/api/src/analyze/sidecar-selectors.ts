/**
 * Sidecar resources that compete for the same workloads (Istio's sidecar.SelectorAnalyzer):
 * more than one without a workloadSelector in a namespace, or two whose selectors pick the
 * same workload; pilot then applies one of them arbitrarily. With known workloads, a
 * selector matching no workload in its namespace is reported too.
 */
import { formatSelector } from './hosts.js';
import { ConflictingSidecarWorkloadSelectors, MultipleSidecarsWithoutWorkloadSelectors, ReferencedResourceNotFound } from './messages.js';
import { NETWORKING } from './mesh.js';
import { labelsOf, type SidecarSpec } from './spec.js';
import type { Analyzer } from './types.js';
import type { MeshResource } from '../validate.js';

export const sidecarSelectors: Analyzer = {
  id: 'sidecar.Selectors',
  description: 'Checks that Sidecar resources do not compete for the same workloads and that their selectors match a workload',
  messages: [MultipleSidecarsWithoutWorkloadSelectors, ConflictingSidecarWorkloadSelectors, ReferencedResourceNotFound],
  run(mesh, report) {
    const nsWide = new Map<string, MeshResource[]>();
    const byWorkload = new Map<MeshResource, MeshResource[]>();
    for (const sc of mesh.of(NETWORKING, 'Sidecar')) {
      const ns = mesh.nsOf(sc);
      const selector = labelsOf((sc.body.spec as SidecarSpec | undefined)?.workloadSelector?.labels);
      if (!selector || Object.keys(selector).length === 0) {
        nsWide.set(ns, [...(nsWide.get(ns) ?? []), sc]);
        continue;
      }
      if (!mesh.opts.workloadsKnown) continue;
      const selected = mesh.workloadsSelectedBy(selector, ns);
      if (selected.length === 0) {
        report(ReferencedResourceNotFound, sc, ['spec', 'workloadSelector', 'labels'], `Referenced selector not found: "${formatSelector(selector)}" (no workload in namespace ${ns} has these labels)`);
      }
      for (const w of selected) byWorkload.set(w.resource, [...(byWorkload.get(w.resource) ?? []), sc]);
    }
    const names = (l: readonly MeshResource[]) => l.map((r) => `${mesh.nsOf(r)}/${r.metadata.name}`).sort().join(', ');
    for (const [ns, list] of nsWide) {
      if (list.length < 2) continue;
      for (const sc of list) report(MultipleSidecarsWithoutWorkloadSelectors, sc, ['metadata', 'name'], `The Sidecars [${names(list)}] in namespace "${ns}" have no workload selector, which can lead to undefined behavior.`);
    }
    const reported = new Set<MeshResource>();
    for (const [w, list] of byWorkload) {
      if (list.length < 2) continue;
      for (const sc of list) {
        if (reported.has(sc)) continue;
        reported.add(sc);
        report(ConflictingSidecarWorkloadSelectors, sc, ['spec', 'workloadSelector'], `The Sidecars [${names(list)}] in namespace "${mesh.nsOf(sc)}" select the same workload ${w.kind} "${w.metadata.name}", which can lead to undefined behavior.`);
      }
    }
  },
};
