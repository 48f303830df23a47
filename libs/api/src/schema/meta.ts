/** Kubernetes ObjectMeta as mesh resources carry it. */
import * as z from 'zod';
import { anyJson, labelMap, obj, stringMap, dnsLabel } from './dsl.js';
import { checkDns1123Subdomain } from '../fields/host.js';
import { checkedString } from './dsl.js';

export const ObjectMeta = obj({
  name: checkedString(checkDns1123Subdomain).optional(),
  generateName: z.string().optional(),
  namespace: dnsLabel().optional(),
  labels: labelMap().optional(),
  annotations: stringMap().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  creationTimestamp: z.union([z.string(), z.null()]).optional(),
  deletionTimestamp: z.string().optional(),
  deletionGracePeriodSeconds: z.number().int().optional(),
  finalizers: z.array(z.string()).optional(),
  ownerReferences: z.array(anyJson()).optional(),
  managedFields: z.array(anyJson()).optional(),
  selfLink: z.string().optional(),
}).superRefine((m, ctx) => {
  if (!m.name && !m.generateName) ctx.addIssue({ code: 'custom', message: 'name or generateName is required', path: ['name'] });
});

export type ObjectMeta = z.output<typeof ObjectMeta>;

type MetaIssue = { path: (string | number)[]; reason: string };
type MetadataRule = (meta: ObjectMeta, body: Record<string, unknown>) => MetaIssue[];

/** allRules combines several metadata rules into one. */
export function allRules(...rules: MetadataRule[]): MetadataRule {
  return (meta, body) => rules.flatMap((r) => r(meta, body));
}

/**
 * exportToOwnNamespace reports an exportTo list naming both "." and the resource's own
 * namespace, which Istio treats as a duplicate (the spec alone cannot see the namespace).
 */
export function exportToOwnNamespace(meta: ObjectMeta, body: Record<string, unknown>): MetaIssue[] {
  const spec = body.spec as { exportTo?: unknown } | undefined;
  const list = spec?.exportTo;
  if (!meta.namespace || !Array.isArray(list)) return [];
  const i = list.indexOf(meta.namespace);
  const j = list.indexOf('.');
  if (i < 0 || j < 0) return [];
  return [{ path: ['spec', 'exportTo', Math.max(i, j)], reason: `duplicate exportTo entry "${list[Math.max(i, j)]}": "." and "${meta.namespace}" both mean the resource's own namespace` }];
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** nameIsDnsLabel reports a metadata.name that is not a DNS-1123 label (`what` names the kind for the message). */
export function nameIsDnsLabel(what: string, style: '1123' | '1035' = '1123') {
  return (meta: ObjectMeta): MetaIssue[] => {
    const name = meta.name;
    if (!name) return [];
    const re = style === '1035' ? DNS1035_LABEL : DNS1123_LABEL;
    if (name.length <= 63 && re.test(name)) return [];
    const rule =
      style === '1035'
        ? "a DNS-1035 label: lower case alphanumeric characters or '-', starting with a letter and ending with an alphanumeric character, at most 63 characters"
        : "a DNS-1123 label: lower case alphanumeric characters or '-', starting and ending with an alphanumeric character, at most 63 characters";
    return [{ path: ['metadata', 'name'], reason: `invalid ${what} name "${name}": must be ${rule}` }];
  };
}

// ---------------------------------------------------------------------------
// Annotations Istio's webhook checks on every Istio kind (pilot's validateMetadata).
// ---------------------------------------------------------------------------

const DRY_RUN = 'istio.io/dry-run';
// What Go's strconv.ParseBool accepts.
const GO_BOOLS = new Set(['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False']);
// Annotations istiod sets on resources it derives itself; a user setting them could escalate privileges.
const INTERNAL_ANNOTATIONS = ['internal.istio.io/webhook-always-reject', 'internal.istio.io/parent-namespace', 'internal.istio.io/parents'];

/**
 * istioMetadataRules returns the annotation rules Istio applies to every one of its kinds:
 * `istio.io/dry-run` only on AuthorizationPolicy (`dryRunAllowed`), there only with action
 * ALLOW or DENY and a boolean value; and no internal.istio.io annotations set by users.
 */
export function istioMetadataRules(dryRunAllowed: boolean): MetadataRule {
  return (meta, body) => {
    const out: { path: (string | number)[]; reason: string }[] = [];
    const ann = meta.annotations ?? {};
    if (Object.hasOwn(ann, DRY_RUN)) {
      const path = ['metadata', 'annotations', DRY_RUN];
      const action = (body.spec as { action?: unknown } | undefined)?.action ?? 'ALLOW';
      if (!dryRunAllowed) {
        out.push({ path, reason: `annotation ${DRY_RUN} is only supported on AuthorizationPolicy; remove it` });
      } else if (action === 'AUDIT' || action === 'CUSTOM') {
        out.push({ path, reason: `annotation ${DRY_RUN} only supports action ALLOW or DENY, found ${action}` });
      } else if (!GO_BOOLS.has(ann[DRY_RUN])) {
        out.push({ path, reason: `annotation ${DRY_RUN} must be "true" or "false", got ${JSON.stringify(ann[DRY_RUN])}` });
      }
    }
    for (const k of INTERNAL_ANNOTATIONS) {
      if (Object.hasOwn(ann, k)) out.push({ path: ['metadata', 'annotations', k], reason: `annotation ${k} is set by Istio itself and may not be set by users` });
    }
    return out;
  };
}
