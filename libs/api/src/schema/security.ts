/**
 * security.istio.io: PeerAuthentication, RequestAuthentication, AuthorizationPolicy
 * (versions v1 and v1beta1).
 */
import * as z from 'zod';
import type { KindDef } from './kind.js';
import { anyJson, crossCheck, obj } from './dsl.js';
import { WorkloadSelector } from './common.js';

const MtlsMode = z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);

/** security.istio.io PeerAuthentication spec. */
export const PeerAuthenticationSpec = crossCheck(obj({
  selector: WorkloadSelector.optional(),
  mtls: obj({ mode: MtlsMode.optional() }).optional(),
  portLevelMtls: z
    .record(z.string(), obj({ mode: MtlsMode.optional() }))
    .superRefine((m, ctx) => {
      for (const k of Object.keys(m)) {
        const n = Number(k);
        if (!/^\d+$/.test(k) || n < 1 || n > 65535) ctx.addIssue({ code: 'custom', message: `port ${k} must be in the range 1..65535`, path: [k] });
      }
    })
    .optional(),
}), (s, ctx) => {
  // Istio: port-level mTLS is only allowed with a workload selector.
  if (s.portLevelMtls && Object.keys(s.portLevelMtls).length > 0 && (!s.selector || !s.selector.matchLabels || Object.keys(s.selector.matchLabels).length === 0)) {
    ctx.addIssue({ code: 'custom', message: 'portLevelMtls requires a workload selector', path: ['portLevelMtls'] });
  }
});
export type PeerAuthenticationSpec = z.output<typeof PeerAuthenticationSpec>;

const VERSIONS = ['v1', 'v1beta1'] as const;

export const SECURITY_KINDS: KindDef[] = [
  {
    group: 'security.istio.io',
    kind: 'PeerAuthentication',
    versions: VERSIONS,
    plural: 'peerauthentications',
    singular: 'peerauthentication',
    shortNames: ['pa'],
    categories: ['istio-io', 'security-istio-io'],
    namespaced: true,
    crd: true,
    body: obj({ spec: PeerAuthenticationSpec, status: anyJson().optional() }),
  },
];
