/**
 * The JWT authentication stage (Envoy's `envoy.filters.http.jwt_authn`, as Istio configures it for
 * RequestAuthentication): extracts tokens from each provider's locations, verifies them with jose
 * (signature with a key from the provider's JWKS, issuer, audiences, exp/nbf with 60 s skew, the
 * algorithm the key allows), evaluates the rule's requirement, and on success leaves the verified
 * payload in the filter state for RBAC (the keys are listed in docs/security.md, "Authentication").
 *
 * A request without any token passes when the requirement allows it (Istio's `allow_missing`:
 * authorization decides); a present token that fails is answered 401 with Envoy's status text as
 * the body and `jwt_authn_access_denied{<status_with_underscores>}` as the response code details.
 */
import type { JWTPayload } from 'jose';
import { jose } from '../lazy-modules.js';
import type { FilterDenial, HttpFilterContext, HttpFilterStage, RequestHead } from '../model.js';
import { JwksFetchError, type JwksSource } from './jwt-jwks.js';

/** Filter-state keys the stage writes (docs/security.md, "Authentication"). */
export const JWT_STATE = {
  /** `jwt_authn:<issuer>` → the verified JWTPayload of that issuer. */
  payloadPrefix: 'jwt_authn:',
  /** Envoy's dynamic metadata of the filter: `{[payload_in_metadata]: payload}`. */
  metadata: 'envoy.filters.http.jwt_authn',
  /** `<iss>/<sub>` of the first verified token (Istio's request principal). */
  principal: 'request.auth.principal',
  /** The `aud` claim as a list. */
  audiences: 'request.auth.audiences',
  /** The `azp` claim. */
  presenter: 'request.auth.presenter',
  /** Every claim of the first verified token (the JWTPayload). */
  claims: 'request.auth.claims',
} as const;

/** Envoy's default clock skew for exp/nbf (clock_skew_seconds). */
const CLOCK_SKEW_S = 60;

export interface JwtHeaderLocation {
  /** Lower-case header name. */
  readonly name: string;
  readonly valuePrefix?: string;
}

/** A compiled JwtProvider. */
export interface JwtProviderPlan {
  readonly name: string;
  readonly issuer?: string;
  readonly audiences: readonly string[];
  /** Keep the token in the request (forward); otherwise a token found in a header is removed. */
  readonly forward: boolean;
  readonly forwardPayloadHeader?: string;
  readonly payloadInMetadata?: string;
  /** Claims whose space-separated string value is stored as a list in the metadata copy (normalize_payload_in_metadata). */
  readonly spaceDelimitedClaims?: readonly string[];
  readonly claimToHeaders: readonly { readonly header: string; readonly claim: string }[];
  readonly fromHeaders: readonly JwtHeaderLocation[];
  readonly fromParams: readonly string[];
  readonly fromCookies: readonly string[];
  readonly jwks: JwksSource;
}

/** Envoy's JwtRequirement. */
export type JwtRequirement =
  | { readonly kind: 'provider'; readonly name: string }
  | { readonly kind: 'allowMissing' }
  | { readonly kind: 'allowMissingOrFailed' }
  | { readonly kind: 'any'; readonly of: readonly JwtRequirement[] }
  | { readonly kind: 'all'; readonly of: readonly JwtRequirement[] };

export interface JwtRulePlan {
  /** Route match on the path: exact path or prefix; neither = every path. */
  readonly path?: string;
  readonly prefix?: string;
  /** No requirement: tokens are not checked on this path. */
  readonly requires?: JwtRequirement;
}

export interface JwtAuthnPlan {
  readonly providers: ReadonlyMap<string, JwtProviderPlan>;
  readonly rules: readonly JwtRulePlan[];
  readonly bypassCorsPreflight: boolean;
}

/** Envoy's default locations when a provider names none: `Authorization: Bearer <token>` and `?access_token=`. */
const DEFAULT_HEADERS: readonly JwtHeaderLocation[] = [{ name: 'authorization', valuePrefix: 'Bearer ' }];
const DEFAULT_PARAMS: readonly string[] = ['access_token'];

type Outcome = { ok: true } | { ok: false; status: string };
const OK: Outcome = { ok: true };
const MISSING = 'Jwt is missing';

