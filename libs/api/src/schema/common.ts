/** Message types shared by several Istio resources. */
import * as z from 'zod';
import { checkedString, crossCheck, obj, oneOf, re2, withCel } from './dsl.js';
import { checkDns1123Subdomain } from '../fields/host.js';

/** istio.networking.v1.StringMatch / security StringMatch: exact, prefix or RE2 regex. */
export const StringMatch = oneOf(
  obj({ exact: z.string().optional(), prefix: z.string().optional(), regex: re2().optional() }),
  ['exact', 'prefix', 'regex'],
);

/**
 * istio.type.v1beta1.WorkloadSelector: `matchLabels`. Istio's webhook refuses empty keys and
 * wildcards; its CRD caps values at 63 characters. Label syntax itself is not checked (as in Istio).
 */
export const WorkloadSelector = obj({
  matchLabels: withCel(
    withCel(
      z.record(z.string(), z.string().max(63)).superRefine(
        (m, ctx) => {
          if (typeof m !== 'object' || m === null) return;
          for (const [k, v] of Object.entries(m)) {
            if (k === '') ctx.addIssue({ code: 'custom', message: 'empty key is not supported in selector', path: [k] });
            if (k.includes('*') || (typeof v === 'string' && v.includes('*'))) {
              ctx.addIssue({ code: 'custom', message: `wildcard is not supported in selector "${k}: ${v}"`, path: [k] });
            }
          }
        },
        { when: () => true },
      ),
      "self.all(key, !key.contains('*'))",
      'wildcard not allowed in label key match',
    ),
    "self.all(key, !self[key].contains('*'))",
    'wildcard not allowed in label value match',
  ).optional(),
});

const KIND_PATTERN = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

/** The resources a policy may attach to through targetRef(s) (pilot's allowedTargetRefs). */
const ALLOWED_TARGETS: readonly { group: string; kind: string }[] = [
  { group: 'core', kind: 'Service' },
  { group: 'networking.istio.io', kind: 'ServiceEntry' },
  { group: 'gateway.networking.k8s.io', kind: 'Gateway' },
  { group: 'gateway.networking.k8s.io', kind: 'GatewayClass' },
];

/**
 * istio.type.v1beta1.PolicyTargetReference with Istio's rules: the CRD's patterns for group
 * and kind, no cross-namespace reference, and only the kinds pilot can attach policies to.
 */
export const PolicyTargetRef = crossCheck(
  obj({
    group: checkedString((g) => (g === '' ? undefined : checkDns1123Subdomain(g))).optional(),
    kind: checkedString((k) => {
      if (k === '') return 'must not be empty';
      if (k.length > 63) return 'must be no more than 63 characters';
      return KIND_PATTERN.test(k) ? undefined : `kind "${k}" must start with a letter and consist of alphanumeric characters or '-'`;
    }),
    name: checkedString((n) => (n === '' ? 'must not be empty' : n.length > 253 ? 'must be no more than 253 characters' : undefined)),
    namespace: z.string().optional(),
  }),
  (r, ctx) => {
    if (typeof r.namespace === 'string' && r.namespace !== '') {
      ctx.addIssue({ code: 'custom', message: 'cross namespace referencing is not currently supported', path: ['namespace'], input: r.namespace });
    }
    if (typeof r.kind !== 'string' || !KIND_PATTERN.test(r.kind)) return;
    const group = !r.group ? 'core' : r.group;
    if (!ALLOWED_TARGETS.some((t) => t.kind === r.kind && t.group === group)) {
      ctx.addIssue({
        code: 'custom',
        message: `targetRef must refer to a Service (group "" or "core"), a ServiceEntry (group "networking.istio.io"), or a Gateway or GatewayClass (group "gateway.networking.k8s.io"); got group "${r.group ?? ''}" kind "${r.kind}"`,
        path: ['kind'],
        input: r.kind,
      });
    }
  },
);
withCel(PolicyTargetRef, "!has(self.namespace) || self.namespace.size() == 0", 'cross namespace referencing is not currently supported');

/** The `selector` / `targetRef` / `targetRefs` trio every Istio policy kind has. */
export const POLICY_TARGET_FIELDS = {
  selector: WorkloadSelector.optional(),
  targetRef: PolicyTargetRef.optional(),
  targetRefs: z.array(PolicyTargetRef).max(16).optional(),
};

/** Marks selector, targetRef and targetRefs mutually exclusive, as Istio's CRDs and webhook do. */
export function oneTargetKind<T extends z.ZodObject>(schema: T): T {
  return withCel(
    oneOf(schema, ['selector', 'targetRef', 'targetRefs']),
    '(has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1',
    'only one of targetRefs or selector can be set',
  );
}
