/**
 * Compiles Envoy's RBAC filters (`envoy.extensions.filters.http.rbac.v3.RBAC` and
 * `envoy.extensions.filters.network.rbac.v3.RBAC`) into the stages of security/rbac.ts:
 * permissions and principals become predicate closures once per config update, so a request only
 * runs the closures. Whatever this engine cannot evaluate (CEL conditions, the generic `matcher`
 * API, filter_state principals, custom matchers) is an error: a security filter that silently
 * skips a rule would allow what the policy denies.
 */
import type { HttpFilterStage, NetworkFilterStage } from '../model.js';
import { cidrMatcher, httpRbacStage, metadataValue, networkRbacStage, rbacEngine, remoteAddress, requestPath, uriTemplateRegex, type CompiledPolicy, type RbacAction, type RbacEngine, type RbacFilterConfig, type RbacInput, type RbacPredicate } from '../security/rbac.js';
import { at, bool, enumName, int, isMessage, obj, objects, oneof, Problems, str, typeOf, type Obj } from './fields.js';
import { headerMatcher, stringMatcher, type StringPredicate } from './matchers.js';

export const HTTP_RBAC = 'envoy.extensions.filters.http.rbac.v3.RBAC';
export const NETWORK_RBAC = 'envoy.extensions.filters.network.rbac.v3.RBAC';
const URI_TEMPLATE = 'envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';

/** compileHttpRbac compiles an HTTP RBAC filter's typed config into a stage; errors go to `p`. */
export function compileHttpRbac(p: Problems, tc: Obj, path: string): HttpFilterStage | undefined {
  const cfg = filterConfig(p, tc, path);
  return cfg ? httpRbacStage(cfg) : undefined;
}

/** compileNetworkRbac compiles a network RBAC filter's typed config into a stage; errors go to `p`. */
export function compileNetworkRbac(p: Problems, tc: Obj, path: string): NetworkFilterStage | undefined {
  const cfg = filterConfig(p, tc, path);
  return cfg ? networkRbacStage(cfg) : undefined;
}

function filterConfig(p: Problems, tc: Obj, path: string): RbacFilterConfig | undefined {
  const before = p.errors.length;
  for (const k of ['matcher', 'shadowMatcher']) if (tc[k] !== undefined && tc[k] !== null) p.error(at(path, k), 'the generic matcher API is not supported; use rules');
  const r = obj(p, tc, 'rules', path);
  const s = obj(p, tc, 'shadowRules', path);
  const rules = r ? engine(p, r, at(path, 'rules')) : undefined;
  const shadowRules = s ? engine(p, s, at(path, 'shadowRules')) : undefined;
  const shadowRulesStatPrefix = str(p, tc, 'shadowRulesStatPrefix', path) ?? '';
  if (p.errors.length !== before) return undefined;
  return { ...(rules ? { rules } : {}), ...(shadowRules ? { shadowRules } : {}), shadowRulesStatPrefix };
}

function engine(p: Problems, rbac: Obj, path: string): RbacEngine | undefined {
  const action = (enumName(p, rbac, 'action', path, ['ALLOW', 'DENY', 'LOG'] as const) ?? 'ALLOW') as RbacAction;
  const policies: CompiledPolicy[] = [];
  const m = rbac.policies;
  if (m !== undefined && m !== null && !isMessage(m)) {
    p.error(at(path, 'policies'), 'expected a map of policies');
    return undefined;
  }
  for (const [name, v] of Object.entries((m ?? {}) as Obj)) {
    const pp = `${at(path, 'policies')}[${name}]`;
    if (!isMessage(v)) {
      p.error(pp, 'expected a policy');
      continue;
    }
    if (v.condition !== undefined && v.condition !== null) p.error(at(pp, 'condition'), 'CEL conditions are not supported');
    if (v.checkedCondition !== undefined && v.checkedCondition !== null) p.error(at(pp, 'checkedCondition'), 'CEL conditions are not supported');
    const permissions = objects(p, v, 'permissions', pp).map((x) => permission(p, x.v, x.path));
    const principals = objects(p, v, 'principals', pp).map((x) => principal(p, x.v, x.path));
    if (permissions.length === 0) p.error(at(pp, 'permissions'), 'must have at least one permission');
    if (principals.length === 0) p.error(at(pp, 'principals'), 'must have at least one principal');
    if (permissions.every(Boolean) && principals.every(Boolean)) policies.push({ name, permissions: permissions as RbacPredicate[], principals: principals as RbacPredicate[] });
  }
  return rbacEngine(action, policies);
}