/** A token found in the request: where, and which providers looked there. */
interface Found {
  readonly token: string;
  readonly providers: JwtProviderPlan[];
  /** Header names it came from (removed unless the provider forwards it). */
  readonly headers: Set<string>;
}

/** One token's result: the provider it was checked against and the outcome. */
interface Checked {
  readonly provider: JwtProviderPlan;
  readonly outcome: Outcome;
  readonly payload?: JWTPayload;
  readonly found: Found;
}

/** JwtAuthnStage returns the HTTP filter stage enforcing `plan`. */
export class JwtAuthnStage implements HttpFilterStage {
  readonly name = 'envoy.filters.http.jwt_authn';

  constructor(readonly plan: JwtAuthnPlan) {}

  run(ctx: HttpFilterContext): FilterDenial | undefined | Promise<FilterDenial | undefined> {
    const { req } = ctx;
    const requires = this.requirementFor(req);
    if (!requires) return undefined;
    if (this.plan.bypassCorsPreflight && req.method === 'OPTIONS' && req.headers.has('origin') && req.headers.has('access-control-request-method')) return undefined;
    const found = this.extract(req, requires);
    if (found.length === 0) {
      // Nothing to verify: decide without going async (most requests of a mesh carry no JWT).
      const r = evaluate(requires, new Map(), false);
      return r.ok ? undefined : denial(r.status, req);
    }
    return this.verifyAll(ctx, requires, found);
  }

  private requirementFor(req: RequestHead): JwtRequirement | undefined {
    const q = req.path.indexOf('?');
    const path = q < 0 ? req.path : req.path.slice(0, q);
    for (const r of this.plan.rules) {
      if (r.path !== undefined ? path === r.path : r.prefix !== undefined ? path.startsWith(r.prefix) : true) return r.requires;
    }
    return undefined;
  }

  /** Tokens at the locations of every provider the requirement names (all providers for allow_missing). */
  private extract(req: RequestHead, requires: JwtRequirement): Found[] {
    const byToken = new Map<string, Found>();
    const add = (token: string, p: JwtProviderPlan, header?: string): void => {
      let f = byToken.get(token);
      if (!f) byToken.set(token, (f = { token, providers: [], headers: new Set() }));
      if (!f.providers.includes(p)) f.providers.push(p);
      if (header) f.headers.add(header);
    };
    let query: URLSearchParams | undefined;
    let cookies: Map<string, string> | undefined;
    for (const p of this.providersOf(requires)) {
      const defaults = p.fromHeaders.length === 0 && p.fromParams.length === 0 && p.fromCookies.length === 0;
      for (const h of defaults ? DEFAULT_HEADERS : p.fromHeaders) {
        for (const v of req.headers.getAll(h.name)) {
          const t = fromHeaderValue(v, h.valuePrefix, defaults);
          if (t) add(t, p, h.name);
        }
      }
      const params = defaults ? DEFAULT_PARAMS : p.fromParams;
      if (params.length > 0) {
        query ??= new URLSearchParams(req.path.includes('?') ? req.path.slice(req.path.indexOf('?') + 1) : '');
        for (const name of params) for (const t of query.getAll(name)) if (t) add(t, p);
      }
      if (p.fromCookies.length > 0) {
        cookies ??= parseCookies(req.headers.getAll('cookie'));
        for (const name of p.fromCookies) {
          const t = cookies.get(name);
          if (t) add(t, p);
        }
      }
    }
    return [...byToken.values()];
  }

  private providersOf(r: JwtRequirement): JwtProviderPlan[] {
    const names = new Set<string>();
    let all = false;
    const walk = (x: JwtRequirement): void => {
      if (x.kind === 'provider') names.add(x.name);
      else if (x.kind === 'any' || x.kind === 'all') x.of.forEach(walk);
      else all = true;
    };
    walk(r);
    if (all) return [...this.plan.providers.values()];
    return [...names].map((n) => this.plan.providers.get(n)).filter((p): p is JwtProviderPlan => p !== undefined);
  }

