/**
 * ServiceRegistry over a Kubernetes cluster (Istio's kube controller): Services,
 * EndpointSlices, Pods and Nodes, each list-watched, converted with Istio's rules
 * (kube-convert.ts). Any change schedules one recomputation (coalesced per macrotask), which
 * RegistryState diffs into events, so an initial list of thousands of objects costs one pass.
 */
import type { Endpoint, Service } from '@meshwork/api';
import { DEFAULT_MESH_CONFIG } from '@meshwork/api';
import type { KubeClient, KubeObject } from './kube-client.js';
import { KubeCollection } from './kube-collection.js';
import { LABEL_NETWORK, LABEL_SERVICE_NAME, convertEndpointSlice, convertService, externalNameEndpoints, localityOf, tlsModeOf, workloadNameOf } from './kube-convert.js';
import type { WorkloadInstance } from './serviceentry.js';
import { RegistryState } from './registry-state.js';
import type { Logger, Unsubscribe } from './types.js';
import { silentLogger } from './types.js';

export interface KubeServiceRegistryOptions {
  readonly client: KubeClient;
  /** Cluster domain suffix (default `cluster.local`). */
  readonly domainSuffix?: string;
  /** Watch Nodes for locality (needs cluster-scoped RBAC; default true). */
  readonly watchNodes?: boolean;
  readonly log?: Logger;
  readonly retryMs?: number;
  /** Registry name (a cluster id in multi-cluster setups; default `kubernetes`). */
  readonly name?: string;
}

/** KubeServiceRegistry is the ServiceRegistry of one Kubernetes cluster. */
export class KubeServiceRegistry extends RegistryState {
  private readonly domainSuffix: string;
  private readonly services$: KubeCollection;
  private readonly slices: KubeCollection;
  private readonly pods: KubeCollection;
  private readonly nodes?: KubeCollection;
  private scheduled?: NodeJS.Immediate;
  private started = false;
  private readonly workloadListeners = new Set<() => void>();

  constructor(opts: KubeServiceRegistryOptions) {
    const log = opts.log ?? silentLogger;
    super(opts.name ?? 'kubernetes', log);
    this.domainSuffix = opts.domainSuffix ?? DEFAULT_MESH_CONFIG.domainSuffix;
    const common = { client: opts.client, log, retryMs: opts.retryMs, onChange: () => this.schedule() };
    this.services$ = new KubeCollection({ ...common, path: '/api/v1/services' });
    this.slices = new KubeCollection({ ...common, path: '/apis/discovery.k8s.io/v1/endpointslices' });
    this.pods = new KubeCollection({ ...common, path: '/api/v1/pods' });
    if (opts.watchNodes !== false) this.nodes = new KubeCollection({ ...common, path: '/api/v1/nodes' });
  }

  /**
   * Pods as workload instances, for ServiceEntry workloadSelectors (Istio selects Pods as
   * well as WorkloadEntries): running pods with an IP; ports by container port name.
   */
  workloads(): WorkloadInstance[] {
    const nodes = new Map<string, KubeObject>();
    for (const n of this.nodes?.items() ?? []) nodes.set(n.metadata.name ?? '', n);
    const out: WorkloadInstance[] = [];
    for (const p of this.pods.items()) {
      const status = (p.status ?? {}) as { podIP?: string; phase?: string; conditions?: { type?: string; status?: string }[] };
      if (!status.podIP || (status.phase !== undefined && status.phase !== 'Running') || p.metadata.deletionTimestamp) continue;
      const spec = (p.spec ?? {}) as { serviceAccountName?: string; nodeName?: string; containers?: { ports?: { name?: string; containerPort?: number }[] }[] };
      const ports: Record<string, number> = {};
      for (const c of spec.containers ?? []) for (const cp of c.ports ?? []) if (cp.name && cp.containerPort) ports[cp.name] = cp.containerPort;
      const loc = localityOf(p, spec.nodeName ? nodes.get(spec.nodeName) : undefined);
      const network = p.metadata.labels?.[LABEL_NETWORK];
      const ready = status.conditions?.find((c) => c.type === 'Ready');
      out.push({
        name: workloadNameOf(p), namespace: p.metadata.namespace ?? 'default', address: status.podIP, labels: p.metadata.labels ?? {}, ports,
        serviceAccount: spec.serviceAccountName ?? 'default',
        ...(loc ? { locality: [loc.region ?? '', loc.zone ?? '', loc.subzone ?? ''].join('/').replace(/\/+$/, '') } : {}),
        ...(network ? { network } : {}),
        healthy: ready ? ready.status === 'True' : true,
        tlsMode: tlsModeOf(p),
      });
    }
    return out;
  }

  /** Calls `fn` after every recomputation (pods may have changed), e.g. to refresh a ServiceEntryRegistry. */
  onWorkloads(fn: () => void): Unsubscribe {
    this.workloadListeners.add(fn);
    return () => this.workloadListeners.delete(fn);
  }

  /** start list-watches every collection; resolves once all are synced and the first state is built. */
  async start(): Promise<void> {
    await Promise.all(this.collections().map((c) => c.start()));
    this.started = true;
    this.recompute();
    this.setSynced();
  }

  override async close(): Promise<void> {
    if (this.scheduled) clearImmediate(this.scheduled);
    await Promise.all(this.collections().map((c) => c.stop()));
    await super.close();
  }

  private collections(): KubeCollection[] {
    return [this.services$, this.slices, this.pods, ...(this.nodes ? [this.nodes] : [])];
  }

  private schedule(): void {
    if (!this.started || this.scheduled) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.recompute();
    });
  }

  /** recompute builds services and endpoints from the caches and publishes the difference. */
  private recompute(): void {
    const podsByName = new Map<string, KubeObject>();
    const podsByIp = new Map<string, KubeObject>();
    for (const p of this.pods.items()) {
      podsByName.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
      const ip = (p.status as { podIP?: string } | undefined)?.podIP;
      if (ip) podsByIp.set(ip, p);
    }
    const nodes = new Map<string, KubeObject>();
    for (const n of this.nodes?.items() ?? []) nodes.set(n.metadata.name ?? '', n);
    const ctx = { pod: (ns: string, name: string) => podsByName.get(`${ns}/${name}`), podByIp: (ip: string) => podsByIp.get(ip), node: (name: string) => nodes.get(name) };

    const services: Service[] = [];
    const endpoints: Endpoint[] = [];
    const byName = new Map<string, Service>();
    const seen = new Set<string>();
    for (const s of this.services$.items()) {
      const svc = convertService(s, this.domainSuffix);
      services.push(svc);
      byName.set(`${svc.namespace}/${svc.name}`, svc);
      if (svc.resolution === 'DNS') endpoints.push(...externalNameEndpoints(s, svc));
    }
    for (const slice of this.slices.items()) {
      const svcName = slice.metadata.labels?.[LABEL_SERVICE_NAME];
      const svc = svcName ? byName.get(`${slice.metadata.namespace}/${svcName}`) : undefined;
      if (!svc || svc.resolution === 'DNS') continue;
      for (const ep of convertEndpointSlice(slice, svc, ctx)) {
        // An address can sit in two slices while the controller moves it: keep one.
        const k = `${ep.hostname}|${ep.namespace}|${ep.servicePortName}|${ep.address}|${ep.port}`;
        if (seen.has(k)) continue;
        seen.add(k);
        endpoints.push(ep);
      }
    }
    this.replace(services, endpoints);
    for (const fn of [...this.workloadListeners]) fn();
  }
}
