/**
 * The analyzers' read-only view of the input: resources by kind, the services and
 * workloads they define, and lookups that follow pilot's rules (short-name resolution,
 * exportTo visibility, label selection). Built once per `analyze` call.
 */
import { splitApiVersion } from '../registry.js';
import type { MeshResource } from '../validate.js';
import {
  exportScope,
  exportScopeFromAnnotation,
  hostCoveredBy,
  isWildcard,
  selects,
  toFqdn,
  visibleIn,
  type ExportScope,
} from './hosts.js';
import { labelsOf, list, str, type DestinationRuleSpec, type K8sServiceSpec, type Labels, type ServiceEntrySpec, type WorkloadEntrySpec, type WorkloadGroupSpec } from './spec.js';
import type { AnalyzeOptions } from './types.js';

export const NETWORKING = 'networking.istio.io';
export const SECURITY = 'security.istio.io';
export const GATEWAY_API = 'gateway.networking.k8s.io';
export const CORE = '';

/** A port a service exposes. `targetPort` is the workload port when known as a number. */
export interface ServicePort {
  readonly number: number;
  readonly name?: string;
  readonly protocol?: string;
  readonly targetPort?: number;
}

/** A host some Service or ServiceEntry defines, with where it is visible. */
export interface ServiceHost {
  /** FQDN (or wildcard) as pilot resolves it. */
  readonly host: string;
  readonly namespace: string;
  readonly scope: ExportScope;
  readonly ports: readonly ServicePort[];
  /** Labels of the workloads behind it; undefined when it has none (external or DNS-resolved). */
  readonly selector?: Labels;
  readonly resource: MeshResource;
}

/** A workload instance: a Pod, a WorkloadEntry, or the template of a WorkloadGroup. */
export interface Workload {
  readonly namespace: string;
  readonly labels: Labels;
  readonly resource: MeshResource;
}

type Resolved = Required<Omit<AnalyzeOptions, 'workloadsKnown' | 'secretsKnown'>> & { workloadsKnown: boolean; secretsKnown: boolean };

/** Mesh is the indexed input of one analysis run, with the resolved options. */
export class Mesh {
  readonly opts: Resolved;
  readonly resources: readonly MeshResource[];
  /** Definitions replaced by a later one with the same identity (not in `resources`). */
  replaced: readonly { resource: MeshResource; by: MeshResource }[] = [];
  /** Namespaces that exist: Namespace objects, namespaces of any input resource, and the mesh root. */
  readonly namespaces: ReadonlySet<string>;
  readonly serviceHosts: readonly ServiceHost[];
  readonly workloads: readonly Workload[];
  private readonly byKind = new Map<string, MeshResource[]>();

  constructor(resources: readonly MeshResource[], opts: AnalyzeOptions = {}) {
    this.resources = resources;
    for (const r of resources) {
      const key = `${groupOf(r)}/${r.kind}`;
      let l = this.byKind.get(key);
      if (!l) this.byKind.set(key, (l = []));
      l.push(r);
    }
    this.opts = {
      meshRootNamespace: opts.meshRootNamespace ?? 'istio-system',
      trustDomain: opts.trustDomain ?? 'cluster.local',
      trustDomainAliases: opts.trustDomainAliases ?? [],
      defaultNamespace: opts.defaultNamespace ?? 'default',
      domainSuffix: opts.domainSuffix ?? 'cluster.local',
      workloadsKnown: opts.workloadsKnown ?? (this.of(CORE, 'Pod').length > 0 || this.of(NETWORKING, 'WorkloadEntry').length > 0),
      secretNames: opts.secretNames ?? [],
      secretsKnown: opts.secretsKnown ?? (opts.secretNames !== undefined || this.of(CORE, 'Secret').length > 0),
    };
    this.workloads = this.collectWorkloads();
    const ns = new Set<string>([this.opts.meshRootNamespace]);
    for (const r of resources) {
      if (groupOf(r) === CORE && r.kind === 'Namespace') ns.add(r.metadata.name ?? '');
      else if (r.def?.namespaced !== false && r.metadata.namespace) ns.add(r.metadata.namespace);
    }
    ns.delete('');
    this.namespaces = ns;
    this.serviceHosts = this.collectServiceHosts();
  }

  /** of returns the input resources of one kind, in input order. */
  of(group: string, kind: string): readonly MeshResource[] {
    return this.byKind.get(`${group}/${kind}`) ?? [];
  }

  /** nsOf returns a resource's namespace (the default namespace when it names none). */
  nsOf(r: MeshResource): string {
    return r.metadata.namespace ?? this.opts.defaultNamespace;
  }

  /** fqdn resolves a host written in a resource of `namespace`. */
  fqdn(host: string, namespace: string): string {
    return toFqdn(host, namespace, this.opts.domainSuffix);
  }

  /**
   * lookupHost returns the service defining `host` (as written in a resource of `fromNs`
   * with `exportTo`) that is visible there, following analyzers/util.GetDestinationHost:
   * exact hosts first, then wildcard ServiceEntry hosts covering it.
   */
  lookupHost(host: string, fromNs: string, exportTo?: readonly string[]): ServiceHost | undefined {
    const fqdn = this.fqdn(host, fromNs);
    // Istio looks the host up from the namespace of the referring resource and from
    // each namespace it is exported to.
    const vantage = new Set<string>([fromNs]);
    for (const e of exportTo ?? []) if (e !== '*' && e !== '~') vantage.add(e === '.' ? fromNs : e);
    const seen = (s: ServiceHost) => [...vantage].some((n) => visibleIn(s.scope, n));
    const exact = this.serviceHosts.find((s) => s.host === fqdn && seen(s));
    if (exact) return exact;
    const bare = fqdn.replace(/^\*/, '');
    return this.serviceHosts.find((s) => isWildcard(s.host) && bare.endsWith(s.host.slice(1)) && seen(s));
  }

