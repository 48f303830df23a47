/**
 * networking.istio.io routing kinds: VirtualService and Gateway (versions v1, v1beta1,
 * v1alpha3; v1 is stored).
 *
 * The verdicts follow two layers of Istio, because a user of Istio meets both: the CRD
 * schema the API server enforces (types, enums, required fields, CEL rules in
 * istio/api's customresourcedefinitions.gen.yaml) and istiod's validating webhook
 * (pkg/config/validation: ValidateVirtualService, validateHTTPRoute, ValidateGateway,
 * validateServer, validateTLSOptions, ...). Istio's warnings (deprecated fields, invalid
 * cipher names, weights that do not add up to 100) are not errors here either.
 *
 * Rules that need the whole resource (whether a VirtualService is a delegate, whether it
 * is bound to gateways, whether a Gateway server's port is valid) live in `crossCheck`s on
 * the spec or server; rules about one value live on that value, so the error points at it.
 */
import * as z from 'zod';
import type { KindDef } from './kind.js';
import { checkFqdn, checkWildcardHost, isIstioDnsLabel, ISTIO_LABEL_PATTERN as LABEL } from '../fields/host.js';
import { allRules, exportToOwnNamespace, istioMetadataRules, nameIsDnsLabel } from './meta.js';
import { anyJson, crdHints, crossCheck, double, duration, int32, obj, oneOf, uint32, type CrdHints } from './dsl.js';
import { checkRe2 } from '../fields/regex.js';
import { checkCidr, checkIp } from '../fields/net.js';
import { checkDuration, parseDuration } from '../fields/duration.js';

// ---------------------------------------------------------------------------
// Local builders and Istio's value rules
// ---------------------------------------------------------------------------

/** A problem found by a list-level check, with its path relative to the list. */
export interface FieldIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

/** A string checked by `check`, which returns every reason it is invalid (none when valid). */
function stringWith(check: (s: string) => readonly string[], hints?: CrdHints): z.ZodString {
  const s = z.string().superRefine((v, ctx) => {
    for (const message of check(v)) ctx.addIssue({ code: 'custom', message, input: v });
  });
  if (hints) crdHints.add(s, hints);
  return s;
}

/** `base` with an extra value rule; keeps the CRD hints of `base` (zod returns a new schema). */
function numberWith(base: z.ZodNumber, check: (n: number) => string | undefined, hints: CrdHints = {}): z.ZodNumber {
  const s = base.superRefine((v, ctx) => {
    const message = check(v);
    if (message) ctx.addIssue({ code: 'custom', message, input: v });
  });
  const prev = crdHints.get(base);
  crdHints.add(s, { ...prev, ...hints, validations: [...(prev?.validations ?? []), ...(hints.validations ?? [])] });
  return s;
}

