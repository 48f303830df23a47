/**
 * The immutable mesh snapshot translation reads (Istio's PushContext): validated configs,
 * services and endpoints from the registry, and MeshConfig, indexed once so that each
 * generator call only looks things up.
 */
import type { DestinationRuleSpec, Endpoint, GatewaySpec, MeshConfig, MeshResource, ProxyNode, Service, SidecarSpec, VirtualServiceSpec } from '@meshwork/api';
import { DEFAULT_MESH_CONFIG } from '@meshwork/api';
import { contentHash } from './hash.js';
import { carryMemo, fingerprint, setFingerprint } from './memo.js';
import { convertGatewayApi } from './gateway-api.js';

export { contentHash, stableJson } from './hash.js';

/** What buildSnapshot takes: everything translation may depend on. */
export interface MeshSnapshotInput {
  /** Validated Istio resources (VirtualService, DestinationRule, Gateway, Sidecar, PeerAuthentication, ...). Other kinds are ignored. */
  readonly configs: readonly MeshResource[];
  /** Services from every registry, ServiceEntry hosts included (libs/registry turns ServiceEntries into Services). */
  readonly services: readonly Service[];
  readonly endpoints: readonly Endpoint[];
  readonly meshConfig?: MeshConfig;
}

/** A config of one kind with its namespace, name and the hosts/exportTo resolved to FQDN form. */
export interface IndexedVirtualService {
  readonly name: string;
  readonly namespace: string;
  readonly spec: VirtualServiceSpec;
  /** spec.hosts with short names expanded to `name.ns.svc.<domain>`. */
  readonly hosts: readonly string[];
  /** spec.gateways as `ns/name` (and the reserved `mesh`); `['mesh']` when unset. */
  readonly gateways: readonly string[];
  readonly exportTo: readonly string[];
}

export interface IndexedDestinationRule {
  readonly name: string;
  readonly namespace: string;
  readonly host: string;
  readonly spec: DestinationRuleSpec;
  readonly exportTo: readonly string[];
  readonly selector?: Readonly<Record<string, string>>;
}

export interface IndexedGateway {
  readonly name: string;
  readonly namespace: string;
  readonly spec: GatewaySpec;
}

export interface IndexedSidecar {
  readonly name: string;
  readonly namespace: string;
  readonly spec: SidecarSpec;
}

export interface IndexedPeerAuthentication {
  readonly name: string;
  readonly namespace: string;
  readonly spec: { selector?: { matchLabels?: Record<string, string> }; mtls?: { mode?: string }; portLevelMtls?: Record<string, { mode?: string }> };
}

/** The mesh as one translation run sees it. Immutable; build it with buildSnapshot. */
export interface MeshSnapshot {
  readonly configs: readonly MeshResource[];
  readonly services: readonly Service[];
  readonly endpoints: readonly Endpoint[];
  readonly meshConfig: MeshConfig;
  /** Content hash of every input: equal inputs give equal versions (the basis of cache keys). */
  readonly version: string;
  /** Lookup tables built once by buildSnapshot. */
  readonly index: SnapshotIndex;
}

export interface SnapshotIndex {
  readonly servicesByHost: ReadonlyMap<string, readonly Service[]>;
  /** Endpoints by `hostname` then by service port name. */
  readonly endpointsByHost: ReadonlyMap<string, readonly Endpoint[]>;
  readonly virtualServices: readonly IndexedVirtualService[];
  /** Delegate VirtualServices (no hosts) by `namespace/name`. */
  readonly delegates: ReadonlyMap<string, IndexedVirtualService>;
  /** DestinationRules by namespace, in config order (Istio orders by creation time; the input order stands in for it). */
  readonly destinationRulesByNamespace: ReadonlyMap<string, readonly IndexedDestinationRule[]>;
  readonly gateways: readonly IndexedGateway[];
  readonly sidecarsByNamespace: ReadonlyMap<string, readonly IndexedSidecar[]>;
  readonly peerAuthentications: readonly IndexedPeerAuthentication[];
}

/**
 * buildSnapshot returns the indexed, frozen snapshot of the given inputs: services by
 * hostname, VirtualServices with FQDN hosts and `ns/name` gateways, DestinationRules by
 * namespace, Sidecars by namespace, and a content-hash version.
 */
