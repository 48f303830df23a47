/**
 * Two Gateways for the same gateway workloads that declare the same host on the same port
 * and bind address (Istio's gateway.ConflictingGatewayAnalyzer): pilot keeps only one
 * server for that host. Gateways conflict when their selectors are equal or, with known
 * workloads, both select a common workload.
 */
import { formatSelector, selects } from './hosts.js';
import { ConflictingGateways } from './messages.js';
import { NETWORKING, type Mesh } from './mesh.js';
import { labelsOf, list, type GatewayServer, type GatewaySpec } from './spec.js';
import type { Analyzer } from './types.js';
import type { MeshResource } from '../validate.js';

export const gatewayConflicts: Analyzer = {
  id: 'gateway.Conflicts',
  description: 'Finds Gateways on the same workloads declaring the same host on the same port',
  messages: [ConflictingGateways],
  run(mesh, report) {
    const gws = mesh.of(NETWORKING, 'Gateway');
    for (const gw of gws) {
      const spec = gw.body.spec as GatewaySpec | undefined;
      const selector = labelsOf(spec?.selector) ?? {};
      list<GatewayServer>(spec?.servers).forEach((server, i) => {
        const port = server?.port?.number;
        if (typeof port !== 'number') return;
        const hosts = list<string>(server.hosts);
        const bind = server.bind ?? '';
        const clashes = gws.filter((other) => {
          if (other === gw || !sameWorkloads(mesh, selector, labelsOf((other.body.spec as GatewaySpec | undefined)?.selector) ?? {})) return false;
          return list<GatewayServer>((other.body.spec as GatewaySpec | undefined)?.servers).some(
            (o) => o?.port?.number === port && (o.bind ?? '') === bind && list<string>(o.hosts).some((h) => hosts.includes(h)),
          );
        });
        if (clashes.length === 0) return;
        const names = clashes.map((c: MeshResource) => `${mesh.nsOf(c)}/${c.metadata.name}`).sort().join(',');
        report(ConflictingGateways, gw, ['spec', 'servers', i], `Conflict with gateways ${names} (workload selector ${formatSelector(selector)}, port ${port}, hosts ${hosts.join(',')}).`);
      });
    }
  },
};

function sameWorkloads(mesh: Mesh, a: Record<string, string>, b: Record<string, string>): boolean {
  if (formatSelector(a) === formatSelector(b)) return true;
  return mesh.opts.workloadsKnown && mesh.workloads.some((w) => selects(a, w.labels) && selects(b, w.labels));
}