/** A string → X map whose keys are checked by `checkKey` (errors point at the key). */
function mapWith<V extends z.ZodType>(value: V, checkKey: (k: string) => readonly string[]): z.ZodRecord<z.ZodString, V> {
  return z.record(z.string(), value).superRefine((m, ctx) => {
    for (const k of Object.keys(m)) {
      for (const message of checkKey(k)) ctx.addIssue({ code: 'custom', message, path: [k], input: k });
    }
  });
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const isObj = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const present = (v: unknown): boolean => v !== undefined && v !== null;
const nonEmpty = (v: unknown): boolean => Array.isArray(v) && v.length > 0;

/** isDnsLabel reports whether `s` is a DNS-1123 label in Istio's (case-insensitive) sense. */
export const isDnsLabel = isIstioDnsLabel;

/** checkWildcardDomain is Istio's ValidateWildcardDomain (fields/host.ts). */
export const checkWildcardDomain = checkWildcardHost;

/** checkFqdnName is Istio's ValidateFQDN (fields/host.ts). */
export const checkFqdnName = checkFqdn;

/**
 * Hosts of a VirtualService bound to gateways: with TLS SNI routes, the names Istio
 * generates for AUTO_PASSTHROUGH (`outbound_.<port>_._.<hostname>`) are allowed too.
 */
function checkGatewayBoundDomain(sni: boolean, domain: string): string | undefined {
  if (domain.length === 0 || domain.length > 255) return checkWildcardHost(domain);
  if (sni && domain.startsWith('outbound_')) {
    const parts = domain.split('_');
    if (parts.length < 4) return `domain name "${domain}" is invalid: it must follow the form outbound_.<PORT>_._.<HOSTNAME>`;
    const port = trimDots(parts[1]);
    const hostname = trimDots(parts[3]);
    if (!/[0-9]/.test(port)) return `domain name "${domain}" is invalid: port part "${port}" must follow the form outbound_.<PORT>_._.<HOSTNAME>`;
    if (!/[a-zA-Z]/.test(hostname)) return `domain name "${domain}" is invalid: host part "${hostname}" must follow the form outbound_.<PORT>_._.<HOSTNAME>`;
    return undefined;
  }
  return checkWildcardDomain(domain);
}

function trimDots(s: string): string {
  return s.replace(/^\.+|\.+$/g, '');
}

const isIp = (s: string): boolean => checkIp(s) === undefined;

/** Istio's host.Name.Matches: the two hosts (either may be a wildcard) overlap. */
function hostsOverlap(a: string, b: string): boolean {
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw && bw) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  if (aw) return b.endsWith(a.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** Istio's host.Name.SubsetOf: every name `a` matches is also matched by `b`. */
function hostSubsetOf(a: string, b: string): boolean {
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw && bw) return a.length >= b.length && a.slice(1).endsWith(b.slice(1));
  if (aw) return false;
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** A label map as Istio checks `sourceLabels` (labels.Instance.Validate). */
function sourceLabels(): z.ZodRecord<z.ZodString, z.ZodString> {
  const qualified = '(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
  const keyRe = new RegExp(`^(${LABEL}(?:\\.${LABEL})*/)?(${qualified})$`);
  const valueRe = new RegExp(`^(?:${qualified})?$`);
  return z.record(z.string(), z.string()).superRefine((m, ctx) => {
    for (const [k, v] of Object.entries(m)) {
      const km = keyRe.exec(k);
      if (!km) ctx.addIssue({ code: 'custom', message: `invalid label key "${k}"`, path: [k], input: k });
      else if (km[1] && km[1].length - 1 > 253) ctx.addIssue({ code: 'custom', message: `invalid label key "${k}": the prefix is longer than 253 characters`, path: [k], input: k });
      else if (km[2].length > 63) ctx.addIssue({ code: 'custom', message: `invalid label key "${k}": the name is longer than 63 characters`, path: [k], input: k });
      if (typeof v === 'string' && !valueRe.test(v)) {
        ctx.addIssue({ code: 'custom', message: `invalid label value "${v}": it must consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character`, path: [k], input: v });
      }
    }
  });
}

/**
 * checkGatewayName returns the problems of a gateway reference in a VirtualService (none when
 * valid): `mesh`, `<name>` (or the legacy `<name>.<namespace>`), or `<namespace>/<name>`.
 */
export function checkGatewayName(name: string): string[] {
  const slash = name.indexOf('/');
  if (slash < 0) {
    const e = checkFqdnName(name);
    return e ? [`invalid gateway "${name}": ${e}`] : [];
  }
  const ns = name.slice(0, slash);
  const gw = name.slice(slash + 1);
  const out: string[] = [];
  if (ns === '' || gw === '') out.push(`invalid gateway "${name}": the namespace and the gateway name must both be non-empty`);
  else {
    if (!isDnsLabel(ns)) out.push(`invalid gateway "${name}": namespace "${ns}" is not a valid DNS label`);
    if (!isDnsLabel(gw)) out.push(`invalid gateway "${name}": gateway name "${gw}" is not a valid DNS label`);
  }
  return out;
}

const gatewayName = (): z.ZodString => stringWith(checkGatewayName);

/** Istio's ValidateIPSubnet: a CIDR block when the text has one "/", otherwise a plain IP address. */
function checkIpSubnet(s: string): string | undefined {
  if (s.split('/').length === 2) return checkCidr(s) ? `"${s}" is not a valid CIDR block` : undefined;
  return isIp(s) ? undefined : `"${s}" is not a valid IP address`;
}

/** A match `port`: 0 (unset) or 1..65535. */
function matchPort(): z.ZodNumber {
  return numberWith(uint32(), (n) => (n !== 0 && (n < 1 || n > 65535) ? `port number ${n} must be in the range 1..65535` : undefined));
}

// --- HTTP header names and values ---------------------------------------------

// RFC 7230 token characters.
const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/;
const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status']);
const JWT_CLAIM_PREFIX = '@request.auth.claims';

/** True for `@request.auth.claims.<a>[.<b>...]` and `@request.auth.claims[<a>][<b>]`, which route on JWT claims. */
function isJwtClaimHeader(name: string): boolean {
  if (!name.toLowerCase().startsWith(JWT_CLAIM_PREFIX)) return false;
  const rest = name.slice(JWT_CLAIM_PREFIX.length);
  return (rest.startsWith('.') && rest.length > 1) || (rest.startsWith('[') && rest.endsWith(']') && rest.length > 2);
}

/** A header name in a match: a token, an HTTP/2 pseudo-header or a JWT-claim reference. */
function checkMatchHeaderName(name: string): string[] {
  if (name === '') return ['header name must not be empty'];
  if (isJwtClaimHeader(name) || PSEUDO_HEADERS.has(name)) return [];
  return HEADER_NAME_RE.test(name) ? [] : [`"${name}" is not a valid header name`];
}

const isAuthorityHeader = (name: string): boolean => name.toLowerCase() === ':authority' || name.toLowerCase() === 'host';

/** A header name that a route may set or add on requests (the authority may be rewritten this way). */
function checkRequestSetName(name: string): string[] {
  if (name === '') return ['header name must not be empty'];
  if ((name.startsWith(':') || name.toLowerCase() === 'host') && !isAuthorityHeader(name)) {
    return [`invalid header "${name}": pseudo-headers (":" prefix) cannot be modified`];
  }
  return [];
}

/** A header name a route may remove from requests, or set, add or remove on responses. */
function checkHeaderOperationName(name: string): string[] {
  if (name === '') return ['header name must not be empty'];
  if (name.toLowerCase() === 'host') return [`invalid header "${name}": the Host header cannot be modified here`];
  if (name.startsWith(':')) return [`invalid header "${name}": pseudo-headers (":" prefix) cannot be modified`];
  return [];
}

/**
 * checkHeaderValue returns why `value` is not a header value Envoy accepts: no control
 * characters, and `%` only as `%%` or around a command operator such as `%HOSTNAME%` or
 * `%REQ(x-foo)%` (Envoy's custom request/response header syntax).
 */
export function checkHeaderValue(value: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000A-\u001F\u007F]/.test(value)) return `header value ${JSON.stringify(value)} contains control characters`;
  type State = 'literal' | 'name' | 'args' | 'item' | 'quoted' | 'afterItem' | 'argsEnd' | 'end';
  let state: State = 'literal';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    const more = i + 1 < value.length;
    switch (state) {
      case 'literal':
        if (c !== '%') break;
        if (!more) return `header value "${value}" has an unescaped "%" (write "%%" for a literal percent sign)`;
        if (value[i + 1] === '%') i++;
        else state = 'name';
        break;
      case 'name':
        if (c === '%') state = 'literal';
        else if (c === '(') state = 'args';
        break;
      case 'args':
        // `%VAR([...])%` takes a JSON array of strings; `%VAR(text)%` a bare argument.
        if (c === '[') state = 'item';
        else if (c !== ' ') state = 'quoted';
        break;
      case 'item':
        if (c === '"') state = 'quoted';
        else if (c !== ' ') return `header value "${value}" is invalid: expected '"' to start an argument`;
        break;
      case 'quoted':
        if (c === '\\') {
          if (!more) return `header value "${value}" is invalid: unterminated backslash escape`;
          i++;
        } else if (c === ')') state = 'end';
        else if (c === '"') state = 'afterItem';
        break;
      case 'afterItem':
        if (c === ',') state = 'item';
        else if (c === ']') state = 'argsEnd';
        else if (c !== ' ') return `header value "${value}" is invalid: expected ',' or ']' after an argument`;
        break;
      case 'argsEnd':
        if (c === ')') state = 'end';
        else if (c !== ' ') return `header value "${value}" is invalid: expected ')' after the arguments`;
        break;
      case 'end':
        if (c === '%') state = 'literal';
        else if (c !== ' ') return `header value "${value}" is invalid: expected '%' to close the variable`;
        break;
    }
  }
  return state === 'literal' ? undefined : `header value "${value}" has an unterminated %VARIABLE% expression`;
}

const headerValue = (): z.ZodString => stringWith((v) => {
  const r = checkHeaderValue(v);
  return r ? [r] : [];
});

// --- string matches ------------------------------------------------------------

// Envoy bounds a regex by program size; Istio approximates that by length.
const MAX_REGEX_LENGTH = 1024;

/** checkRouteRegex returns why `re` cannot be used as a match regex (empty, too long, not RE2), or undefined. */
export function checkRouteRegex(re: string): string | undefined {
  if (re === '') return 'regex string match must not be empty';
  if (re.length > MAX_REGEX_LENGTH) return `regex is too long: ${re.length} characters, at most ${MAX_REGEX_LENGTH} are allowed`;
  return checkRe2(re);
}

interface StringMatchRules {
  /** `prefix: ""` matches everything; Envoy allows it for paths only. */
  readonly allowEmptyPrefix?: boolean;
  /** In `withoutHeaders`, `regex: "*"` means "header present", not a regex. */
  readonly allowStarRegex?: boolean;
}

/** istio.networking.v1.StringMatch with the rules of the field it is used in. */
function stringMatch(rules: StringMatchRules = {}) {
  return crossCheck(
    oneOf(obj({ exact: z.string().optional(), prefix: z.string().optional(), regex: z.string().optional() }), ['exact', 'prefix', 'regex']),
    (m, ctx) => {
      if (!rules.allowEmptyPrefix && m.prefix === '') ctx.addIssue({ code: 'custom', message: 'prefix string match must not be empty', path: ['prefix'] });
      if (typeof m.regex === 'string' && !(rules.allowStarRegex && m.regex === '*')) {
        const r = checkRouteRegex(m.regex);
        if (r) ctx.addIssue({ code: 'custom', message: r, path: ['regex'] });
      }
    },
  );
}