  private async verifyAll(ctx: HttpFilterContext, requires: JwtRequirement, found: Found[]): Promise<FilterDenial | undefined> {
    const checked = await Promise.all(found.map((f) => check(f)));
    const byProvider = new Map<string, Outcome>();
    let anyFailed = false;
    for (const c of checked) {
      const prev = byProvider.get(c.provider.name);
      if (!prev || (!prev.ok && c.outcome.ok)) byProvider.set(c.provider.name, c.outcome);
      if (!c.outcome.ok) anyFailed = true;
    }
    const r = evaluate(requires, byProvider, anyFailed);
    if (!r.ok) return denial(r.status, ctx.req);
    for (const c of checked) if (c.outcome.ok && c.payload) apply(ctx, c);
    return undefined;
  }
}

/**
 * The token in one header value: after `prefix` when set (Envoy looks for it anywhere in the
 * value; the default `Bearer ` is matched without regard to case), up to the first character
 * that cannot be part of a JWT.
 */
function fromHeaderValue(value: string, prefix: string | undefined, defaultLocation: boolean): string | undefined {
  let rest = value;
  if (prefix) {
    const i = defaultLocation ? value.toLowerCase().indexOf(prefix.toLowerCase()) : value.indexOf(prefix);
    if (i < 0) return undefined;
    rest = value.slice(i + prefix.length);
  }
  const m = /^[A-Za-z0-9._~+/=-]+/.exec(rest.trimStart());
  return m ? m[0] : undefined;
}

function parseCookies(values: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const v of values) {
    for (const part of v.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const name = part.slice(0, eq).trim();
      if (name && !m.has(name)) m.set(name, part.slice(eq + 1).trim());
    }
  }
  return m;
}

/** check verifies one token with the provider that claims its issuer (Envoy picks the provider by `iss` when locations are shared). */
async function check(found: Found): Promise<Checked> {
  const { decodeJwt, errors, jwtVerify } = await jose();
  let iss: string | undefined;
  try {
    iss = decodeJwt(found.token).iss;
  } catch {
    return { provider: found.providers[0], outcome: { ok: false, status: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections' }, found };
  }
  const provider = found.providers.find((p) => p.issuer === undefined || p.issuer === iss);
  if (!provider) return { provider: found.providers[0], outcome: { ok: false, status: 'Jwt issuer is not configured' }, found };
  try {
    const { payload } = await jwtVerify(found.token, provider.jwks.getKey, {
      ...(provider.issuer !== undefined ? { issuer: provider.issuer } : {}),
      ...(provider.audiences.length > 0 ? { audience: [...provider.audiences] } : {}),
      clockTolerance: CLOCK_SKEW_S,
    });
    return { provider, outcome: OK, payload, found };
  } catch (e) {
    return { provider, outcome: { ok: false, status: statusOf(e, errors) }, found };
  }
}

/** Envoy's (jwt_verify_lib's) status text for a jose error. */
function statusOf(e: unknown, errors: Awaited<ReturnType<typeof jose>>['errors']): string {
  if (e instanceof JwksFetchError) return 'Jwks remote fetch is failed';
  if (e instanceof errors.JWTExpired) return 'Jwt is expired';
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf') return 'Jwt not yet valid';
    if (e.claim === 'iss') return 'Jwt issuer is not configured';
    if (e.claim === 'aud') return 'Audiences in Jwt are not allowed';
    return 'Jwt verification fails';
  }
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) return "Jwks doesn't have key to match kid or alg from Jwt";
  if (e instanceof errors.JWTInvalid || e instanceof errors.JWSInvalid) return 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections';
  return 'Jwt verification fails';
}

/**
 * evaluate applies a requirement to the per-provider outcomes (absent = no token for it):
 * `allow_missing` passes unless some token present failed, `allow_missing_or_failed` always
 * passes, `any` needs one branch, `all` every branch.
 */
