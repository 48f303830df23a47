/**
 * meshwork.io/v1alpha1: Meshwork's own kinds, ServiceLevelObjective and RateLimit.
 *
 * They are written to read like Istio resources: a `host` as in DestinationRule, the
 * `selector` / `targetRefs` attachment of Istio's policies, Istio's StringMatch, durations
 * as strings and upper-case enums. docs/api.md ("Meshwork's own kinds") is the user reference; keep it in
 * step with every rule here.
 */
import * as z from 'zod';
import type { KindDef } from './kind.js';
import { anyJson, checkedString, crossCheck, dnsLabel, duration, obj, oneOf, port } from './dsl.js';
import { checkFqdn } from '../fields/host.js';
import { StringMatch } from './common.js';
import { checkWildcardValue } from './security.js';
import { oneTargetKind, POLICY_TARGET_FIELDS } from './common.js';
import { nonEmptyString, withCel } from './dsl.js';

// ---------------------------------------------------------------------------
// Durations with days and weeks (SLO windows).
// ---------------------------------------------------------------------------

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  ns: 1e-9,
  us: 1e-6,
  'µs': 1e-6,
  'μs': 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 604800,
};
const WINDOW_COMPONENT = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)/y;

/**
 * parseWindow returns the length in seconds of an SLO window or alerting window. The
 * syntax is Go's duration syntax (`720h`, `90m`, `1h30m`) plus the units `d` (24h) and
 * `w` (7d), freely combined (`30d`, `4w`, `1w3d12h`): SLOs are talked about in days.
 */
export function parseWindow(text: string): { ok: true; seconds: number } | { ok: false; reason: string } {
  const bad = { ok: false as const, reason: `invalid duration "${text}": expected numbers with units (s, m, h, d, w), e.g. "30d", "4w", "6h" or "1h30m"` };
  if (text === '') return bad;
  let seconds = 0;
  let pos = 0;
  while (pos < text.length) {
    WINDOW_COMPONENT.lastIndex = pos;
    const m = WINDOW_COMPONENT.exec(text);
    if (!m) return bad;
    seconds += Number(m[1]) * UNIT_SECONDS[m[2]];
    pos = WINDOW_COMPONENT.lastIndex;
  }
  return { ok: true, seconds };
}

