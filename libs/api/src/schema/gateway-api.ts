/**
 * gateway.networking.k8s.io (Kubernetes Gateway API, standard channel v1.6): GatewayClass,
 * Gateway, HTTPRoute, GRPCRoute, TCPRoute, TLSRoute and ReferenceGrant.
 *
 * Meshwork does not ship these CRDs (users install upstream's), but meshctl validates them
 * with upstream's rules so that a mistake is caught before `kubectl apply`: the OpenAPI
 * constraints (patterns, lengths, enums, item limits, list-map keys) and the CEL
 * `x-kubernetes-validations` of config/crd/standard/*.yaml, with upstream's CEL messages
 * verbatim. Like the API server, the parsed value has upstream's defaults applied
 * (`weight: 1`, `kind: Service`, `path: {type: PathPrefix, value: /}`, …), because the CEL
 * rules are defined on the defaulted object and the mesh reads the defaulted object.
 *
 * Fields of the experimental channel (retry, sessionPersistence, …) are unknown fields here,
 * as they are for a cluster with the standard-channel CRDs.
 */
import * as z from 'zod';
import type { KindDef } from './kind.js';
import { anyJson, checkedString, crossCheck, obj, port } from './dsl.js';
import { arr, isObj, issue, type Ctx, type Path } from './values.js';
import { checkDns1123Label, checkDns1123Subdomain } from '../fields/host.js';
import { checkIp } from '../fields/net.js';
import { checkLabelValue } from '../fields/labels.js';


