/**
 * Service ports whose protocol Istio cannot tell from the name or appProtocol (Istio's
 * service.PortNameAnalyzer): the port then gets protocol sniffing (or plain TCP), not the
 * HTTP routing the user likely expects. A name says the protocol as `<protocol>[-<suffix>]`
 * (`http`, `http-web`, `grpc`, `tcp-db`, ...), or `appProtocol` does.
 */
import { PortNameIsNotUnderNamingConvention } from './messages.js';
import { CORE } from './mesh.js';
import { list, type K8sServicePort, type K8sServiceSpec } from './spec.js';
import type { Analyzer } from './types.js';

// Istio's protocol.Parse names (case-insensitive) and the Kubernetes appProtocol names it maps
// (kube.ConvertProtocol); ports 25, 53, 3306 and 27017 default to TCP.
const PROTOCOLS = new Set(['tcp', 'udp', 'grpc', 'grpc-web', 'http', 'http_proxy', 'http2', 'https', 'tls', 'mongo', 'redis', 'mysql']);
const KUBE_APP_PROTOCOLS = new Set(['kubernetes.io/h2c', 'kubernetes.io/ws', 'kubernetes.io/wss']);
const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017]);

export const servicePortNames: Analyzer = {
  id: 'service.PortNames',
  description: 'Checks that Service port names (or appProtocol) follow Istio\'s <protocol>[-<suffix>] convention',
  messages: [PortNameIsNotUnderNamingConvention],
  run(mesh, report) {
    for (const svc of mesh.of(CORE, 'Service')) {
      const labels = svc.metadata.labels ?? {};
      // The control plane's own Services are not user traffic (Istio skips them too).
      if ('istio' in labels || labels.release === 'istio') continue;
      const spec = svc.body.spec as K8sServiceSpec | undefined;
      if (spec?.type === 'ExternalName') continue;
      list<K8sServicePort>(spec?.ports).forEach((port, i) => {
        if (protocolKnown(port)) return;
        const target = port.targetPort ?? port.port;
        const what = typeof port.appProtocol === 'string'
          ? `appProtocol ${JSON.stringify(port.appProtocol)} of port ${port.name ?? port.port} is not a protocol Istio knows (it takes precedence over the name)`
          : `Port name ${port.name ?? '(none)'} (port: ${port.port}, targetPort: ${target}) doesn't follow the naming convention of Istio port`;
        report(PortNameIsNotUnderNamingConvention, svc, ['spec', 'ports', i], `${what}: name it <protocol>[-<suffix>] (http, http2, grpc, tcp, tls, ...) or set appProtocol; otherwise the protocol is sniffed`);
      });
    }
  },
};

/** protocolKnown reports whether Istio can tell a Service port's protocol without sniffing. */
export function protocolKnown(port: K8sServicePort): boolean {
  if (port.protocol === 'UDP') return true;
  // appProtocol, when set, replaces the name entirely.
  const name = (typeof port.appProtocol === 'string' ? port.appProtocol : port.name ?? '').toLowerCase();
  if (typeof port.appProtocol === 'string' && KUBE_APP_PROTOCOLS.has(name)) return true;
  if (name.startsWith('grpc-web')) return true;
  const i = name.indexOf('-');
  if (PROTOCOLS.has(i < 0 ? name : name.slice(0, i))) return true;
  return typeof port.port === 'number' && WELL_KNOWN_TCP_PORTS.has(port.port);
}