/** StringMatch as used by header, query, scheme, method and authority matches. */
export const StringMatch = stringMatch();
export type StringMatch = z.output<typeof StringMatch>;

// ---------------------------------------------------------------------------
// VirtualService messages
// ---------------------------------------------------------------------------

/** istio.networking.v1.PortSelector: the destination port. */
export const PortSelector = crossCheck(obj({ number: uint32().optional() }), (p, ctx) => {
  // An empty selector means port 0, which Istio rejects like any out-of-range port.
  const n = p.number ?? 0;
  if (Number.isInteger(n) && n >= 0 && (n < 1 || n > 65535)) {
    ctx.addIssue({ code: 'custom', message: `port number ${n} must be in the range 1..65535`, path: ['number'] });
  }
});
export type PortSelector = z.output<typeof PortSelector>;

/** istio.networking.v1.Destination: service host, subset and port. */
export const Destination = obj({
  host: stringWith((h) => {
    if (h === '*') return ['invalid destination host "*": a destination must name one service'];
    const e = checkWildcardDomain(h);
    return e ? [e] : [];
  }),
  subset: stringWith((s) => (s === '' || isDnsLabel(s) ? [] : [`subset name "${s}" is invalid: it must be a DNS label`])).optional(),
  port: PortSelector.optional(),
});
export type Destination = z.output<typeof Destination>;

const HeaderOperations = (setName: (n: string) => string[]) =>
  obj({
    set: mapWith(headerValue(), setName).optional(),
    add: mapWith(headerValue(), setName).optional(),
    remove: z.array(stringWith(checkHeaderOperationName)).optional(),
  });

/** istio.networking.v1.Headers: request and response header manipulation. */
export const Headers = obj({
  request: HeaderOperations(checkRequestSetName).optional(),
  response: HeaderOperations(checkHeaderOperationName).optional(),
});
export type Headers = z.output<typeof Headers>;

const weight = (): z.ZodNumber => numberWith(int32(), (w) => (w < 0 ? `weight must not be negative, got ${w}` : undefined));

/** istio.networking.v1.HTTPRouteDestination: a weighted destination with header operations. */
export const HTTPRouteDestination = obj({
  destination: Destination,
  weight: weight().optional(),
  headers: Headers.optional(),
});
export type HTTPRouteDestination = z.output<typeof HTTPRouteDestination>;

/** istio.networking.v1.RouteDestination: a weighted TCP/TLS destination. */
export const RouteDestination = obj({
  destination: Destination,
  weight: weight().optional(),
});
export type RouteDestination = z.output<typeof RouteDestination>;

/** Istio rejects a weighted list whose weights are all zero (a single destination may omit its weight). */
function checkTotalWeight(route: unknown, path: (string | number)[], ctx: z.core.$RefinementCtx<unknown>): void {
  const dests = list(route);
  if (dests.length < 2) return;
  let total = 0;
  for (const d of dests) {
    const w = rec(d).weight;
    if (typeof w === 'number') total += w;
  }
  if (total === 0) ctx.addIssue({ code: 'custom', message: 'the total weight of the destinations is 0; at least one weight must be positive', path });
}

/** istio.networking.v1.HTTPMatchRequest: the conditions of an HTTP route. */
export const HTTPMatchRequest = obj({
  name: z.string().optional(),
  uri: stringMatch({ allowEmptyPrefix: true }).optional(),
  scheme: StringMatch.optional(),
  method: StringMatch.optional(),
  authority: StringMatch.optional(),
  headers: mapWith(StringMatch, checkMatchHeaderName).optional(),
  port: matchPort().optional(),
  sourceLabels: sourceLabels().optional(),
  gateways: z.array(gatewayName()).optional(),
  queryParams: z.record(z.string(), StringMatch).optional(),
  ignoreUriCase: z.boolean().optional(),
  withoutHeaders: mapWith(stringMatch({ allowStarRegex: true }), checkMatchHeaderName).optional(),
  sourceNamespace: stringWith((ns) => (ns === '' || isDnsLabel(ns) ? [] : [`sourceNamespace "${ns}" is not a valid namespace name (DNS label)`])).optional(),
  statPrefix: z.string().optional(),
});
export type HTTPMatchRequest = z.output<typeof HTTPMatchRequest>;

/** istio.networking.v1.HTTPRedirect: a 3xx redirect instead of forwarding. */
export const HTTPRedirect = crossCheck(
  oneOf(
    obj({
      uri: z.string().optional(),
      authority: z.string().optional(),
      port: numberWith(uint32(), (p) => (p > 65535 ? `port number ${p} must be in the range 1..65535` : undefined)).optional(),
      derivePort: z.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(),
      scheme: stringWith((s) => (s === '' || s === 'http' || s === 'https' ? [] : [`invalid redirect scheme "${s}": must be "http" or "https"`])).optional(),
      redirectCode: numberWith(uint32(), (c) => (c !== 0 && (c < 300 || c > 399) ? `redirect code ${c} is invalid: it must be a 3xx status` : undefined)).optional(),
      prefixRewrite: z.string().optional(),
    }),
    ['port', 'derivePort'],
  ),
  (r, ctx) => {
    if (str(r.uri) !== '' && str(r.prefixRewrite) !== '') {
      ctx.addIssue({ code: 'custom', message: 'redirect may set only one of uri and prefixRewrite', path: ['prefixRewrite'] });
    }
    // A redirect that changes nothing would loop.
    if (str(r.uri) === '' && str(r.prefixRewrite) === '' && str(r.authority) === '' && !present(r.port) && !present(r.derivePort) && str(r.scheme) === '') {
      ctx.addIssue({ code: 'custom', message: 'redirect must set at least one of uri, prefixRewrite, authority, scheme, port or derivePort' });
    }
  },
);
export type HTTPRedirect = z.output<typeof HTTPRedirect>;

const MB = 1024 * 1024;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** istio.networking.v1.HTTPBody: the body of a direct response, as text or base64 bytes. */
export const HTTPBody = oneOf(
  obj({
    string: stringWith((s) => (utf8Length(s) > MB ? [`direct response body is ${utf8Length(s)} bytes; it must be less than 1MB (large bodies slow down the control plane)`] : [])).optional(),
    bytes: stringWith((b) => {
      if (!BASE64_RE.test(b)) return ['must be base64-encoded bytes (standard alphabet with padding)'];
      const size = (b.length / 4) * 3 - (b.endsWith('==') ? 2 : b.endsWith('=') ? 1 : 0);
      return size > MB ? [`direct response body is ${size} bytes; it must be less than 1MB (large bodies slow down the control plane)`] : [];
    }, { format: 'byte' }).optional(),
  }),
  ['string', 'bytes'],
);
export type HTTPBody = z.output<typeof HTTPBody>;

// Istio accepts 200..600 (inclusive; its message says 599). Envoy rejects 600, so do we.
const httpStatus = (base: z.ZodNumber): z.ZodNumber =>
  numberWith(base, (s) => (s < 200 || s > 599 ? `HTTP status ${s} must be in the range 200..599` : undefined));

/** istio.networking.v1.HTTPDirectResponse: a fixed response instead of forwarding. */
export const HTTPDirectResponse = obj({
  status: httpStatus(uint32()),
  body: HTTPBody.optional(),
});
export type HTTPDirectResponse = z.output<typeof HTTPDirectResponse>;

