/**
 * security.istio.io: PeerAuthentication, RequestAuthentication, AuthorizationPolicy
 * (versions v1 and v1beta1).
 *
 * The rules are those of Istio's admission webhook (pilot's ValidateAuthorizationPolicy,
 * ValidateRequestAuthentication, ValidatePeerAuthentication and pkg/config/security) together
 * with the OpenAPI/CEL rules of Istio's CRDs: a resource that either of them rejects is
 * rejected here, and nothing else is. Messages are our own, pointed at the offending field.
 */
import * as z from 'zod';
import type { KindDef } from './kind.js';
import { anyJson, checkedString, crossCheck, duration, isSet, obj } from './dsl.js';
import { POLICY_TARGET_FIELDS, WorkloadSelector, oneTargetKind } from './common.js';
import { nonEmptyString, withCel } from './dsl.js';
import { istioMetadataRules } from './meta.js';
import { checkIpOrCidr } from '../fields/net.js';

/** A list-valued field counts as set only when it has items (protobuf cannot tell `[]` from absent). */
function filled(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0;
}

/** Like filled, but a value of the wrong type counts as set: its own error says what is wrong. */
function present(v: unknown): boolean {
  return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
}

// ---------------------------------------------------------------------------
// Value checks of AuthorizationPolicy (pkg/config/security in Istio).
// ---------------------------------------------------------------------------

const EMPTY = 'empty value not allowed';

/** A list of strings whose items must not be empty; `check` adds a per-item rule. */
function values(check?: (s: string) => string | undefined): z.ZodArray<z.ZodString> {
  return z.array(checkedString((s) => (s === '' ? EMPTY : check?.(s))));
}

/** checkServiceAccount returns why `v` is not `name` or `namespace/name` without wildcards. */
export function checkServiceAccount(v: string): string | undefined {
  if (v === '') return EMPTY;
  if (v.includes('*')) return `wildcard not allowed in service account "${v}"`;
  const slashes = v.split('/').length - 1;
  if (slashes > 1) return `expected format 'serviceAccount' or 'namespace/serviceAccount', found "${v}"`;
  if (v.length > 320) return `service account "${v.slice(0, 40)}..." must be no more than 320 characters`;
  if (slashes === 0) return undefined;
  const [ns, sa] = v.split('/');
  if (ns === '') return `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace in "${v}"`;
  if (sa === '') return `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount in "${v}"`;
  return undefined;
}

/** checkWildcardValue returns why `v` is not exact, `prefix*`, `*suffix` or `*` (Istio's CheckWildcardValues). */
export function checkWildcardValue(v: string): string | undefined {
  if (v === '') return EMPTY;
  const stars = v.split('*').length - 1;
  if (stars > 1) return `at most one wildcard is allowed, found "${v}"`;
  if (stars === 1 && v !== '*' && !v.startsWith('*') && !v.endsWith('*')) return `wildcard is only allowed at the start or end, found "${v}"`;
  return undefined;
}

function checkTrustDomain(v: string): string | undefined {
  return checkWildcardValue(v) ?? (v.includes('/') ? `trust domain must not contain '/', found "${v}"` : undefined);
}

/** checkPortString returns why `v` is not a port as AuthorizationPolicy writes them (a decimal string, 0..65535). */
export function checkPortString(v: string): string | undefined {
  if (v === '') return EMPTY;
  // Istio parses with ParseUint and only bounds it by 65535, so "0" passes its webhook.
  if (!/^\d+$/.test(v) || Number(v) > 65535) return `bad port "${v}": must be a number in the range 0..65535`;
  return undefined;
}

// RFC 3986 pchar, the literal segments allowed around `{*}` / `{**}` (Envoy's URI template).
const PATH_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;

/**
 * checkPathTemplate returns why a path is not accepted by Istio's CheckValidPathTemplate:
 * `{*}` and `{**}` must be whole segments, nothing may follow `{**}` as an operator, braces
 * may appear only as these operators, and with a template every other segment must be a
 * plain RFC 3986 literal (so no `*` globs next to templates).
 */
