/**
 * AuthorizationPolicy → Envoy RBAC filters on a workload's inbound chains (Istio's authz builder,
 * pilot/pkg/security/authz/{builder,model}): HTTP RBAC for HTTP ports, network RBAC for TCP ports.
 *
 * What is matched, as Istio generates it:
 * - Policies that select the workload: the root namespace's (mesh-wide; a selector there selects
 *   in every namespace) and the workload namespace's, with no selector or a `selector.matchLabels`
 *   the workload's labels satisfy. A policy with `targetRef(s)` applies to a sidecar only when it
 *   names the `gateway.networking.k8s.io` Gateway the proxy is deployed for (label
 *   `gateway.networking.k8s.io/gateway-name`, same namespace); other targets (waypoints' Service,
 *   ServiceEntry) are not sidecars' business, as in Istio.
 * - Filters in Istio's order: CUSTOM first (its own builder), then AUDIT, DENY, ALLOW. AUDIT comes
 *   before DENY in Istio's builder so that requests DENY refuses are audited too; AUDIT never
 *   denies, so the order changes nothing about what is allowed.
 * - Envoy policy names `ns[<ns>]-policy[<name>]-rule[<i>]`; a policy without rules becomes one
 *   policy that never matches (so an ALLOW policy with no rules denies everything; `rules: [{}]`
 *   matches everything).
 * - `istio.io/dry-run: "true"` policies go to `shadowRules` (never enforced).
 * - TCP ports: a rule using an HTTP-only attribute (hosts, methods, paths, requestPrincipals,
 *   request.headers, request.auth.*) is dropped from an ALLOW policy (the allow gets smaller; an
 *   ALLOW policy left with no matching rule then denies all TCP traffic), while in a DENY or AUDIT
 *   policy only the HTTP-only values are dropped and the rest of the rule still applies (the deny
 *   gets wider), exactly Istio's checkError.
 * - CUSTOM (Istio's builder with one filter pair per provider, providers sorted): when the
 *   provider is an `envoyExtAuthzGrpc`/`envoyExtAuthzHttp` entry of MeshConfig.extensionProviders
 *   whose service is in the registry, a shadow RBAC filter (stat prefix `istio_ext_authz_`, rules
 *   named `istio-ext-authz-<provider>-ns[..]-policy[..]-rule[i]`) marks the requests the CUSTOM
 *   rules match, and the ext_authz filter after it checks only those (filter_enabled_metadata on
 *   the RBAC filter's `istio_ext_authz_shadow_effective_policy_id`, prefix
 *   `istio-ext-authz-<provider>`). On TCP ports Istio gives gRPC providers the network pair; pilot
 *   cannot encode `envoy.extensions.filters.network.ext_authz.v3.ExtAuthz` yet (libs/xds does not
 *   load its proto), so a gRPC provider's TCP rules take the deny branch below instead (fail
 *   closed; NETWORK_EXT_AUTHZ_ENCODABLE switches to Istio's pair). An HTTP provider is ignored on
 *   TCP ports, as in Istio. A provider that is missing, of another kind or
 *   whose service is unknown takes Istio's "provider not found" branch: the rules become DENY
 *   policies suffixed `-deny-due-to-bad-CUSTOM-action`. Dry-run CUSTOM policies are dropped
 *   (Istio would evaluate them into enforced rules of the same filter).
 * - Request principals, audiences, presenter and claims read the jwt_authn filter's dynamic
 *   metadata (`envoy.filters.http.jwt_authn` → `payload` → claim…), as current Istio does.
 */
import type { EnvoyExtAuthzGrpcProvider, EnvoyExtAuthzHttpProvider, ExtAuthzRequestBody, MeshResource, ProxyNode } from '@meshwork/api';
import { duration, type EnvoyResource } from './envoy.js';
import { clusterName } from './names.js';
import { labelsMatch, type MeshSnapshot } from './snapshot.js';

export const HTTP_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const NETWORK_RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const URI_TEMPLATE_TYPE = 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';
/** Where Istio's RBAC reads verified JWT payloads (jwt_authn's payload_in_metadata). */
export const JWT_FILTER = 'envoy.filters.http.jwt_authn';
export const JWT_PAYLOAD_KEY = 'payload';
const EXT_AUTHZ_PREFIX = 'istio-ext-authz';
export const HTTP_EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
export const NETWORK_EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz';
/** Istio's RBACExtAuthzShadowRulesStatPrefix: the CUSTOM shadow RBAC's stat and metadata prefix. */
export const EXT_AUTHZ_SHADOW_PREFIX = 'istio_ext_authz_';
// Whether pilot can send the network ext_authz filter (its proto is not among libs/xds's ENVOY_PROTO_FILES yet).
const NETWORK_EXT_AUTHZ_ENCODABLE = false;
// Istio leaves the authorizer's timeout at 600s unless the provider sets one.
const DEFAULT_EXT_AUTHZ_TIMEOUT = { seconds: 600, nanos: 0 };
const BAD_CUSTOM_SUFFIX = '-deny-due-to-bad-CUSTOM-action';

