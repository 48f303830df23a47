/**
 * The ServiceEntry registry (Istio's serviceentry controller): ServiceEntries from a config
 * source become Services, and their endpoints come from the entry's `endpoints`, from the
 * WorkloadEntries (and other workload instances, e.g. Pods or auto-registered workloads)
 * its `workloadSelector` matches, or, for a DNS entry with neither, from its own hostnames.
 *
 * Istio's rules kept: one Service per host (hosts taken literally: unlike VirtualService
 * hosts, ServiceEntry hosts are not expanded with the namespace); a /32 or /128 address is
 * a plain IP; defaults resolution NONE and location MESH_EXTERNAL (the proto enums' zero
 * values); endpoint port = the workload's port of the same name, else targetPort, else the
 * service port; tlsMode = the `security.istio.io/tlsMode` label, else `istio` when a service
 * account is set, else disabled; locality = the `locality` field (`region/zone/subzone`),
 * else the `istio-locality` label (dots); workloadName = the WorkloadEntry's name; a selector
 * only matches workloads in the ServiceEntry's namespace.
 */
import type { Endpoint, Locality, MeshResource, MeshServicePort, Protocol, Service } from '@meshwork/api';
import { LABEL_ISTIO_LOCALITY, LABEL_TLS_MODE } from './kube-convert.js';
import { RegistryState } from './registry-state.js';
import type { ConfigSource, Logger, Unsubscribe } from './types.js';

/** A workload a ServiceEntry's workloadSelector can select (a WorkloadEntry, a Pod, a registered workload). */
export interface WorkloadInstance {
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Port by service-port name (WorkloadEntry `ports`). */
  readonly ports?: Readonly<Record<string, number>>;
  readonly serviceAccount?: string;
  /** `region/zone/subzone`. */
  readonly locality?: string;
  readonly network?: string;
  readonly weight?: number;
  readonly healthy?: boolean;
  /** Overrides the tlsMode rule (Pods: sidecar present or not). */
  readonly tlsMode?: 'istio' | 'disabled';
}

interface SePort {
  number: number;
  protocol?: string;
  name: string;
  targetPort?: number;
}

interface WeSpec {
  address?: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  network?: string;
  locality?: string;
  weight?: number;
  serviceAccount?: string;
}

interface SeSpec {
  hosts: string[];
  addresses?: string[];
  ports?: SePort[];
  location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  resolution?: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'DYNAMIC_DNS';
  endpoints?: WeSpec[];
  workloadSelector?: { labels?: Record<string, string> };
  exportTo?: string[];
}

const PROTOCOLS: Record<string, Protocol> = {
  http: 'HTTP', http2: 'HTTP2', https: 'HTTPS', grpc: 'GRPC', 'grpc-web': 'GRPC-Web', tcp: 'TCP', tls: 'TLS', udp: 'UDP',
  mongo: 'Mongo', redis: 'Redis', mysql: 'MySQL', http_proxy: 'HTTP_PROXY',
};

/** parseProtocol reads a ServiceEntry port protocol (case-insensitive, unknown → UNKNOWN), like Istio's protocol.Parse. */
export function parseProtocol(p: string | undefined): Protocol {
  return PROTOCOLS[(p ?? '').toLowerCase()] ?? 'UNKNOWN';
}

/** parseLocality reads `region/zone/subzone` (any part may be missing). */
export function parseLocality(s: string | undefined): Locality | undefined {
  if (!s) return undefined;
  const [region, zone, subzone] = s.split('/');
  const out: { region?: string; zone?: string; subzone?: string } = {};
  if (region) out.region = region;
  if (zone) out.zone = zone;
  if (subzone) out.subzone = subzone;
  return Object.keys(out).length ? out : undefined;
}

/** workloadEntryInstance returns a WorkloadEntry resource as a selectable workload. */
export function workloadEntryInstance(we: MeshResource): WorkloadInstance {
  const s = (we.body.spec ?? {}) as WeSpec;
  const healthy = !((we.raw.status as { conditions?: { type?: string; status?: string }[] } | undefined)?.conditions ?? []).some((c) => c.type === 'Healthy' && c.status === 'False');
  return {
    name: we.metadata.name ?? '', namespace: we.metadata.namespace ?? 'default', address: s.address ?? '', labels: s.labels ?? {},
    ports: s.ports, serviceAccount: s.serviceAccount, locality: s.locality, network: s.network, weight: s.weight, healthy,
  };
}

function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function endpointOf(svc: Service, port: SePort, w: WorkloadInstance | WeSpec, workloadName?: string): Endpoint {
  const labels = w.labels ?? {};
  const wp = w.ports?.[port.name];
  const unix = (w.address ?? '').startsWith('unix://');
  const localityStr = w.locality || (labels[LABEL_ISTIO_LOCALITY] ? labels[LABEL_ISTIO_LOCALITY].replace(/\./g, '/') : undefined);
  const locality = parseLocality(localityStr);
  const explicitTls = 'tlsMode' in w ? w.tlsMode : undefined;
  const tlsLabel = labels[LABEL_TLS_MODE];
  const tlsMode = explicitTls ?? (tlsLabel !== undefined ? (tlsLabel === 'istio' ? 'istio' : 'disabled') : w.serviceAccount ? 'istio' : 'disabled');
  return {
    hostname: svc.hostname,
    namespace: svc.namespace,
    servicePortName: port.name,
    address: w.address ?? '',
    port: unix ? 0 : wp && wp > 0 ? wp : port.targetPort && port.targetPort > 0 ? port.targetPort : port.number,
    labels,
    ...(w.serviceAccount ? { serviceAccount: w.serviceAccount } : {}),
    ...(locality ? { locality } : {}),
    ...(w.weight ? { weight: w.weight } : {}),
    ...(w.network ? { network: w.network } : {}),
    healthy: 'healthy' in w && w.healthy === false ? false : true,
    tlsMode,
    ...(workloadName ? { workloadName } : {}),
  };
}