export function buildSnapshot(input: MeshSnapshotInput, opts: { readonly previous?: MeshSnapshot } = {}): MeshSnapshot {
  const meshConfig = input.meshConfig ?? DEFAULT_MESH_CONFIG;
  const domain = meshConfig.domainSuffix;
  const servicesByHost = new Map<string, Service[]>();
  for (const s of input.services) push(servicesByHost, s.hostname, s);
  const endpointsByHost = new Map<string, Endpoint[]>();
  for (const e of input.endpoints) push(endpointsByHost, e.hostname, e);

  const virtualServices: IndexedVirtualService[] = [];
  const delegates = new Map<string, IndexedVirtualService>();
  const destinationRulesByNamespace = new Map<string, IndexedDestinationRule[]>();
  const gateways: IndexedGateway[] = [];
  const sidecarsByNamespace = new Map<string, IndexedSidecar[]>();
  const peerAuthentications: IndexedPeerAuthentication[] = [];
  for (const r of input.configs) {
    const name = r.metadata.name ?? '';
    const namespace = r.metadata.namespace ?? 'default';
    const spec = (r.body as { spec?: unknown }).spec ?? {};
    const group = r.apiVersion.split('/')[0];
    if (group === 'networking.istio.io') {
      switch (r.kind) {
        case 'VirtualService': {
          const vs = spec as VirtualServiceSpec;
          const indexed: IndexedVirtualService = {
            name,
            namespace,
            spec: vs,
            hosts: (vs.hosts ?? []).map((h) => resolveHost(h, namespace, domain)),
            gateways: (vs.gateways && vs.gateways.length > 0 ? vs.gateways : ['mesh']).map((g) => resolveGatewayName(g, namespace)),
            exportTo: vs.exportTo && vs.exportTo.length > 0 ? vs.exportTo : ['*'],
          };
          if (indexed.hosts.length === 0) delegates.set(`${namespace}/${name}`, indexed);
          else virtualServices.push(indexed);
          break;
        }
        case 'DestinationRule': {
          const dr = spec as DestinationRuleSpec;
          const sel = (dr.workloadSelector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels;
          push(destinationRulesByNamespace, namespace, {
            name,
            namespace,
            host: resolveHost(dr.host, namespace, domain),
            spec: dr,
            exportTo: dr.exportTo && dr.exportTo.length > 0 ? dr.exportTo : ['*'],
            ...(sel ? { selector: sel } : {}),
          });
          break;
        }
        case 'Gateway':
          gateways.push({ name, namespace, spec: spec as GatewaySpec });
          break;
        case 'Sidecar':
          push(sidecarsByNamespace, namespace, { name, namespace, spec: spec as SidecarSpec });
          break;
      }
    } else if (group === 'security.istio.io' && r.kind === 'PeerAuthentication') {
      peerAuthentications.push({ name, namespace, spec: spec as IndexedPeerAuthentication['spec'] });
    }
  }
  // Kubernetes Gateway API resources become Istio Gateways and VirtualServices (gateway-api.ts).
  const fromGatewayApi = convertGatewayApi(input.configs, input.services, domain);
  gateways.push(...fromGatewayApi.gateways);
  virtualServices.push(...fromGatewayApi.virtualServices);
  const configs = Object.freeze([...input.configs]);
  const services = Object.freeze([...input.services]);
  const endpoints = Object.freeze([...input.endpoints]);
  // Hashing every input costs tens of milliseconds at a thousand services and only cacheKey reads
  // it, so it is computed on first read (the inputs are frozen, so later is the same as now).
  let version: string | undefined;
  const versionOf = (): string =>
    (version ??= contentHash({ configs: configs.map((c) => ({ apiVersion: c.apiVersion, kind: c.kind, metadata: c.metadata, body: c.body })), services, endpoints, meshConfig }));
  // Frozen at the top levels only: the configs belong to the caller (and keep lazy parser state).
  const index: SnapshotIndex = Object.freeze({ servicesByHost, endpointsByHost, virtualServices, delegates, destinationRulesByNamespace, gateways, sidecarsByNamespace, peerAuthentications });
  const snapshot: MeshSnapshot = Object.freeze({
    configs,
    services,
    endpoints,
    meshConfig,
    get version(): string {
      return versionOf();
    },
    index,
  });
  // Resources translated from the replaced snapshot are reused where their inputs did not change (memo.ts).
  carryMemo(snapshot, opts.previous);
  return snapshot;
}

// Per-(snapshot, proxy) memo of scoping results. Both are immutable inputs, so a memo keyed by
// their identity can never return a result computed from other inputs; WeakMaps let it go with them.
// Keyed by a kind and up to two existing strings (a hostname, a namespace) in nested maps rather
// than one joined string, which would be built and hashed anew on every call.
const memo = new WeakMap<MeshSnapshot, WeakMap<ProxyNode, Map<string, Map<string, Map<string, unknown>>>>>();

/** Stands for a memoized `undefined`, so a hit costs one lookup. */
const NONE = Symbol('none');

function memoized<T>(snapshot: MeshSnapshot, proxy: ProxyNode, kind: string, a: string, b: string, compute: () => T): T {
  let perSnapshot = memo.get(snapshot);
  if (!perSnapshot) memo.set(snapshot, (perSnapshot = new WeakMap()));
  let perProxy = perSnapshot.get(proxy);
  if (!perProxy) perSnapshot.set(proxy, (perProxy = new Map()));
  let byA = perProxy.get(kind);
  if (!byA) perProxy.set(kind, (byA = new Map()));
  let byB = byA.get(a);
  if (!byB) byA.set(a, (byB = new Map()));
  const hit = byB.get(b);
  if (hit !== undefined) return (hit === NONE ? undefined : hit) as T;
  const v = compute();
  byB.set(b, v === undefined ? NONE : v);
  return v;
}

/** Istio's ResolveShortnameToFQDN: `reviews` in namespace `default` is `reviews.default.svc.cluster.local`. */
export function resolveHost(host: string, namespace: string, domainSuffix: string): string {
  if (host === '*' || host.includes('.')) return host;
  return `${host}.${namespace}.svc.${domainSuffix}`;
}

/** A VirtualService `gateways` entry as `ns/name`; `mesh` stays `mesh`. */
export function resolveGatewayName(g: string, namespace: string): string {
  if (g === 'mesh' || g.includes('/')) return g;
  return `${namespace}/${g}`;
}

/** Whether a (possibly wildcard) host pattern matches a concrete or wildcard hostname. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1);
    if (host.startsWith('*.')) return host.slice(1).endsWith(suffix);
    return host.endsWith(suffix);
  }
  return false;
}

/** Whether a config in `ownNamespace` with `exportTo` is visible from `namespace`. */
export function exportedTo(exportTo: readonly string[], ownNamespace: string, namespace: string): boolean {
  for (const e of exportTo) {
    if (e === '*') return true;
    if (e === '.' && ownNamespace === namespace) return true;
    if (e === namespace) return true;
  }
  return false;
}

/** Whether every selector label is present with the same value. */
export function labelsMatch(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The Sidecar resource that scopes this proxy: own namespace with matching selector, then own namespace without selector, then the root namespace's. */
export function sidecarFor(snapshot: MeshSnapshot, proxy: ProxyNode): IndexedSidecar | undefined {
  const own = snapshot.index.sidecarsByNamespace.get(proxy.namespace) ?? [];
  const withSelector = own.find((s) => s.spec.workloadSelector?.labels && Object.keys(s.spec.workloadSelector.labels).length > 0 && labelsMatch(s.spec.workloadSelector.labels, proxy.labels));
  if (withSelector) return withSelector;
  const nsWide = own.find((s) => !s.spec.workloadSelector?.labels || Object.keys(s.spec.workloadSelector.labels).length === 0);
  if (nsWide) return nsWide;
  const root = snapshot.index.sidecarsByNamespace.get(snapshot.meshConfig.rootNamespace) ?? [];
  return root.find((s) => !s.spec.workloadSelector?.labels || Object.keys(s.spec.workloadSelector.labels).length === 0);
}

/** Whether a Sidecar egress host `ns/host` admits a config of `namespace` for `hostname`. */
function egressAdmits(entry: string, proxyNamespace: string, namespace: string, hostname: string): boolean {
  const slash = entry.indexOf('/');
  const ns = slash < 0 ? '*' : entry.slice(0, slash);
  const host = slash < 0 ? entry : entry.slice(slash + 1);
  if (ns === '~') return false;
  if (ns === '.' ? namespace !== proxyNamespace : ns !== '*' && ns !== namespace) return false;
  return hostMatches(host, hostname);
}

/** The egress scope of a proxy: undefined when everything exported to it is visible. */
function egressListeners(snapshot: MeshSnapshot, proxy: ProxyNode): readonly { port?: number; hosts: readonly string[] }[] | undefined {
  const sc = sidecarFor(snapshot, proxy);
  if (!sc || !sc.spec.egress || sc.spec.egress.length === 0) return undefined;
  return sc.spec.egress.map((e) => ({ ...(e.port?.number ? { port: e.port.number } : {}), hosts: e.hosts }));
}

/**
 * visibleServices returns the services this proxy may reach (Istio's SidecarScope services):
 * exported to its namespace, admitted by its Sidecar's egress hosts (ports narrowed to an egress
 * listener's port when it has one), one Service per hostname, own namespace's first.
 */
export function visibleServices(snapshot: MeshSnapshot, proxy: ProxyNode): Service[] {
  return memoized(snapshot, proxy, 'services', '', '', () => computeVisibleServices(snapshot, proxy));
}

function computeVisibleServices(snapshot: MeshSnapshot, proxy: ProxyNode): Service[] {
  const egress = egressListeners(snapshot, proxy);
  const out: Service[] = [];
  for (const [hostname, candidates] of snapshot.index.servicesByHost) {
    const exported = candidates.filter((s) => exportedTo(s.exportTo.length > 0 ? s.exportTo : ['*'], s.namespace, proxy.namespace));
    // Istio prefers the proxy's own namespace when several namespaces define the same host.
    const svc = exported.find((s) => s.namespace === proxy.namespace) ?? exported[0];
    if (!svc) continue;
    if (!egress) {
      out.push(svc);
      continue;
    }
    const ports = new Set<number>();
    let all = false;
    for (const l of egress) {
      if (!l.hosts.some((h) => egressAdmits(h, proxy.namespace, svc.namespace, hostname))) continue;
      if (l.port === undefined) all = true;
      else ports.add(l.port);
    }
    if (all) out.push(svc);
    else if (ports.size > 0) out.push({ ...svc, ports: svc.ports.filter((p) => ports.has(p.port)) });
  }
  return out.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
}

/** The service for a hostname as this proxy sees it, if visible. */
export function serviceFor(snapshot: MeshSnapshot, proxy: ProxyNode, hostname: string): Service | undefined {
  const candidates = snapshot.index.servicesByHost.get(hostname) ?? [];
  const exported = candidates.filter((s) => exportedTo(s.exportTo.length > 0 ? s.exportTo : ['*'], s.namespace, proxy.namespace));
  return exported.find((s) => s.namespace === proxy.namespace) ?? exported[0];
}

/**
 * virtualServicesFor returns the VirtualServices bound to `gateway` (`mesh` for sidecars,
 * `ns/name` for a gateway) that this proxy may see: exported to its namespace and, for
 * sidecars, admitted by its Sidecar egress hosts. Config order is kept (first wins on conflicts).
 */
export function virtualServicesFor(snapshot: MeshSnapshot, proxy: ProxyNode, gateway: string): IndexedVirtualService[] {
  return memoized(snapshot, proxy, 'vs', gateway, '', () => computeVirtualServicesFor(snapshot, proxy, gateway));
}

function computeVirtualServicesFor(snapshot: MeshSnapshot, proxy: ProxyNode, gateway: string): IndexedVirtualService[] {
  const egress = gateway === 'mesh' ? egressListeners(snapshot, proxy) : undefined;
  return snapshot.index.virtualServices.filter((vs) => {
    if (!vs.gateways.includes(gateway)) return false;
    if (!exportedTo(vs.exportTo, vs.namespace, proxy.namespace)) return false;
    if (!egress) return true;
    return vs.hosts.some((h) => egress.some((l) => l.hosts.some((e) => egressAdmits(e, proxy.namespace, vs.namespace, h))));
  });
}

/** The effective DestinationRule for a host: Istio's lookup order and merge of same-namespace rules. */
export interface EffectiveDestinationRule {
  readonly namespace: string;
  readonly spec: DestinationRuleSpec;
  /** `ns/name` of every rule merged into this one. */
  readonly from: readonly string[];
}

/**
 * destinationRuleFor returns the DestinationRule that applies to `hostname` for this proxy:
 * rules in the proxy's namespace (selector-matched first), then the service's namespace, then
 * the root namespace, each exported to the proxy; within a namespace the most specific host
 * wins and several rules for that host merge (the first one's trafficPolicy, subsets added by
 * name in order), as Istio's mergeDestinationRule does.
 */
export function destinationRuleFor(snapshot: MeshSnapshot, proxy: ProxyNode, hostname: string, serviceNamespace?: string): EffectiveDestinationRule | undefined {
  return memoized(snapshot, proxy, serviceNamespace === undefined ? 'dr' : 'dr-ns', hostname, serviceNamespace ?? '', () => computeDestinationRule(snapshot, proxy, hostname, serviceNamespace));
}

function computeDestinationRule(snapshot: MeshSnapshot, proxy: ProxyNode, hostname: string, serviceNamespace?: string): EffectiveDestinationRule | undefined {
  const order = [proxy.namespace, serviceNamespace, snapshot.meshConfig.rootNamespace].filter((n, i, a): n is string => n !== undefined && a.indexOf(n) === i);
  for (const ns of order) {
    const rules = rulesForHost(snapshot, ns, hostname).filter(
      (r) => exportedTo(r.exportTo, r.namespace, proxy.namespace) && (!r.selector || (ns === proxy.namespace && labelsMatch(r.selector, proxy.labels))) && hostMatches(r.host, hostname),
    );
    if (rules.length === 0) continue;
    // Most specific host first: exact, then the longest wildcard.
    const best = rules.reduce((a, r) => (specificity(r.host) > specificity(a.host) ? r : a)).host;
    const sameHost = rules.filter((r) => r.host === best);
    // Selector-matched rules take precedence over namespace-wide ones.
    const selected = sameHost.some((r) => r.selector) ? sameHost.filter((r) => r.selector) : sameHost;
    return mergedRules(snapshot, selected);
  }
  return undefined;
}

// A namespace's DestinationRules by exact host, plus its wildcard ones: a lookup per host instead of a scan of every rule.
const rulesByHost = new WeakMap<MeshSnapshot, Map<string, { exact: Map<string, IndexedDestinationRule[]>; wildcard: IndexedDestinationRule[] }>>();

/** The rules of namespace `ns` whose host may match `hostname` (exact ones, then wildcards), each group in config order. */
function rulesForHost(snapshot: MeshSnapshot, ns: string, hostname: string): readonly IndexedDestinationRule[] {
  let byNs = rulesByHost.get(snapshot);
  if (!byNs) rulesByHost.set(snapshot, (byNs = new Map()));
  let idx = byNs.get(ns);
  if (!idx) {
    idx = { exact: new Map(), wildcard: [] };
    for (const r of snapshot.index.destinationRulesByNamespace.get(ns) ?? []) {
      // hostMatches: a pattern without a leading `*` matches only itself.
      if (r.host.startsWith('*')) idx.wildcard.push(r);
      else push(idx.exact, r.host, r);
    }
    byNs.set(ns, idx);
  }
  const exact = idx.exact.get(hostname);
  if (idx.wildcard.length === 0) return exact ?? [];
  return exact ? [...exact, ...idx.wildcard] : idx.wildcard;
}

function specificity(host: string): number {
  return host.startsWith('*') ? host.length - 1 : 1e6;
}

// One merged rule per set of rules and snapshot, shared by every proxy view that selects it.
const merged = new WeakMap<MeshSnapshot, Map<string, EffectiveDestinationRule>>();

/** The merge of `rules`, shared across views; its fingerprint is that of the rules merged (all mergeRules reads). */
function mergedRules(snapshot: MeshSnapshot, rules: readonly IndexedDestinationRule[]): EffectiveDestinationRule {
  let bySet = merged.get(snapshot);
  if (!bySet) merged.set(snapshot, (bySet = new Map()));
  const key = rules.map((r) => fingerprint(snapshot, r)).join(',');
  let dr = bySet.get(key);
  if (!dr) {
    dr = mergeRules(rules);
    bySet.set(key, dr);
    setFingerprint(snapshot, dr, key);
  }
  return dr;
}

function mergeRules(rules: readonly IndexedDestinationRule[]): EffectiveDestinationRule {
  const first = rules[0];
  let trafficPolicy = first.spec.trafficPolicy;
  const subsets = [...(first.spec.subsets ?? [])];
  for (const r of rules.slice(1)) {
    if (!trafficPolicy && r.spec.trafficPolicy) trafficPolicy = r.spec.trafficPolicy;
    for (const s of r.spec.subsets ?? []) if (!subsets.some((x) => x.name === s.name)) subsets.push(s);
  }
  const spec: DestinationRuleSpec = { ...first.spec, ...(trafficPolicy ? { trafficPolicy } : {}), ...(subsets.length > 0 ? { subsets } : {}) };
  return { namespace: first.namespace, spec, from: rules.map((r) => `${r.namespace}/${r.name}`) };
}

/** Gateways whose selector matches this router's labels. */
export function gatewaysFor(snapshot: MeshSnapshot, proxy: ProxyNode): IndexedGateway[] {
  return snapshot.index.gateways.filter((g) => g.spec.selector && Object.keys(g.spec.selector).length > 0 && labelsMatch(g.spec.selector, proxy.labels));
}

/** The mTLS mode of PeerAuthentication for a workload port: port-level, workload, namespace, then mesh (root namespace); PERMISSIVE by default. */
export function peerAuthenticationMode(snapshot: MeshSnapshot, proxy: ProxyNode, port: number): 'STRICT' | 'PERMISSIVE' | 'DISABLE' {
  const pas = snapshot.index.peerAuthentications;
  const sel = (p: IndexedPeerAuthentication): Record<string, string> => p.spec.selector?.matchLabels ?? {};
  const workload = pas.find((p) => p.namespace === proxy.namespace && Object.keys(sel(p)).length > 0 && labelsMatch(sel(p), proxy.labels));
  const ns = pas.find((p) => p.namespace === proxy.namespace && Object.keys(sel(p)).length === 0);
  const mesh = pas.find((p) => p.namespace === snapshot.meshConfig.rootNamespace && Object.keys(sel(p)).length === 0);
  const portMode = workload?.spec.portLevelMtls?.[String(port)]?.mode;
  for (const m of [portMode, workload?.spec.mtls?.mode, ns?.spec.mtls?.mode, mesh?.spec.mtls?.mode]) {
    if (m === 'STRICT' || m === 'PERMISSIVE' || m === 'DISABLE') return m;
  }
  return 'PERMISSIVE';
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

/**
 * The mTLS mode a client can assume for a service port (Istio's BestEffortInferServiceMTLSMode):
 * a workload policy whose selector the service's selector satisfies (port-level first), then
 * the service namespace's policy, then the mesh-wide one. Auto mTLS sends plain text when DISABLE.
 */
export function serviceMtlsMode(snapshot: MeshSnapshot, svc: Service, port: number): 'STRICT' | 'PERMISSIVE' | 'DISABLE' {
  const pas = snapshot.index.peerAuthentications;
  const sel = (p: IndexedPeerAuthentication): Record<string, string> => p.spec.selector?.matchLabels ?? {};
  const workload = svc.selector
    ? pas.find((p) => p.namespace === svc.namespace && Object.keys(sel(p)).length > 0 && labelsMatch(sel(p), svc.selector ?? {}))
    : undefined;
  const ns = pas.find((p) => p.namespace === svc.namespace && Object.keys(sel(p)).length === 0);
  const mesh = pas.find((p) => p.namespace === snapshot.meshConfig.rootNamespace && Object.keys(sel(p)).length === 0);
  const targetPort = svc.ports.find((p) => p.port === port);
  const portMode = workload?.spec.portLevelMtls?.[String(targetPort?.targetPort ?? port)]?.mode;
  for (const m of [portMode, workload?.spec.mtls?.mode, ns?.spec.mtls?.mode, mesh?.spec.mtls?.mode]) {
    if (m === 'STRICT' || m === 'PERMISSIVE' || m === 'DISABLE') return m;
  }
  return 'PERMISSIVE';
}
