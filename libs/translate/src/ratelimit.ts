/**
 * RateLimit (meshwork.io/v1alpha1) → the rate-limit HTTP filters of a workload's inbound HTTP
 * chains. Istio has no API for this: its users write an EnvoyFilter that inserts Envoy's
 * `envoy.filters.http.local_ratelimit` or `envoy.filters.http.ratelimit` (plus route-level
 * `rate_limits` actions and the reference rate-limit service's ConfigMap). This file emits the
 * same pieces from one resource.
 *
 * Shape of the output. Each RateLimit that selects the workload becomes one HTTP filter, placed
 * after authentication and RBAC and before the router (where Istio's EnvoyFilter examples insert
 * it), carried as an `xds.type.v3.TypedStruct` (the way Istio ships its own `istio.stats` filter
 * config) whose `value` holds:
 * - the fields of Envoy's own filter config, with Envoy's names: `domain`, `timeout`,
 *   `failureModeDeny`, `rateLimitService`, `enableXRatelimitHeaders`, `rateLimitedStatus`,
 *   `statusOnError`, `responseHeadersToAdd` (GLOBAL, envoy.extensions.filters.http.ratelimit.v3.RateLimit)
 *   or `statPrefix`, `status`, `enableXRatelimitHeaders`, `responseHeadersToAdd` (LOCAL,
 *   …local_ratelimit.v3.LocalRateLimit);
 * - `rateLimits`: Envoy route `RateLimit` entries (`actions`), which Envoy would read from the
 *   virtual host; they travel with the filter here because Meshwork's engine runs these filters
 *   before routing (the filter-level `rate_limits` Envoy added later to RateLimitPerRoute). For
 *   LOCAL each entry also has its `tokenBucket`.
 *
 * Descriptors. Every entry starts with the entry `rule` = `<namespace>/<name>/<rule>`, which names
 * the limit in mixer's rate-limit service (it reads the same RateLimit resources). A rule with
 * `match` gets one entry per match item, the `rule` entry then coming from a `header_value_match`
 * action on `:path`, `:method` and the headers (Envoy skips the whole descriptor when it does
 * not match); without `match` a `generic_key`. The rule's descriptors follow in order:
 * `sourcePrincipal` → `metadata` action on Istio's `istio_authn` `source.principal`,
 * `requestHeader` → `request_headers`, `path` → `request_headers` on `:path` (key `path`; the
 * query string is cut off where it is counted), `remoteAddress` → `remote_address` or
 * `masked_remote_address`, `genericKey` → `generic_key`.
 */
import type { MeshResource, ProxyNode, RateLimitSpec } from '@meshwork/api';
import { DEFAULT_RATE_LIMIT_TIMEOUT, parseDuration, RATE_LIMIT_UNIT_SECONDS } from '@meshwork/api';
import type { EnvoyResource } from './envoy.js';
import { labelsMatch, type MeshSnapshot } from './snapshot.js';

/** Type URL of the TypedStruct wrapper. */
export const TYPED_STRUCT_TYPE = 'type.googleapis.com/xds.type.v3.TypedStruct';
/** TypedStruct `type_url` of a GLOBAL RateLimit's filter config (Envoy's RateLimit fields + rateLimits). */
export const GLOBAL_RATELIMIT_CONFIG_TYPE = 'type.googleapis.com/meshwork.filters.http.ratelimit.v1alpha1.RateLimit';
/** TypedStruct `type_url` of a LOCAL RateLimit's filter config (Envoy's LocalRateLimit fields + rateLimits with token buckets). */
export const LOCAL_RATELIMIT_CONFIG_TYPE = 'type.googleapis.com/meshwork.filters.http.ratelimit.v1alpha1.LocalRateLimit';
/** The rate-limit service domain of every GLOBAL RateLimit (the rule entry tells them apart). */
export const RATELIMIT_DOMAIN = 'meshwork';
/** Key of the first descriptor entry: which rule (`<ns>/<name>/<rule>`) is counted. */
export const RULE_DESCRIPTOR_KEY = 'rule';
/** Port of mixer's RateLimitService. */
export const RATELIMIT_SERVICE_PORT = 8081;

type Rule = RateLimitSpec['rules'][number];
type Descriptor = NonNullable<Rule['descriptors']>[number];
type Match = NonNullable<Rule['match']>[number];
type Node = Record<string, unknown>;

/** ruleId returns the descriptor value naming one rule of one RateLimit in mixer's service. */
export function ruleId(namespace: string, name: string, rule: string): string {
  return `${namespace}/${name}/${rule}`;
}

/** rateLimitServiceCluster returns the Istio-style cluster name of mixer's rate-limit port (what the filter's grpc_service names). */
export function rateLimitServiceCluster(rootNamespace: string, domainSuffix: string): string {
  return `outbound|${RATELIMIT_SERVICE_PORT}||mixer.${rootNamespace}.svc.${domainSuffix}`;
}

interface IndexedRateLimit {
  readonly name: string;
  readonly namespace: string;
  readonly spec: RateLimitSpec;
}