/** formatSeconds renders a window the short way (`30d`, `6h`, `5m`). */
export function formatSeconds(s: number): string {
  for (const [unit, size] of [['w', 604800], ['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= size && s % size === 0) return `${s / size}${unit}`;
  }
  return `${s}s`;
}

/** A window duration string between `minS` and `maxS` seconds. */
function windowDuration(minS: number, maxS?: number): z.ZodString {
  const s = checkedString((v) => {
    const r = parseWindow(v);
    if (!r.ok) return r.reason;
    if (r.seconds < minS) return `duration must be at least ${formatSeconds(minS)}, got "${v}"`;
    if (maxS !== undefined && r.seconds > maxS) return `duration must be at most ${formatSeconds(maxS)}, got "${v}"`;
    return undefined;
  });
  return withCel(s, "self.matches('^([0-9]+(\\\\.[0-9]*)?|\\\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h|d|w)(([0-9]+(\\\\.[0-9]*)?|\\\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h|d|w))*$')", 'must be a duration such as 30d, 4w, 6h or 1h30m');
}

function seconds(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const r = parseWindow(text);
  return r.ok ? r.seconds : undefined;
}

// ---------------------------------------------------------------------------
// ServiceLevelObjective
// ---------------------------------------------------------------------------

/** The SLO window when `window` is not set. */
export const DEFAULT_SLO_WINDOW = '30d';
const MIN_WINDOW_S = 3600;
const MAX_WINDOW_S = 90 * 86400;

export type AlertSeverity = 'PAGE' | 'TICKET';

/**
 * The multiwindow, multi-burn-rate alerts used when `alerting.burnRateWindows` is not set
 * (the Google SRE workbook's recommendation, chapter "Alerting on SLOs").
 */
export const DEFAULT_BURN_RATE_WINDOWS: readonly { longWindow: string; shortWindow: string; burnRate: number; severity: AlertSeverity }[] = [
  { longWindow: '1h', shortWindow: '5m', burnRate: 14.4, severity: 'PAGE' },
  { longWindow: '6h', shortWindow: '30m', burnRate: 6, severity: 'PAGE' },
  { longWindow: '1d', shortWindow: '2h', burnRate: 3, severity: 'TICKET' },
  { longWindow: '3d', shortWindow: '6h', burnRate: 1, severity: 'TICKET' },
];

/**
 * maxBurnRate returns the highest burn rate an objective allows: with every request failing,
 * the error budget (100 − objective percent) burns at 100 / (100 − objective) times the
 * sustainable rate, so a higher threshold could never fire.
 */
export function maxBurnRate(objective: number): number {
  return 100 / (100 - objective);
}

/** checkStatusCode returns why `v` is not an HTTP status (`503`) or status class (`5xx`). */
function checkStatusCode(v: string | number): string | undefined {
  const s = String(v);
  if (/^[1-5]xx$/.test(s)) return undefined;
  if (/^\d+$/.test(s) && Number(s) >= 100 && Number(s) <= 599) return undefined;
  return `"${s}" is not an HTTP status code (100..599) or class ("1xx".."5xx")`;
}

const StatusCode = z.union([z.string(), z.number()]).superRefine((v, ctx) => {
  const reason = checkStatusCode(v);
  if (reason) ctx.addIssue({ code: 'custom', message: reason, input: v });
});

/** The requests of the service the objective covers; fields are ANDed. */
export const SloMatch = crossCheck(obj({ uri: StringMatch.optional(), method: StringMatch.optional(), port: port().optional() }), (m, ctx) => {
  if (m.uri === undefined && m.method === undefined && m.port === undefined) {
    ctx.addIssue({ code: 'custom', message: 'match must not be empty: set at least one of uri, method, port', input: m });
  }
});

/** Availability SLI: good requests are those whose status is not listed in `errorCodes`. */
export const AvailabilitySli = obj({
  errorCodes: crossCheck(z.array(StatusCode).min(1, { error: 'errorCodes, if set, must list at least one status code or class' }), (codes, ctx) => {
    const seen = new Set<string>();
    codes.forEach((c, i) => {
      if (seen.has(String(c))) ctx.addIssue({ code: 'custom', message: `duplicate error code "${c}"`, path: [i], input: c });
      seen.add(String(c));
    });
  }).optional(),
});

/** Latency SLI: good requests are those that completed within `threshold`. */
export const LatencySli = obj({ threshold: duration() });

/** One multiwindow burn-rate alert: fires when both windows burn faster than `burnRate`. */
export const BurnRateWindow = crossCheck(
  obj({
    longWindow: windowDuration(60),
    shortWindow: windowDuration(60),
    burnRate: z.number().superRefine((b, ctx) => {
      if (!(b > 0)) ctx.addIssue({ code: 'custom', message: `burn rate must be greater than 0, got ${b}`, input: b });
    }),
    severity: z.enum(['PAGE', 'TICKET']).optional(),
  }),
  (w, ctx) => {
    const long = seconds(w.longWindow);
    const short = seconds(w.shortWindow);
    if (long !== undefined && short !== undefined && short >= long) {
      ctx.addIssue({ code: 'custom', message: `shortWindow (${w.shortWindow}) must be shorter than longWindow (${w.longWindow})`, path: ['shortWindow'], input: w.shortWindow });
    }
  },
);

const Alerting = obj({
  disabled: z.boolean().optional(),
  burnRateWindows: crossCheck(
    z.array(BurnRateWindow).min(1, { error: 'burnRateWindows, if set, must have at least one window; set disabled: true to turn alerting off' }),
    (list, ctx) => {
      const seen = new Set<string>();
      list.forEach((w, i) => {
        const long = seconds(w?.longWindow);
        const short = seconds(w?.shortWindow);
        if (long === undefined || short === undefined) return;
        if (seen.has(`${long}/${short}`)) ctx.addIssue({ code: 'custom', message: `duplicate window pair ${w.longWindow}/${w.shortWindow}`, path: [i], input: w });
        seen.add(`${long}/${short}`);
      });
    },
  ).optional(),
});

/** meshwork.io ServiceLevelObjective spec. */
export const ServiceLevelObjectiveSpec = crossCheck(
  obj({
    // One service: say so plainly rather than letting the wildcard fail the FQDN rules.
    host: checkedString((h) => (h.includes('*') ? `host "${h}" must not contain a wildcard: an objective is for one service` : checkFqdn(h))),
    match: z.array(SloMatch).optional(),
    reporter: z.enum(['DESTINATION', 'SOURCE']).optional(),
    sli: oneOf(obj({ availability: AvailabilitySli.optional(), latency: LatencySli.optional() }), ['availability', 'latency'], { required: true }),
    objective: withCel(
      z.number().superRefine((o, ctx) => {
        if (!(o > 0 && o < 100)) ctx.addIssue({ code: 'custom', message: `objective must be a percentage greater than 0 and less than 100, got ${o}`, input: o });
      }),
      'self > 0.0 && self < 100.0',
      'objective must be greater than 0 and less than 100',
    ),
    window: windowDuration(MIN_WINDOW_S, MAX_WINDOW_S).optional(),
    alerting: Alerting.optional(),
  }),
  (s, ctx) => {
    const windowS = seconds(s.window ?? DEFAULT_SLO_WINDOW);
    const objectiveOk = typeof s.objective === 'number' && s.objective > 0 && s.objective < 100;
    (s.alerting?.burnRateWindows ?? []).forEach((w, i) => {
      const long = seconds(w?.longWindow);
      if (windowS !== undefined && long !== undefined && long > windowS) {
        ctx.addIssue({
          code: 'custom',
          message: `longWindow (${w.longWindow}) must not be longer than the SLO window (${s.window ?? DEFAULT_SLO_WINDOW})`,
          path: ['alerting', 'burnRateWindows', i, 'longWindow'],
          input: w.longWindow,
        });
      }
      if (objectiveOk && typeof w?.burnRate === 'number' && w.burnRate > maxBurnRate(s.objective)) {
        ctx.addIssue({
          code: 'custom',
          message: `burn rate ${w.burnRate} can never be reached with objective ${s.objective}: even with every request failing the budget burns at ${round(maxBurnRate(s.objective))}x`,
          path: ['alerting', 'burnRateWindows', i, 'burnRate'],
          input: w.burnRate,
        });
      }
    });
  },
);
export type ServiceLevelObjectiveSpec = z.output<typeof ServiceLevelObjectiveSpec>;

function round(n: number): number {
  return Math.round(n * 1e4) / 1e4;
}

/** A burn-rate alert with its windows in seconds. */
export interface EffectiveBurnRateWindow {
  readonly longWindowSeconds: number;
  readonly shortWindowSeconds: number;
  readonly burnRate: number;
  readonly severity: AlertSeverity;
}

/**
 * effectiveBurnRateWindows returns the burn-rate alerts an objective evaluates: none when
 * alerting is disabled; the listed windows when set (severity PAGE when not given); else
 * the defaults, minus the pairs that cannot apply (a long window beyond the SLO window, or
 * a burn rate above what the objective allows).
 */
export function effectiveBurnRateWindows(spec: ServiceLevelObjectiveSpec): EffectiveBurnRateWindow[] {
  if (spec.alerting?.disabled) return [];
  const windowS = seconds(spec.window ?? DEFAULT_SLO_WINDOW) ?? 0;
  const explicit = spec.alerting?.burnRateWindows;
  const list = explicit ?? DEFAULT_BURN_RATE_WINDOWS;
  const out: EffectiveBurnRateWindow[] = [];
  for (const w of list) {
    const long = seconds(w.longWindow) ?? 0;
    const short = seconds(w.shortWindow) ?? 0;
    if (!explicit && (long > windowS || w.burnRate > maxBurnRate(spec.objective))) continue;
    out.push({ longWindowSeconds: long, shortWindowSeconds: short, burnRate: w.burnRate, severity: w.severity ?? 'PAGE' });
  }
  return out;
}

/** sloWindowSeconds returns the length of an objective's window in seconds (default 30d). */
export function sloWindowSeconds(spec: ServiceLevelObjectiveSpec): number {
  return seconds(spec.window ?? DEFAULT_SLO_WINDOW) ?? 0;
}

// ---------------------------------------------------------------------------
// RateLimit
// ---------------------------------------------------------------------------

// RFC 7230 token: what an HTTP header name or method may consist of.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function checkHeaderToken(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  return TOKEN.test(name) ? undefined : `"${name}" is not a valid HTTP header name`;
}

function checkMethod(m: string): string | undefined {
  if (m === '') return 'empty value not allowed';
  return /^[A-Z][A-Z0-9_-]*$/.test(m) ? undefined : `"${m}" is not an HTTP method: methods are upper-case tokens such as GET or POST`;
}

/** A path pattern as in AuthorizationPolicy: exact, `prefix*`, `*suffix` or `*`. */
function checkRateLimitPath(p: string): string | undefined {
  const reason = checkWildcardValue(p);
  if (reason) return reason;
  if (!p.startsWith('/') && !p.startsWith('*')) return `path "${p}" must start with "/" (or be a "*suffix" pattern)`;
  return undefined;
}

/** checkHeaderValue returns why a response header value would be refused on the wire. */
function checkHeaderValue(v: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000a-\u001f\u007f]/.test(v) ? 'header value must not contain control characters' : undefined;
}

