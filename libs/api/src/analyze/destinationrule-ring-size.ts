/**
 * A consistent-hash ring larger than Envoy allows. Istio's API accepts any `minimumRingSize`, but
 * Envoy's RingHash config (and proxyless gRPC) cap it at 8,388,608 entries: every proxy then
 * rejects (NACKs) the cluster update and keeps its previous configuration, so the rule silently
 * never takes effect.
 */
import { RingSizeTooLarge } from './messages.js';
import { NETWORKING } from './mesh.js';
import { list, type DestinationRuleSpec } from './spec.js';
import type { Analyzer } from './types.js';

/** Envoy's RingHash.minimum_ring_size / maximum_ring_size upper bound. */
export const MAX_RING_SIZE = 8_388_608;

interface HashLb {
  minimumRingSize?: number;
  ringHash?: { minimumRingSize?: number };
}
interface PolicyLike {
  loadBalancer?: { consistentHash?: HashLb };
  portLevelSettings?: { loadBalancer?: { consistentHash?: HashLb } }[];
}

export const destinationRuleRingSize: Analyzer = {
  id: 'destinationrule.RingSize',
  description: 'Warns about consistent-hash ring sizes over Envoy\'s limit (proxies would NACK the cluster)',
  messages: [RingSizeTooLarge],
  run(mesh, report) {
    for (const dr of mesh.of(NETWORKING, 'DestinationRule')) {
      const spec = dr.body.spec as (DestinationRuleSpec & { trafficPolicy?: PolicyLike; subsets?: { trafficPolicy?: PolicyLike }[] }) | undefined;
      const check = (ch: HashLb | undefined, path: (string | number)[]): void => {
        for (const [value, field] of [
          [ch?.minimumRingSize, 'minimumRingSize'],
          [ch?.ringHash?.minimumRingSize, 'ringHash.minimumRingSize'],
        ] as const) {
          if (typeof value !== 'number' || value <= MAX_RING_SIZE) continue;
          const p = field === 'minimumRingSize' ? [...path, 'minimumRingSize'] : [...path, 'ringHash', 'minimumRingSize'];
          report(RingSizeTooLarge, dr, p, `minimum ring size ${value} is over Envoy's limit of ${MAX_RING_SIZE}: proxies reject this cluster update (NACK) and keep their previous configuration`);
        }
      };
      const policy = (pol: PolicyLike | undefined, base: (string | number)[]): void => {
        check(pol?.loadBalancer?.consistentHash, [...base, 'loadBalancer', 'consistentHash']);
        list<{ loadBalancer?: { consistentHash?: HashLb } }>(pol?.portLevelSettings).forEach((pl, i) => check(pl?.loadBalancer?.consistentHash, [...base, 'portLevelSettings', i, 'loadBalancer', 'consistentHash']));
      };
      policy(spec?.trafficPolicy, ['spec', 'trafficPolicy']);
      list<{ trafficPolicy?: PolicyLike }>(spec?.subsets).forEach((s, i) => policy(s?.trafficPolicy, ['spec', 'subsets', i, 'trafficPolicy']));
    }
  },
};