/** istio.networking.v1.Delegate: the VirtualService that holds this route's rules. */
export const Delegate = obj({
  name: z.string().optional(),
  namespace: z.string().optional(),
});
export type Delegate = z.output<typeof Delegate>;

/** istio.networking.v1.RegexRewrite. */
export const RegexRewrite = obj({ match: z.string().optional(), rewrite: z.string().optional() });
export type RegexRewrite = z.output<typeof RegexRewrite>;

/** istio.networking.v1.HTTPRewrite: path and authority rewrites before forwarding. */
export const HTTPRewrite = crossCheck(
  obj({
    uri: z.string().optional(),
    authority: z.string().optional(),
    uriRegexRewrite: RegexRewrite.optional(),
  }),
  (r, ctx) => {
    const regex = r.uriRegexRewrite;
    if (str(r.uri) !== '' && present(regex)) {
      ctx.addIssue({ code: 'custom', message: 'rewrite may set only one of uri and uriRegexRewrite', path: ['uriRegexRewrite'] });
    }
    if (str(r.uri) === '' && !present(regex) && str(r.authority) === '') {
      ctx.addIssue({ code: 'custom', message: 'rewrite must set at least one of uri, uriRegexRewrite or authority' });
    }
    if (isObj(regex)) {
      const { match, rewrite } = rec(regex);
      if (str(match) === '' || str(rewrite) === '') {
        ctx.addIssue({ code: 'custom', message: 'uriRegexRewrite requires both match and rewrite', path: ['uriRegexRewrite'] });
      } else {
        const e = checkRouteRegex(str(match));
        if (e) ctx.addIssue({ code: 'custom', message: e, path: ['uriRegexRewrite', 'match'] });
      }
    }
  },
);
export type HTTPRewrite = z.output<typeof HTTPRewrite>;

// Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on policies that Istio accepts.
const RETRY_ON_POLICIES = new Set([
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'retriable-4xx', 'refused-stream',
  'retriable-status-codes', 'retriable-headers', 'envoy-ratelimited', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);
// The status codes Go's net/http knows a text for; Istio accepts exactly these as retryOn entries.
const KNOWN_HTTP_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424,
  425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

/** checkRetryOn returns a reason for every comma-separated entry of `retryOn` that is neither an Envoy policy nor an HTTP status code. */
export function checkRetryOn(retryOn: string): string[] {
  if (retryOn === '') return [];
  const out: string[] = [];
  for (const policy of retryOn.split(',')) {
    const code = /^[+-]?\d+$/.test(policy) ? Number(policy) : NaN;
    if (!KNOWN_HTTP_STATUS.has(code) && !RETRY_ON_POLICIES.has(policy)) {
      out.push(`"${policy}" is not a valid retryOn policy: use Envoy retry policies (5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream, retriable-status-codes, ...) or HTTP status codes, separated by commas without spaces`);
    }
  }
  return out;
}

/** istio.networking.v1.HTTPRetry: the retry policy of an HTTP route. */
export const HTTPRetry = crossCheck(
  obj({
    attempts: numberWith(int32(), (a) => (a < 0 ? `attempts must not be negative, got ${a}` : undefined)).optional(),
    perTryTimeout: duration().optional(),
    retryOn: stringWith(checkRetryOn).optional(),
    retryRemoteLocalities: z.boolean().nullish(),
    retryIgnorePreviousHosts: z.boolean().nullish(),
    backoff: duration().optional(),
  }),
  (r, ctx) => {
    if ((r.attempts ?? 0) === 0 && (present(r.perTryTimeout) || str(r.retryOn) !== '' || present(r.retryRemoteLocalities))) {
      ctx.addIssue({ code: 'custom', message: 'retry settings are configured but attempts is 0, which disables retries', path: ['attempts'] });
    }
  },
);
export type HTTPRetry = z.output<typeof HTTPRetry>;

const CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', '*']);

function checkCorsHeaderName(name: string): string[] {
  if (name === '') return ['header name must not be empty'];
  return name === '*' || HEADER_NAME_RE.test(name) ? [] : [`"${name}" is not a valid header name`];
}

/** An allowed CORS origin: a StringMatch whose chosen value is not empty. */
const CorsOrigin = crossCheck(
  oneOf(obj({ exact: z.string().optional(), prefix: z.string().optional(), regex: z.string().optional() }), ['exact', 'prefix', 'regex']),
  (m, ctx) => {
    const value = m.exact ?? m.prefix ?? m.regex;
    if (typeof value !== 'string' || value === '') {
      ctx.addIssue({ code: 'custom', message: 'an allowed origin must set a non-empty exact, prefix or regex' });
    } else if (typeof m.regex === 'string') {
      const e = checkRouteRegex(m.regex);
      if (e) ctx.addIssue({ code: 'custom', message: e, path: ['regex'] });
    }
  },
);

/** CORS max age: a duration of at least 1ms, in whole seconds (Access-Control-Max-Age is in seconds). */
const corsMaxAge = (): z.ZodString =>
  stringWith(
    (v) => {
      const e = checkDuration(v, { minNs: 1e6, msPrecision: true });
      if (e) return [e];
      const d = parseDuration(v);
      return d.ok && d.ns % 1e9 !== 0 ? [`maxAge is sent in whole seconds, got "${v}"`] : [];
    },
    { validations: [{ rule: "duration(self) >= duration('1ms')", message: 'must be a valid duration greater than 1ms' }] },
  );

/** istio.networking.v1.CorsPolicy. */
export const CorsPolicy = obj({
  allowOrigin: z.array(z.string()).optional(),
  allowOrigins: z.array(CorsOrigin).optional(),
  allowMethods: z.array(stringWith((m) => (CORS_METHODS.has(m) ? [] : [`"${m}" is not a supported HTTP method (GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE or *)`]))).optional(),
  allowHeaders: z.array(stringWith(checkCorsHeaderName)).optional(),
  exposeHeaders: z.array(stringWith(checkCorsHeaderName)).optional(),
  maxAge: corsMaxAge().optional(),
  allowCredentials: z.boolean().nullish(),
  unmatchedPreflights: z.enum(['UNSPECIFIED', 'FORWARD', 'IGNORE']).optional(),
});
export type CorsPolicy = z.output<typeof CorsPolicy>;

/** Fault percentages must be 0 or at least 0.0001 (Envoy's smallest fraction, one in a million). */
const FaultPercent = crossCheck(obj({ value: double().optional() }), (p, ctx) => {
  const v = p.value;
  if (typeof v === 'number' && (v < 0 || v > 100 || (v > 0 && v < 0.0001))) {
    ctx.addIssue({ code: 'custom', message: `percentage ${v} must be 0 or in the range [0.0001, 100]`, path: ['value'] });
  }
});

/** istio.networking.v1.Percent for mirroring: 0..100. */
const MirrorPercent = crossCheck(obj({ value: double().optional() }), (p, ctx) => {
  const v = p.value;
  if (typeof v === 'number' && (v < 0 || v > 100)) {
    ctx.addIssue({ code: 'custom', message: `mirror percentage ${v} must be in the range [0, 100]`, path: ['value'] });
  }
});

const GRPC_STATUS = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED',
];