const NEVER: RbacPredicate = () => false;

const PERMISSION_KINDS = ['andRules', 'orRules', 'any', 'header', 'urlPath', 'destinationIp', 'destinationPort', 'destinationPortRange', 'metadata', 'notRule', 'requestedServerName', 'uriTemplate', 'matcher', 'sourcedMetadata'] as const;

/** permission compiles an `envoy.config.rbac.v3.Permission` into a predicate. */
function permission(p: Problems, m: Obj, path: string): RbacPredicate | undefined {
  const kind = oneof(p, m, PERMISSION_KINDS, path, 'rule');
  switch (kind) {
    case 'andRules':
    case 'orRules': {
      const set = obj(p, m, kind, path);
      const parts = set ? objects(p, set, 'rules', at(path, kind)).map((x) => permission(p, x.v, x.path)) : [];
      if (!parts.every(Boolean)) return undefined;
      return combine(kind === 'andRules', parts as RbacPredicate[]);
    }
    case 'any':
      return bool(p, m, 'any', path) ? () => true : NEVER;
    case 'notRule': {
      const inner = obj(p, m, 'notRule', path);
      const f = inner && permission(p, inner, at(path, 'notRule'));
      return f ? (i) => !f(i) : undefined;
    }
    case 'header':
      return header(p, m, path);
    case 'urlPath':
      return urlPath(p, m, path);
    case 'uriTemplate': {
      const ext = obj(p, m, 'uriTemplate', path);
      const tc = ext && obj(p, ext, 'typedConfig', at(path, 'uriTemplate'));
      const tp = at(at(path, 'uriTemplate'), 'typedConfig');
      if (!tc || typeOf(tc) !== URI_TEMPLATE) {
        p.error(tp, `expected ${URI_TEMPLATE}`);
        return undefined;
      }
      const template = str(p, tc, 'pathTemplate', tp) ?? '';
      const re = uriTemplateRegex(template);
      if (!re) {
        p.error(at(tp, 'pathTemplate'), `invalid URI template ${JSON.stringify(template)}`);
        return undefined;
      }
      return (i) => {
        const path = requestPath(i);
        return path !== undefined && re.test(path);
      };
    }
    case 'destinationIp': {
      const c = cidr(p, m, 'destinationIp', path);
      return c ? (i) => c(i.down.localAddress) : undefined;
    }
    case 'destinationPort': {
      const port = int(p, m, 'destinationPort', path, 0, 65535);
      return port === undefined ? undefined : (i) => i.down.localPort === port;
    }
    case 'destinationPortRange': {
      const r = obj(p, m, 'destinationPortRange', path);
      const rp = at(path, 'destinationPortRange');
      const start = r ? (int(p, r, 'start', rp) ?? 0) : 0;
      const end = r ? (int(p, r, 'end', rp) ?? 0) : 0;
      return (i) => i.down.localPort >= start && i.down.localPort < end;
    }
    case 'requestedServerName': {
      const sm = obj(p, m, 'requestedServerName', path);
      const f = sm && fastStringMatcher(p, sm, at(path, 'requestedServerName'));
      return f ? (i) => f(i.down.tls?.sni ?? '') : undefined;
    }
    case 'metadata':
      return metadata(p, m, path);
    case 'matcher':
    case 'sourcedMetadata':
      p.error(at(path, kind), 'not supported');
      return undefined;
    default:
      return undefined;
  }
}

const PRINCIPAL_KINDS = ['andIds', 'orIds', 'any', 'authenticated', 'sourceIp', 'directRemoteIp', 'remoteIp', 'header', 'urlPath', 'metadata', 'notId', 'filterState', 'sourcedMetadata', 'customPrincipal'] as const;

