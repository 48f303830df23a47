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
