/**
 * Compiles `envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication` (what translate emits for
 * RequestAuthentication) into the JWT authentication stage of security/jwt.ts: providers with their
 * token locations, outputs and key source (inline JWKS, or a JWKS URI the stage fetches itself with
 * node's fetch — the `http_uri.cluster` is not used), and the rules' requirements.
 */
import { JwtAuthnStage, type JwtAuthnPlan, type JwtProviderPlan, type JwtRequirement, type JwtRulePlan } from '../security/jwt.js';
import { LocalJwks, parseJwks, sharedRemoteJwks, type JwksSource } from '../security/jwt-jwks.js';
import { at, bool, duration, obj, objects, oneof, Problems, str, strings, type Obj } from './fields.js';

/** Envoy's defaults: remote JWKS cached 10 minutes; Istio always sets 5 minutes and a 5 s timeout. */
const DEFAULT_CACHE_MS = 600_000;
const DEFAULT_TIMEOUT_MS = 5_000;

/** compileJwtAuthn returns the stage for one jwt_authn filter config; errors go to `p`. Undefined when it has no rules (nothing to enforce). */
export function compileJwtAuthn(p: Problems, tc: Obj, path: string): JwtAuthnStage | undefined {
  const before = p.errors.length;
  const providers = new Map<string, JwtProviderPlan>();
  const provs = obj(p, tc, 'providers', path);
  for (const [name, v] of Object.entries(provs ?? {})) {
    const pp = at(at(path, 'providers'), name);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      p.error(pp, 'expected a JwtProvider');
      continue;
    }
    const plan = provider(p, name, v as Obj, pp);
    if (plan) providers.set(name, plan);
  }
  const requirementMap = new Map<string, JwtRequirement>();
  const rm = obj(p, tc, 'requirementMap', path);
  for (const [name, v] of Object.entries(rm ?? {})) {
    const r = typeof v === 'object' && v !== null ? requirement(p, v as Obj, at(at(path, 'requirement_map'), name), providers) : undefined;
    if (r) requirementMap.set(name, r);
  }
  const rules: JwtRulePlan[] = [];
  for (const r of objects(p, tc, 'rules', path)) {
    const match = obj(p, r.v, 'match', r.path) ?? {};
    const mp = at(r.path, 'match');
    const kind = oneof(p, match, ['prefix', 'path', 'safeRegex', 'pathSeparatedPrefix', 'connectMatcher', 'pathMatchPolicy'], mp, undefined);
    if (kind !== undefined && kind !== 'prefix' && kind !== 'path') p.error(at(mp, kind), 'not supported by this proxy (prefix and path are)');
    const req = obj(p, r.v, 'requires', r.path);
    const reqName = str(p, r.v, 'requirementName', r.path);
    let requires: JwtRequirement | undefined;
    if (req) requires = requirement(p, req, at(r.path, 'requires'), providers);
    else if (reqName !== undefined) {
      requires = requirementMap.get(reqName);
      if (!requires) p.error(at(r.path, 'requirement_name'), `no requirement_map entry "${reqName}"`);
    }
    const prefix = kind === 'prefix' ? str(p, match, 'prefix', mp) : undefined;
    const exact = kind === 'path' ? str(p, match, 'path', mp) : undefined;
    rules.push({ ...(prefix !== undefined ? { prefix } : {}), ...(exact !== undefined ? { path: exact } : {}), ...(requires ? { requires } : {}) });
  }
  if (obj(p, tc, 'filterStateRules', path)) p.error(at(path, 'filter_state_rules'), 'not supported by this proxy');
  const bypassCorsPreflight = bool(p, tc, 'bypassCorsPreflight', path) ?? false;
  if (p.errors.length !== before || rules.length === 0) return undefined;
  const plan: JwtAuthnPlan = { providers, rules, bypassCorsPreflight };
  return new JwtAuthnStage(plan);
}

