/**
 * Route weights that do not add up to 100. Istio once rejected this; it now splits traffic
 * in proportion to the weights, so a sum such as 90 or 110 is legal but usually a typo,
 * and a destination without a weight next to weighted ones silently gets no traffic.
 */
import { RouteWeightsNotHundred } from './messages.js';
import { NETWORKING } from './mesh.js';
import { list, type RouteDestination, type VirtualServiceSpec } from './spec.js';
import type { Analyzer } from './types.js';

export const virtualServiceRouteWeights: Analyzer = {
  id: 'virtualservice.RouteWeights',
  description: 'Warns when the weights of a route with several destinations do not sum to 100',
  messages: [RouteWeightsNotHundred],
  run(mesh, report) {
    for (const vs of mesh.of(NETWORKING, 'VirtualService')) {
      const spec = vs.body.spec as VirtualServiceSpec | undefined;
      for (const section of ['http', 'tcp', 'tls'] as const) {
        list<{ route?: RouteDestination[] }>(spec?.[section]).forEach((rule, i) => {
          const dests = list<RouteDestination>(rule?.route);
          if (dests.length < 2) return;
          const weighted = dests.filter((d) => typeof d?.weight === 'number');
          if (weighted.length === 0) return; // total 0: a validation error, reported there
          const sum = weighted.reduce((a, d) => a + (d.weight as number), 0);
          if (sum === 100 || sum === 0) return;
          const unweighted = dests.length - weighted.length;
          const extra = unweighted > 0 ? `; ${unweighted} destination(s) without a weight get none` : '';
          report(RouteWeightsNotHundred, vs, ['spec', section, i, 'route'], `route weights sum to ${sum}, not 100: traffic is split in proportion to the weights${extra}`);
        });
      }
    }
  },
};