function evaluate(r: JwtRequirement, byProvider: ReadonlyMap<string, Outcome>, anyFailed: boolean): Outcome {
  switch (r.kind) {
    case 'provider':
      return byProvider.get(r.name) ?? { ok: false, status: MISSING };
    case 'allowMissing':
      return anyFailed ? firstFailure(byProvider) : OK;
    case 'allowMissingOrFailed':
      return OK;
    case 'any': {
      let first: Outcome | undefined;
      for (const x of r.of) {
        const o = evaluate(x, byProvider, anyFailed);
        if (o.ok) return o;
        // A token's own failure says more than "missing" from a provider it was not meant for.
        if (!first || ((first as { status: string }).status === MISSING && (o as { status: string }).status !== MISSING)) first = o;
      }
      return first ?? OK;
    }
    case 'all': {
      for (const x of r.of) {
        const o = evaluate(x, byProvider, anyFailed);
        if (!o.ok) return o;
      }
      return OK;
    }
  }
}

function firstFailure(byProvider: ReadonlyMap<string, Outcome>): Outcome {
  for (const o of byProvider.values()) if (!o.ok) return o;
  return { ok: false, status: 'Jwt verification fails' };
}

function denial(status: string, req: RequestHead): FilterDenial {
  // Envoy's WWW-Authenticate on a jwt_authn 401: the realm is the request URL without its query.
  const q = req.path.indexOf('?');
  const realm = `${req.scheme}://${req.authority}${q < 0 ? req.path : req.path.slice(0, q)}`;
  const challenge = status === MISSING ? `Bearer realm="${realm}"` : `Bearer realm="${realm}", error="invalid_token"`;
  return { status: 401, body: status, details: `jwt_authn_access_denied{${status.replace(/\s/g, '_')}}`, headers: [['www-authenticate', challenge]] };
}

/** apply records a verified token in the filter state and applies the provider's header outputs. */
function apply(ctx: HttpFilterContext, c: Checked): void {
  const { state, req } = ctx;
  const p = c.provider;
  const payload = c.payload as JWTPayload;
  if (p.issuer !== undefined || payload.iss !== undefined) state.set(`${JWT_STATE.payloadPrefix}${p.issuer ?? payload.iss}`, payload);
  // What RBAC matches claims against is Envoy's metadata copy, where `scope: "a b"` is a list.
  const normalized = normalize(payload, p.spaceDelimitedClaims);
  if (p.payloadInMetadata) {
    const md = (state.get(JWT_STATE.metadata) as Record<string, unknown> | undefined) ?? {};
    md[p.payloadInMetadata] = normalized;
    state.set(JWT_STATE.metadata, md);
  }
  // Istio's authn filter takes the first verified token for request.auth.* (providers are sorted by issuer).
  if (!state.has(JWT_STATE.principal)) {
    state.set(JWT_STATE.principal, `${payload.iss ?? ''}/${payload.sub ?? ''}`);
    state.set(JWT_STATE.audiences, payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud]);
    if (typeof payload.azp === 'string') state.set(JWT_STATE.presenter, payload.azp);
    state.set(JWT_STATE.claims, normalized);
  }
  // forward_payload_header: the token's payload segment as sent (base64url).
  if (p.forwardPayloadHeader) req.headers.set(p.forwardPayloadHeader.toLowerCase(), c.found.token.split('.')[1] ?? '');
  for (const { header, claim } of p.claimToHeaders) {
    const v = claimValue(payload, claim);
    if (v !== undefined) req.headers.set(header.toLowerCase(), v);
  }
  // Envoy removes a token it took from a header unless forward is set (tokens in query or cookies stay).
  if (!p.forward) for (const h of c.found.headers) req.headers.remove(h);
}

/** The payload with each listed claim that is a string split on spaces into a list (Envoy's normalize_payload_in_metadata). */
function normalize(payload: JWTPayload, claims: readonly string[] | undefined): JWTPayload {
  if (!claims?.some((c) => typeof payload[c] === 'string')) return payload;
  const out: JWTPayload = { ...payload };
  for (const c of claims) {
    const v = payload[c];
    if (typeof v === 'string') out[c] = v.split(' ').filter((x) => x !== '');
  }
  return out;
}

/** A claim by name, or by dotted path into nested objects, as a header value: scalars as text, lists of scalars comma-joined. */
function claimValue(payload: JWTPayload, claim: string): string | undefined {
  let v: unknown = payload[claim];
  if (v === undefined && claim.includes('.')) {
    v = payload;
    for (const part of claim.split('.')) v = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[part] : undefined;
  }
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) return v.join(',');
  return undefined;
}