export function checkPathTemplate(path: string): string | undefined {
  if (path === '') return EMPTY;
  const templated = path.includes('{*}') || path.includes('{**}');
  let sawAny = false;
  for (const glob of path.replace(/^\/+|\/+$/g, '').split('/')) {
    if ((glob === '{*}' || glob === '{**}') && sawAny) return `invalid path template "${path}": {**} must be the last operator`;
    if (glob === '{*}') continue;
    if (glob === '{**}') {
      sawAny = true;
      continue;
    }
    if (/[{}]/.test(glob)) return `invalid path "${path}": "{" and "}" are only allowed in the operators {*} and {**}, each a whole path segment`;
    if (templated && !PATH_LITERAL.test(glob)) return `invalid path template "${path}": segment "${glob}" is not a valid literal`;
  }
  return undefined;
}

/** The `when` keys pilot understands, with the extra check each applies to its values. */
type ValueCheck = ((v: string) => string | undefined) | undefined;

function checkMapKey(key: string): string | undefined {
  const open = key.indexOf('[');
  if (key.endsWith(']') && open > 0 && open < key.length - 2) return undefined;
  return `bad key "${key}": must have the form name[key], e.g. request.headers[x-token]`;
}

const PLAIN_KEYS: Readonly<Record<string, ValueCheck>> = {
  'source.ip': checkIpOrCidr,
  'remote.ip': checkIpOrCidr,
  'source.namespace': undefined,
  'source.serviceAccount': checkServiceAccount,
  'source.principal': undefined,
  'source.trustDomain': checkWildcardValue,
  'request.auth.principal': undefined,
  'request.auth.audiences': undefined,
  'request.auth.presenter': undefined,
  'destination.ip': checkIpOrCidr,
  'destination.port': checkPortString,
  'connection.sni': undefined,
};

/**
 * conditionKey classifies a `when` key the way pilot's ValidateAttribute does: the value check
 * to apply, or why the key is refused.
 */
export function conditionKey(key: string): { ok: true; check: ValueCheck } | { ok: false; reason: string } {
  // Same order as Istio: prefix matches are prefix matches, so `request.headers…` wins first.
  if (key.startsWith('request.headers')) return mapKeyResult(key);
  if (Object.hasOwn(PLAIN_KEYS, key)) return { ok: true, check: PLAIN_KEYS[key] };
  if (key.startsWith('request.auth.claims')) return mapKeyResult(key);
  if (key.startsWith('experimental.envoy.filters.')) return mapKeyResult(key);
  if (key === 'destination.namespace') return { ok: false, reason: 'attribute destination.namespace is replaced by metadata.namespace' };
  if (key.startsWith('destination.labels')) return { ok: false, reason: `attribute ${key} is replaced by the workload selector` };
  if (key === 'destination.name' || key === 'destination.user') return { ok: false, reason: `deprecated attribute ${key}: only supported in v1alpha1` };
  return {
    ok: false,
    reason: `unknown attribute "${key}"; supported: request.headers[...], source.ip, remote.ip, source.namespace, source.serviceAccount, source.principal, source.trustDomain, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[...], destination.ip, destination.port, connection.sni, experimental.envoy.filters.*[...]`,
  };
}

function mapKeyResult(key: string): { ok: true; check: ValueCheck } | { ok: false; reason: string } {
  const reason = checkMapKey(key);
  return reason ? { ok: false, reason } : { ok: true, check: undefined };
}

// ---------------------------------------------------------------------------
// AuthorizationPolicy
// ---------------------------------------------------------------------------

const SOURCE_FIELDS = [
  'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces',
  'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks', 'serviceAccounts', 'notServiceAccounts',
  'trustDomains', 'notTrustDomains',
] as const;

