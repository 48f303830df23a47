/**
 * Pure conversions from Kubernetes objects to the service model, with Istio's rules
 * (pilot/pkg/serviceregistry/kube): hostnames, port protocols, endpoint identity, locality
 * and mTLS capability. No I/O: the kube registry feeds these with its caches.
 */
import type { Endpoint, Locality, MeshServicePort, Protocol, Service } from '@meshwork/api';
import type { KubeObject } from './kube-client.js';

/** Label/annotation names Istio reads (kept verbatim so users' manifests keep working). */
export const LABEL_TLS_MODE = 'security.istio.io/tlsMode';
export const ANNOTATION_SIDECAR_STATUS = 'sidecar.istio.io/status';
export const ANNOTATION_EXPORT_TO = 'networking.istio.io/exportTo';
export const LABEL_REGION = 'topology.kubernetes.io/region';
export const LABEL_ZONE = 'topology.kubernetes.io/zone';
export const LABEL_SUBZONE = 'topology.istio.io/subzone';
export const LABEL_NETWORK = 'topology.istio.io/network';
export const LABEL_ISTIO_LOCALITY = 'istio-locality';
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';

/** serviceHostname returns a Kubernetes service's FQDN: `<name>.<ns>.svc.<domainSuffix>`. */
export function serviceHostname(name: string, namespace: string, domainSuffix: string): string {
  return `${name}.${namespace}.svc.${domainSuffix}`;
}

const PROTOCOLS: Record<string, Protocol> = {
  http: 'HTTP', http2: 'HTTP2', https: 'HTTPS', grpc: 'GRPC', 'grpc-web': 'GRPC-Web', tcp: 'TCP', tls: 'TLS', udp: 'UDP',
  mongo: 'Mongo', redis: 'Redis', mysql: 'MySQL', http_proxy: 'HTTP_PROXY',
};

/** Kubernetes' standard appProtocol values (KEP-3726) mapped as Istio maps them. */
const K8S_APP_PROTOCOLS: Record<string, Protocol> = { 'kubernetes.io/h2c': 'HTTP2', 'kubernetes.io/ws': 'HTTP', 'kubernetes.io/wss': 'HTTPS' };

/** Ports where an unnamed port is taken as TCP (server-first protocols sniffing would break). */
const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017]);

/**
 * protocolOf returns a port's protocol the way Istio's ConvertProtocol does: UDP ports are
 * UDP; otherwise appProtocol if set, else the port name's prefix before the first `-`
 * (`http-web` → HTTP, `grpc-web*` → GRPC-Web), case-insensitive; unknown → UNKNOWN
 * (protocol sniffing), except well-known server-first ports, which are TCP.
 */
export function protocolOf(port: number, name: string | undefined, k8sProtocol: string | undefined, appProtocol?: string): Protocol {
  if (k8sProtocol === 'UDP') return 'UDP';
  const n = (appProtocol ?? name ?? '').toLowerCase();
  if (K8S_APP_PROTOCOLS[n]) return K8S_APP_PROTOCOLS[n];
  if (n.startsWith('grpc-web')) return 'GRPC-Web';
  const i = n.indexOf('-');
  const p = PROTOCOLS[i >= 0 ? n.slice(0, i) : n];
  if (p) return p;
  return WELL_KNOWN_TCP_PORTS.has(port) ? 'TCP' : 'UNKNOWN';
}

interface K8sServicePort {
  name?: string;
  port: number;
  protocol?: string;
  appProtocol?: string;
  targetPort?: number | string;
}

interface K8sServiceSpec {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  externalName?: string;
  selector?: Record<string, string>;
  ports?: K8sServicePort[];
}

/** convertService turns a Kubernetes Service into the model Service. */
export function convertService(svc: KubeObject, domainSuffix: string): Service {
  const spec = (svc.spec ?? {}) as K8sServiceSpec;
  const name = svc.metadata.name ?? '';
  const namespace = svc.metadata.namespace ?? 'default';
  const ports: MeshServicePort[] = (spec.ports ?? []).map((p) => ({
    name: p.name ?? '',
    port: p.port,
    protocol: protocolOf(p.port, p.name, p.protocol, p.appProtocol),
    ...(typeof p.targetPort === 'number' ? { targetPort: p.targetPort } : {}),
  }));
  const ips = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => ip && ip !== 'None');
  const externalName = spec.type === 'ExternalName';
  const headless = !externalName && (spec.clusterIP === 'None' || ips.length === 0);
  const exportTo = svc.metadata.annotations?.[ANNOTATION_EXPORT_TO];
  return {
    hostname: serviceHostname(name, namespace, domainSuffix),
    namespace,
    name,
    ports,
    addresses: externalName ? [] : ips,
    // Istio: ExternalName services resolve by DNS and are mesh-external; headless ones pass through.
    resolution: externalName ? 'DNS' : headless ? 'NONE' : 'STATIC',
    location: externalName ? 'MESH_EXTERNAL' : 'MESH_INTERNAL',
    exportTo: exportTo ? exportTo.split(',').map((s) => s.trim()).filter(Boolean) : ['*'],
    ...(spec.selector ? { selector: spec.selector } : {}),
    labels: svc.metadata.labels ?? {},
    source: 'kubernetes',
  };
}