/**
 * convertServiceEntry returns the services and endpoints one ServiceEntry defines, given
 * the workloads its selector may match (already limited to nothing else than candidates).
 */
export function convertServiceEntry(se: MeshResource, workloads: readonly WorkloadInstance[]): { services: Service[]; endpoints: Endpoint[] } {
  const spec = (se.body.spec ?? { hosts: [] }) as SeSpec;
  const namespace = se.metadata.namespace ?? 'default';
  const resolution = spec.resolution === 'DYNAMIC_DNS' ? 'DNS' : (spec.resolution ?? 'NONE');
  const ports: MeshServicePort[] = (spec.ports ?? []).map((p) => ({ name: p.name, port: p.number, protocol: parseProtocol(p.protocol), ...(p.targetPort ? { targetPort: p.targetPort } : {}) }));
  const addresses = (spec.addresses ?? []).map(plainIp);
  const selector = spec.workloadSelector?.labels;
  const services: Service[] = spec.hosts.map((hostname) => ({
    hostname, namespace, name: se.metadata.name ?? '', ports, addresses, resolution, location: spec.location ?? 'MESH_EXTERNAL',
    exportTo: spec.exportTo?.length ? spec.exportTo : ['*'],
    ...(selector ? { selector } : {}),
    labels: se.metadata.labels ?? {}, source: 'serviceentry',
  }));
  const endpoints: Endpoint[] = [];
  const dnsSelf = !spec.endpoints?.length && !spec.workloadSelector && (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN');
  for (const svc of services) {
    for (const port of spec.ports ?? []) {
      if (dnsSelf) {
        // A DNS entry with no endpoints resolves its own hostname.
        endpoints.push({ hostname: svc.hostname, namespace, servicePortName: port.name, address: svc.hostname, port: port.targetPort || port.number, labels: {}, healthy: true, tlsMode: 'disabled' });
      } else if (selector) {
        for (const w of workloads) if (w.namespace === namespace && selects(selector, w.labels)) endpoints.push(endpointOf(svc, port, w, w.name));
      } else {
        for (const e of spec.endpoints ?? []) endpoints.push(endpointOf(svc, port, e));
      }
    }
  }
  return { services, endpoints };
}

function plainIp(a: string): string {
  const m = /^(.*)\/(\d+)$/.exec(a);
  if (!m) return a;
  const bits = Number(m[2]);
  return (m[1].includes(':') && bits === 128) || (!m[1].includes(':') && bits === 32) ? m[1] : a;
}

export interface ServiceEntryRegistryOptions {
  /** Where ServiceEntries and WorkloadEntries come from. */
  readonly source: ConfigSource;
  /** More selectable workloads (Pods, auto-registered workloads); call refresh() when they change. */
  readonly workloads?: () => readonly WorkloadInstance[];
  readonly log?: Logger;
}

/** ServiceEntryRegistry is the ServiceRegistry of ServiceEntries (+ WorkloadEntries) in a config source. */
export class ServiceEntryRegistry extends RegistryState {
  private readonly opts: ServiceEntryRegistryOptions;
  private stop?: Unsubscribe;
  private scheduled = false;

  constructor(opts: ServiceEntryRegistryOptions) {
    super('serviceentry', opts.log);
    this.opts = opts;
  }

  /** start builds the first state once the source is ready and follows its changes. */
  async start(): Promise<void> {
    await this.opts.source.ready();
    this.stop = this.opts.source.watch((e) => {
      if (e.key.group === 'networking.istio.io' && (e.key.kind === 'ServiceEntry' || e.key.kind === 'WorkloadEntry')) this.refresh();
    });
    this.recompute();
    this.setSynced();
  }

  /** refresh schedules a recomputation (coalesced within the current tick). */
  refresh(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.recompute();
    });
  }

  override async close(): Promise<void> {
    this.stop?.();
    await super.close();
  }

  private recompute(): void {
    const src = this.opts.source;
    const workloads = [...src.list({ group: 'networking.istio.io', kind: 'WorkloadEntry' }).map(workloadEntryInstance), ...(this.opts.workloads?.() ?? [])];
    const services: Service[] = [];
    const endpoints: Endpoint[] = [];
    for (const se of src.list({ group: 'networking.istio.io', kind: 'ServiceEntry' })) {
      const r = convertServiceEntry(se, workloads);
      services.push(...r.services);
      endpoints.push(...r.endpoints);
    }
    this.replace(dedupeServices(services), endpoints);
  }
}

/**
 * dedupeServices keeps one Service per (hostname, namespace): when two ServiceEntries in a
 * namespace declare the same host, the older-listed (name order) wins, as Istio keeps the
 * first by creation time; their endpoints are all kept.
 */
function dedupeServices(services: Service[]): Service[] {
  const seen = new Set<string>();
  return services.filter((s) => {
    const k = `${s.hostname}|${s.namespace}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