/** istio.networking.v1.HTTPFaultInjection.Delay. */
export const HTTPFaultDelay = oneOf(
  obj({
    percent: int32().optional(),
    fixedDelay: duration().optional(),
    exponentialDelay: stringWith((v) => {
      const e = checkDuration(v, { minNs: 1e6, msPrecision: true });
      return [e ?? 'exponentialDelay is not supported yet; use fixedDelay'];
    }, { validations: [{ rule: "duration(self) >= duration('1ms')", message: 'must be a valid duration greater than 1ms' }] }).optional(),
    percentage: FaultPercent.optional(),
  }),
  ['fixedDelay', 'exponentialDelay'],
);
export type HTTPFaultDelay = z.output<typeof HTTPFaultDelay>;

/** istio.networking.v1.HTTPFaultInjection.Abort. */
export const HTTPFaultAbort = oneOf(
  obj({
    httpStatus: httpStatus(int32()).optional(),
    grpcStatus: stringWith((s) => (GRPC_STATUS.includes(s) ? [] : [`gRPC status "${s}" is not supported; use a code name such as NOT_FOUND or UNAVAILABLE (https://github.com/grpc/grpc/blob/master/doc/statuscodes.md)`])).optional(),
    http2Error: stringWith(() => ['HTTP/2 abort fault injection is not supported yet']).optional(),
    percentage: FaultPercent.optional(),
  }),
  ['httpStatus', 'grpcStatus', 'http2Error'],
);
export type HTTPFaultAbort = z.output<typeof HTTPFaultAbort>;

/** istio.networking.v1.HTTPFaultInjection: delays and aborts for testing resilience. */
export const HTTPFaultInjection = crossCheck(obj({ delay: HTTPFaultDelay.optional(), abort: HTTPFaultAbort.optional() }), (f, ctx) => {
  if (!present(f.delay) && !present(f.abort)) ctx.addIssue({ code: 'custom', message: 'fault injection must set an abort, a delay or both' });
});
export type HTTPFaultInjection = z.output<typeof HTTPFaultInjection>;

/** istio.networking.v1.HTTPMirrorPolicy: one mirror destination with its share of traffic. */
export const HTTPMirrorPolicy = obj({
  destination: Destination,
  percentage: MirrorPercent.optional(),
});
export type HTTPMirrorPolicy = z.output<typeof HTTPMirrorPolicy>;

// The deprecated uint32 mirror percentage; the CRD also lists the proto name `mirror_percent`.
const legacyMirrorPercent = (): z.ZodNumber =>
  numberWith(uint32(), (p) => (p > 100 ? `mirrorPercent ${p} must be at most 100` : undefined));

/** istio.networking.v1.HTTPRoute: one HTTP rule (matches and what to do with matching requests). */
export const HTTPRoute = crossCheck(
  obj({
    name: z.string().optional(),
    match: z.array(HTTPMatchRequest).optional(),
    route: z.array(HTTPRouteDestination).optional(),
    redirect: HTTPRedirect.optional(),
    directResponse: HTTPDirectResponse.optional(),
    delegate: Delegate.optional(),
    rewrite: HTTPRewrite.optional(),
    timeout: duration().optional(),
    retries: HTTPRetry.optional(),
    fault: HTTPFaultInjection.optional(),
    mirror: Destination.optional(),
    mirrors: z.array(HTTPMirrorPolicy).optional(),
    mirrorPercent: legacyMirrorPercent().nullish(),
    mirror_percent: legacyMirrorPercent().nullish(),
    mirrorPercentage: MirrorPercent.optional(),
    corsPolicy: CorsPolicy.optional(),
    headers: Headers.optional(),
  }),
  (h, ctx) => {
    checkTotalWeight(h.route, ['route'], ctx);
    // Only a path prefix can be replaced by a prefix.
    if (isObj(h.redirect) && str(rec(h.redirect).prefixRewrite) !== '') {
      list(h.match).forEach((m, i) => {
        const uri = rec(m).uri;
        if (isObj(uri) && !present(rec(uri).prefix)) {
          ctx.addIssue({ code: 'custom', message: 'redirect.prefixRewrite requires every uri match to be a prefix match', path: ['match', i, 'uri'] });
        }
      });
    }
    // The authority may be rewritten in one place only.
    const claims: string[] = [];
    if (isObj(h.rewrite) && str(rec(h.rewrite).authority) !== '') claims.push(str(rec(h.rewrite).authority));
    const req = rec(rec(h.headers).request);
    for (const op of ['set', 'add'] as const) {
      for (const [k, v] of Object.entries(rec(req[op]))) {
        if (!isAuthorityHeader(k)) continue;
        if (claims.length > 0) {
          ctx.addIssue({ code: 'custom', message: `the authority is already rewritten to "${claims[0]}"; it cannot also be set to "${str(v)}"`, path: ['headers', 'request', op, k] });
        }
        claims.push(str(v));
      }
    }
  },
);
export type HTTPRoute = z.output<typeof HTTPRoute>;

/** istio.networking.v1.TLSMatchAttributes: SNI-based matching of TLS connections. */
export const TLSMatchAttributes = obj({
  sniHosts: z.array(z.string()),
  destinationSubnets: z.array(stringWith((s) => {
    const e = checkIpSubnet(s);
    return e ? [e] : [];
  })).optional(),
  port: matchPort().optional(),
  sourceLabels: sourceLabels().optional(),
  gateways: z.array(gatewayName()).optional(),
  sourceNamespace: z.string().optional(),
});
export type TLSMatchAttributes = z.output<typeof TLSMatchAttributes>;

/** istio.networking.v1.L4MatchAttributes: matching of TCP connections. */
export const L4MatchAttributes = obj({
  destinationSubnets: z.array(stringWith((s) => {
    const e = checkIpSubnet(s);
    return e ? [e] : [];
  })).optional(),
  port: matchPort().optional(),
  sourceSubnet: z.string().optional(),
  sourceLabels: sourceLabels().optional(),
  gateways: z.array(gatewayName()).optional(),
  sourceNamespace: z.string().optional(),
});
export type L4MatchAttributes = z.output<typeof L4MatchAttributes>;

/** istio.networking.v1.TLSRoute: routing of unterminated TLS by SNI. */
export const TLSRoute = crossCheck(
  obj({
    match: z.array(TLSMatchAttributes),
    route: z.array(RouteDestination).optional(),
  }),
  (t, ctx) => {
    if (Array.isArray(t.match) && t.match.length === 0) ctx.addIssue({ code: 'custom', message: 'a TLS route must have at least one match', path: ['match'] });
    list(t.match).forEach((m, i) => {
      if (Array.isArray(rec(m).sniHosts) && list(rec(m).sniHosts).length === 0) {
        ctx.addIssue({ code: 'custom', message: 'a TLS match must have at least one SNI host', path: ['match', i, 'sniHosts'] });
      }
    });
    if (!nonEmpty(t.route)) ctx.addIssue({ code: 'custom', message: 'a TLS route must have at least one route destination', path: ['route'] });
    checkTotalWeight(t.route, ['route'], ctx);
  },
);
export type TLSRoute = z.output<typeof TLSRoute>;

/** istio.networking.v1.TCPRoute: routing of opaque TCP connections. */
export const TCPRoute = crossCheck(
  obj({
    match: z.array(L4MatchAttributes).optional(),
    route: z.array(RouteDestination).optional(),
  }),
  (t, ctx) => {
    if (!nonEmpty(t.route)) ctx.addIssue({ code: 'custom', message: 'a TCP route must have at least one route destination', path: ['route'] });
    checkTotalWeight(t.route, ['route'], ctx);
  },
);
export type TCPRoute = z.output<typeof TCPRoute>;