/** istio.security.v1beta1.Source: who sends the request. Fields are ANDed. */
export const AuthorizationSource = withCel(
  crossCheck(
    obj({
      principals: values().optional(),
      notPrincipals: values().optional(),
      requestPrincipals: values().optional(),
      notRequestPrincipals: values().optional(),
      namespaces: values().optional(),
      notNamespaces: values().optional(),
      ipBlocks: values(checkIpOrCidr).optional(),
      notIpBlocks: values(checkIpOrCidr).optional(),
      remoteIpBlocks: values(checkIpOrCidr).optional(),
      notRemoteIpBlocks: values(checkIpOrCidr).optional(),
      serviceAccounts: z.array(checkedString(checkServiceAccount)).max(16).optional(),
      notServiceAccounts: z.array(checkedString(checkServiceAccount)).max(16).optional(),
      trustDomains: values(checkTrustDomain).optional(),
      notTrustDomains: values(checkTrustDomain).optional(),
    }),
    (s, ctx) => {
      if (!SOURCE_FIELDS.some((f) => present(s[f]))) {
        ctx.addIssue({ code: 'custom', message: 'source must not be empty: at least one field must be set', input: s });
      }
      const sa = filled(s.serviceAccounts) ? 'serviceAccounts' : filled(s.notServiceAccounts) ? 'notServiceAccounts' : undefined;
      if (sa && (filled(s.principals) || filled(s.notPrincipals) || filled(s.namespaces) || filled(s.notNamespaces))) {
        ctx.addIssue({ code: 'custom', message: 'cannot set serviceAccounts with namespaces or principals', path: [sa], input: s[sa] });
      }
    },
  ),
  '(has(self.serviceAccounts) || has(self.notServiceAccounts)) ? (!has(self.principals) && !has(self.notPrincipals) && !has(self.namespaces) && !has(self.notNamespaces)) : true',
  'Cannot set serviceAccounts with namespaces or principals',
);

const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

/** istio.security.v1beta1.Operation: what the request does. Fields are ANDed. */
export const AuthorizationOperation = crossCheck(
  obj({
    hosts: values().optional(),
    notHosts: values().optional(),
    ports: values(checkPortString).optional(),
    notPorts: values(checkPortString).optional(),
    methods: values().optional(),
    notMethods: values().optional(),
    paths: values(checkPathTemplate).optional(),
    notPaths: values(checkPathTemplate).optional(),
  }),
  (o, ctx) => {
    if (!OPERATION_FIELDS.some((f) => present(o[f]))) {
      ctx.addIssue({ code: 'custom', message: 'operation must not be empty: at least one field must be set', input: o });
    }
  },
);

/** istio.security.v1beta1.Condition: an extra attribute test (`when`). */
export const AuthorizationCondition = crossCheck(
  obj({ key: z.string(), values: z.array(z.string()).optional(), notValues: z.array(z.string()).optional() }),
  (c, ctx) => {
    if (typeof c.key !== 'string') return;
    if (c.key === '') {
      ctx.addIssue({ code: 'custom', message: 'must not be empty', path: ['key'], input: c.key });
      return;
    }
    if (!filled(c.values) && !filled(c.notValues)) {
      ctx.addIssue({ code: 'custom', message: `at least one of values or notValues must be set for key "${c.key}"`, input: c });
      return;
    }
    const k = conditionKey(c.key);
    if (!k.ok) ctx.addIssue({ code: 'custom', message: k.reason, path: ['key'], input: c.key });
    for (const field of ['values', 'notValues'] as const) {
      const list = c[field];
      if (!Array.isArray(list)) continue;
      list.forEach((v, i) => {
        if (typeof v !== 'string') return;
        const reason = v === '' ? EMPTY : k.ok ? k.check?.(v) : undefined;
        if (reason) ctx.addIssue({ code: 'custom', message: reason, path: [field, i], input: v });
      });
    }
  },
);

/** istio.security.v1beta1.Rule: from (sources) × to (operations) × when (conditions). */
export const AuthorizationRule = obj({
  from: z.array(obj({ source: AuthorizationSource })).max(512).optional(),
  to: z.array(obj({ operation: AuthorizationOperation })).optional(),
  when: z.array(AuthorizationCondition).optional(),
});

