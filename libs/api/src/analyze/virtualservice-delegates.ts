/**
 * An HTTP route's `delegate` must name an existing VirtualService, and that VirtualService
 * must have no hosts and be exported to the root's namespace: pilot drops the route otherwise.
 */
import { exportScope, visibleIn } from './hosts.js';
import { IneffectiveDelegate, ReferencedResourceNotFound } from './messages.js';
import { NETWORKING } from './mesh.js';
import { list, str, type HTTPRoute, type VirtualServiceSpec } from './spec.js';
import type { Analyzer } from './types.js';

export const virtualServiceDelegates: Analyzer = {
  id: 'virtualservice.Delegates',
  description: 'Checks that a delegate names an existing VirtualService without hosts, exported to the root VirtualService\'s namespace',
  messages: [ReferencedResourceNotFound, IneffectiveDelegate],
  run(mesh, report) {
    const all = mesh.of(NETWORKING, 'VirtualService');
    for (const vs of all) {
      const spec = vs.body.spec as VirtualServiceSpec | undefined;
      list<HTTPRoute>(spec?.http).forEach((rule, i) => {
        const name = str(rule?.delegate?.name);
        if (!name) return;
        const ns = str(rule?.delegate?.namespace) ?? mesh.nsOf(vs);
        const path = ['spec', 'http', i, 'delegate'];
        const target = all.find((d) => mesh.nsOf(d) === ns && d.metadata.name === name);
        if (!target) {
          report(ReferencedResourceNotFound, vs, [...path, 'name'], `Referenced delegate VirtualService not found: "${ns}/${name}"`);
          return;
        }
        const hosts = list<string>((target.body.spec as VirtualServiceSpec | undefined)?.hosts);
        if (hosts.length > 0) {
          report(IneffectiveDelegate, vs, [...path, 'name'], `delegate VirtualService ${ns}/${name} has hosts [${hosts.join(' ')}]; only a VirtualService without hosts can be a delegate, so pilot drops this route`);
          return;
        }
        const scope = exportScope(list<string>((target.body.spec as VirtualServiceSpec | undefined)?.exportTo), ns);
        if (!visibleIn(scope, mesh.nsOf(vs))) {
          report(IneffectiveDelegate, vs, [...path, 'name'], `delegate VirtualService ${ns}/${name} is not exported to namespace ${mesh.nsOf(vs)}, so pilot drops this route`);
        }
      });
    }
  },
};