type Action = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
type RbacAction = 'ALLOW' | 'DENY' | 'LOG';
type Node = Record<string, unknown>;

interface Source {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
  trustDomains?: string[];
  notTrustDomains?: string[];
}
interface Operation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}
interface Rule {
  from?: { source?: Source }[];
  to?: { operation?: Operation }[];
  when?: { key: string; values?: string[]; notValues?: string[] }[];
}
interface TargetRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}
interface PolicySpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRef?: TargetRef;
  targetRefs?: TargetRef[];
  action?: Action;
  provider?: { name?: string };
  rules?: (Rule | null)[];
}

/** An AuthorizationPolicy as the builder reads it. */
interface Policy {
  readonly name: string;
  readonly namespace: string;
  readonly spec: PolicySpec;
  readonly dryRun: boolean;
}

// Policies are read from the snapshot's configs once per snapshot (the snapshot is immutable).
const POLICIES = new WeakMap<MeshSnapshot, readonly Policy[]>();

function policiesOf(snapshot: MeshSnapshot): readonly Policy[] {
  let l = POLICIES.get(snapshot);
  if (!l) {
    l = snapshot.configs.filter(isAuthorizationPolicy).map((r) => {
      const ann = (r.metadata as { annotations?: Record<string, string> }).annotations ?? {};
      return {
        name: r.metadata.name ?? '',
        namespace: r.metadata.namespace ?? 'default',
        spec: ((r.body as { spec?: unknown }).spec ?? {}) as PolicySpec,
        dryRun: /^(1|t|true)$/i.test(ann['istio.io/dry-run'] ?? ''),
      };
    });
    POLICIES.set(snapshot, l);
  }
  return l;
}

function isAuthorizationPolicy(r: MeshResource): boolean {
  return r.kind === 'AuthorizationPolicy' && r.apiVersion.split('/')[0] === 'security.istio.io';
}

const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

/** applies tells whether a policy selects this workload (Istio's ListAuthorizationPolicies for a sidecar). */
function applies(p: Policy, proxy: ProxyNode, rootNamespace: string): boolean {
  if (p.namespace !== rootNamespace && p.namespace !== proxy.namespace) return false;
  const refs = [...(p.spec.targetRef ? [p.spec.targetRef] : []), ...(p.spec.targetRefs ?? [])];
  if (refs.length > 0) {
    const gw = proxy.labels[GATEWAY_NAME_LABEL];
    return refs.some((r) => r.kind === 'Gateway' && (r.group ?? 'gateway.networking.k8s.io') === 'gateway.networking.k8s.io' && gw !== undefined && r.name === gw && p.namespace === proxy.namespace);
  }
  const sel = p.spec.selector?.matchLabels;
  return !sel || Object.keys(sel).length === 0 || labelsMatch(sel, proxy.labels);
}

function selected(proxy: ProxyNode, snapshot: MeshSnapshot): Record<Action, Policy[]> {
  const out: Record<Action, Policy[]> = { ALLOW: [], DENY: [], AUDIT: [], CUSTOM: [] };
  for (const p of policiesOf(snapshot)) {
    if (!applies(p, proxy, snapshot.meshConfig.rootNamespace)) continue;
    out[p.spec.action ?? 'ALLOW'].push(p);
  }
  return out;
}

/** inboundHttpRbacFilters returns the HTTP RBAC filters (CUSTOM, AUDIT, DENY, ALLOW order, as Istio) for one inbound HTTP port of `proxy`. */
export function inboundHttpRbacFilters(proxy: ProxyNode, snapshot: MeshSnapshot, _port: number): EnvoyResource[] {
  return rbacFilters(proxy, snapshot, false);
}

/** inboundNetworkRbacFilters returns the network RBAC filters for one inbound TCP port of `proxy`. */
export function inboundNetworkRbacFilters(proxy: ProxyNode, snapshot: MeshSnapshot, _port: number): EnvoyResource[] {
  return rbacFilters(proxy, snapshot, true);
}