/** principal compiles an `envoy.config.rbac.v3.Principal` into a predicate. */
function principal(p: Problems, m: Obj, path: string): RbacPredicate | undefined {
  const kind = oneof(p, m, PRINCIPAL_KINDS, path, 'identifier');
  switch (kind) {
    case 'andIds':
    case 'orIds': {
      const set = obj(p, m, kind, path);
      const parts = set ? objects(p, set, 'ids', at(path, kind)).map((x) => principal(p, x.v, x.path)) : [];
      if (!parts.every(Boolean)) return undefined;
      return combine(kind === 'andIds', parts as RbacPredicate[]);
    }
    case 'any':
      return bool(p, m, 'any', path) ? () => true : NEVER;
    case 'notId': {
      const inner = obj(p, m, 'notId', path);
      const f = inner && principal(p, inner, at(path, 'notId'));
      return f ? (i) => !f(i) : undefined;
    }
    case 'authenticated': {
      const a = obj(p, m, 'authenticated', path) ?? {};
      const pn = obj(p, a, 'principalName', at(path, 'authenticated'));
      const f = pn ? fastStringMatcher(p, pn, at(at(path, 'authenticated'), 'principalName')) : undefined;
      if (pn && !f) return undefined;
      // Envoy: no TLS → no match; no principal_name → any TLS peer; else any URI SAN that matches.
      return (i) => {
        const tls = i.down.tls;
        if (!tls) return false;
        if (!f) return true;
        return tls.peerIdentities.some(f);
      };
    }
    case 'sourceIp':
    case 'directRemoteIp': {
      const c = cidr(p, m, kind, path);
      return c ? (i) => c(i.down.remoteAddress) : undefined;
    }
    case 'remoteIp': {
      const c = cidr(p, m, 'remoteIp', path);
      return c ? (i) => c(remoteAddress(i)) : undefined;
    }
    case 'header':
      return header(p, m, path);
    case 'urlPath':
      return urlPath(p, m, path);
    case 'metadata':
      return metadata(p, m, path);
    case 'filterState':
    case 'sourcedMetadata':
    case 'customPrincipal':
      p.error(at(path, kind), 'not supported');
      return undefined;
    default:
      return undefined;
  }
}

function combine(and: boolean, parts: readonly RbacPredicate[]): RbacPredicate {
  if (parts.length === 1) return parts[0];
  return and ? (i) => parts.every((f) => f(i)) : (i) => parts.some((f) => f(i));
}

function header(p: Problems, m: Obj, path: string): RbacPredicate | undefined {
  const h = obj(p, m, 'header', path);
  const f = h && headerMatcher(p, h, at(path, 'header'));
  if (!f) return undefined;
  // Network RBAC has no headers: the matcher sees none (absent, as in Envoy).
  return (i) => f(i.req ?? NO_HEADERS);
}

const NO_HEADERS = { method: undefined, path: undefined, authority: undefined, scheme: undefined, headers: { get: () => undefined, list: [] } } as unknown as NonNullable<RbacInput['req']>;

function urlPath(p: Problems, m: Obj, path: string): RbacPredicate | undefined {
  const pm = obj(p, m, 'urlPath', path);
  const pp = at(path, 'urlPath');
  const sm = pm && obj(p, pm, 'path', pp);
  if (pm && !sm) p.error(at(pp, 'path'), 'is required');
  const f = sm && fastStringMatcher(p, sm, at(pp, 'path'));
  return f
    ? (i) => {
        const path = requestPath(i);
        return path !== undefined && f(path);
      }
    : undefined;
}

const REGEX_META = /[\\.+*?()|[\]{}^$]/;

/**
 * fastStringMatcher is stringMatcher with shortcuts for the regexes Istio generates most: `.+`
 * (any value) and literals joined by `.*` (source namespaces, principal wildcards) matched as a
 * glob. RE2's `.` does not match a newline, so a value with one takes the compiled regex; every
 * other value gets the same answer from the shortcut.
 */
function fastStringMatcher(p: Problems, m: Obj, path: string): StringPredicate | undefined {
  const slow = stringMatcher(p, m, path);
  const re = isMessage(m.safeRegex) ? m.safeRegex.regex : undefined;
  if (!slow || typeof re !== 'string') return slow;
  let fast: StringPredicate | undefined;
  if (re === '.+') fast = (v) => v.length > 0;
  else {
    // Literals joined by `.*` (a glob): `.*/ns/foo/.*`, `spiffe://.*/ns/x/sa/y`, `.*/ns/istio-.*/.*`.
    const pieces = re.split('.*');
    if (pieces.length > 1 && !pieces.some((x) => REGEX_META.test(x))) fast = globMatcher(pieces);
  }
  if (!fast) return slow;
  const f = fast;
  return (v) => (v.includes('\n') ? slow(v) : f(v));
}

/** globMatcher matches pieces[0] at the start, the last piece at the end and the others in order between (leftmost placement is optimal). */
function globMatcher(pieces: readonly string[]): StringPredicate {
  const head = pieces[0];
  const tail = pieces[pieces.length - 1];
  const middle = pieces.slice(1, -1);
  const min = pieces.reduce((n, x) => n + x.length, 0);
  return (v) => {
    if (v.length < min || !v.startsWith(head) || !v.endsWith(tail)) return false;
    let pos = head.length;
    const end = v.length - tail.length;
    for (const m of middle) {
      const at = v.indexOf(m, pos);
      if (at < 0 || at + m.length > end) return false;
      pos = at + m.length;
    }
    return true;
  };
}