const CACHE = new WeakMap<MeshSnapshot, readonly IndexedRateLimit[]>();

/** rateLimitsOf returns the snapshot's RateLimit resources sorted by namespace and name. */
function rateLimitsOf(snapshot: MeshSnapshot): readonly IndexedRateLimit[] {
  let l = CACHE.get(snapshot);
  if (!l) {
    l = snapshot.configs
      .filter(isRateLimit)
      .map((r) => ({ name: r.metadata.name ?? '', namespace: r.metadata.namespace ?? 'default', spec: ((r.body as { spec?: unknown }).spec ?? {}) as RateLimitSpec }))
      .sort((a, b) => (a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace)));
    CACHE.set(snapshot, l);
  }
  return l;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** isRateLimit tells whether a resource is a meshwork.io RateLimit. */
export function isRateLimit(r: MeshResource): boolean {
  return r.kind === 'RateLimit' && r.apiVersion.split('/')[0] === 'meshwork.io';
}

const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

/**
 * selects tells whether a RateLimit applies to the proxy: the root namespace's and the proxy
 * namespace's, with no selector or a matching `selector.matchLabels` (as AuthorizationPolicy);
 * a `targetRef(s)` to the proxy's Gateway (label gateway.networking.k8s.io/gateway-name) or to a
 * Service of its namespace whose selector picks the workload.
 */
function selects(rl: IndexedRateLimit, proxy: ProxyNode, snapshot: MeshSnapshot): boolean {
  if (rl.namespace !== snapshot.meshConfig.rootNamespace && rl.namespace !== proxy.namespace) return false;
  const refs = [...(rl.spec.targetRef ? [rl.spec.targetRef] : []), ...(rl.spec.targetRefs ?? [])];
  if (refs.length > 0) {
    if (rl.namespace !== proxy.namespace) return false;
    return refs.some((r) => {
      const group = r.group ?? '';
      if (r.kind === 'Gateway' && (group === '' || group === 'gateway.networking.k8s.io')) return proxy.labels[GATEWAY_NAME_LABEL] === r.name;
      if (r.kind === 'Service' && (group === '' || group === 'core')) {
        return snapshot.services.some((s) => s.name === r.name && s.namespace === proxy.namespace && !!s.selector && Object.keys(s.selector).length > 0 && labelsMatch(s.selector, proxy.labels));
      }
      return false;
    });
  }
  const sel = rl.spec.selector?.matchLabels;
  return !sel || Object.keys(sel).length === 0 || labelsMatch(sel, proxy.labels);
}

/**
 * inboundRateLimitFilters returns the rate-limit HTTP filters for one inbound HTTP port of
 * `proxy`: one per RateLimit that selects it, sorted by namespace and name; none when no
 * RateLimit does (so a workload without limits never calls the rate-limit service).
 */
export function inboundRateLimitFilters(proxy: ProxyNode, snapshot: MeshSnapshot, _port: number): EnvoyResource[] {
  const out: EnvoyResource[] = [];
  for (const rl of rateLimitsOf(snapshot)) {
    if (!selects(rl, proxy, snapshot)) continue;
    out.push((rl.spec.mode ?? 'LOCAL') === 'GLOBAL' ? globalFilter(rl, snapshot) : localFilter(rl));
  }
  return out;
}

function typedStruct(typeUrl: string, value: Node): Node {
  return { '@type': TYPED_STRUCT_TYPE, typeUrl, value };
}