/**
 * checkExportTo returns the problems of an exportTo list: entries must be `.`, `*` or a
 * namespace, without duplicates, and `*` stands alone. (Istio also treats `.` and the
 * resource's own namespace as duplicates; the spec alone does not know that namespace.)
 */
export function checkExportTo(entries: readonly string[]): FieldIssue[] {
  const out: FieldIssue[] = [];
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    if (seen.has(e)) {
      out.push({ path: [i], message: `duplicate exportTo entry "${e}"` });
      return;
    }
    if (e === '~') out.push({ path: [i], message: 'exportTo "~" (visible to no one) is only allowed for ServiceEntry' });
    else if (e !== '.' && e !== '*' && !isDnsLabel(e)) out.push({ path: [i], message: `exportTo entry "${e}" must be ".", "*" or a namespace name (DNS label)` });
    else seen.add(e);
  });
  if (seen.has('*') && entries.length > 1) {
    out.push({ path: [], message: 'exportTo "*" (all namespaces) cannot be combined with other entries' });
  }
  return out;
}

const exportToList = () =>
  z.array(z.string()).superRefine((entries, ctx) => {
    for (const issue of checkExportTo(entries)) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  });

const MESH_GATEWAY = 'mesh';

/**
 * The rules that need the whole VirtualService: delegates, host validity (which depends on
 * the gateways and TLS routes), duplicate hosts, JWT claim routing, route kinds, SNI hosts.
 */
function checkVirtualService(vs: Record<string, unknown>, ctx: z.core.$RefinementCtx<unknown>): void {
  const add = (path: (string | number)[], message: string): void => ctx.addIssue({ code: 'custom', message, path });
  const hosts = list(vs.hosts).filter((h): h is string => typeof h === 'string');
  const gateways = list(vs.gateways).filter((g): g is string => typeof g === 'string');
  const http = list(vs.http);
  const tls = list(vs.tls);
  const tcp = list(vs.tcp);
  const isDelegate = hosts.length === 0 && list(vs.hosts).length === 0;

  // A VirtualService without hosts can only be used as a delegate of another one's route.
  if (isDelegate) {
    if (gateways.length > 0) add(['gateways'], 'a delegate VirtualService (one without hosts) must not set gateways');
    if (tls.length > 0) add(['tls'], 'a delegate VirtualService (one without hosts) must not have tls routes');
    if (tcp.length > 0) add(['tcp'], 'a delegate VirtualService (one without hosts) must not have tcp routes');
  }

  const appliesToGateway = gateways.length > 0 && !gateways.includes(MESH_GATEWAY);
  const appliesToMesh = !appliesToGateway;

  if (!appliesToGateway) {
    http.forEach((route, i) => {
      list(rec(route).match).forEach((m, j) => {
        for (const field of ['headers', 'withoutHeaders'] as const) {
          for (const key of Object.keys(rec(rec(m)[field]))) {
            if (isJwtClaimHeader(key)) add(['http', i, 'match', j, field, key], `routing on JWT claims ("${key}") is only supported for VirtualServices bound to gateways`);
          }
        }
      });
    });
  }

  const sni = tls.some((t) => list(rec(t).match).some((m) => nonEmpty(rec(m).sniHosts)));
  let allHostsValid = true;
  list(vs.hosts).forEach((h, i) => {
    if (typeof h !== 'string') {
      allHostsValid = false;
      return;
    }
    const e = appliesToGateway ? checkGatewayBoundDomain(sni, h) : checkWildcardDomain(h);
    if (e) {
      if (!isIp(h)) {
        add(['hosts', i], e);
        allHostsValid = false;
      }
    } else if (appliesToMesh && h === '*') {
      add(['hosts', i], 'host "*" is not allowed for a VirtualService that applies to sidecars (the mesh gateway); name the services');
      allHostsValid = false;
    }
  });
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        if (hostsOverlap(hosts[i], hosts[j])) add(['hosts', j], `duplicate hosts in virtual service: "${hosts[i]}" and "${hosts[j]}" overlap`);
      }
    }
  }

  if (http.length === 0 && tcp.length === 0 && tls.length === 0) add([], 'a VirtualService must have at least one http, tcp or tls route');

  http.forEach((route, i) => checkRouteKind(rec(route), isDelegate, (p, m) => add(['http', i, ...p], m)));

  // TLS SNI hosts must be covered by the VirtualService's hosts.
  const boundToGateway = !gateways.includes(MESH_GATEWAY);
  tls.forEach((t, i) => {
    list(rec(t).match).forEach((m, j) => {
      list(rec(m).sniHosts).forEach((s, k) => {
        if (typeof s !== 'string') return;
        const path = ['tls', i, 'match', j, 'sniHosts', k];
        const e = boundToGateway ? checkGatewayBoundDomain(true, s) : checkWildcardDomain(s);
        if (e) {
          // An IP address goes against the SNI spec, but Istio only warns about it.
          if (!isIp(s)) add(path, e);
          return;
        }
        if (!hosts.some((h) => hostSubsetOf(s, h))) {
          add(path, `SNI host "${s}" is not covered by any of the VirtualService hosts [${hosts.join(', ')}]`);
        }
      });
    });
  });
}

/**
 * An HTTP route does exactly one thing: forward (route), redirect, respond directly, or
 * (in a root VirtualService) delegate. Errors point at the field that conflicts.
 */
function checkRouteKind(h: Record<string, unknown>, inDelegate: boolean, add: (path: (string | number)[], message: string) => void): void {
  const has = (f: string): boolean => present(h[f]);
  const hasRoute = nonEmpty(h.route);
  if (!inDelegate && has('delegate')) {
    if (has('redirect')) add(['redirect'], 'a route with delegate must not set redirect');
    if (hasRoute) add(['route'], 'a route with delegate must not set route');
    return;
  }
  if (inDelegate && has('delegate')) add(['delegate'], 'a route of a delegate VirtualService cannot delegate again');
  if (has('redirect')) {
    if (hasRoute) add(['redirect'], 'an HTTP route cannot have both route and redirect');
    if (has('fault')) add(['fault'], 'an HTTP route cannot have both fault and redirect');
    if (has('rewrite')) add(['rewrite'], 'an HTTP route cannot have both rewrite and redirect');
    if (has('directResponse')) add(['directResponse'], 'an HTTP route cannot have both directResponse and redirect');
  } else if (has('directResponse')) {
    if (hasRoute) add(['directResponse'], 'an HTTP route cannot have both route and directResponse');
    if (has('fault')) add(['fault'], 'an HTTP route cannot have both fault and directResponse');
    if (has('rewrite')) add(['rewrite'], 'an HTTP route cannot have both rewrite and directResponse');
  } else if (!hasRoute) {
    add([], inDelegate ? 'an HTTP route must have a route, a redirect or a directResponse' : 'an HTTP route must have a route, a redirect, a directResponse or a delegate');
  }
  if (has('mirror') && nonEmpty(h.mirrors)) add(['mirrors'], 'an HTTP route cannot have both mirror and mirrors');
}

