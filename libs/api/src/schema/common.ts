/** Message types shared by several Istio resources. */
import * as z from 'zod';
import { labelMap, obj, oneOf, re2, dnsLabel } from './dsl.js';

/** istio.networking.v1.StringMatch / security StringMatch: exact, prefix or RE2 regex. */
export const StringMatch = oneOf(
  obj({ exact: z.string().optional(), prefix: z.string().optional(), regex: re2().optional() }),
  ['exact', 'prefix', 'regex'],
);

/** istio.type.v1beta1.WorkloadSelector: `matchLabels` (values may not contain wildcards). */
export const WorkloadSelector = obj({
  matchLabels: labelMap()
    .superRefine((m, ctx) => {
      for (const [k, v] of Object.entries(m)) {
        if (k.includes('*') || (typeof v === 'string' && v.includes('*'))) {
          ctx.addIssue({ code: 'custom', message: `wildcard is not supported in selector "${k}: ${v}"`, path: [k] });
        }
        if (k === '') ctx.addIssue({ code: 'custom', message: 'empty key is not supported in selector', path: [k] });
      }
    })
    .optional(),
});

/** istio.type.v1beta1.PolicyTargetReference (targetRef / targetRefs). */
export const PolicyTargetReference = obj({
  group: z.string().optional(),
  kind: z.string().min(1),
  name: z.string().min(1),
  namespace: dnsLabel().optional(),
});