const Action = z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']);

// Matching attributes ext_authz cannot see through a CUSTOM policy (pilot refuses them).
const CUSTOM_UNSUPPORTED_SOURCE = [
  'namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains',
  'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals',
] as const;
const CUSTOM_UNSUPPORTED_KEYS = ['source.namespace', 'source.serviceAccount', 'source.trustDomain', 'source.principal'];

/** security.istio.io AuthorizationPolicy spec. */
export const AuthorizationPolicySpec = crossCheck(
  oneTargetKind(
    obj({
      ...POLICY_TARGET_FIELDS,
      rules: z.array(AuthorizationRule).max(512).optional(),
      action: Action.optional(),
      provider: obj({ name: z.string().optional() }).optional(),
    }),
  ),
  (s, ctx) => {
    const action = s.action ?? 'ALLOW';
    const hasRules = filled(s.rules);
    if ((action === 'DENY' || action === 'CUSTOM') && !hasRules) {
      ctx.addIssue({
        code: 'custom',
        message: `action ${action} without rules never matches any request; add an empty rule {} to apply it to every request`,
        path: ['rules'],
        input: s.rules,
      });
    }
    if (s.provider !== undefined && action !== 'CUSTOM') {
      ctx.addIssue({ code: 'custom', message: `provider may only be set with action CUSTOM, found ${action}`, path: ['provider'], input: s.provider });
    }
    if (action !== 'CUSTOM' || !hasRules) return;
    if (!s.provider || !s.provider.name) {
      ctx.addIssue({ code: 'custom', message: 'provider.name must be set for action CUSTOM', path: s.provider ? ['provider', 'name'] : ['provider'], input: s.provider });
    }
    (s.rules ?? []).forEach((rule, i) => {
      if (!rule) return;
      (rule.from ?? []).forEach((from, j) => {
        const src = from?.source as Record<string, unknown> | undefined;
        if (!src) return;
        for (const f of CUSTOM_UNSUPPORTED_SOURCE) {
          if (filled(src[f])) ctx.addIssue({ code: 'custom', message: `${f} is not supported with action CUSTOM`, path: ['rules', i, 'from', j, 'source', f], input: src[f] });
        }
      });
      (rule.when ?? []).forEach((cond, k) => {
        const key = cond?.key;
        if (typeof key === 'string' && (CUSTOM_UNSUPPORTED_KEYS.includes(key) || key.startsWith('request.auth.'))) {
          ctx.addIssue({ code: 'custom', message: `condition key ${key} is not supported with action CUSTOM`, path: ['rules', i, 'when', k, 'key'], input: key });
        }
      });
    });
  },
);
export type AuthorizationPolicySpec = z.output<typeof AuthorizationPolicySpec>;

// ---------------------------------------------------------------------------
// RequestAuthentication
// ---------------------------------------------------------------------------

/**
 * checkJwtHeaderName is Envoy's non-strict HTTP_HEADER_NAME rule, which is what Envoy enforces
 * on JWT header locations; Istio itself only requires a non-empty name.
 */
export function checkJwtHeaderName(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000\r\n]/.test(name)) return `header name ${JSON.stringify(name)} must not contain NUL, CR or LF`;
  return undefined;
}

/** checkJwksUri returns why `uri` is not an absolute http(s) URL (the CRD's CEL rule and pilot's ParseJwksURI). */
export function checkJwksUri(uri: string): string | undefined {
  if (uri === '') return 'must not be empty';
  if (uri.length > 2048) return 'must be no more than 2048 characters';
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return `"${uri}" is not a valid URL: url must have scheme http:// or https://`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `URI scheme "${u.protocol.slice(0, -1)}" is not supported: url must have scheme http:// or https://`;
  return undefined;
}

const JWK_REQUIRED: Readonly<Record<string, readonly string[]>> = {
  RSA: ['n', 'e'],
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
  oct: ['k'],
};