// ---------------------------------------------------------------------------------------
// Scalar types (upstream's shared_types.go), each with its pattern and length limits.

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KIND = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const CONTROLLER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/;
// Upstream's pattern, alternation precedence included (`^Hostname|IPAddress|…$`).
const ADDRESS_TYPE = /^Hostname|IPAddress|NamedAddress|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/;
const PROTOCOL = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$/;
const CORS_ORIGIN = /(^\*$)|(^(http(s)?):\/\/(((\*\.)?([a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+|\*)(:([0-9]{1,5}))?)$)/;
const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const PATH_CHARS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$/;
const GRPC_SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;
const META_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/;

/**
 * A string with upstream's minLength/maxLength and pattern; `invalid` says why a value
 * that does not match the pattern is wrong.
 */
function str(opts: { min?: number; max?: number; re?: RegExp; invalid?: (v: string) => string }): z.ZodString {
  return checkedString((v) => {
    if (opts.min && v.length < opts.min) return 'must not be empty';
    if (opts.max !== undefined && v.length > opts.max) return `must be at most ${opts.max} characters`;
    if (opts.re && !opts.re.test(v)) return opts.invalid ? opts.invalid(v) : `"${v}" is invalid`;
    return undefined;
  });
}

const Group = (): z.ZodString =>
  str({ max: 253, re: GROUP, invalid: (v) => `"${v}" is not a valid API group: it must be empty (the core group) or a lower-case DNS subdomain such as "gateway.networking.k8s.io"` });
const Kind = (): z.ZodString =>
  str({ min: 1, max: 63, re: KIND, invalid: (v) => `"${v}" is not a valid kind: it must start with a letter and contain only letters, digits and '-'` });
const ObjectName = (): z.ZodString => str({ min: 1, max: 253 });
const Namespace = (): z.ZodString => checkedString(checkDns1123Label);
const SectionName = (): z.ZodString => checkedString(checkDns1123Subdomain);
const Hostname = (): z.ZodString =>
  str({
    min: 1,
    max: 253,
    re: HOSTNAME,
    invalid: (v) => `"${v}" is not a valid hostname: it must be a lower-case RFC 1123 DNS name, optionally starting with a single "*." wildcard label`,
  });
const PreciseHostname = (): z.ZodString =>
  str({ min: 1, max: 253, re: DNS_SUBDOMAIN, invalid: (v) => `"${v}" is not a valid hostname: it must be a lower-case RFC 1123 DNS name without wildcards` });
const HeaderName = (): z.ZodString =>
  str({ min: 1, max: 256, re: HEADER_NAME, invalid: (v) => `"${v}" is not a valid HTTP header name: only letters, digits and !#$%&'*+-.^_\`|~ are allowed` });
const int32 = (min: number, max = 2147483647): z.ZodNumber => z.number().int().min(min).max(max);

/** Parses a Gateway API duration (`1h30m`, `500ms`) to milliseconds; undefined if malformed. */
export function gatewayDurationMs(v: string): number | undefined {
  if (!DURATION.test(v)) return undefined;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  for (const m of v.matchAll(/([0-9]+)(ms|h|m|s)/g)) total += Number(m[1]) * unit[m[2]];
  return total;
}

const Duration = (): z.ZodString =>
  str({
    re: DURATION,
    invalid: (v) => `"${v}" is not a valid Gateway API duration: use one to four <number><unit> parts with units h, m, s or ms (e.g. "1h30m", "500ms")`,
  });

/** Reports later list items whose key repeats an earlier one (x-kubernetes-list-type map/set). */
function checkUnique(ctx: Ctx, items: unknown, key: (item: unknown) => unknown, path: (i: number) => Path, message: (k: unknown) => string): void {
  const seen = new Set<string>();
  arr(items).forEach((item, i) => {
    const k = key(item);
    if (k === undefined) return;
    const s = JSON.stringify(k);
    if (seen.has(s)) issue(ctx, path(i), message(k));
    seen.add(s);
  });
}

const uniqueByName = <T extends z.ZodType>(list: T, what: string): T =>
  crossCheck(list, (items, ctx) =>
    checkUnique(ctx as Ctx, items, (it) => (isObj(it) && typeof it.name === 'string' ? it.name : undefined), (i) => [i, 'name'], (k) => `duplicate ${what} name ${JSON.stringify(k)}: names must be unique in this list`),
  );

const uniqueValues = <T extends z.ZodType>(list: T): T =>
  crossCheck(list, (items, ctx) => checkUnique(ctx as Ctx, items, (it) => (typeof it === 'string' ? it : undefined), (i) => [i], (k) => `duplicate value ${JSON.stringify(k)}: values must be unique in this list`));

// ---------------------------------------------------------------------------------------
// References.

/** ParentReference: the Gateway (or Service, for GAMMA mesh routing) a route attaches to. */
const ParentReference = obj({
  group: Group().default('gateway.networking.k8s.io'),
  kind: Kind().default('Gateway'),
  namespace: Namespace().optional(),
  name: ObjectName(),
  sectionName: SectionName().optional(),
  port: port().optional(),
});

const ParentRefs = crossCheck(z.array(ParentReference).max(32), (refs, ctx) => {
  const list = arr(refs).filter(isObj);
  const sameParent = (a: Record<string, unknown>, b: Record<string, unknown>): boolean =>
    a.group === b.group && a.kind === b.kind && a.name === b.name && (a.namespace ?? '') === (b.namespace ?? '');
  const section = (r: Record<string, unknown>): string => (typeof r.sectionName === 'string' ? r.sectionName : '');
  // Both upstream rules are one CEL expression over the whole list: report each once,
  // at the first reference that breaks it.
  let mixed = false;
  let dup = false;
  arr(refs).forEach((r, i) => {
    if (!isObj(r)) return;
    const earlier = list.slice(0, list.indexOf(r)).filter((p) => sameParent(p, r));
    if (!mixed && earlier.some((p) => (section(p) === '') !== (section(r) === ''))) {
      mixed = true;
      issue(ctx as Ctx, [i], 'sectionName must be specified when parentRefs includes 2 or more references to the same parent');
    }
    if (!dup && earlier.some((p) => section(p) === section(r))) {
      dup = true;
      issue(ctx as Ctx, [i], 'sectionName must be unique when parentRefs includes 2 or more references to the same parent');
    }
  });
});

/** BackendObjectReference as used by RequestMirror: port is required for a Service. */
function withServicePort<T extends z.ZodType>(schema: T): T {
  return crossCheck(schema, (r, ctx) => {
    const o = r as Record<string, unknown>;
    if (o.group === '' && o.kind === 'Service' && o.port === undefined) issue(ctx as Ctx, [], 'Must have port for Service reference');
  });
}

const BackendObjectReference = withServicePort(
  obj({
    group: Group().default(''),
    kind: Kind().default('Service'),
    name: ObjectName(),
    namespace: Namespace().optional(),
    port: port().optional(),
  }),
);

const LocalObjectReference = obj({ group: Group(), kind: Kind(), name: ObjectName() });

const SecretObjectReference = obj({
  group: Group().default(''),
  kind: Kind().default('Secret'),
  name: ObjectName(),
  namespace: Namespace().optional(),
});

const ObjectReference = obj({ group: Group(), kind: Kind(), name: ObjectName(), namespace: Namespace().optional() });

/** A Kubernetes label selector, as loose as upstream's CRD schema (no operator enum). */
const LabelSelector = obj({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(obj({ key: z.string(), operator: z.string(), values: z.array(z.string()).optional() })).optional(),
});

// ---------------------------------------------------------------------------------------
// Filters.

const HTTPHeader = obj({ name: HeaderName(), value: str({ min: 1, max: 4096 }) });

/** HTTPHeaderFilter (RequestHeaderModifier / ResponseHeaderModifier). */
const HTTPHeaderFilter = obj({
  set: uniqueByName(z.array(HTTPHeader).max(16), 'header').optional(),
  add: uniqueByName(z.array(HTTPHeader).max(16), 'header').optional(),
  remove: uniqueValues(z.array(z.string()).max(16)).optional(),
});

const PathModifier = crossCheck(
  obj({
    type: z.enum(['ReplaceFullPath', 'ReplacePrefixMatch']),
    replaceFullPath: str({ max: 1024 }).optional(),
    replacePrefixMatch: str({ max: 1024 }).optional(),
  }),
  (p, ctx) => {
    if (p.type === 'ReplaceFullPath' && p.replaceFullPath === undefined) issue(ctx as Ctx, [], "replaceFullPath must be specified when type is set to 'ReplaceFullPath'");
    if (p.replaceFullPath !== undefined && p.type !== 'ReplaceFullPath') issue(ctx as Ctx, ['replaceFullPath'], "type must be 'ReplaceFullPath' when replaceFullPath is set");
    if (p.type === 'ReplacePrefixMatch' && p.replacePrefixMatch === undefined) issue(ctx as Ctx, [], "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'");
    if (p.replacePrefixMatch !== undefined && p.type !== 'ReplacePrefixMatch') issue(ctx as Ctx, ['replacePrefixMatch'], "type must be 'ReplacePrefixMatch' when replacePrefixMatch is set");
  },
);

/** HTTPRequestRedirectFilter. */
const HTTPRequestRedirectFilter = obj({
  scheme: z.enum(['http', 'https']).optional(),
  hostname: PreciseHostname().optional(),
  path: PathModifier.optional(),
  port: port().optional(),
  statusCode: z.literal([301, 302, 303, 307, 308]).default(302),
});

/** HTTPURLRewriteFilter. */
const HTTPURLRewriteFilter = obj({ hostname: PreciseHostname().optional(), path: PathModifier.optional() });

/** HTTPRequestMirrorFilter: mirror to a backend, optionally a fraction of requests. */
const HTTPRequestMirrorFilter = crossCheck(
  obj({
    backendRef: BackendObjectReference,
    percent: int32(0, 100).optional(),
    fraction: crossCheck(obj({ numerator: int32(0), denominator: int32(1).default(100) }), (f, ctx) => {
      if (typeof f.numerator === 'number' && typeof f.denominator === 'number' && f.numerator > f.denominator) {
        issue(ctx as Ctx, ['numerator'], 'numerator must be less than or equal to denominator');
      }
    }).optional(),
  }),
  (m, ctx) => {
    if (m.percent !== undefined && m.fraction !== undefined) issue(ctx as Ctx, ['fraction'], 'Only one of percent or fraction may be specified in HTTPRequestMirrorFilter');
  },
);

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

function noWildcardWithOthers<T extends z.ZodType>(list: T, message: string): T {
  return crossCheck(list, (items, ctx) => {
    const a = arr(items);
    const i = a.indexOf('*');
    if (i >= 0 && a.length > 1) issue(ctx as Ctx, [i], message);
  });
}

/** HTTPCORSFilter (standard since v1.5). */
const HTTPCORSFilter = obj({
  allowOrigins: noWildcardWithOthers(
    uniqueValues(
      z
        .array(
          str({
            min: 1,
            max: 253,
            re: CORS_ORIGIN,
            invalid: (v) => `"${v}" is not a valid origin: use "*" or <scheme>://<host>[:<port>] with scheme http or https (the host may start with "*.")`,
          }),
        )
        .max(64),
    ),
    "AllowOrigins cannot contain '*' alongside other origins",
  ).optional(),
  allowCredentials: z.boolean().optional(),
  allowMethods: noWildcardWithOthers(uniqueValues(z.array(z.enum([...HTTP_METHODS, '*'])).max(9)), "AllowMethods cannot contain '*' alongside other methods").optional(),
  // Upstream's message says "methods" for headers too; kept verbatim.
  allowHeaders: noWildcardWithOthers(uniqueValues(z.array(HeaderName()).max(64)), "AllowHeaders cannot contain '*' alongside other methods").optional(),
  exposeHeaders: uniqueValues(z.array(HeaderName()).max(64)).optional(),
  maxAge: int32(1).default(5),
});

/** Upstream's filter type ↔ field rules: the field named by `type` must be set, no other. */
function filterFieldsMatchType<T extends z.ZodType>(schema: T, fields: readonly (readonly [string, string])[]): T {
  return crossCheck(schema, (f, ctx) => {
    const o = f as Record<string, unknown>;
    const types = fields.map(([, t]) => t);
    if (typeof o.type !== 'string' || !types.includes(o.type)) return; // the enum error says it
    for (const [field, type] of fields) {
      if (o[field] !== undefined && o.type !== type) issue(ctx as Ctx, [field], `filter.${field} must be nil if the filter.type is not ${type}`);
      if (o[field] === undefined && o.type === type) issue(ctx as Ctx, [], `filter.${field} must be specified for ${type} filter.type`);
    }
  });
}

/** Upstream's list rules on filters: some types at most once, redirect and rewrite exclusive. */
function filterListRules<T extends z.ZodType>(list: T, notRepeated: readonly string[], redirectXorRewrite: boolean): T {
  return crossCheck(list, (items, ctx) => {
    const types = arr(items).map((f) => (isObj(f) ? f.type : undefined));
    if (redirectXorRewrite && types.includes('RequestRedirect') && types.includes('URLRewrite')) {
      const i = Math.max(types.indexOf('RequestRedirect'), types.indexOf('URLRewrite'));
      issue(ctx as Ctx, [i], 'May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both');
    }
    for (const t of notRepeated) {
      const second = types.indexOf(t, types.indexOf(t) + 1);
      if (types.indexOf(t) >= 0 && second > 0) issue(ctx as Ctx, [second], `${t} filter cannot be repeated`);
    }
  });
}

const HTTP_FILTER_FIELDS = [
  ['cors', 'CORS'],
  ['requestHeaderModifier', 'RequestHeaderModifier'],
  ['responseHeaderModifier', 'ResponseHeaderModifier'],
  ['requestMirror', 'RequestMirror'],
  ['requestRedirect', 'RequestRedirect'],
  ['urlRewrite', 'URLRewrite'],
  ['extensionRef', 'ExtensionRef'],
] as const;

/** HTTPRouteFilter: one of the typed filters, named by `type`. */
const HTTPRouteFilter = filterFieldsMatchType(
  obj({
    type: z.enum(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'RequestRedirect', 'URLRewrite', 'ExtensionRef', 'CORS']),
    requestHeaderModifier: HTTPHeaderFilter.optional(),
    responseHeaderModifier: HTTPHeaderFilter.optional(),
    requestMirror: HTTPRequestMirrorFilter.optional(),
    requestRedirect: HTTPRequestRedirectFilter.optional(),
    urlRewrite: HTTPURLRewriteFilter.optional(),
    extensionRef: LocalObjectReference.optional(),
    cors: HTTPCORSFilter.optional(),
  }),
  HTTP_FILTER_FIELDS,
);

const HTTPFilters = filterListRules(
  z.array(HTTPRouteFilter).max(16),
  ['CORS', 'RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite'],
  true,
);

const GRPC_FILTER_FIELDS = [
  ['requestHeaderModifier', 'RequestHeaderModifier'],
  ['responseHeaderModifier', 'ResponseHeaderModifier'],
  ['requestMirror', 'RequestMirror'],
  ['extensionRef', 'ExtensionRef'],
] as const;

/** GRPCRouteFilter: header modifiers, mirror and extension filters. */
const GRPCRouteFilter = filterFieldsMatchType(
  obj({
    type: z.enum(['ResponseHeaderModifier', 'RequestHeaderModifier', 'RequestMirror', 'ExtensionRef']),
    requestHeaderModifier: HTTPHeaderFilter.optional(),
    responseHeaderModifier: HTTPHeaderFilter.optional(),
    requestMirror: HTTPRequestMirrorFilter.optional(),
    extensionRef: LocalObjectReference.optional(),
  }),
  GRPC_FILTER_FIELDS,
);

const GRPCFilters = filterListRules(z.array(GRPCRouteFilter).max(16), ['RequestHeaderModifier', 'ResponseHeaderModifier'], false);

// ---------------------------------------------------------------------------------------
// HTTPRoute.

const HTTPHeaderMatch = obj({ type: z.enum(['Exact', 'RegularExpression']).default('Exact'), name: HeaderName(), value: str({ min: 1, max: 4096 }) });
const HTTPQueryParamMatch = obj({ type: z.enum(['Exact', 'RegularExpression']).default('Exact'), name: HeaderName(), value: str({ min: 1, max: 1024 }) });

/** HTTPPathMatch: Exact and PathPrefix values must be clean absolute paths. */
const HTTPPathMatch = crossCheck(
  obj({ type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'), value: str({ max: 1024 }).default('/') }),
  (p, ctx) => {
    if ((p.type !== 'Exact' && p.type !== 'PathPrefix') || typeof p.value !== 'string') return;
    const v = p.value;
    const bad = (m: string): void => issue(ctx as Ctx, ['value'], `${m} when type one of ['Exact', 'PathPrefix']`);
    if (!v.startsWith('/')) bad("value must be an absolute path and start with '/'");
    for (const s of ['//', '/./', '/../', '%2f', '%2F', '#']) if (v.includes(s)) bad(`must not contain '${s}'`);
    if (v.endsWith('/..')) bad("must not end with '/..'");
    if (v.endsWith('/.')) bad("must not end with '/.'");
    if (!PATH_CHARS.test(v)) issue(ctx as Ctx, ['value'], `must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']`);
  },
);

const defaultPathMatch = (): { type: 'PathPrefix'; value: string } => ({ type: 'PathPrefix', value: '/' });

/** HTTPRouteMatch: path, headers, query parameters and method, all ANDed. */
const HTTPRouteMatch = obj({
  path: HTTPPathMatch.default(defaultPathMatch),
  headers: uniqueByName(z.array(HTTPHeaderMatch).max(16), 'header').optional(),
  queryParams: uniqueByName(z.array(HTTPQueryParamMatch).max(16), 'query parameter').optional(),
  method: z.enum(HTTP_METHODS).optional(),
});

/** HTTPBackendRef: a weighted backend with its own filters. */
const HTTPBackendRef = withServicePort(
  obj({
    group: Group().default(''),
    kind: Kind().default('Service'),
    name: ObjectName(),
    namespace: Namespace().optional(),
    port: port().optional(),
    weight: int32(0, 1_000_000).default(1),
    filters: HTTPFilters.optional(),
  }),
);

/** HTTPRouteTimeouts: a backendRequest timeout cannot exceed a non-zero request timeout. */
const HTTPRouteTimeouts = crossCheck(obj({ request: Duration().optional(), backendRequest: Duration().optional() }), (t, ctx) => {
  const req = typeof t.request === 'string' ? gatewayDurationMs(t.request) : undefined;
  const be = typeof t.backendRequest === 'string' ? gatewayDurationMs(t.backendRequest) : undefined;
  if (req !== undefined && be !== undefined && req !== 0 && be > req) issue(ctx as Ctx, ['backendRequest'], 'backendRequest timeout cannot be longer than request timeout');
});

function hasPrefixRewrite(f: unknown, field: 'requestRedirect' | 'urlRewrite'): boolean {
  if (!isObj(f) || !isObj(f[field])) return false;
  const p = (f[field] as Record<string, unknown>).path;
  return isObj(p) && p.type === 'ReplacePrefixMatch' && p.replacePrefixMatch !== undefined;
}

/** HTTPRouteRule: matches → filters → backends, with upstream's cross-field rules. */
const HTTPRouteRule = crossCheck(
  obj({
    name: SectionName().optional(),
    matches: z
      .array(HTTPRouteMatch)
      .max(64)
      .default(() => [{ path: defaultPathMatch() }]),
    filters: HTTPFilters.optional(),
    backendRefs: z.array(HTTPBackendRef).max(16).optional(),
    timeouts: HTTPRouteTimeouts.optional(),
  }),
  (r, ctx) => {
    const filters = arr(r.filters);
    const backends = arr(r.backendRefs);
    if (backends.length > 0) {
      filters.forEach((f, i) => {
        if (isObj(f) && f.requestRedirect !== undefined) issue(ctx as Ctx, ['filters', i], 'RequestRedirect filter must not be used together with backendRefs');
      });
    }
    const matches = arr(r.matches);
    const m0 = matches[0];
    const onePrefixMatch = matches.length === 1 && isObj(m0) && isObj(m0.path) && m0.path.type === 'PathPrefix';
    const exactlyOne = (xs: unknown[], pred: (x: unknown) => boolean): boolean => xs.filter(pred).length === 1;
    const backendHas = (field: 'requestRedirect' | 'urlRewrite') => (b: unknown) => isObj(b) && exactlyOne(arr(b.filters), (f) => hasPrefixRewrite(f, field));
    if (onePrefixMatch) return;
    if (exactlyOne(filters, (f) => hasPrefixRewrite(f, 'requestRedirect'))) {
      issue(ctx as Ctx, ['matches'], 'When using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified');
    }
    if (exactlyOne(filters, (f) => hasPrefixRewrite(f, 'urlRewrite'))) {
      issue(ctx as Ctx, ['matches'], 'When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified');
    }
    if (exactlyOne(backends, backendHas('requestRedirect'))) {
      issue(ctx as Ctx, ['matches'], 'Within backendRefs, when using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified');
    }
    if (exactlyOne(backends, backendHas('urlRewrite'))) {
      issue(ctx as Ctx, ['matches'], 'Within backendRefs, When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified');
    }
  },
);

const TOO_MANY_MATCHES = 'While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128';

function totalMatchesAtMost128<T extends z.ZodType>(rules: T): T {
  return crossCheck(rules, (rs, ctx) => {
    const total = arr(rs).reduce<number>((n, r) => n + (isObj(r) ? arr(r.matches).length : 0), 0);
    if (total > 128) issue(ctx as Ctx, [], TOO_MANY_MATCHES);
  });
}

/** HTTPRoute spec. */
export const HTTPRouteSpec = obj({
  parentRefs: ParentRefs.optional(),
  hostnames: z.array(Hostname()).max(16).optional(),
  rules: totalMatchesAtMost128(
    z
      .array(HTTPRouteRule)
      .min(1)
      .max(16)
      .default(() => [{ matches: [{ path: defaultPathMatch() }] }]),
  ),
});
export type HTTPRouteSpec = z.output<typeof HTTPRouteSpec>;

// ---------------------------------------------------------------------------------------
// GRPCRoute.

/** GRPCMethodMatch: service and/or method, exact (validated names) or regular expression. */
const GRPCMethodMatch = crossCheck(
  obj({
    type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
    service: str({ max: 1024 }).optional(),
    method: str({ max: 1024 }).optional(),
  }),
  (m, ctx) => {
    if (m.service === undefined && m.method === undefined) issue(ctx as Ctx, [], "One or both of 'service' or 'method' must be specified");
    if (m.type !== 'Exact') return;
    if (typeof m.service === 'string' && !GRPC_SERVICE.test(m.service)) {
      issue(ctx as Ctx, ['service'], 'service must only contain valid characters (matching ^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)');
    }
    if (typeof m.method === 'string' && !GRPC_METHOD.test(m.method)) {
      issue(ctx as Ctx, ['method'], 'method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)');
    }
  },
);

const GRPCRouteMatch = obj({ method: GRPCMethodMatch.optional(), headers: uniqueByName(z.array(HTTPHeaderMatch).max(16), 'header').optional() });

const GRPCBackendRef = withServicePort(
  obj({
    group: Group().default(''),
    kind: Kind().default('Service'),
    name: ObjectName(),
    namespace: Namespace().optional(),
    port: port().optional(),
    weight: int32(0, 1_000_000).default(1),
    filters: GRPCFilters.optional(),
  }),
);

/** GRPCRouteRule. */
const GRPCRouteRule = obj({
  name: SectionName().optional(),
  matches: z.array(GRPCRouteMatch).max(64).optional(),
  filters: GRPCFilters.optional(),
  backendRefs: z.array(GRPCBackendRef).max(16).optional(),
});

/** GRPCRoute spec. */
export const GRPCRouteSpec = obj({
  parentRefs: ParentRefs.optional(),
  hostnames: z.array(Hostname()).max(16).optional(),
  rules: totalMatchesAtMost128(z.array(GRPCRouteRule).max(16)).optional(),
});
export type GRPCRouteSpec = z.output<typeof GRPCRouteSpec>;

// ---------------------------------------------------------------------------------------
// TCPRoute and TLSRoute (standard since v1.6, served as v1 only): one rule of weighted backends.

const L4Rules = z
  .array(
    obj({
      name: SectionName().optional(),
      backendRefs: z
        .array(
          withServicePort(
            obj({
              group: Group().default(''),
              kind: Kind().default('Service'),
              name: ObjectName(),
              namespace: Namespace().optional(),
              port: port().optional(),
              weight: int32(0, 1_000_000).default(1),
            }),
          ),
        )
        .min(1)
        .max(16),
    }),
  )
  .min(1)
  .max(1);

/** TCPRoute spec. */
export const TCPRouteSpec = obj({ parentRefs: ParentRefs.optional(), rules: L4Rules });
export type TCPRouteSpec = z.output<typeof TCPRouteSpec>;

/** TLSRoute spec: SNI hostnames (no IP addresses) and one rule of backends. */
export const TLSRouteSpec = obj({
  parentRefs: ParentRefs.optional(),
  hostnames: crossCheck(z.array(Hostname()).min(1).max(1024), (hs, ctx) => {
    arr(hs).forEach((h, i) => {
      if (typeof h === 'string' && !checkIp(h)) issue(ctx as Ctx, [i], 'Hostnames cannot contain an IP');
    });
  }),
  rules: L4Rules,
});
export type TLSRouteSpec = z.output<typeof TLSRouteSpec>;

// ---------------------------------------------------------------------------------------
// Gateway.

const GatewayTLSConfig = crossCheck(
  obj({
    mode: z.enum(['Terminate', 'Passthrough']).default('Terminate'),
    certificateRefs: z.array(SecretObjectReference).max(64).optional(),
    options: z
      .record(z.string(), str({ max: 4096 }))
      .superRefine((m, ctx) => {
        if (Object.keys(m).length > 16) ctx.addIssue({ code: 'custom', message: 'must have at most 16 entries', input: m });
      })
      .optional(),
  }),
  (t, ctx) => {
    if (t.mode === 'Terminate' && arr(t.certificateRefs).length === 0 && Object.keys(t.options ?? {}).length === 0) {
      issue(ctx as Ctx, [], 'certificateRefs or options must be specified when mode is Terminate');
    }
  },
);

const RouteNamespaces = obj({ from: z.enum(['All', 'Selector', 'Same']).default('Same'), selector: LabelSelector.optional() });

const AllowedRoutes = obj({
  namespaces: RouteNamespaces.default(() => ({ from: 'Same' as const })),
  kinds: z.array(obj({ group: Group().default('gateway.networking.k8s.io'), kind: Kind() })).max(8).optional(),
});

/** Listener: one logical endpoint (port, protocol, optional hostname and TLS) of a Gateway. */
const Listener = obj({
  name: SectionName(),
  hostname: Hostname().optional(),
  port: port(),
  protocol: str({
    min: 1,
    max: 255,
    re: PROTOCOL,
    invalid: (v) => `"${v}" is not a valid listener protocol: use a name such as HTTP, HTTPS, TLS, TCP or UDP, or a domain-prefixed name such as "example.com/proto"`,
  }),
  tls: GatewayTLSConfig.optional(),
  allowedRoutes: AllowedRoutes.default(() => ({ namespaces: { from: 'Same' as const } })),
});

const Listeners = crossCheck(z.array(Listener).min(1).max(64), (ls, ctx) => {
  const list = arr(ls);
  const names = new Set<unknown>();
  const combos = new Set<string>();
  list.forEach((l, i) => {
    if (!isObj(l)) return;
    const tls = isObj(l.tls) ? l.tls : undefined;
    if (['HTTP', 'TCP', 'UDP'].includes(l.protocol as string) && l.tls !== undefined) {
      issue(ctx as Ctx, [i, 'tls'], "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']");
    }
    if (l.protocol === 'HTTPS' && tls && tls.mode !== '' && tls.mode !== 'Terminate') issue(ctx as Ctx, [i, 'tls', 'mode'], 'tls mode must be Terminate for protocol HTTPS');
    if (l.protocol === 'TLS' && (!tls || !tls.mode)) issue(ctx as Ctx, [i], 'tls mode must be set for protocol TLS');
    if (['TCP', 'UDP'].includes(l.protocol as string) && l.hostname !== undefined && l.hostname !== '') {
      issue(ctx as Ctx, [i, 'hostname'], "hostname must not be specified for protocols ['TCP', 'UDP']");
    }
    if (names.has(l.name)) issue(ctx as Ctx, [i, 'name'], 'Listener name must be unique within the Gateway');
    names.add(l.name);
    const combo = JSON.stringify([l.port, l.protocol, l.hostname ?? null]);
    if (combos.has(combo)) issue(ctx as Ctx, [i], 'Combination of port, protocol and hostname must be unique for each listener');
    combos.add(combo);
  });
});

/** GatewayAddress: an IP address (the default type), a hostname, or an implementation-specific address. */
const GatewayAddress = crossCheck(
  obj({
    type: str({
      min: 1,
      max: 253,
      re: ADDRESS_TYPE,
      invalid: (v) => `"${v}" is not a valid address type: use IPAddress, Hostname, NamedAddress or a domain-prefixed name such as "example.com/custom"`,
    }).default('IPAddress'),
    value: str({ max: 253 }).optional(),
  }),
  (a, ctx) => {
    if (typeof a.value !== 'string') return;
    if (a.type === 'IPAddress') {
      const r = checkIp(a.value);
      if (r) issue(ctx as Ctx, ['value'], r);
    }
    if (a.type === 'Hostname' && !HOSTNAME.test(a.value)) {
      issue(ctx as Ctx, ['value'], 'Hostname value must be empty or contain only valid characters (matching ^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)');
    }
  },
);

const Addresses = crossCheck(z.array(GatewayAddress).max(16), (as, ctx) => {
  for (const [type, message] of [
    ['IPAddress', 'IPAddress values must be unique'],
    ['Hostname', 'Hostname values must be unique'],
  ] as const) {
    checkUnique(ctx as Ctx, as, (a) => (isObj(a) && a.type === type && typeof a.value === 'string' ? a.value : undefined), (i) => [i, 'value'], () => message);
  }
});

/** Label and annotation maps of GatewayInfrastructure, with upstream's key rules. */
function infraMap(maxEntries: number, what: 'Label' | 'Annotation', value: z.ZodString): z.ZodType<Record<string, string>> {
  const lower = what.toLowerCase();
  return z.record(z.string(), value).superRefine((m, ctx) => {
    if (Object.keys(m).length > maxEntries) ctx.addIssue({ code: 'custom', message: `must have at most ${maxEntries} entries`, input: m });
    for (const k of Object.keys(m)) {
      if (!META_KEY.test(k)) {
        ctx.addIssue({ code: 'custom', path: [k], input: k, message: `${what} keys must be in the form of an optional DNS subdomain prefix followed by a required name segment of up to 63 characters.` });
      }
      if (k.split('/')[0].length >= 253) {
        ctx.addIssue({ code: 'custom', path: [k], input: k, message: `If specified, the ${lower} key's prefix must be a DNS subdomain not longer than 253 characters in total.` });
      }
    }
  });
}

const GatewayInfrastructure = obj({
  labels: infraMap(8, 'Label', checkedString((v) => checkLabelValue(v))).optional(),
  annotations: infraMap(16, 'Annotation', str({ max: 4096 })).optional(),
  parametersRef: obj({ group: Group(), kind: Kind(), name: ObjectName() }).optional(),
});

const FrontendTLSValidation = obj({
  caCertificateRefs: z.array(ObjectReference).min(1).max(16),
  mode: z.enum(['AllowValidOnly', 'AllowInsecureFallback']).default('AllowValidOnly'),
});
const FrontendTLSConfig = obj({ validation: FrontendTLSValidation.optional() });

const GatewayTLS = obj({
  backend: obj({ clientCertificateRef: SecretObjectReference.optional() }).optional(),
  frontend: obj({
    default: FrontendTLSConfig,
    perPort: crossCheck(z.array(obj({ port: port(), tls: FrontendTLSConfig })).max(64), (ps, ctx) =>
      checkUnique(ctx as Ctx, ps, (p) => (isObj(p) ? p.port : undefined), (i) => [i, 'port'], () => 'Port for TLS configuration must be unique within the Gateway'),
    ).optional(),
  }).optional(),
});

/** Gateway spec. */
export const K8sGatewaySpec = obj({
  gatewayClassName: str({ min: 1, max: 253 }),
  listeners: Listeners,
  addresses: Addresses.optional(),
  infrastructure: GatewayInfrastructure.optional(),
  allowedListeners: obj({
    namespaces: obj({ from: z.enum(['All', 'Selector', 'Same', 'None']).default('None'), selector: LabelSelector.optional() }).default(() => ({ from: 'None' as const })),
  }).optional(),
  tls: GatewayTLS.optional(),
});
export type K8sGatewaySpec = z.output<typeof K8sGatewaySpec>;

// ---------------------------------------------------------------------------------------
// GatewayClass and ReferenceGrant.

/** GatewayClass spec. */
export const GatewayClassSpec = obj({
  controllerName: str({
    min: 1,
    max: 253,
    re: CONTROLLER_NAME,
    invalid: (v) => `"${v}" is not a valid controller name: it must be a domain-prefixed path such as "example.net/gateway-controller"`,
  }),
  parametersRef: obj({ group: Group(), kind: Kind(), name: ObjectName(), namespace: Namespace().optional() }).optional(),
  description: str({ max: 64 }).optional(),
});
export type GatewayClassSpec = z.output<typeof GatewayClassSpec>;

/** ReferenceGrant spec: which kinds in which namespaces may refer to which objects here. */
export const ReferenceGrantSpec = obj({
  from: z.array(obj({ group: Group(), kind: Kind(), namespace: Namespace() })).min(1).max(16),
  to: z.array(obj({ group: Group(), kind: Kind(), name: ObjectName().optional() })).min(1).max(16),
});
export type ReferenceGrantSpec = z.output<typeof ReferenceGrantSpec>;

const GROUP_NAME = 'gateway.networking.k8s.io';
const CATEGORIES = ['gateway-api'];
const AGE = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const HOSTNAMES = { name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' };

/** A Gateway API kind: validated with upstream's rules, its CRD not shipped by Meshwork. */
function gatewayKind(kind: string, versions: readonly string[], plural: string, shortNames: readonly string[], namespaced: boolean, spec: z.ZodType, printerColumns: KindDef['printerColumns']): KindDef {
  return {
    group: GROUP_NAME,
    kind,
    versions,
    plural,
    singular: kind.toLowerCase(),
    ...(shortNames.length > 0 ? { shortNames } : {}),
    categories: CATEGORIES,
    namespaced,
    crd: false,
    body: obj({ spec, status: anyJson().optional() }),
    printerColumns,
  };
}

/** The Gateway API kinds meshctl validates (upstream's CRDs, not shipped by Meshwork). */
export const GATEWAY_API_KINDS: KindDef[] = [
  gatewayKind('GatewayClass', ['v1', 'v1beta1'], 'gatewayclasses', ['gc'], false, GatewayClassSpec, [{ name: 'Controller', type: 'string', jsonPath: '.spec.controllerName' }, { name: 'Accepted', type: 'string', jsonPath: '.status.conditions[?(@.type=="Accepted")].status' }, AGE]),
  gatewayKind('Gateway', ['v1', 'v1beta1'], 'gateways', ['gtw'], true, K8sGatewaySpec, [{ name: 'Class', type: 'string', jsonPath: '.spec.gatewayClassName' }, { name: 'Address', type: 'string', jsonPath: '.status.addresses[*].value' }, { name: 'Programmed', type: 'string', jsonPath: '.status.conditions[?(@.type=="Programmed")].status' }, AGE]),
  gatewayKind('HTTPRoute', ['v1', 'v1beta1'], 'httproutes', [], true, HTTPRouteSpec, [HOSTNAMES, AGE]),
  gatewayKind('GRPCRoute', ['v1'], 'grpcroutes', [], true, GRPCRouteSpec, [HOSTNAMES, AGE]),
  // v1alpha2 is what Istio's TCP/TLS traffic tasks still apply; same schema.
  gatewayKind('TCPRoute', ['v1', 'v1alpha2'], 'tcproutes', [], true, TCPRouteSpec, [AGE]),
  // v1alpha2 is what Istio's TCP/TLS traffic tasks still apply; same schema.
  gatewayKind('TLSRoute', ['v1', 'v1alpha2'], 'tlsroutes', [], true, TLSRouteSpec, [HOSTNAMES, AGE]),
  // Upstream stores v1beta1 and also serves v1 (since v1.6).
  gatewayKind('ReferenceGrant', ['v1beta1', 'v1'], 'referencegrants', ['refgrant'], true, ReferenceGrantSpec, [AGE]),
];