function responseFields(spec: RateLimitSpec): Node {
  const headers = Object.entries(spec.response?.headers ?? {}).sort(([a], [b]) => cmp(a, b));
  return {
    enableXRatelimitHeaders: spec.response?.rateLimitHeaders ?? 'OFF',
    ...(headers.length > 0 ? { responseHeadersToAdd: headers.map(([key, value]) => ({ header: { key, value }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' })) } : {}),
  };
}

function durationJson(ms: number): Node {
  return { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) };
}

function globalFilter(rl: IndexedRateLimit, snapshot: MeshSnapshot): EnvoyResource {
  const spec = rl.spec;
  const parsed = parseDuration(spec.timeout ?? DEFAULT_RATE_LIMIT_TIMEOUT);
  const timeoutMs = parsed.ok ? Math.round(parsed.ns / 1e6) : 20;
  const status = spec.response?.statusCode ?? 429;
  const value: Node = {
    domain: RATELIMIT_DOMAIN,
    statPrefix: `ratelimit.${rl.namespace}.${rl.name}`,
    timeout: durationJson(timeoutMs),
    failureModeDeny: (spec.failureMode ?? 'ALLOW') === 'DENY',
    rateLimitService: { grpcService: { envoyGrpc: { clusterName: rateLimitServiceCluster(snapshot.meshConfig.rootNamespace, snapshot.meshConfig.domainSuffix) } }, transportApiVersion: 'V3' },
    rateLimitedStatus: { code: status },
    // The resource's docs promise the configured status when mixer fails and failureMode is DENY.
    statusOnError: { code: status },
    ...responseFields(spec),
    rateLimits: spec.rules.flatMap((r) => ruleEntries(rl, r)),
  };
  return { name: `meshwork.ratelimit.${rl.namespace}.${rl.name}`, typedConfig: typedStruct(GLOBAL_RATELIMIT_CONFIG_TYPE, value) };
}

function localFilter(rl: IndexedRateLimit): EnvoyResource {
  const spec = rl.spec;
  const value: Node = {
    statPrefix: `ratelimit.${rl.namespace}.${rl.name}`,
    status: { code: spec.response?.statusCode ?? 429 },
    ...responseFields(spec),
    rateLimits: spec.rules.flatMap((r) => {
      const unitMs = RATE_LIMIT_UNIT_SECONDS[r.limit.unit] * 1000;
      // Envoy local_ratelimit: the bucket holds max_tokens and gains tokens_per_fill every fill_interval.
      const tokenBucket = { maxTokens: r.limit.burst ?? r.limit.requestsPerUnit, tokensPerFill: { value: r.limit.requestsPerUnit }, fillInterval: durationJson(unitMs) };
      return ruleEntries(rl, r).map((e) => ({ ...e, tokenBucket }));
    }),
  };
  return { name: `meshwork.local_ratelimit.${rl.namespace}.${rl.name}`, typedConfig: typedStruct(LOCAL_RATELIMIT_CONFIG_TYPE, value) };
}

/** ruleEntries returns the Envoy `rate_limits` entries of one rule: one per match item (or one without match). */
function ruleEntries(rl: IndexedRateLimit, r: Rule): Node[] {
  const id = ruleId(rl.namespace, rl.name, r.name);
  const rest = (r.descriptors ?? []).map(descriptorAction);
  const matches = r.match ?? [];
  if (matches.length === 0) return [{ actions: [{ genericKey: { descriptorKey: RULE_DESCRIPTOR_KEY, descriptorValue: id } }, ...rest] }];
  return matches.map((m) => ({ actions: [{ headerValueMatch: { descriptorKey: RULE_DESCRIPTOR_KEY, descriptorValue: id, expectMatch: true, headers: matchHeaders(m) } }, ...rest] }));
}

function descriptorAction(d: Descriptor): Node {
  if (d.sourcePrincipal) return { metadata: { descriptorKey: 'source_principal', metadataKey: { key: 'istio_authn', path: [{ key: 'source.principal' }] }, source: 'DYNAMIC' } };
  if (d.requestHeader) return { requestHeaders: { headerName: d.requestHeader.name.toLowerCase(), descriptorKey: d.requestHeader.name.toLowerCase() } };
  if (d.path) return { requestHeaders: { headerName: ':path', descriptorKey: 'path' } };
  if (d.remoteAddress) {
    const v4 = d.remoteAddress.v4PrefixLength ?? 32;
    const v6 = d.remoteAddress.v6PrefixLength ?? 128;
    if (v4 === 32 && v6 === 128) return { remoteAddress: {} };
    return { maskedRemoteAddress: { v4PrefixMaskLen: { value: v4 }, v6PrefixMaskLen: { value: v6 } } };
  }
  return { genericKey: { descriptorValue: d.genericKey?.value ?? '' } };
}

// RE2 metacharacters to escape in literal path and method text.
function quote(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** pathRegex returns one RE2 over `:path` for AuthorizationPolicy-style patterns (exact, `prefix*`, `*suffix`, `*`), any query string allowed. */
export function pathRegex(paths: readonly string[]): string {
  const alts = paths.map((p) => (p === '*' ? '[^?]*' : p.endsWith('*') ? `${quote(p.slice(0, -1))}[^?]*` : p.startsWith('*') ? `[^?]*${quote(p.slice(1))}` : quote(p)));
  return `(?:${alts.join('|')})(?:\\?.*)?`;
}

function matchHeaders(m: Match): Node[] {
  const out: Node[] = [];
  if (m.paths && m.paths.length > 0) out.push({ name: ':path', stringMatch: { safeRegex: { regex: pathRegex(m.paths) } } });
  if (m.methods && m.methods.length > 0) {
    out.push(m.methods.length === 1 ? { name: ':method', stringMatch: { exact: m.methods[0] } } : { name: ':method', stringMatch: { safeRegex: { regex: m.methods.map(quote).join('|') } } });
  }
  for (const [name, sm] of Object.entries(m.headers ?? {}).sort(([a], [b]) => cmp(a, b))) {
    const n = name.toLowerCase();
    if (sm.exact !== undefined) out.push({ name: n, stringMatch: { exact: sm.exact } });
    else if (sm.prefix !== undefined) out.push({ name: n, stringMatch: { prefix: sm.prefix } });
    else if (sm.regex !== undefined) out.push({ name: n, stringMatch: { safeRegex: { regex: sm.regex } } });
    else out.push({ name: n, presentMatch: true });
  }
  return out;
}
