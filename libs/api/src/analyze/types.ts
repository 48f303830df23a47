/** The contract between the analysis driver (index.ts) and each analyzer. */
import type { PathSegment, Severity } from '../diagnostics.js';
import type { MeshResource } from '../validate.js';
import type { Mesh } from './mesh.js';

/** Settings of the mesh the resources belong to (istioctl analyze reads them from MeshConfig). */
export interface AnalyzeOptions {
  /** MeshConfig rootNamespace: mesh-wide policies live here. Default `istio-system`. */
  readonly meshRootNamespace?: string;
  /** The mesh's SPIFFE trust domain. Default `cluster.local`. */
  readonly trustDomain?: string;
  /** MeshConfig trustDomainAliases: other trust domains treated as this one. */
  readonly trustDomainAliases?: readonly string[];
  /**
   * Whether the input lists the mesh's workloads, so that "selects no workload" can be
   * told. Default: true iff any Pod or WorkloadEntry is in the input.
   */
  readonly workloadsKnown?: boolean;
  /**
   * Whether the input lists the Secrets gateways read, so that a missing `credentialName`
   * can be told. Default: true iff any Secret is in the input or `secretNames` is given.
   */
  readonly secretsKnown?: boolean;
  /**
   * Credentials a gateway's local secret store holds (the subdirectories of its
   * `--secret-dir`): they satisfy a `credentialName` in any namespace.
   */
  readonly secretNames?: readonly string[];
  /** Namespace of namespaced resources that do not name one. Default `default`. */
  readonly defaultNamespace?: string;
  /** DNS suffix of cluster services (`<svc>.<ns>.svc.<suffix>`). Default `cluster.local`. */
  readonly domainSuffix?: string;
}

/** One kind of message an analyzer can emit. `code` is stable; Istio's codes are reused where the check is Istio's. */
export interface MessageDef {
  readonly code: string;
  readonly name: string;
  readonly severity: Severity;
}

/** Reports a finding on `resource` at the field `path` (segments, `[]` for the whole resource). */
export type Report = (msg: MessageDef, resource: MeshResource, path: readonly PathSegment[], reason: string) => void;

/** A single cross-resource check. */
export interface Analyzer {
  /** `<area>.<Check>`, e.g. `virtualservice.DestinationHosts`. */
  readonly id: string;
  /** One sentence: what is checked. */
  readonly description: string;
  /** What it may report. */
  readonly messages: readonly MessageDef[];
  run(mesh: Mesh, report: Report): void;
}

/** A row of the analyzer catalogue (`meshctl analyze --list-analyzers`, docs/analyzers.md). */
export interface AnalyzerInfo extends MessageDef {
  /** The analyzer that reports it. */
  readonly analyzer: string;
  readonly description: string;
}

/** Shorthand for analyzer files: the path segments of a field. */
export type Path = PathSegment[];
