/**
 * RequestAuthentication → the HTTP filter that authenticates end users on a workload's inbound
 * chains: Envoy's `envoy.filters.http.jwt_authn`, built as Istio's policy applier builds it
 * (pilot/pkg/security/authn: convertToEnvoyJwtConfig). Every RequestAuthentication that selects
 * the workload contributes its jwtRules; one provider per rule (`origins-<i>`, rules sorted by
 * issuer), and a requirement that lets a request without a token through but refuses one whose
 * token is present and invalid (`allow_missing`, not `allow_missing_or_failed`: Envoy itself
 * answers 401, so no istio_authn filter is needed to reject it).
 */
import type { ProxyNode } from '@meshwork/api';
import { duration, type EnvoyResource } from './envoy.js';
import { fingerprint, memoized } from './memo.js';
import { clusterName } from './names.js';
import { labelsMatch, type MeshSnapshot } from './snapshot.js';

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
export const JWT_AUTHN_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
/** Istio's `filters.EnvoyJwtFilterPayload`: the dynamic-metadata key a verified payload is written under. */
export const JWT_PAYLOAD_METADATA_KEY = 'payload';
/**
 * The inline JWKS used when a rule names neither `jwks` nor `jwksUri` (issuer only): Istio's
 * istiod would find the keys by OIDC discovery, which a pure translation cannot do; a key set
 * with no keys makes every token of that issuer fail, as Istio's fake JWKS does when istiod
 * cannot fetch the keys.
 */
export const EMPTY_JWKS = '{"keys":[]}';

interface JwtRule {
  readonly issuer?: string;
  readonly audiences?: readonly string[];
  readonly jwksUri?: string;
  readonly jwks_uri?: string;
  readonly jwks?: string;
  readonly fromHeaders?: readonly { readonly name: string; readonly prefix?: string }[];
  readonly fromParams?: readonly string[];
  readonly fromCookies?: readonly string[];
  readonly outputPayloadToHeader?: string;
  readonly forwardOriginalToken?: boolean;
  readonly outputClaimToHeaders?: readonly { readonly header: string; readonly claim: string }[];
  readonly timeout?: string;
  readonly spaceDelimitedClaims?: readonly string[];
}

interface TargetRef {
  readonly group?: string;
  readonly kind: string;
  readonly name: string;
}

interface RequestAuthenticationSpec {
  readonly selector?: { readonly matchLabels?: Readonly<Record<string, string>> };
  readonly targetRef?: TargetRef;
  readonly targetRefs?: readonly TargetRef[];
  readonly jwtRules?: readonly JwtRule[];
}

interface IndexedRequestAuthentication {
  readonly name: string;
  readonly namespace: string;
  readonly spec: RequestAuthenticationSpec;
}

/** The Kubernetes Gateway API label a deployed gateway's pods carry (Istio matches targetRefs of kind Gateway with it). */
const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

// The snapshot is immutable: its RequestAuthentications are listed once, not per port of every proxy.
const bySnapshot = new WeakMap<MeshSnapshot, readonly IndexedRequestAuthentication[]>();

function requestAuthentications(snapshot: MeshSnapshot): readonly IndexedRequestAuthentication[] {
  let list = bySnapshot.get(snapshot);
  if (!list) {
    list = snapshot.configs
      .filter((r) => r.kind === 'RequestAuthentication' && r.apiVersion.split('/')[0] === 'security.istio.io')
      .map((r) => ({ name: r.metadata.name ?? '', namespace: r.metadata.namespace ?? 'default', spec: ((r.body as { spec?: unknown }).spec ?? {}) as RequestAuthenticationSpec }));
    bySnapshot.set(snapshot, list);
  }
  return list;
}

/**
 * requestAuthenticationsFor returns the RequestAuthentications that apply to `proxy`, the
 * workload's namespace first, then the root namespace (Istio's getConfigsForWorkload): a policy
 * without selector applies to every workload of its namespace (the whole mesh from the root
 * namespace), a selector to the workloads whose labels it matches, a targetRef of kind Gateway
 * to that gateway's pods in the policy's namespace. Other targetRefs (Service, ServiceEntry,
 * GatewayClass) attach to waypoints in Istio, never to a sidecar.
 */
export function requestAuthenticationsFor(proxy: ProxyNode, snapshot: MeshSnapshot): IndexedRequestAuthentication[] {
  const root = snapshot.meshConfig.rootNamespace;
  const all = requestAuthentications(snapshot);
  const namespaces = proxy.namespace === root ? [root] : [proxy.namespace, root];
  const out: IndexedRequestAuthentication[] = [];
  for (const ns of namespaces) {
    for (const ra of all) {
      if (ra.namespace === ns && attaches(ra, proxy)) out.push(ra);
    }
  }
  return out;
}

function attaches(ra: IndexedRequestAuthentication, proxy: ProxyNode): boolean {
  const refs = ra.spec.targetRefs?.length ? ra.spec.targetRefs : ra.spec.targetRef ? [ra.spec.targetRef] : [];
  if (refs.length > 0) {
    return (
      ra.namespace === proxy.namespace &&
      refs.some((r) => r.kind === 'Gateway' && (r.group ?? '') === 'gateway.networking.k8s.io' && proxy.labels[GATEWAY_NAME_LABEL] === r.name)
    );
  }
  const sel = ra.spec.selector?.matchLabels;
  return !sel || Object.keys(sel).length === 0 || labelsMatch(sel, proxy.labels);
}