/** Which requests a rule counts. Fields are ANDed; list items are ORed. */
export const RateLimitMatch = crossCheck(
  obj({
    paths: z.array(checkedString(checkRateLimitPath)).optional(),
    methods: z.array(checkedString(checkMethod)).optional(),
    headers: crossCheck(z.record(z.string(), StringMatch), (m, ctx) => {
      for (const k of Object.keys(m)) {
        const reason = checkHeaderToken(k);
        if (reason) ctx.addIssue({ code: 'custom', message: reason, path: [k], input: k });
      }
    }).optional(),
  }),
  (m, ctx) => {
    const any = (m.paths?.length ?? 0) + (m.methods?.length ?? 0) + Object.keys(m.headers ?? {}).length;
    if (any === 0) ctx.addIssue({ code: 'custom', message: 'match must not be empty: set at least one of paths, methods, headers', input: m });
  },
);

const DESCRIPTOR_KINDS = ['sourcePrincipal', 'requestHeader', 'path', 'remoteAddress', 'genericKey'] as const;

function prefixLength(max: number): z.ZodNumber {
  return z.number().int().min(0).max(max);
}

/**
 * One dimension a rule's requests are counted by: each distinct value gets its own budget
 * (one bucket per client principal, per header value, ...). Exactly one field is set.
 */
