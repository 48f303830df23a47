/**
 * A ServiceEntry with TCP ports (or ports of no protocol) needs `addresses`: without a VIP,
 * pilot cannot tell its TCP traffic apart from other traffic on the same port, so the
 * sidecar matches it by port alone (Istio's serviceentry.ProtocolAddressesAnalyzer). DNS
 * auto-allocation (ISTIO_META_DNS_AUTO_ALLOCATE) would assign addresses; Meshwork's input has
 * no MeshConfig to say so, so the check always runs.
 */
import { ServiceEntryAddressesRequired } from './messages.js';
import { NETWORKING } from './mesh.js';
import { list, type ServiceEntrySpec, type ServicePortSE } from './spec.js';
import type { Analyzer } from './types.js';

export const serviceEntryAddresses: Analyzer = {
  id: 'serviceentry.Addresses',
  description: 'Checks that ServiceEntries with TCP ports (or ports without protocol) declare addresses',
  messages: [ServiceEntryAddressesRequired],
  run(mesh, report) {
    for (const se of mesh.of(NETWORKING, 'ServiceEntry')) {
      const spec = se.body.spec as ServiceEntrySpec | undefined;
      if (list<string>(spec?.addresses).length > 0) continue;
      // Addresses allocated by the control plane are recorded in status.
      const status = se.body.status as { addresses?: unknown[] } | undefined;
      if (list(status?.addresses).length > 0) continue;
      list<ServicePortSE>(spec?.ports).forEach((port, i) => {
        const proto = (port?.protocol ?? '').toUpperCase();
        if (proto !== '' && proto !== 'TCP') return;
        report(ServiceEntryAddressesRequired, se, ['spec', 'ports', i], `ServiceEntry addresses are required for this protocol (port ${port?.number ?? '?'} is ${proto || 'unset, so TCP'}): add spec.addresses, or name a protocol such as HTTP or TLS`);
      });
    }
  },
};