/**
 * checkJwks returns why `text` is not a JSON Web Key or JWK Set with usable keys
 * (what pilot's jwk.Parse accepts: a known `kty` and that type's members).
 */
export function checkJwks(text: string): string | undefined {
  // Pilot skips an empty jwks (it is the proto default), so do we.
  if (text === '') return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // The engine's own message varies between Node versions; the position is not worth it.
    return 'jwks parse error: not valid JSON';
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'jwks parse error: expected a JSON object (a JWK or a JWK Set)';
  const set = doc as Record<string, unknown>;
  if ('keys' in set) {
    if (!Array.isArray(set.keys)) return 'jwks parse error: "keys" must be an array';
    for (let i = 0; i < set.keys.length; i++) {
      const reason = checkJwk(set.keys[i]);
      if (reason) return `jwks parse error: key ${i}: ${reason}`;
    }
    return undefined;
  }
  const reason = checkJwk(set);
  return reason ? `jwks parse error: ${reason}` : undefined;
}

function checkJwk(key: unknown): string | undefined {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return 'expected a JSON object';
  const k = key as Record<string, unknown>;
  if (typeof k.kty !== 'string') return 'missing "kty"';
  const required = JWK_REQUIRED[k.kty];
  if (!required) return `unsupported key type "${k.kty}" (expected RSA, EC, OKP or oct)`;
  for (const m of required) {
    if (typeof k[m] !== 'string' || k[m] === '') return `${k.kty} key is missing "${m}"`;
  }
  return undefined;
}

const jwksUri = (): z.ZodString => withCel(checkedString(checkJwksUri), "url(self).getScheme() in ['http', 'https']", 'url must have scheme http:// or https://');

/** istio.security.v1beta1.JWTRule. */
export const JWTRule = withCel(
  crossCheck(
    obj({
      issuer: nonEmptyString().optional(),
      audiences: z.array(nonEmptyString()).optional(),
      jwksUri: jwksUri().optional(),
      // The CRD lists the proto name as an alternative spelling of jwksUri.
      jwks_uri: jwksUri().optional(),
      jwks: checkedString(checkJwks).optional(),
      fromHeaders: z.array(obj({ name: checkedString(checkJwtHeaderName), prefix: z.string().optional() })).optional(),
      fromParams: z.array(nonEmptyString()).optional(),
      fromCookies: z.array(nonEmptyString()).optional(),
      outputPayloadToHeader: checkedString((h) => (h === '' ? undefined : checkJwtHeaderName(h))).optional(),
      forwardOriginalToken: z.boolean().optional(),
      outputClaimToHeaders: z
        .array(
          obj({
            header: checkedString((h) =>
              h === '' ? 'must not be empty' : /^[-_A-Za-z0-9]+$/.test(h) ? undefined : `header name "${h}" may contain only letters, digits, '-' and '_'`,
            ),
            claim: nonEmptyString(),
          }),
        )
        .optional(),
      timeout: duration().optional(),
      spaceDelimitedClaims: z.array(nonEmptyString()).max(64).optional(),
    }),
    (r, ctx) => {
      const set = (['jwksUri', 'jwks_uri', 'jwks'] as const).filter((f) => isSet(r[f]));
      if (set.length > 1) {
        ctx.addIssue({ code: 'custom', message: `only one of jwks or jwksUri may be set, found ${set.join(' and ')}`, path: [set[1]], input: r });
      }
      if (r.issuer === undefined && !isSet(r.jwksUri) && !isSet(r.jwks_uri)) {
        ctx.addIssue({ code: 'custom', message: 'issuer or jwksUri must be set', path: ['issuer'], input: r });
      }
    },
  ),
  "(has(self.jwksUri) ? 1 : 0) + (has(self.jwks_uri) ? 1 : 0) + (has(self.jwks) ? 1 : 0) <= 1",
  'only one of jwks or jwksUri can be set',
);

