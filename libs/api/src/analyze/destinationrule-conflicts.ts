/**
 * Several DestinationRules for one host in one namespace. Pilot merges them
 * (model.mergeDestinationRule): rules with the same exportTo and no workload selector (or
 * equal ones) become one, subsets are concatenated, and for a subset name or a top-level
 * trafficPolicy defined twice only the oldest rule's (creation time, then name) is kept.
 * Rules with different exportTo lists are kept apart, and a client that sees both gets the
 * oldest one only.
 * What is dropped is a conflict (MW0102, Warning); a clean merge is noted (MW0104, Info).
 * Istio has no analyzer for this, it only counts duplicated subsets in a pilot metric.
 */
import { exportScope, scopesIntersect, selects, type ExportScope } from './hosts.js';
import { ConflictingDestinationRules, MergedDestinationRules } from './messages.js';
import { NETWORKING, type Mesh } from './mesh.js';
import { labelsOf, list, str, type DestinationRuleSpec, type Labels } from './spec.js';
import type { Analyzer } from './types.js';
import type { MeshResource } from '../validate.js';

export const destinationRuleConflicts: Analyzer = {
  id: 'destinationrule.Conflicts',
  description: 'Finds DestinationRules for the same host whose subsets or traffic policies shadow each other when pilot merges them',
  messages: [ConflictingDestinationRules, MergedDestinationRules],
  run(mesh, report) {
    const groups = new Map<string, MeshResource[]>();
    for (const dr of mesh.of(NETWORKING, 'DestinationRule')) {
      const host = str((dr.body.spec as DestinationRuleSpec | undefined)?.host);
      if (!host) continue;
      const key = `${mesh.nsOf(dr)} ${mesh.fqdn(host, mesh.nsOf(dr))}`;
      const g = groups.get(key) ?? [];
      g.push(dr);
      groups.set(key, g);
    }
    for (const [key, drs] of groups) {
      if (drs.length < 2) continue;
      const host = key.split(' ')[1];
      const sorted = [...drs].sort(olderFirst);
      for (let j = 1; j < sorted.length; j++) {
        for (let i = 0; i < j; i++) checkPair(mesh, host, sorted[i], sorted[j], report);
      }
    }
  },
};

type ReportFn = Parameters<Analyzer['run']>[1];

// checkPair reports what `later` loses to `earlier` when both apply to the same clients.
function checkPair(mesh: Mesh, host: string, earlier: MeshResource, later: MeshResource, report: ReportFn): void {
  const a = earlier.body.spec as DestinationRuleSpec | undefined;
  const b = later.body.spec as DestinationRuleSpec | undefined;
  const ns = mesh.nsOf(later);
  const aSel = labelsOf(a?.workloadSelector?.matchLabels);
  const bSel = labelsOf(b?.workloadSelector?.matchLabels);
  const earlierName = `${mesh.nsOf(earlier)}/${earlier.metadata.name}`;
  if (!aSel && !bSel) {
    const aExport = list<string>(a?.exportTo);
    const bExport = list<string>(b?.exportTo);
    const aScope = exportScope(aExport, ns);
    const bScope = exportScope(bExport, ns);
    if (!scopesIntersect(aScope, bScope)) return;
    // Pilot merges only rules with the same exportTo list; otherwise it keeps both, and a
    // client that sees both gets the older one (push_context destinationRule lookup).
    if (!sameSet(aExport, bExport)) {
      const where = overlap(aScope, bScope);
      report(ConflictingDestinationRules, later, bExport.length > 0 ? ['spec', 'exportTo'] : ['spec', 'host'], `DestinationRule ${earlierName} for ${host} is also visible in ${where}; with a different exportTo pilot does not merge the two, and clients there get only the older rule (creation time, then name), so this one is ignored for them`);
      return;
    }
  }
  if (aSel || bSel) {
    // Rules with a workload selector are private to their namespace (pilot ignores their exportTo).
    // One selector-less rule and one with a selector: the selector one is an override for
    // some clients, by design. Two different selectors only clash on a workload both select.
    if (!aSel || !bSel) return;
    if (!sameLabels(aSel, bSel)) {
      if (!mesh.opts.workloadsKnown) return;
      const both = mesh.workloads.find((w) => w.namespace === ns && selects(aSel, w.labels) && selects(bSel, w.labels));
      if (both) {
        report(ConflictingDestinationRules, later, ['spec', 'workloadSelector'], `DestinationRule ${earlierName} for ${host} also selects ${both.resource.kind} ${both.namespace}/${both.resource.metadata.name}; a client gets only one of them, so this rule is ignored there`);
      }
      return;
    }
  }
  const aSubsets = new Set(list<{ name?: string }>(a?.subsets).map((s) => s?.name));
  let conflicts = 0;
  list<{ name?: string }>(b?.subsets).forEach((s, k) => {
    if (s?.name && aSubsets.has(s.name)) {
      conflicts++;
      report(ConflictingDestinationRules, later, ['spec', 'subsets', k, 'name'], `subset "${s.name}" of ${host} is also defined by DestinationRule ${earlierName}, which is older (creation time, then name): pilot merges the two rules and ignores this definition`);
    }
  });
  if (a?.trafficPolicy && b?.trafficPolicy) {
    conflicts++;
    report(ConflictingDestinationRules, later, ['spec', 'trafficPolicy'], `DestinationRule ${earlierName} for ${host} also sets a trafficPolicy and is older (creation time, then name): pilot merges the two rules and ignores this trafficPolicy`);
  }
  if (conflicts === 0) {
    report(MergedDestinationRules, later, ['spec', 'host'], `DestinationRule ${earlierName} also configures ${host}; pilot merges the two (subsets concatenated, one trafficPolicy); a single DestinationRule per host is easier to reason about`);
  }
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

// olderFirst orders as pilot does: creation time, then name, then namespace.
function olderFirst(a: MeshResource, b: MeshResource): number {
  const ta = typeof a.metadata.creationTimestamp === 'string' ? Date.parse(a.metadata.creationTimestamp) : 0;
  const tb = typeof b.metadata.creationTimestamp === 'string' ? Date.parse(b.metadata.creationTimestamp) : 0;
  if (ta !== tb) return (Number.isNaN(ta) ? 0 : ta) - (Number.isNaN(tb) ? 0 : tb);
  const an = a.metadata.name ?? '';
  const bn = b.metadata.name ?? '';
  return an < bn ? -1 : an > bn ? 1 : 0;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

// overlap names the namespaces that see both scopes.
function overlap(a: ExportScope, b: ExportScope): string {
  if (a.all && b.all) return 'every namespace';
  const names = a.all ? [...b.namespaces] : b.all ? [...a.namespaces] : [...a.namespaces].filter((n) => b.namespaces.has(n));
  return `namespace ${names.sort().join(', ')}`;
}