/**
 * localityOf returns a workload's locality: the pod's `istio-locality` label
 * (`region.zone.subzone`) when set, else the node's topology labels, as Istio does.
 */
export function localityOf(pod: KubeObject | undefined, node: KubeObject | undefined): Locality | undefined {
  const fromPod = pod?.metadata.labels?.[LABEL_ISTIO_LOCALITY];
  if (fromPod) {
    const [region, zone, subzone] = fromPod.split('.');
    return clean({ region, zone, subzone });
  }
  const nl = node?.metadata.labels;
  if (!nl) return undefined;
  return clean({ region: nl[LABEL_REGION], zone: nl[LABEL_ZONE], subzone: nl[LABEL_SUBZONE] });
}

function clean(l: Locality): Locality | undefined {
  const out: { region?: string; zone?: string; subzone?: string } = {};
  if (l.region) out.region = l.region;
  if (l.zone) out.zone = l.zone;
  if (l.subzone) out.subzone = l.subzone;
  return Object.keys(out).length ? out : undefined;
}

/** tlsModeOf returns `istio` for a pod with a sidecar (Istio's tlsMode label, or the injection status annotation). */
export function tlsModeOf(pod: KubeObject | undefined): 'istio' | 'disabled' {
  if (!pod) return 'disabled';
  const label = pod.metadata.labels?.[LABEL_TLS_MODE];
  if (label !== undefined) return label === 'istio' ? 'istio' : 'disabled';
  return pod.metadata.annotations?.[ANNOTATION_SIDECAR_STATUS] ? 'istio' : 'disabled';
}

/**
 * workloadNameOf returns the pod's workload for telemetry: a ReplicaSet owner with the
 * pod-template-hash suffix stripped (its Deployment), another controller's name, else the pod name.
 */
export function workloadNameOf(pod: KubeObject): string {
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
  if (!owner?.name) return pod.metadata.name ?? '';
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) return owner.name.slice(0, -hash.length - 1);
  return owner.name;
}

interface SlicePort {
  name?: string;
  port?: number;
  protocol?: string;
}

interface SliceEndpoint {
  addresses?: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  targetRef?: { kind?: string; name?: string; namespace?: string };
  nodeName?: string;
  zone?: string;
}

/** Lookups the endpoint conversion needs from the other caches. */
export interface EndpointContext {
  readonly pod: (namespace: string, name: string) => KubeObject | undefined;
  readonly podByIp: (ip: string) => KubeObject | undefined;
  readonly node: (name: string) => KubeObject | undefined;
}

/**
 * convertEndpointSlice returns the model endpoints of one EndpointSlice of `service`: one
 * per address and slice port whose name is one of the service's ports. Not-ready endpoints
 * are kept as unhealthy (Istio sends them with HealthStatus UNHEALTHY); terminating ones
 * that no longer serve are dropped. FQDN slices are ignored (Istio does too).
 */
export function convertEndpointSlice(slice: KubeObject, service: Service, ctx: EndpointContext): Endpoint[] {
  if (slice.addressType === 'FQDN') return [];
  const portNames = new Set(service.ports.map((p) => p.name));
  const out: Endpoint[] = [];
  for (const e of (slice.endpoints ?? []) as SliceEndpoint[]) {
    if (e.conditions?.terminating && e.conditions.serving === false) continue;
    const healthy = e.conditions?.ready !== false;
    for (const address of e.addresses ?? []) {
      const pod = e.targetRef?.kind === 'Pod' && e.targetRef.name ? ctx.pod(e.targetRef.namespace ?? service.namespace, e.targetRef.name) : ctx.podByIp(address);
      const nodeName = e.nodeName ?? ((pod?.spec as { nodeName?: string } | undefined)?.nodeName);
      const node = nodeName ? ctx.node(nodeName) : undefined;
      const locality = localityOf(pod, node) ?? (e.zone ? { zone: e.zone } : undefined);
      const sa = (pod?.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName;
      const network = pod?.metadata.labels?.[LABEL_NETWORK];
      for (const p of (slice.ports ?? []) as SlicePort[]) {
        const portName = p.name ?? '';
        if (!portNames.has(portName) || p.port === undefined) continue;
        out.push({
          hostname: service.hostname,
          namespace: service.namespace,
          servicePortName: portName,
          address,
          port: p.port,
          labels: pod?.metadata.labels ?? {},
          ...(pod ? { serviceAccount: sa ?? 'default' } : {}),
          ...(locality ? { locality } : {}),
          ...(network ? { network } : {}),
          healthy,
          tlsMode: tlsModeOf(pod),
          ...(pod ? { workloadName: workloadNameOf(pod) } : {}),
        });
      }
    }
  }
  return out;
}

/** externalNameEndpoints returns the one DNS endpoint per port of an ExternalName service (Istio's behaviour). */
export function externalNameEndpoints(svc: KubeObject, service: Service): Endpoint[] {
  const host = (svc.spec as K8sServiceSpec | undefined)?.externalName;
  if (!host) return [];
  return service.ports.map((p) => ({
    hostname: service.hostname, namespace: service.namespace, servicePortName: p.name, address: host, port: p.targetPort ?? p.port, labels: {}, healthy: true, tlsMode: 'disabled' as const,
  }));
}