function cidr(p: Problems, m: Obj, key: string, path: string): ((ip: string) => boolean) | undefined {
  const c = obj(p, m, key, path);
  const cp = at(path, key);
  if (!c) return undefined;
  const addr = str(p, c, 'addressPrefix', cp) ?? '';
  const lenObj = c.prefixLen;
  const len = isMessage(lenObj) ? Number(lenObj.value ?? 0) : lenObj === undefined || lenObj === null ? 0 : Number(lenObj);
  const f = cidrMatcher(addr, len);
  if (!f) p.error(cp, `invalid CIDR range ${addr}/${len}`);
  return f;
}

/** metadata compiles a `MetadataMatcher` over the filter state (security/rbac.ts: one JSON object per filter name). */
function metadata(p: Problems, m: Obj, path: string): RbacPredicate | undefined {
  const mm = obj(p, m, 'metadata', path);
  const mp = at(path, 'metadata');
  if (!mm) return undefined;
  const filter = str(p, mm, 'filter', mp) ?? '';
  const keys: string[] = [];
  for (const s of objects(p, mm, 'path', mp)) {
    const k = str(p, s.v, 'key', s.path);
    if (k === undefined) p.error(s.path, 'a path segment needs a key');
    else keys.push(k);
  }
  const invert = bool(p, mm, 'invert', mp) ?? false;
  const vm = obj(p, mm, 'value', mp);
  if (!vm) {
    p.error(at(mp, 'value'), 'is required');
    return undefined;
  }
  const f = valueMatcher(p, vm, at(mp, 'value'));
  if (!f) return undefined;
  return (i) => f(metadataValue(i.state, filter, keys)) !== invert;
}

type ValuePredicate = (v: unknown) => boolean;

const VALUE_KINDS = ['nullMatch', 'doubleMatch', 'stringMatch', 'boolMatch', 'presentMatch', 'listMatch', 'orMatch'] as const;

/** valueMatcher compiles an Envoy `ValueMatcher` over a JSON value (undefined = absent). */
function valueMatcher(p: Problems, m: Obj, path: string): ValuePredicate | undefined {
  const kind = oneof(p, m, VALUE_KINDS, path, 'match_pattern');
  switch (kind) {
    case 'nullMatch':
      return (v) => v === null;
    case 'boolMatch': {
      const b = bool(p, m, 'boolMatch', path) ?? false;
      return (v) => v === b;
    }
    case 'presentMatch': {
      const present = bool(p, m, 'presentMatch', path) ?? false;
      return (v) => (v !== undefined) === present;
    }
    case 'stringMatch': {
      const sm = obj(p, m, 'stringMatch', path);
      const f: StringPredicate | undefined = sm && fastStringMatcher(p, sm, at(path, 'stringMatch'));
      return f ? (v) => typeof v === 'string' && f(v) : undefined;
    }
    case 'doubleMatch': {
      const d = obj(p, m, 'doubleMatch', path) ?? {};
      const dp = at(path, 'doubleMatch');
      if (d.exact !== undefined) {
        const x = Number(d.exact);
        return (v) => typeof v === 'number' && v === x;
      }
      const r = obj(p, d, 'range', dp);
      if (!r) {
        p.error(dp, 'needs exact or range');
        return undefined;
      }
      const [start, end] = [Number(r.start ?? 0), Number(r.end ?? 0)];
      return (v) => typeof v === 'number' && v >= start && v < end;
    }
    case 'listMatch': {
      const lm = obj(p, m, 'listMatch', path);
      const lp = at(path, 'listMatch');
      const one = lm && obj(p, lm, 'oneOf', lp);
      if (lm && !one) p.error(at(lp, 'oneOf'), 'is required');
      const f = one && valueMatcher(p, one, at(lp, 'oneOf'));
      return f ? (v) => Array.isArray(v) && v.some(f) : undefined;
    }
    case 'orMatch': {
      const om = obj(p, m, 'orMatch', path);
      const op = at(path, 'orMatch');
      const parts = om ? objects(p, om, 'valueMatchers', op).map((x) => valueMatcher(p, x.v, x.path)) : [];
      if (!parts.every(Boolean) || parts.length < 2) {
        if (parts.length < 2 && parts.every(Boolean)) p.error(at(op, 'valueMatchers'), 'needs at least two matchers');
        return undefined;
      }
      const fs = parts as ValuePredicate[];
      return (v) => fs.some((f) => f(v));
    }
    default:
      return undefined;
  }
}