function rbacFilters(proxy: ProxyNode, snapshot: MeshSnapshot, forTCP: boolean): EnvoyResource[] {
  const by = selected(proxy, snapshot);
  const td = snapshot.meshConfig.trustDomain;
  const out: EnvoyResource[] = [];
  // CUSTOM: one shadow RBAC + ext_authz pair per provider (sorted), or its "provider not found" deny (see the file comment).
  const providers = [...new Set(by.CUSTOM.map((p) => p.spec.provider?.name ?? ''))].sort();
  for (const provider of providers) {
    const prefix = `${EXT_AUTHZ_PREFIX}-${provider ? `${provider}-` : ''}`;
    const built = build(by.CUSTOM.filter((p) => (p.spec.provider?.name ?? '') === provider), 'DENY', forTCP, prefix, td);
    const ext = extAuthzFilter(snapshot, provider, forTCP);
    if (ext === undefined) {
      const policies: Record<string, Node> = {};
      for (const [k, v] of Object.entries(built.rules?.policies ?? {})) policies[k + BAD_CUSTOM_SUFFIX] = v;
      out.push(filter(forTCP, { rules: { action: 'DENY', policies } }));
      continue;
    }
    // An HTTP provider on a TCP port, or only dry-run policies: nothing to check.
    if (ext === null || !built.rules) continue;
    out.push(filter(forTCP, { shadowRules: built.rules, shadowRulesStatPrefix: EXT_AUTHZ_SHADOW_PREFIX }), ext);
  }
  for (const [action, rbacAction] of [['AUDIT', 'LOG'], ['DENY', 'DENY'], ['ALLOW', 'ALLOW']] as const) {
    if (by[action].length === 0) continue;
    const built = build(by[action], rbacAction, forTCP, '', td);
    const cfg: Node = {};
    if (built.rules) cfg.rules = built.rules;
    if (built.shadowRules) {
      cfg.shadowRules = built.shadowRules;
      const prefix = rbacAction === 'ALLOW' ? 'istio_dry_run_allow_' : rbacAction === 'DENY' ? 'istio_dry_run_deny_' : '';
      if (prefix) cfg.shadowRulesStatPrefix = prefix;
    }
    out.push(filter(forTCP, cfg));
  }
  return out;
}

function filter(forTCP: boolean, cfg: Node): EnvoyResource {
  return forTCP
    ? { name: 'envoy.filters.network.rbac', typedConfig: { '@type': NETWORK_RBAC_TYPE, ...cfg, statPrefix: 'tcp.' } }
    : { name: 'envoy.filters.http.rbac', typedConfig: { '@type': HTTP_RBAC_TYPE, ...cfg } };
}

/**
 * extAuthzFilter returns the ext_authz filter of a CUSTOM provider (Istio's extauthz.go), null
 * for an HTTP provider on a TCP port (ignored), or undefined when the provider cannot be used
 * (not defined, not an ext_authz kind, service not in the registry): the caller then denies.
 */