function provider(p: Problems, name: string, v: Obj, path: string): JwtProviderPlan | undefined {
  const before = p.errors.length;
  const issuer = str(p, v, 'issuer', path);
  const fromHeaders = objects(p, v, 'fromHeaders', path).map((h) => {
    const n = str(p, h.v, 'name', h.path) ?? '';
    if (n === '') p.error(at(h.path, 'name'), 'must not be empty');
    const valuePrefix = str(p, h.v, 'valuePrefix', h.path);
    return { name: n.toLowerCase(), ...(valuePrefix ? { valuePrefix } : {}) };
  });
  const claimToHeaders = objects(p, v, 'claimToHeaders', path).map((c) => ({ header: str(p, c.v, 'headerName', c.path) ?? '', claim: str(p, c.v, 'claimName', c.path) ?? '' }));
  const forwardPayloadHeader = str(p, v, 'forwardPayloadHeader', path);
  const payloadInMetadata = str(p, v, 'payloadInMetadata', path);
  const norm = obj(p, v, 'normalizePayloadInMetadata', path);
  const spaceDelimitedClaims = norm ? strings(p, norm, 'spaceDelimitedClaims', at(path, 'normalize_payload_in_metadata')) : [];
  const jwks = jwksSource(p, v, path);
  if (p.errors.length !== before || !jwks) return undefined;
  return {
    name,
    ...(issuer ? { issuer } : {}),
    audiences: strings(p, v, 'audiences', path),
    forward: bool(p, v, 'forward', path) ?? false,
    ...(forwardPayloadHeader ? { forwardPayloadHeader } : {}),
    ...(payloadInMetadata ? { payloadInMetadata } : {}),
    ...(spaceDelimitedClaims.length ? { spaceDelimitedClaims } : {}),
    claimToHeaders,
    fromHeaders,
    fromParams: strings(p, v, 'fromParams', path),
    fromCookies: strings(p, v, 'fromCookies', path),
    jwks,
  };
}

function jwksSource(p: Problems, v: Obj, path: string): JwksSource | undefined {
  const kind = oneof(p, v, ['localJwks', 'remoteJwks'], path, '');
  if (kind === 'localJwks') {
    const ds = obj(p, v, 'localJwks', path) ?? {};
    const dp = at(path, 'local_jwks');
    const text = str(p, ds, 'inlineString', dp);
    if (text === undefined) {
      p.error(dp, 'only inline_string is supported by this proxy');
      return undefined;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      p.error(at(dp, 'inline_string'), 'not valid JSON');
      return undefined;
    }
    const set = parseJwks(doc);
    if (!set) {
      p.error(at(dp, 'inline_string'), 'not a JWK or JWK Set');
      return undefined;
    }
    try {
      return new LocalJwks(set);
    } catch (e) {
      p.error(at(dp, 'inline_string'), e instanceof Error ? e.message : String(e));
      return undefined;
    }
  }
  if (kind === 'remoteJwks') {
    const rj = obj(p, v, 'remoteJwks', path) ?? {};
    const rp = at(path, 'remote_jwks');
    const hu = obj(p, rj, 'httpUri', rp);
    const hp = at(rp, 'http_uri');
    const uri = hu ? str(p, hu, 'uri', hp) : undefined;
    if (!uri) {
      p.error(hp, 'uri is required');
      return undefined;
    }
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      p.error(at(hp, 'uri'), `not a URL: ${uri}`);
      return undefined;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      p.error(at(hp, 'uri'), 'scheme must be http or https');
      return undefined;
    }
    const timeoutMs = (hu ? duration(p, hu, 'timeout', hp) : undefined) || DEFAULT_TIMEOUT_MS;
    const cacheMs = duration(p, rj, 'cacheDuration', rp) || DEFAULT_CACHE_MS;
    return sharedRemoteJwks({ uri, timeoutMs, cacheMs });
  }
  return undefined;
}

function requirement(p: Problems, r: Obj, path: string, providers: ReadonlyMap<string, JwtProviderPlan>): JwtRequirement | undefined {
  const kind = oneof(p, r, ['providerName', 'providerAndAudiences', 'requiresAny', 'requiresAll', 'allowMissingOrFailed', 'allowMissing'], path, '');
  switch (kind) {
    case 'providerName': {
      const name = str(p, r, 'providerName', path) ?? '';
      if (!providers.has(name)) {
        p.error(at(path, 'provider_name'), `no provider "${name}"`);
        return undefined;
      }
      return { kind: 'provider', name };
    }
    case 'requiresAny':
    case 'requiresAll': {
      const list = obj(p, r, kind, path) ?? {};
      const lp = at(path, kind);
      const of = objects(p, list, 'requirements', lp).map((x) => requirement(p, x.v, x.path, providers));
      if (of.some((x) => x === undefined)) return undefined;
      return { kind: kind === 'requiresAny' ? 'any' : 'all', of: of as JwtRequirement[] };
    }
    case 'allowMissing':
      return { kind: 'allowMissing' };
    case 'allowMissingOrFailed':
      return { kind: 'allowMissingOrFailed' };
    case 'providerAndAudiences':
      p.error(at(path, 'provider_and_audiences'), 'not supported by this proxy');
      return undefined;
    default:
      return undefined;
  }
}
