/**
 * Who is asking: an xDS node parsed into the ProxyNode of the service model.
 */
import type { Locality, ProxyNode, ProxyType } from '@meshwork/api';
import { InvalidNodeError } from './errors.js';

/** The parts of an xDS `Node` this library reads (protobufjs object form, Struct metadata as a plain object). */
export interface XdsNode {
  readonly id: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly subZone?: string; readonly sub_zone?: string };
}

const NODE_TYPES = new Set(['sidecar', 'router']);

/**
 * parseNode returns the proxy described by an xDS node: Istio's node id
 * `sidecar~10.1.2.3~reviews-v1-abc.default~default.svc.cluster.local` (type, IP, pod.namespace,
 * DNS domain) plus Istio's metadata keys (LABELS, NAMESPACE, SERVICE_ACCOUNT, INSTANCE_IPS,
 * GENERATOR). A node with `metadata.GENERATOR === 'grpc'` is a proxyless gRPC client, whatever
 * its id prefix (Istio's gRPC bootstrap uses `sidecar~...` too). Throws InvalidNodeError on an
 * id that is not in Istio's format.
 */
export function parseNode(node: XdsNode): ProxyNode {
  const md = node.metadata ?? {};
  const parts = node.id.split('~');
  if (parts.length !== 4) throw new InvalidNodeError(`node id "${node.id}" is not in Istio's format type~ip~pod.namespace~namespace.svc.domain`);
  const [kind, ip, podNs, domain] = parts;
  if (!NODE_TYPES.has(kind)) throw new InvalidNodeError(`node id "${node.id}": unknown proxy type "${kind}" (expected sidecar or router)`);
  if (ip === '') throw new InvalidNodeError(`node id "${node.id}": missing IP address`);
  const dot = podNs.indexOf('.');
  // Istio takes the namespace from the pod.namespace part, falling back to the DNS domain's first label.
  const workloadName = dot >= 0 ? podNs.slice(0, dot) : podNs;
  const nsFromId = dot >= 0 ? podNs.slice(dot + 1) : domain.split('.')[0] ?? '';
  const namespace = str(md.NAMESPACE) ?? nsFromId;
  if (namespace === '') throw new InvalidNodeError(`node id "${node.id}": no namespace in the id or metadata`);
  const type: ProxyType = md.GENERATOR === 'grpc' ? 'grpc' : (kind as ProxyType);
  const extraIps = str(md.INSTANCE_IPS)?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? [];
  const ipAddresses = [ip, ...extraIps.filter((x) => x !== ip)];
  const labels: Record<string, string> = {};
  if (typeof md.LABELS === 'object' && md.LABELS !== null) {
    for (const [k, v] of Object.entries(md.LABELS as Record<string, unknown>)) if (typeof v === 'string') labels[k] = v;
  }
  const locality = parseLocality(node.locality);
  // Frozen: generators memoize per proxy object, so it must not change after parsing.
  return Object.freeze({
    id: node.id,
    type,
    ipAddresses,
    workloadName: str(md.NAME) ?? workloadName,
    namespace,
    labels,
    ...(str(md.SERVICE_ACCOUNT) !== undefined ? { serviceAccount: str(md.SERVICE_ACCOUNT) } : {}),
    ...(locality ? { locality } : {}),
    metadata: md,
  });
}

function parseLocality(l: XdsNode['locality']): Locality | undefined {
  if (!l) return undefined;
  const subzone = l.subZone ?? l.sub_zone;
  if (!l.region && !l.zone && !subzone) return undefined;
  return { ...(l.region ? { region: l.region } : {}), ...(l.zone ? { zone: l.zone } : {}), ...(subzone ? { subzone } : {}) };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