export const RateLimitDescriptor = oneOf(
  obj({
    sourcePrincipal: obj({}).optional(),
    requestHeader: obj({ name: checkedString(checkHeaderToken) }).optional(),
    path: obj({}).optional(),
    remoteAddress: obj({ v4PrefixLength: prefixLength(32).optional(), v6PrefixLength: prefixLength(128).optional() }).optional(),
    genericKey: obj({ value: nonEmptyString() }).optional(),
  }),
  DESCRIPTOR_KINDS,
  { required: true },
);

const positiveCount = (): z.ZodNumber => z.number().int().min(1).max(4294967295);

/** How many requests a bucket allows per time unit (and, for LOCAL, how many at once). */
export const RateLimitLimit = crossCheck(
  obj({
    requestsPerUnit: positiveCount(),
    unit: z.enum(['SECOND', 'MINUTE', 'HOUR', 'DAY']),
    burst: positiveCount().optional(),
  }),
  (l, ctx) => {
    if (typeof l.burst === 'number' && typeof l.requestsPerUnit === 'number' && l.burst < l.requestsPerUnit) {
      ctx.addIssue({ code: 'custom', message: `burst (${l.burst}) must be at least requestsPerUnit (${l.requestsPerUnit})`, path: ['burst'], input: l.burst });
    }
  },
);

/** One named limit. */
export const RateLimitRule = crossCheck(
  obj({
    name: dnsLabel(),
    match: z.array(RateLimitMatch).optional(),
    descriptors: z.array(RateLimitDescriptor).optional(),
    limit: RateLimitLimit,
  }),
  (r, ctx) => {
    const seen = new Set<string>();
    (r.descriptors ?? []).forEach((d, i) => {
      if (!d) return;
      const kind = DESCRIPTOR_KINDS.find((k) => d[k] !== undefined);
      if (!kind) return;
      const key = kind === 'requestHeader' ? `requestHeader:${String(d.requestHeader?.name).toLowerCase()}` : kind === 'genericKey' ? `genericKey:${d.genericKey?.value}` : kind;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `duplicate descriptor: ${key.replace(':', ' ')} is already listed`, path: ['descriptors', i], input: d });
      seen.add(key);
    });
  },
);