  /** servicesMatching returns every defined host covered by `pattern` (a DestinationRule host, say). */
  servicesMatching(pattern: string): ServiceHost[] {
    return this.serviceHosts.filter((s) => hostCoveredBy(s.host, pattern));
  }

  /**
   * destinationRulesFor returns the DestinationRules that apply to `fqdn` for a client in
   * `fromNs`: those with exactly that host if any is visible, else visible wildcard ones
   * covering it (pilot picks the most specific host).
   */
  destinationRulesFor(fqdn: string, fromNs: readonly string[]): MeshResource[] {
    const drs = this.of(NETWORKING, 'DestinationRule').filter((r) => {
      const spec = r.body.spec as DestinationRuleSpec | undefined;
      const scope = exportScope(list<string>(spec?.exportTo), this.nsOf(r));
      return fromNs.some((n) => visibleIn(scope, n));
    });
    const hostOf = (r: MeshResource) => this.fqdn(str((r.body.spec as DestinationRuleSpec | undefined)?.host) ?? '', this.nsOf(r));
    const exact = drs.filter((r) => hostOf(r) === fqdn);
    if (exact.length > 0) return exact;
    return drs.filter((r) => isWildcard(hostOf(r)) && hostCoveredBy(fqdn, hostOf(r)));
  }

  /** workloadsSelectedBy returns the workloads a selector picks, in one namespace or (undefined) any. */
  workloadsSelectedBy(selector: Labels | undefined, namespace?: string): Workload[] {
    return this.workloads.filter((w) => (namespace === undefined || w.namespace === namespace) && selects(selector, w.labels));
  }

  private collectWorkloads(): Workload[] {
    const out: Workload[] = [];
    for (const r of this.of(CORE, 'Pod')) out.push({ namespace: this.nsOf(r), labels: { ...(r.metadata.labels ?? {}) }, resource: r });
    for (const r of this.of(NETWORKING, 'WorkloadEntry')) {
      const spec = r.body.spec as WorkloadEntrySpec | undefined;
      // pilot selects WorkloadEntries by spec.labels; metadata labels are added by auto-registration.
      out.push({ namespace: this.nsOf(r), labels: { ...(r.metadata.labels ?? {}), ...(labelsOf(spec?.labels) ?? {}) }, resource: r });
    }
    for (const r of this.of(NETWORKING, 'WorkloadGroup')) {
      const spec = r.body.spec as WorkloadGroupSpec | undefined;
      // A WorkloadGroup stands for the VMs that will register from it, with its template's labels.
      out.push({ namespace: this.nsOf(r), labels: { ...(labelsOf(spec?.metadata?.labels) ?? {}) }, resource: r });
    }
    return out;
  }

  private collectServiceHosts(): ServiceHost[] {
    const out: ServiceHost[] = [];
    for (const r of this.of(CORE, 'Service')) {
      const ns = this.nsOf(r);
      const spec = r.body.spec as K8sServiceSpec | undefined;
      const ports = list<NonNullable<K8sServiceSpec['ports']>[number]>(spec?.ports).flatMap((p): ServicePort[] =>
        typeof p.port === 'number' ? [{ number: p.port, name: str(p.name), protocol: str(p.protocol), targetPort: typeof p.targetPort === 'number' ? p.targetPort : p.targetPort === undefined ? p.port : undefined }] : [],
      );
      const selector = labelsOf(spec?.selector);
      out.push({
        host: this.fqdn(r.metadata.name ?? '', ns),
        namespace: ns,
        scope: exportScopeFromAnnotation(r.metadata.annotations?.['networking.istio.io/exportTo'], ns),
        ports,
        selector: selector && Object.keys(selector).length > 0 ? selector : undefined,
        resource: r,
      });
    }
    for (const r of this.of(NETWORKING, 'ServiceEntry')) {
      const ns = this.nsOf(r);
      const spec = r.body.spec as ServiceEntrySpec | undefined;
      const ports = list<NonNullable<ServiceEntrySpec['ports']>[number]>(spec?.ports).flatMap((p): ServicePort[] =>
        typeof p.number === 'number' ? [{ number: p.number, name: str(p.name), protocol: str(p.protocol), targetPort: p.targetPort ?? p.number }] : [],
      );
      const scope = exportScope(list<string>(spec?.exportTo), ns);
      const sel = labelsOf(spec?.workloadSelector?.labels);
      for (const h of list<string>(spec?.hosts)) {
        if (typeof h !== 'string') continue;
        out.push({ host: this.fqdn(h, ns), namespace: ns, scope, ports, selector: sel, resource: r });
      }
    }
    return out;
  }
}

/** groupOf returns a resource's API group (`''` for the core group). */
export function groupOf(r: MeshResource): string {
  return r.def?.group ?? splitApiVersion(r.apiVersion).group;
}