/** inboundAuthnFilters returns the authentication HTTP filters for one inbound port of `proxy`: jwt_authn when a RequestAuthentication with JWT rules applies, else none. */
export function inboundAuthnFilters(proxy: ProxyNode, snapshot: MeshSnapshot, _port: number): EnvoyResource[] {
  const policies = requestAuthenticationsFor(proxy, snapshot);
  if (policies.length === 0) return [];
  // Every port gets the same filter (RequestAuthentication has no port-level settings).
  return memoized(snapshot, ['authn', ...policies.map((p) => fingerprint(snapshot, p.spec))], () => {
    const rules = policies.flatMap((p) => p.spec.jwtRules ?? []);
    const config = jwtAuthentication(rules);
    return config ? [{ name: JWT_AUTHN_FILTER, typedConfig: config }] : [];
  }) as EnvoyResource[];
}

/** jwtAuthentication returns the JwtAuthentication config enforcing `rules`, or undefined when there are none. */
export function jwtAuthentication(rules: readonly JwtRule[]): EnvoyResource | undefined {
  if (rules.length === 0) return undefined;
  // Istio sorts by issuer (stable) so the output does not depend on policy order within an issuer.
  const sorted = rules.map((r, i) => ({ r, i })).sort((a, b) => cmp(a.r.issuer ?? '', b.r.issuer ?? '') || a.i - b.i).map((x) => x.r);
  const providers: Record<string, EnvoyResource> = {};
  // Per provider: {provider OR allow_missing}, ANDed over providers; plus each provider alone,
  // ORed with that AND, for providers that share one token location (Istio's comment).
  const inner: EnvoyResource[] = [];
  const outer: EnvoyResource[] = [];
  sorted.forEach((rule, i) => {
    const name = `origins-${i}`;
    providers[name] = provider(rule);
    inner.push({ requiresAny: { requirements: [{ providerName: name }, { allowMissing: {} }] } });
    outer.push({ providerName: name });
  });
  const requires = inner.length === 1 ? inner[0] : { requiresAny: { requirements: [...outer, { requiresAll: { requirements: inner } }] } };
  return { '@type': JWT_AUTHN_TYPE, providers, rules: [{ match: { prefix: '/' }, requires }], bypassCorsPreflight: true };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** provider returns the JwtProvider of one JWTRule (Istio's field-by-field mapping). */
function provider(rule: JwtRule): EnvoyResource {
  const p: EnvoyResource = {};
  if (rule.issuer) p.issuer = rule.issuer;
  if (rule.audiences?.length) p.audiences = [...rule.audiences];
  if (rule.forwardOriginalToken) p.forward = true;
  if (rule.outputPayloadToHeader) p.forwardPayloadHeader = rule.outputPayloadToHeader;
  p.payloadInMetadata = JWT_PAYLOAD_METADATA_KEY;
  p.normalizePayloadInMetadata = { spaceDelimitedClaims: spaceDelimitedClaims(rule.spaceDelimitedClaims) };
  if (rule.outputClaimToHeaders?.length) p.claimToHeaders = rule.outputClaimToHeaders.map((c) => ({ headerName: c.header, claimName: c.claim }));
  if (rule.fromHeaders?.length) p.fromHeaders = rule.fromHeaders.map((h) => ({ name: h.name, ...(h.prefix ? { valuePrefix: h.prefix } : {}) }));
  if (rule.fromParams?.length) p.fromParams = [...rule.fromParams];
  if (rule.fromCookies?.length) p.fromCookies = [...rule.fromCookies];
  const timeout = duration(rule.timeout) ?? { seconds: 5, nanos: 0 };
  const uri = rule.jwksUri ?? rule.jwks_uri;
  if (rule.jwks) {
    p.localJwks = { inlineString: rule.jwks };
  } else if (uri) {
    // Istio's "envoy" JWKS fetch mode: the proxy fetches the keys itself through the outbound
    // cluster of the URI's host and port (istiod's default mode fetches them in istiod, I/O a
    // pure translation cannot do).
    p.remoteJwks = { httpUri: { uri, cluster: jwksCluster(uri), timeout }, cacheDuration: { seconds: 300, nanos: 0 } };
  } else {
    p.localJwks = { inlineString: EMPTY_JWKS };
  }
  return p;
}

/** Istio's buildSpaceDelimitedClaims: the rule's claims plus `permission` and `scope`, deduplicated and sorted. */
function spaceDelimitedClaims(extra: readonly string[] | undefined): string[] {
  return [...new Set([...(extra ?? []), 'permission', 'scope'])].sort(cmp);
}

/** The outbound cluster name of a JWKS URI's host and port (`outbound|443||example.com`), as Istio's BuildSubsetKey. */
function jwksCluster(uri: string): string {
  // libs/api has checked the URI (absolute http/https); a bad one still must not throw here.
  let u: URL | undefined;
  try {
    u = new URL(uri);
  } catch {
    u = undefined;
  }
  const port = u?.port ? Number(u.port) : u?.protocol === 'http:' ? 80 : 443;
  return clusterName('outbound', port, '', u?.hostname ?? uri);
}