/** meshwork.io RateLimit spec. */
export const RateLimitSpec = crossCheck(
  oneTargetKind(
    obj({
      ...POLICY_TARGET_FIELDS,
      mode: z.enum(['LOCAL', 'GLOBAL']).optional(),
      failureMode: z.enum(['ALLOW', 'DENY']).optional(),
      timeout: duration({ minNs: 1e6, maxNs: 10e9, msPrecision: true }).optional(),
      response: obj({
        statusCode: z.number().int().min(400).max(599).optional(),
        headers: crossCheck(z.record(z.string(), z.string()), (m, ctx) => {
          for (const [k, v] of Object.entries(m)) {
            const reason = checkHeaderToken(k) ?? (typeof v === 'string' ? checkHeaderValue(v) : undefined);
            if (reason) ctx.addIssue({ code: 'custom', message: reason, path: [k], input: v });
          }
        }).optional(),
        rateLimitHeaders: z.enum(['OFF', 'DRAFT_VERSION_03']).optional(),
      }).optional(),
      rules: z.array(RateLimitRule).min(1),
    }),
  ),
  (s, ctx) => {
    const mode = s.mode ?? 'LOCAL';
    // With an unknown mode its own error is enough; the mode-dependent rules cannot apply.
    if (mode !== 'LOCAL' && mode !== 'GLOBAL') return;
    if (mode !== 'GLOBAL') {
      for (const f of ['failureMode', 'timeout'] as const) {
        if (s[f] !== undefined) ctx.addIssue({ code: 'custom', message: `${f} applies only to mode GLOBAL (the call to mixer's rate-limit service)`, path: [f], input: s[f] });
      }
    }
    const names = new Set<string>();
    (s.rules ?? []).forEach((r, i) => {
      if (!r) return;
      if (typeof r.name === 'string') {
        if (names.has(r.name)) ctx.addIssue({ code: 'custom', message: `duplicate rule name "${r.name}"`, path: ['rules', i, 'name'], input: r.name });
        names.add(r.name);
      }
      if (mode === 'GLOBAL' && r.limit?.burst !== undefined) {
        ctx.addIssue({ code: 'custom', message: 'burst applies only to mode LOCAL (the global service counts fixed windows)', path: ['rules', i, 'limit', 'burst'], input: r.limit.burst });
      }
    });
  },
);
export type RateLimitSpec = z.output<typeof RateLimitSpec>;

/** Seconds in each RateLimit unit. */
export const RATE_LIMIT_UNIT_SECONDS: Readonly<Record<RateLimitSpec['rules'][number]['limit']['unit'], number>> = {
  SECOND: 1,
  MINUTE: 60,
  HOUR: 3600,
  DAY: 86400,
};

/** The RateLimit timeout for mode GLOBAL when `timeout` is not set (Envoy's default for its rate-limit filter). */
export const DEFAULT_RATE_LIMIT_TIMEOUT = '20ms';

const CATEGORIES = ['meshwork-io'] as const;
const AGE = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const MESHWORK_KINDS: KindDef[] = [
  {
    group: 'meshwork.io',
    kind: 'ServiceLevelObjective',
    versions: ['v1alpha1'],
    plural: 'servicelevelobjectives',
    singular: 'servicelevelobjective',
    shortNames: ['slo'],
    categories: CATEGORIES,
    namespaced: true,
    crd: true,
    body: obj({ spec: ServiceLevelObjectiveSpec, status: anyJson().optional() }),
    printerColumns: [
      { name: 'Host', type: 'string', jsonPath: '.spec.host', description: 'The service the objective is for.' },
      { name: 'Objective', type: 'number', jsonPath: '.spec.objective', description: 'Target percentage of good requests.' },
      { name: 'Window', type: 'string', jsonPath: '.spec.window', description: 'The rolling window (default 30d).' },
      AGE,
    ],
  },
  {
    group: 'meshwork.io',
    kind: 'RateLimit',
    versions: ['v1alpha1'],
    plural: 'ratelimits',
    singular: 'ratelimit',
    shortNames: ['rl'],
    categories: CATEGORIES,
    namespaced: true,
    crd: true,
    body: obj({ spec: RateLimitSpec, status: anyJson().optional() }),
    printerColumns: [{ name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'LOCAL (default) or GLOBAL.' }, AGE],
  },
];
