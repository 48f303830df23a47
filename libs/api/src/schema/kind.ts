import type * as z from 'zod';
import type { PathSegment } from '../diagnostics.js';
import type { ObjectMeta } from './meta.js';

/**
 * Describes one resource kind: its API group, served versions, names, and the schema
 * of its body (the top-level fields besides apiVersion, kind and metadata).
 */
export interface KindDef {
  /** API group; `''` for the Kubernetes core group. */
  readonly group: string;
  readonly kind: string;
  /** Served versions; the first one is the storage (preferred) version. */
  readonly versions: readonly string[];
  readonly plural: string;
  readonly singular: string;
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
  readonly namespaced: boolean;
  /** Top-level fields other than apiVersion/kind/metadata, e.g. `{spec, status}`. */
  readonly body: z.ZodObject;
  /** True when Meshwork ships the CRD for it in deploy/k8s/crds (Istio and meshwork.io kinds). */
  readonly crd: boolean;
  /**
   * Rules that need metadata as well as the body (e.g. Istio's Gateway name rule). Paths are
   * from the object root (`['metadata', 'name']`). The body may be partly invalid: guard types.
   */
  readonly metadataRules?: (metadata: ObjectMeta, body: Record<string, unknown>) => readonly { path: PathSegment[]; reason: string }[];
  /** Printer columns for `kubectl get` (CRD additionalPrinterColumns). */
  readonly printerColumns?: readonly { name: string; type: string; jsonPath: string; description?: string }[];
}

/** A kind that Istio has but Meshwork deliberately does not support. */
export interface UnsupportedKind {
  readonly group: string;
  readonly kind: string;
  readonly reason: string;
}