/** istio.networking.v1.VirtualService spec. */
export const VirtualServiceSpec = crossCheck(
  obj({
    hosts: z.array(z.string()).optional(),
    gateways: z.array(gatewayName()).optional(),
    http: z.array(HTTPRoute).optional(),
    tls: z.array(TLSRoute).optional(),
    tcp: z.array(TCPRoute).optional(),
    exportTo: exportToList().optional(),
  }),
  (vs, ctx) => checkVirtualService(vs as Record<string, unknown>, ctx as z.core.$RefinementCtx<unknown>),
);
export type VirtualServiceSpec = z.output<typeof VirtualServiceSpec>;

// ---------------------------------------------------------------------------
// Gateway
// ---------------------------------------------------------------------------

// Protocols Istio parses (case-insensitively) for a port; anything else is rejected.
const PROTOCOLS = ['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY', 'TCP', 'TLS', 'UDP', 'MONGO', 'REDIS', 'MYSQL'];
const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'HTTP_PROXY', 'GRPC', 'GRPC-WEB']);
const TLS_PROTOCOLS = new Set(['HTTPS', 'TLS']);

/** istio.networking.v1.Port as used by Gateway servers. */
export const Port = obj({
  number: uint32(),
  protocol: z.string(),
  name: z.string(),
  targetPort: uint32().optional(),
});
export type Port = z.output<typeof Port>;

/** istio.networking.v1.ServerTLSSettings.TLSCertificate. */
export const TLSCertificate = obj({
  serverCertificate: z.string().optional(),
  privateKey: z.string().optional(),
  caCertificates: z.string().optional(),
});
export type TLSCertificate = z.output<typeof TLSCertificate>;

const TLS_MODES = ['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'] as const;
const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const;

const TLS_CEL: CrdHints = {
  validations: [
    { rule: '(has(self.tlsCertificates) ? 1 : 0) + (has(self.credentialNames) ? 1 : 0) <= 1', message: 'only one of credentialNames or tlsCertificates can be set' },
    { rule: '(has(self.credentialName) ? 1 : 0) + (has(self.credentialNames) ? 1 : 0) <= 1', message: 'only one of credentialName or credentialNames can be set' },
  ],
};

/** The TLS rules of a Gateway server (Istio's validateTLSOptions); the mode defaults to PASSTHROUGH. */
function checkServerTls(t: Record<string, unknown>, ctx: z.core.$RefinementCtx<unknown>): void {
  const add = (path: (string | number)[], message: string): void => ctx.addIssue({ code: 'custom', message, path });
  const mode = typeof t.mode === 'string' ? t.mode : 'PASSTHROUGH';
  const set = (f: string): boolean => str(t[f]) !== '';
  const certs = list(t.tlsCertificates);
  const credNames = list(t.credentialNames);

  if (mode === 'ISTIO_MUTUAL') {
    // Istio's own workload certificates are used; any other certificate source is a mistake.
    for (const f of ['serverCertificate', 'privateKey', 'caCertificates', 'credentialName']) {
      if (set(f)) add([f], `ISTIO_MUTUAL mode uses Istio's workload certificates and cannot set ${f}`);
    }
    if (certs.length > 0) add(['tlsCertificates'], "ISTIO_MUTUAL mode uses Istio's workload certificates and cannot set tlsCertificates");
    if (credNames.length > 0) add(['credentialNames'], "ISTIO_MUTUAL mode uses Istio's workload certificates and cannot set credentialNames");
    return;
  }

  const sources = [set('serverCertificate') && set('privateKey'), set('credentialName'), credNames.length > 0, certs.length > 0].filter(Boolean).length;
  if (sources > 1) add([], 'only one certificate source may be set: credentialName, credentialNames, serverCertificate/privateKey or tlsCertificates');

  const terminates = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  // With a credential, certificates (and the CA) come from the secret.
  if (terminates && (set('credentialName') || credNames.length > 0)) return;
  if (terminates) {
    const label = mode === 'SIMPLE' ? 'SIMPLE' : mode;
    if (mode !== 'SIMPLE' && !set('caCertificates')) add(['caCertificates'], `${label} mode requires caCertificates (the client CA bundle) or a credentialName`);
    if (certs.length > 0) {
      certs.forEach((c, i) => {
        if (str(rec(c).serverCertificate) === '') add(['tlsCertificates', i, 'serverCertificate'], `${label} mode requires a server certificate`);
        if (str(rec(c).privateKey) === '') add(['tlsCertificates', i, 'privateKey'], `${label} mode requires a private key`);
      });
    } else {
      if (!set('serverCertificate')) add(['serverCertificate'], `${label} mode requires serverCertificate and privateKey, or a credentialName`);
      if (!set('privateKey')) add(['privateKey'], `${label} mode requires serverCertificate and privateKey, or a credentialName`);
    }
  }
  if (set('caCrl')) {
    if (set('credentialName')) add(['caCrl'], 'caCrl cannot be used with credentialName: put the CRL in the credential');
    if (mode === 'SIMPLE') add(['caCrl'], 'caCrl is not supported in SIMPLE mode (no client certificates are checked)');
  }
}

/** The fields of istio.networking.v1.ServerTLSSettings, without the rules of where it is used. */
export const ServerTLSSettingsFields = obj({
  httpsRedirect: z.boolean().optional(),
  mode: z.enum(TLS_MODES).optional(),
  serverCertificate: z.string().optional(),
  privateKey: z.string().optional(),
  caCertificates: z.string().optional(),
  caCrl: z.string().optional(),
  credentialName: z.string().optional(),
  credentialNames: z.array(z.string()).min(1).max(2).optional(),
  caCertCredentialName: z.string().optional(),
  tlsCertificates: z.array(TLSCertificate).min(1).max(2).optional(),
  subjectAltNames: z.array(z.string()).optional(),
  verifyCertificateSpki: z.array(z.string()).optional(),
  verifyCertificateHash: z.array(z.string()).optional(),
  minProtocolVersion: z.enum(TLS_VERSIONS).optional(),
  maxProtocolVersion: z.enum(TLS_VERSIONS).optional(),
  // Invalid cipher names are only a warning in Istio (they are dropped before Envoy sees them).
  cipherSuites: z.array(z.string()).optional(),
  insecureSkipVerify: z.boolean().nullish(),
});

/** istio.networking.v1.ServerTLSSettings of a Gateway server. */
export const ServerTLSSettings = crossCheck(ServerTLSSettingsFields, (t, ctx) => checkServerTls(t as Record<string, unknown>, ctx as z.core.$RefinementCtx<unknown>));
crdHints.add(ServerTLSSettings, { ...crdHints.get(ServerTLSSettings), ...TLS_CEL });
export type ServerTLSSettings = z.output<typeof ServerTLSSettings>;

/**
 * checkGatewayHost returns the problems of one Gateway server host: `[<namespace>/]<host>`
 * where the namespace is `*`, `.` or a namespace name and the host is `*`, an FQDN with an
 * optional `*.` prefix, or an IP address. Short names and partial wildcards are refused.
 */
export function checkGatewayHost(entry: string): string[] {
  const slash = entry.indexOf('/');
  if (slash < 0) return checkGatewayHostPart(entry);
  const ns = entry.slice(0, slash);
  const host = entry.slice(slash + 1);
  if (ns === '' || host === '') return [`host "${entry}": the namespace and the host name must both be non-empty`];
  const out: string[] = [];
  if (ns !== '*' && ns !== '.' && !isDnsLabel(ns)) out.push(`host "${entry}": invalid namespace "${ns}" (use "*", "." or a namespace name)`);
  return [...out, ...checkGatewayHostPart(host)];
}

