/**
 * Cross-resource analysis (istioctl analyze's role): checks that need more than one
 * resource — references to hosts, subsets, gateways and namespaces, conflicts between
 * resources, rules that can never apply. Input is already validated; every analyzer is a
 * pure function of the resources and options, registered once in ANALYZER_LIST.
 */
import { formatPath, type Diagnostic, type PathSegment, type ResourceRef, type SourcePosition } from '../diagnostics.js';
import type { MeshResource } from '../validate.js';
import { authorizationPolicyNamespaces } from './authorizationpolicy-namespaces.js';
import { authorizationPolicyPrincipals } from './authorizationpolicy-principals.js';
import { authorizationPolicyWorkloads } from './authorizationpolicy-workloads.js';
import { destinationRuleConflicts } from './destinationrule-conflicts.js';
import { destinationRuleHosts } from './destinationrule-hosts.js';
import { dedupeResources, duplicateResources } from './duplicate-resources.js';
import { gatewayConflicts } from './gateway-conflicts.js';
import { gatewayCredentials } from './gateway-credentials.js';
import { gatewaySelectors } from './gateway-selectors.js';
import { Mesh } from './mesh.js';
import { mtlsConflicts } from './mtls-conflicts.js';
import { serviceEntryAddresses } from './serviceentry-addresses.js';
import { destinationRuleRingSize } from './destinationrule-ring-size.js';
import { servicePortNames } from './service-port-names.js';
import { sidecarSelectors } from './sidecar-selectors.js';
import type { AnalyzeOptions, Analyzer, AnalyzerInfo, MessageDef } from './types.js';
import { virtualServiceDelegates } from './virtualservice-delegates.js';
import { virtualServiceDestinationHosts } from './virtualservice-destination-hosts.js';
import { virtualServiceDestinationSubsets } from './virtualservice-destination-subsets.js';
import { virtualServiceGateways } from './virtualservice-gateways.js';
import { virtualServiceMeshHostConflicts } from './virtualservice-mesh-host-conflicts.js';
import { virtualServiceRouteWeights } from './virtualservice-route-weights.js';
import { virtualServiceUnreachableRules } from './virtualservice-unreachable-rules.js';

export type { AnalyzeOptions, Analyzer, AnalyzerInfo, MessageDef } from './types.js';

/** Every analyzer, in the order their findings are listed for one resource. */
export const ANALYZER_LIST: readonly Analyzer[] = [
  duplicateResources,
  virtualServiceDestinationHosts,
  virtualServiceDestinationSubsets,
  virtualServiceDelegates,
  virtualServiceGateways,
  virtualServiceRouteWeights,
  virtualServiceUnreachableRules,
  virtualServiceMeshHostConflicts,
  destinationRuleHosts,
  destinationRuleConflicts,
  destinationRuleRingSize,
  gatewaySelectors,
  gatewayCredentials,
  gatewayConflicts,
  serviceEntryAddresses,
  servicePortNames,
  sidecarSelectors,
  mtlsConflicts,
  authorizationPolicyNamespaces,
  authorizationPolicyPrincipals,
  authorizationPolicyWorkloads,
];

/**
 * The analyzer catalogue: one row per (analyzer, message code), for
 * `meshctl analyze --list-analyzers` and docs/analyzers.md.
 */
export const ANALYZERS: readonly AnalyzerInfo[] = ANALYZER_LIST.flatMap((a) =>
  a.messages.map((m) => ({ code: m.code, name: m.name, severity: m.severity, analyzer: a.id, description: a.description })),
);

/**
 * analyze returns the cross-resource findings about `resources` (validated resources,
 * e.g. the `resources` of validateText/validateParsed): one diagnostic per problem, with
 * the offending resource, the field path, a reason, and file/line when the resource kept
 * its source. Findings are ordered by resource (input order), then by position.
 */
export function analyze(resources: readonly MeshResource[], opts: AnalyzeOptions = {}): Diagnostic[] {
  const { kept, replaced } = dedupeResources(resources, opts.defaultNamespace);
  const mesh = new Mesh(kept, opts);
  mesh.replaced = replaced;
  const order = new Map<MeshResource, number>();
  resources.forEach((r, i) => order.set(r, i));
  const out: { d: Diagnostic; at: number }[] = [];
  const seen = new Set<string>();
  for (const analyzer of ANALYZER_LIST) {
    analyzer.run(mesh, (msg: MessageDef, resource: MeshResource, path: readonly PathSegment[], reason: string) => {
      const ref = refOf(resource, mesh.opts.defaultNamespace);
      const p = formatPath(path);
      const key = `${msg.code}\u0000${order.get(resource)}\u0000${p}\u0000${reason}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push({ d: { severity: msg.severity, code: msg.code, resource: ref, path: p, reason, ...positionOf(resource, path) }, at: order.get(resource) ?? resources.length });
    });
  }
  return out.sort((a, b) => a.at - b.at || (a.d.line ?? 0) - (b.d.line ?? 0) || (a.d.column ?? 0) - (b.d.column ?? 0)).map((x) => x.d);
}

function refOf(r: MeshResource, defaultNamespace: string): ResourceRef {
  const namespaced = r.def ? r.def.namespaced : true;
  return { kind: r.kind, apiVersion: r.apiVersion, name: r.metadata.name ?? '<unnamed>', ...(namespaced ? { namespace: r.metadata.namespace ?? defaultNamespace } : {}) };
}

function positionOf(r: MeshResource, path: readonly PathSegment[]): SourcePosition {
  if (!r.source) return {};
  const pos = r.source.locate(path);
  const file = pos.file ?? r.source.file;
  return { ...(file ? { file } : {}), ...(pos.line ? { line: pos.line } : {}), ...(pos.column ? { column: pos.column } : {}) };
}