function extAuthzFilter(snapshot: MeshSnapshot, provider: string, forTCP: boolean): EnvoyResource | null | undefined {
  const p = snapshot.meshConfig.extensionProviders?.find((x) => x.name === provider);
  const cfg: EnvoyExtAuthzGrpcProvider | EnvoyExtAuthzHttpProvider | undefined = p?.envoyExtAuthzGrpc ?? p?.envoyExtAuthzHttp;
  if (!p || !cfg || !Number.isInteger(cfg.port) || cfg.port < 1 || cfg.port > 65535) return undefined;
  const hostname = providerHost(snapshot, cfg.service);
  if (!hostname) return undefined;
  const cluster = clusterName('outbound', cfg.port, '', hostname);
  const timeout = duration(cfg.timeout) ?? DEFAULT_EXT_AUTHZ_TIMEOUT;
  const status = cfg.statusOnError ? { statusOnError: { code: Number(cfg.statusOnError) } } : {};
  const failOpen = cfg.failOpen ? { failureModeAllow: true } : {};
  const body = cfg.includeRequestBodyInCheck ? { withRequestBody: requestBody(cfg.includeRequestBodyInCheck) } : {};
  const enabled = (filterName: string): Node => ({
    filter: filterName,
    path: [{ key: `${EXT_AUTHZ_SHADOW_PREFIX}shadow_effective_policy_id` }],
    value: { stringMatch: { prefix: `${EXT_AUTHZ_PREFIX}-${provider}` } },
  });
  if (p.envoyExtAuthzGrpc) {
    // `|` is not valid in a gRPC authority; Istio sends the cluster name with it replaced.
    const grpcService = { envoyGrpc: { clusterName: cluster, authority: cluster.replaceAll('|', '_.') }, timeout };
    if (forTCP) {
      if (!NETWORK_EXT_AUTHZ_ENCODABLE) return undefined;
      return { name: 'envoy.filters.network.ext_authz', typedConfig: { '@type': NETWORK_EXT_AUTHZ_TYPE, statPrefix: 'tcp.', grpcService, transportApiVersion: 'V3', ...failOpen, filterEnabledMetadata: enabled('envoy.filters.network.rbac') } };
    }
    const clear = p.envoyExtAuthzGrpc.clearRouteCache ? { clearRouteCache: true } : {};
    return { name: 'envoy.filters.http.ext_authz', typedConfig: { '@type': HTTP_EXT_AUTHZ_TYPE, grpcService, transportApiVersion: 'V3', ...failOpen, ...status, ...body, ...clear, filterEnabledMetadata: enabled('envoy.filters.http.rbac') } };
  }
  if (forTCP) return null;
  const h = p.envoyExtAuthzHttp as EnvoyExtAuthzHttpProvider;
  const allowed = headerList(h.includeRequestHeadersInCheck ?? h.includeHeadersInCheck);
  const extra = Object.entries(h.includeAdditionalHeadersInCheck ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const authorizationRequest: Node = { ...(allowed ? { allowedHeaders: allowed } : {}), ...(extra.length ? { headersToAdd: extra.map(([key, value]) => ({ key, value })) } : {}) };
  const up = headerList(h.headersToUpstreamOnAllow);
  const down = headerList(h.headersToDownstreamOnDeny);
  const downOk = headerList(h.headersToDownstreamOnAllow);
  const authorizationResponse: Node = { ...(up ? { allowedUpstreamHeaders: up } : {}), ...(down ? { allowedClientHeaders: down } : {}), ...(downOk ? { allowedClientHeadersOnSuccess: downOk } : {}) };
  const httpService: Node = {
    serverUri: { uri: `http://${hostname}`, cluster, timeout },
    ...(h.pathPrefix ? { pathPrefix: h.pathPrefix } : {}),
    ...(Object.keys(authorizationRequest).length ? { authorizationRequest } : {}),
    ...(Object.keys(authorizationResponse).length ? { authorizationResponse } : {}),
  };
  return { name: 'envoy.filters.http.ext_authz', typedConfig: { '@type': HTTP_EXT_AUTHZ_TYPE, httpService, transportApiVersion: 'V3', ...failOpen, ...status, ...body, filterEnabledMetadata: enabled('envoy.filters.http.rbac') } };
}

/** providerHost resolves a provider's `service` (`<hostname>` or `<namespace>/<hostname>`) to a registry hostname, as Istio's LookupCluster. */
function providerHost(snapshot: MeshSnapshot, service: string): string | undefined {
  const slash = service.indexOf('/');
  const ns = slash >= 0 ? service.slice(0, slash) : undefined;
  const host = slash >= 0 ? service.slice(slash + 1) : service;
  if (host === '' || host.includes('*')) return undefined;
  const svcs = snapshot.index.servicesByHost.get(host) ?? [];
  return svcs.some((s) => ns === undefined || s.namespace === ns) ? host : undefined;
}

function requestBody(b: ExtAuthzRequestBody): Node {
  return { ...(b.maxRequestBytes !== undefined ? { maxRequestBytes: b.maxRequestBytes } : {}), ...(b.allowPartialMessage ? { allowPartialMessage: true } : {}), ...(b.packAsBytes ? { packAsBytes: true } : {}) };
}

/** headerList turns header names (`x-a`, `x-*`, `*-id`) into a ListStringMatcher, names matched without case as Istio does. */
function headerList(names: readonly string[] | undefined): Node | undefined {
  if (!names || names.length === 0) return undefined;
  return {
    patterns: names.map((n) => (n.endsWith('*') && n.length > 1 ? { prefix: n.slice(0, -1), ignoreCase: true } : n.startsWith('*') && n.length > 1 ? { suffix: n.slice(1), ignoreCase: true } : { exact: n, ignoreCase: true })),
  };
}

interface RbacRules {
  action: RbacAction;
  policies: Record<string, Node>;
}

// A policy that never matches: what Istio emits for a policy without rules.
const MATCH_NEVER: Node = { permissions: [{ notRule: { any: true } }], principals: [{ notId: { any: true } }] };

function build(policies: readonly Policy[], action: RbacAction, forTCP: boolean, prefix: string, trustDomain: string): { rules?: RbacRules; shadowRules?: RbacRules } {
  const enforce: RbacRules = { action, policies: {} };
  const shadow: RbacRules = { action, policies: {} };
  let hasEnforce = false;
  let hasShadow = false;
  for (const p of policies) {
    // A dry-run CUSTOM policy lands in shadow rules, which the provider-not-found branch drops (as Istio).
    const target = p.dryRun ? shadow : enforce;
    if (target === shadow) hasShadow = true;
    else hasEnforce = true;
    const rules = p.spec.rules ?? [];
    rules.forEach((rule, i) => {
      if (!rule) return;
      const generated = generate(rule, p.namespace, forTCP, action, trustDomain);
      if (generated) target.policies[`${prefix}ns[${p.namespace}]-policy[${p.name}]-rule[${i}]`] = generated;
    });
    if (rules.length === 0) target.policies[`${prefix}ns[${p.namespace}]-policy[${p.name}]-rule[0]`] = MATCH_NEVER;
  }
  return { ...(hasEnforce ? { rules: enforce } : {}), ...(hasShadow ? { shadowRules: shadow } : {}) };
}

// ───────────────────────────── the model (one rule → one Envoy policy) ─────────────────────────────

/** Thrown by a generator for a value it cannot express (an HTTP-only attribute on TCP, a bad port). */
class Unsupported extends Error {}

type Kind = 'permission' | 'principal';

/** One attribute of a rule: its values and notValues, and how to turn them into Envoy matchers. */
interface Attr {
  readonly key: string;
  readonly values: readonly string[];
  readonly notValues: readonly string[];
  /** One matcher per value (ORed by the caller), or, for `extended` generators, one for the whole list. */
  readonly gen: (value: string, forTCP: boolean) => Node | undefined;
  readonly extended?: (values: readonly string[], forTCP: boolean) => Node | undefined;
}

function attr(key: string, values: readonly string[] | undefined, notValues: readonly string[] | undefined, gen: Attr['gen'], extended?: Attr['extended']): Attr | undefined {
  const v = values ?? [];
  const n = notValues ?? [];
  if (v.length === 0 && n.length === 0) return undefined;
  return { key, values: v, notValues: n, gen, ...(extended ? { extended } : {}) };
}

/** generate returns the Envoy policy of one rule, or undefined when Istio skips the rule (an error with ALLOW). */
function generate(rule: Rule, policyNamespace: string, forTCP: boolean, action: RbacAction, trustDomain: string): Node | undefined {
  const basePermission: Attr[] = [];
  const basePrincipal: Attr[] = [];
  const push = (l: Attr[], a: Attr | undefined): void => void (a && l.push(a));
  for (const w of rule.when ?? []) {
    const k = w.key;
    const g = whenGenerator(k, policyNamespace);
    if (!g) return undefined; // unknown attribute: Istio skips the rule (libs/api refuses it first)
    const [values, notValues] = k === 'source.principal' ? [migrateTrustDomain(w.values, trustDomain), migrateTrustDomain(w.notValues, trustDomain)] : [w.values, w.notValues];
    push(g.kind === 'permission' ? basePermission : basePrincipal, attr(k, values, notValues, g.gen, g.extended));
  }
  const principalLists: Attr[][] = [];
  for (const from of rule.from ?? []) {
    const s = from.source ?? {};
    // Istio inserts each at the front, so the final order is the reverse of this list.
    const front = [
      attr('source.ip', s.ipBlocks, s.notIpBlocks, srcIp),
      attr('remote.ip', s.remoteIpBlocks, s.notRemoteIpBlocks, remoteIp),
      attr('source.namespace', s.namespaces, s.notNamespaces, srcNamespace),
      attr('source.trustDomain', s.trustDomains, s.notTrustDomains, srcTrustDomain),
      attr('source.serviceAccount', s.serviceAccounts, s.notServiceAccounts, srcServiceAccount(policyNamespace)),
      attr('request.auth.principal', s.requestPrincipals, s.notRequestPrincipals, none, requestPrincipals),
      attr('source.principal', migrateTrustDomain(s.principals, trustDomain), migrateTrustDomain(s.notPrincipals, trustDomain), srcPrincipal),
    ].filter((a): a is Attr => a !== undefined);
    principalLists.push([...front.reverse(), ...basePrincipal]);
  }
  if (!rule.from || rule.from.length === 0) principalLists.push(basePrincipal);
  const permissionLists: Attr[][] = [];
  for (const to of rule.to ?? []) {
    const o = to.operation ?? {};
    const front = [
      attr('destination.port', o.ports, o.notPorts, destPort),
      attr('path-matcher', o.paths, o.notPaths, path),
      attr(':method', o.methods, o.notMethods, method),
      attr(':authority', o.hosts, o.notHosts, host),
    ].filter((a): a is Attr => a !== undefined);
    permissionLists.push([...front.reverse(), ...basePermission]);
  }
  if (!rule.to || rule.to.length === 0) permissionLists.push(basePermission);
  try {
    const permissions = permissionLists.map((l) => ({ andRules: { rules: andOf(l, 'permission', forTCP, action, { any: true }) } }));
    const principals = principalLists.map((l) => ({ andIds: { ids: andOf(l, 'principal', forTCP, action, { any: true }) } }));
    return { permissions, principals };
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

/**
 * migrateTrustDomain rewrites principals written for `cluster.local` (Istio's name for "this mesh")
 * to the mesh's trust domain, as Istio's MigrateTrustDomain does with a bundle of one trust domain
 * (no aliases in Meshwork's MeshConfig). Principals in another trust domain, or without one
 * (`*`, `*…`), are kept.
 */
function migrateTrustDomain(values: readonly string[] | undefined, trustDomain: string): readonly string[] | undefined {
  if (!values || trustDomain === 'cluster.local') return values;
  return values.map((v) => {
    if (v === '*' || v.startsWith('*')) return v;
    const ns = v.indexOf('/ns/');
    const td = ns >= 0 ? v.slice(0, ns) : '';
    return td === 'cluster.local' ? trustDomain + v.slice(ns) : v;
  });
}

/** andOf returns the ANDed matchers of a list of attributes (Istio's generatePermission / generatePrincipal). */
function andOf(list: readonly Attr[], kind: Kind, forTCP: boolean, action: RbacAction, any: Node): Node[] {
  const and: Node[] = [];
  const or = kind === 'permission' ? (l: Node[]): Node => ({ orRules: { rules: l } }) : (l: Node[]): Node => ({ orIds: { ids: l } });
  const not = kind === 'permission' ? (n: Node): Node => ({ notRule: n }) : (n: Node): Node => ({ notId: n });
  // Istio's checkError: with ALLOW an unsupported value drops the whole rule; otherwise only the value.
  const attempt = (f: () => Node | undefined): Node | undefined => {
    try {
      return f();
    } catch (err) {
      if (err instanceof Unsupported && action !== 'ALLOW') return undefined;
      throw err;
    }
  };
  for (const a of list) {
    if (a.extended) {
      const ext = a.extended;
      const v = a.values.length > 0 ? attempt(() => ext(a.values, forTCP)) : undefined;
      if (v) and.push(v);
      const n = a.notValues.length > 0 ? attempt(() => ext(a.notValues, forTCP)) : undefined;
      if (n) and.push(not(n));
      continue;
    }
    const vs = a.values.map((v) => attempt(() => a.gen(v, forTCP))).filter((x): x is Node => x !== undefined);
    if (vs.length > 0) and.push(or(vs));
    const ns = a.notValues.map((v) => attempt(() => a.gen(v, forTCP))).filter((x): x is Node => x !== undefined);
    if (ns.length > 0) and.push(not(or(ns)));
  }
  if (and.length === 0) and.push(any);
  return and;
}

interface Gen {
  readonly kind: Kind;
  readonly gen: Attr['gen'];
  readonly extended?: Attr['extended'];
}

/** The generator of a `when` key (Istio's model.New switch), undefined for an unknown key. */
function whenGenerator(k: string, policyNamespace: string): Gen | undefined {
  switch (k) {
    case 'destination.ip':
      return { kind: 'permission', gen: destIp };
    case 'destination.port':
      return { kind: 'permission', gen: destPort };
    case 'connection.sni':
      return { kind: 'permission', gen: (v) => ({ requestedServerName: stringMatcher(v) }) };
    case 'source.ip':
      return { kind: 'principal', gen: srcIp };
    case 'remote.ip':
      return { kind: 'principal', gen: remoteIp };
    case 'source.namespace':
      return { kind: 'principal', gen: srcNamespace };
    case 'source.serviceAccount':
      return { kind: 'principal', gen: srcServiceAccount(policyNamespace) };
    case 'source.trustDomain':
      return { kind: 'principal', gen: srcTrustDomain };
    case 'source.principal':
      return { kind: 'principal', gen: srcPrincipal };
    case 'request.auth.principal':
      return { kind: 'principal', gen: none, extended: requestPrincipals };
    case 'request.auth.audiences':
      return { kind: 'principal', gen: none, extended: jwtList(['aud']) };
    case 'request.auth.presenter':
      return { kind: 'principal', gen: none, extended: jwtList(['azp']) };
  }
  if (k.startsWith('experimental.envoy.filters.')) return { kind: 'permission', gen: none, extended: envoyFilter(k) };
  if (k.startsWith('request.headers')) {
    const name = /^\[([^[\]]+)\]$/.exec(k.slice('request.headers'.length))?.[1];
    if (!name) return undefined;
    return { kind: 'principal', gen: (v, forTCP) => httpOnly(forTCP, k, () => ({ header: headerMatcher(name, v) })) };
  }
  if (k.startsWith('request.auth.claims')) {
    const claims = nestedNames(k.slice('request.auth.claims'.length));
    if (!claims) return undefined;
    return { kind: 'principal', gen: none, extended: jwtList(claims) };
  }
  return undefined;
}

function httpOnly(forTCP: boolean, key: string, f: () => Node): Node {
  if (forTCP) throw new Unsupported(`"${key}" is HTTP only`);
  return f();
}

const none = (): Node | undefined => {
  throw new Error('unreachable: extended generator');
};

/** `[a][b]` → ['a', 'b']; `[a.b]` → ['a.b'] (Istio's extractNameInNestedBrackets). */
function nestedNames(s: string): string[] | undefined {
  const out: string[] = [];
  const re = /\[([^[\]]*)\]/y;
  let m: RegExpExecArray | null;
  let i = 0;
  re.lastIndex = 0;
  while ((m = re.exec(s)) !== null) {
    out.push(m[1]);
    i = re.lastIndex;
  }
  if (i === s.length && out.length > 0) return out;
  // Istio's fallback: the whole `[...]` as one name.
  return s.startsWith('[') && s.endsWith(']') && s.length > 2 ? [s.slice(1, -1)] : undefined;
}

// ───────────────────────────── generators (Istio's generator.go) ─────────────────────────────

function cidr(v: string): Node {
  const [addr, len] = v.split('/');
  const max = addr.includes(':') ? 128 : 32;
  const n = len === undefined ? max : Number(len);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Unsupported(`invalid CIDR ${v}`);
  return { addressPrefix: addr, prefixLen: { value: n } };
}

function destIp(v: string): Node {
  return { destinationIp: cidr(v) };
}

function destPort(v: string): Node {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new Unsupported(`invalid port ${v}`);
  return { destinationPort: Number(v) };
}

function srcIp(v: string): Node {
  return { directRemoteIp: cidr(v) };
}

function remoteIp(v: string): Node {
  return { remoteIp: cidr(v) };
}

function authenticated(m: Node): Node {
  return { authenticated: { principalName: m } };
}

function srcNamespace(v: string): Node {
  return authenticated({ safeRegex: { regex: `.*/ns/${v.replaceAll('*', '.*')}/.*` } });
}

function srcServiceAccount(policyNamespace: string): (v: string) => Node {
  return (v) => {
    const slash = v.indexOf('/');
    const [ns, sa] = slash >= 0 ? [v.slice(0, slash), v.slice(slash + 1)] : [policyNamespace, v];
    return authenticated({ safeRegex: { regex: `spiffe://.+/ns/${ns}/(.+/|)sa/${sa}(/.+)?` } });
  };
}

/** trustDomains: Meshwork's reading (the field is newer than the Istio builder studied): the SPIFFE ID's trust domain, `*` at either end as a wildcard. */
function srcTrustDomain(v: string): Node {
  const td = v
    .split('*')
    .map((s) => quoteMeta(s))
    .join('[^/]*');
  return authenticated({ safeRegex: { regex: `spiffe://${td}/.*` } });
}

function srcPrincipal(v: string): Node {
  return authenticated(stringMatcherWithPrefix(v, 'spiffe://'));
}

const MATCH_ANY: Node = { safeRegex: { regex: '.+' } };

function jwtClaim(path: readonly string[], value: Node): Node {
  return { metadata: { filter: JWT_FILTER, path: [JWT_PAYLOAD_KEY, ...path].map((key) => ({ key })), value } };
}

/** requestPrincipals `iss/sub` (wildcards at either end) → issuer AND subject claims (Istio's extended request principal generator). */
function requestPrincipals(values: readonly string[], forTCP: boolean): Node | undefined {
  if (forTCP) throw new Unsupported('"request.auth.principal" is HTTP only');
  const or: Node[] = [];
  for (const value of values) {
    const idx = value.lastIndexOf('/');
    const found = idx >= 0;
    const [iss, sub] = found ? [value.slice(0, idx), value.slice(idx + 1)] : [value, ''];
    let mi: Node;
    let ms: Node;
    if (value === '*') [mi, ms] = [MATCH_ANY, MATCH_ANY];
    else if (value.startsWith('*')) {
      if (found) [mi, ms] = [iss === '*' ? MATCH_ANY : { suffix: iss.slice(1) }, { exact: sub }];
      else [mi, ms] = [MATCH_ANY, { suffix: value.slice(1) }];
    } else if (value.endsWith('*')) {
      if (found) [mi, ms] = [{ exact: iss }, sub === '*' ? MATCH_ANY : { prefix: sub.slice(0, -1) }];
      else [mi, ms] = [{ prefix: value.slice(0, -1) }, MATCH_ANY];
    } else [mi, ms] = [{ exact: iss }, { exact: sub }];
    or.push({ andIds: { ids: [jwtClaim(['iss'], { stringMatch: mi }), jwtClaim(['sub'], { stringMatch: ms })] } });
  }
  if (or.length === 0) return undefined;
  return or.length === 1 ? or[0] : { orIds: { ids: or } };
}

/** A JWT claim that may be a string or a list of strings (Istio's MetadataListValueMatcher with extended JWT). */
function jwtList(path: readonly string[]): (values: readonly string[], forTCP: boolean) => Node {
  return (values, forTCP) => {
    if (forTCP) throw new Unsupported('request.auth.* is HTTP only');
    const anyOf = orValues(values.map((v) => ({ stringMatch: stringMatcher(v) })));
    return jwtClaim(path, { orMatch: { valueMatchers: [{ listMatch: { oneOf: anyOf } }, anyOf] } });
  };
}

/** `experimental.envoy.filters.a.b[c]` → metadata of filter `envoy.filters.a.b`, key `c`; a value `[v]` matches inside a list. */
function envoyFilter(key: string): (values: readonly string[]) => Node {
  return (values) => {
    const body = key.slice('experimental.'.length).replace(/\]$/, '');
    const open = body.indexOf('[');
    if (open < 0) throw new Unsupported(`invalid key: ${key}`);
    const matchers = values.map((v) => (v.startsWith('[') && v.endsWith(']') ? { listMatch: { oneOf: { stringMatch: stringMatcher(v.slice(1, -1)) } } } : { stringMatch: stringMatcher(v) }));
    return { metadata: { filter: body.slice(0, open), path: [{ key: body.slice(open + 1) }], value: orValues(matchers) } };
  };
}

/** Alternatives of a ValueMatcher: Envoy's OrMatcher needs at least two, so a single one stands alone. */
function orValues(matchers: Node[]): Node {
  return matchers.length === 1 ? matchers[0] : { orMatch: { valueMatchers: matchers } };
}

function host(v: string, forTCP: boolean): Node {
  return httpOnly(forTCP, ':authority', () => {
    if (v === '*') return { header: { name: ':authority', presentMatch: true } };
    if (v.startsWith('*')) return { header: { name: ':authority', stringMatch: { suffix: v.slice(1), ignoreCase: true } } };
    if (v.endsWith('*')) return { header: { name: ':authority', stringMatch: { prefix: v.slice(0, -1), ignoreCase: true } } };
    return { header: { name: ':authority', stringMatch: { exact: v, ignoreCase: true } } };
  });
}

function method(v: string, forTCP: boolean): Node {
  return httpOnly(forTCP, ':method', () => ({ header: headerMatcher(':method', v) }));
}

function path(v: string, forTCP: boolean): Node {
  return httpOnly(forTCP, 'path-matcher', () => {
    if (v.includes('{*}') || v.includes('{**}')) {
      // Envoy's URI template operators are bare `*` (one segment) and `**` (the rest).
      const pathTemplate = v.replaceAll('{**}', '**').replaceAll('{*}', '*');
      return { uriTemplate: { name: 'uri-template', typedConfig: { '@type': URI_TEMPLATE_TYPE, pathTemplate } } };
    }
    return { urlPath: { path: stringMatcher(v) } };
  });
}

/** Istio's HeaderMatcher: `*` presence, `*x` suffix, `x*` prefix, else exact. */
function headerMatcher(name: string, v: string): Node {
  if (v === '*') return { name, presentMatch: true };
  if (v.startsWith('*')) return { name, stringMatch: { suffix: v.slice(1) } };
  if (v.endsWith('*')) return { name, stringMatch: { prefix: v.slice(0, -1) } };
  return { name, stringMatch: { exact: v } };
}

function stringMatcher(v: string): Node {
  return stringMatcherWithPrefix(v, '');
}

/** Istio's StringMatcherWithPrefix: `*` any non-empty value, `*x` suffix, `x*` prefix, else exact, each behind `prefix`. */
function stringMatcherWithPrefix(v: string, prefix: string): Node {
  if (v === '*') return MATCH_ANY;
  if (v.startsWith('*')) return prefix === '' ? { suffix: v.slice(1) } : { safeRegex: { regex: `${prefix}.*${quoteMeta(v.slice(1))}` } };
  if (v.endsWith('*')) return { prefix: prefix + v.slice(0, -1) };
  return { exact: prefix + v };
}

/** Go's regexp.QuoteMeta. */
function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}