function checkGatewayHostPart(host: string): string[] {
  const out: string[] = [];
  if (host !== '*' && !host.includes('.')) out.push(`host "${host}" is a short name; Gateway hosts must be fully qualified (or "*")`);
  const e = checkWildcardDomain(host);
  if (e && !isIp(host)) out.push(e);
  if (host.includes('*') && host !== '*' && !host.startsWith('*.')) out.push(`partial wildcard "${host}" is not allowed; use "*" or a "*." prefix`);
  return out;
}

const UNIX_PREFIX = 'unix://';

/** The rules of one Gateway server that combine its port, bind address and TLS settings. */
function checkServer(s: Record<string, unknown>, ctx: z.core.$RefinementCtx<unknown>): void {
  const add = (path: (string | number)[], message: string): void => ctx.addIssue({ code: 'custom', message, path });
  if (Array.isArray(s.hosts) && s.hosts.length === 0) add(['hosts'], 'a server must have at least one host');

  const bind = str(s.bind);
  const port = isObj(s.port) ? rec(s.port) : undefined;
  let portOk = port !== undefined;
  if (port) {
    const number = port.number;
    const protocol = port.protocol;
    if (typeof protocol === 'string' && !PROTOCOLS.includes(protocol.toUpperCase())) {
      add(['port', 'protocol'], `invalid protocol "${protocol}": use one of ${PROTOCOLS.join(', ')}`);
      portOk = false;
    }
    if (typeof protocol !== 'string') portOk = false;
    if (typeof number === 'number' && Number.isInteger(number) && number >= 0) {
      // A server bound to a Unix domain socket has no port number.
      if ((number > 0 || !bind.startsWith(UNIX_PREFIX)) && (number < 1 || number > 65535)) {
        add(['port', 'number'], `port number ${number} must be in the range 1..65535`);
        portOk = false;
      }
    } else portOk = false;
    if (typeof port.targetPort === 'number' && port.targetPort > 0) {
      add(['port', 'targetPort'], 'targetPort has no effect on Gateway servers; remove it');
      portOk = false;
    }
    if (port.name === '') {
      add(['port', 'name'], 'port name must not be empty');
      portOk = false;
    } else if (typeof port.name !== 'string') portOk = false;
  }

  if (bind.startsWith(UNIX_PREFIX)) {
    const path = bind.slice(UNIX_PREFIX.length);
    if (path === '') add(['bind'], 'the Unix domain socket path must not be empty');
    else if (!path.startsWith('@') && (!path.startsWith('/') || path.endsWith('/'))) add(['bind'], `"${path}" is not an absolute path to a file`);
    if (port && typeof port.number === 'number' && port.number !== 0) add(['port', 'number'], 'port number must be 0 for a server bound to a Unix domain socket');
  } else if (bind !== '' && !isIp(bind)) {
    add(['bind'], `bind address "${bind}" is not a valid IP address`);
  }

  // Whether TLS settings belong here depends on a valid port's protocol.
  if (portOk && port) {
    const protocol = str(port.protocol).toUpperCase();
    const tls = isObj(s.tls) ? rec(s.tls) : undefined;
    if (TLS_PROTOCOLS.has(protocol) && !present(s.tls)) {
      add([], `a server with protocol ${protocol} must have tls settings`);
    } else if (!TLS_PROTOCOLS.has(protocol) && tls) {
      if (HTTP_PROTOCOLS.has(protocol)) {
        // Plain HTTP servers may only use tls for httpsRedirect (with the default PASSTHROUGH mode).
        const mode = typeof tls.mode === 'string' ? tls.mode : 'PASSTHROUGH';
        const passthrough = mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH';
        if (!passthrough || str(tls.caCertificates) !== '' || str(tls.privateKey) !== '' || str(tls.serverCertificate) !== '') {
          add(['tls'], `a plain-text ${protocol} server cannot have TLS settings (only httpsRedirect); use protocol HTTPS to terminate TLS`);
        }
      } else {
        add(['tls'], `a ${protocol} server cannot have TLS settings; only HTTPS and TLS servers can`);
      }
    }
  }
}

/** istio.networking.v1.Server: one listener of a Gateway. */
export const Server = crossCheck(
  obj({
    port: Port,
    bind: z.string().optional(),
    hosts: z.array(stringWith(checkGatewayHost)),
    tls: ServerTLSSettings.optional(),
    defaultEndpoint: z.string().optional(),
    name: z.string().optional(),
  }),
  (s, ctx) => checkServer(s as Record<string, unknown>, ctx as z.core.$RefinementCtx<unknown>),
);
export type Server = z.output<typeof Server>;

/** istio.networking.v1.Gateway spec. */
export const GatewaySpec = crossCheck(
  obj({
    servers: z.array(Server).optional(),
    selector: z.record(z.string(), z.string()).optional(),
  }),
  (g, ctx) => {
    const servers = list(g.servers);
    if (servers.length === 0) ctx.addIssue({ code: 'custom', message: 'a Gateway must have at least one server', path: ['servers'] });
    // Port names identify servers (e.g. in listener names), so they must be unique.
    const firstUse = new Map<string, number>();
    servers.forEach((s, i) => {
      const name = rec(rec(s).port).name;
      if (typeof name !== 'string') return;
      const prev = firstUse.get(name);
      if (prev !== undefined) {
        ctx.addIssue({ code: 'custom', message: `port name "${name}" is already used by servers[${prev}]; port names must be unique within a Gateway`, path: ['servers', i, 'port', 'name'] });
      } else firstUse.set(name, i);
    });
  },
);
export type GatewaySpec = z.output<typeof GatewaySpec>;

// ---------------------------------------------------------------------------
// Kinds
// ---------------------------------------------------------------------------

const VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const;
const CATEGORIES = ['istio-io', 'networking-istio-io'];

export const ROUTING_KINDS: KindDef[] = [
  {
    group: 'networking.istio.io',
    kind: 'VirtualService',
    versions: VERSIONS,
    plural: 'virtualservices',
    singular: 'virtualservice',
    shortNames: ['vs'],
    categories: CATEGORIES,
    namespaced: true,
    crd: true,
    body: obj({ spec: VirtualServiceSpec, status: anyJson().optional() }),
    metadataRules: allRules(istioMetadataRules(false), exportToOwnNamespace),
    printerColumns: [
      { name: 'Gateways', type: 'string', jsonPath: '.spec.gateways', description: 'The names of gateways and sidecars that should apply these routes' },
      { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts', description: 'The destination hosts to which traffic is being sent' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  },
  {
    group: 'networking.istio.io',
    kind: 'Gateway',
    versions: VERSIONS,
    plural: 'gateways',
    singular: 'gateway',
    shortNames: ['gw'],
    categories: CATEGORIES,
    namespaced: true,
    crd: true,
    body: obj({ spec: GatewaySpec, status: anyJson().optional() }),
    // Istio's ValidateGateway: the name becomes part of generated resource names.
    metadataRules: allRules(istioMetadataRules(false), nameIsDnsLabel('gateway')),
  },
];