/** security.istio.io RequestAuthentication spec. */
export const RequestAuthenticationSpec = oneTargetKind(
  obj({
    ...POLICY_TARGET_FIELDS,
    jwtRules: z.array(JWTRule).max(4096).optional(),
  }),
);
export type RequestAuthenticationSpec = z.output<typeof RequestAuthenticationSpec>;

// ---------------------------------------------------------------------------
// PeerAuthentication
// ---------------------------------------------------------------------------

const MtlsMode = z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);

/** security.istio.io PeerAuthentication spec. */
export const PeerAuthenticationSpec = withCel(
  crossCheck(
    obj({
      selector: WorkloadSelector.optional(),
      mtls: obj({ mode: MtlsMode.optional() }).optional(),
      portLevelMtls: withCel(
        crossCheck(z.record(z.string(), obj({ mode: MtlsMode.optional() })), (m, ctx) => {
            const keys = Object.keys(m);
            // The CRD's minProperties: an empty map is a mistake, not "no port exceptions".
            if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'portLevelMtls, if set, must have at least one port', input: m });
            for (const k of keys) {
              const n = Number(k);
              if (!/^\d+$/.test(k) || n < 1 || n > 65535) ctx.addIssue({ code: 'custom', message: `port ${k} must be in the range 1..65535`, path: [k] });
            }
        }),
        'self.all(key, 0 < int(key) && int(key) <= 65535)',
        'port must be between 1-65535',
      ).optional(),
    }),
    (s, ctx) => {
      // Istio: port-level mTLS is only allowed with a workload selector (its CRD counts an empty map too).
      if (s.portLevelMtls && (!s.selector || !s.selector.matchLabels || Object.keys(s.selector.matchLabels).length === 0)) {
        ctx.addIssue({ code: 'custom', message: 'portLevelMtls requires a workload selector', path: ['portLevelMtls'] });
      }
    },
  ),
  'has(self.portLevelMtls) ? (((has(self.selector) && has(self.selector.matchLabels)) ? self.selector.matchLabels : {}).size() > 0) : true',
  'portLevelMtls requires selector',
);
export type PeerAuthenticationSpec = z.output<typeof PeerAuthenticationSpec>;

const VERSIONS = ['v1', 'v1beta1'] as const;
const CATEGORIES = ['istio-io', 'security-istio-io'] as const;
const AGE = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const SECURITY_KINDS: KindDef[] = [
  {
    group: 'security.istio.io',
    kind: 'AuthorizationPolicy',
    versions: VERSIONS,
    plural: 'authorizationpolicies',
    singular: 'authorizationpolicy',
    shortNames: ['ap'],
    categories: CATEGORIES,
    namespaced: true,
    crd: true,
    body: obj({ spec: AuthorizationPolicySpec, status: anyJson().optional() }),
    metadataRules: istioMetadataRules(true),
    printerColumns: [{ name: 'Action', type: 'string', jsonPath: '.spec.action', description: 'The operation to take.' }, AGE],
  },
  {
    group: 'security.istio.io',
    kind: 'PeerAuthentication',
    versions: VERSIONS,
    plural: 'peerauthentications',
    singular: 'peerauthentication',
    shortNames: ['pa'],
    categories: CATEGORIES,
    namespaced: true,
    crd: true,
    body: obj({ spec: PeerAuthenticationSpec, status: anyJson().optional() }),
    metadataRules: istioMetadataRules(false),
    printerColumns: [{ name: 'Mode', type: 'string', jsonPath: '.spec.mtls.mode', description: 'Defines the mTLS mode used for peer authentication.' }, AGE],
  },
  {
    group: 'security.istio.io',
    kind: 'RequestAuthentication',
    versions: VERSIONS,
    plural: 'requestauthentications',
    singular: 'requestauthentication',
    shortNames: ['ra'],
    categories: CATEGORIES,
    namespaced: true,
    crd: true,
    body: obj({ spec: RequestAuthenticationSpec, status: anyJson().optional() }),
    metadataRules: istioMetadataRules(false),
  },
];
