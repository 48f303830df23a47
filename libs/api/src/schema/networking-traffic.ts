/**
 * networking.istio.io traffic-policy and registry kinds: DestinationRule, ServiceEntry,
 * Sidecar, WorkloadEntry, WorkloadGroup (served as v1, v1beta1, v1alpha3; v1 stored).
 *
 * Verdicts follow what a cluster running Istio enforces for these kinds: the CRD schema
 * and its CEL rules (istio/api kubernetes/customresourcedefinitions.gen.yaml) plus the
 * validating webhook (istio/istio pkg/config/validation). When the two disagree, the
 * union of their rejections is what a user meets, so that is what we reject. The host,
 * label and port-name rules below are Istio's own (upper case allowed, numeric top-level
 * domains refused, ...), which differ in small ways from the Kubernetes rules in
 * `fields/`; the reasons are our own words.
 */
import * as z from 'zod';
import type { KindDef } from './kind.js';
import { allRules, exportToOwnNamespace, istioMetadataRules } from './meta.js';
import { ServerTLSSettingsFields } from './networking-routing.js';
import { checkFqdn, checkWildcardHost, isGoInt, isIstioDnsLabel, ISTIO_LABEL_PATTERN as LABEL } from '../fields/host.js';
import { anyJson, crdHints, crossCheck, duration, int32, isSet, obj, oneOf, port, uint32, type CrdHints } from './dsl.js';
import { WorkloadSelector } from './common.js';
import { parseDuration } from '../fields/duration.js';
import { checkCidr, checkIp } from '../fields/net.js';

// ---------------------------------------------------------------------------
// Field rules shared by the kinds below (Istio's semantics, our wording).
// ---------------------------------------------------------------------------

type Path = (string | number)[];
type Ctx = z.core.$RefinementCtx<unknown>;

function fail(ctx: Ctx, path: Path, message: string, input?: unknown): void {
  ctx.addIssue({ code: 'custom', message, path, input });
}

function withHints<T extends z.ZodType>(schema: T, hints: CrdHints): T {
  const prev = crdHints.get(schema);
  crdHints.add(schema, { ...prev, ...hints, validations: [...(prev?.validations ?? []), ...(hints.validations ?? [])] });
  return schema;
}

/** A string checked by `check` (returns the reason it is invalid); CRD hints optional. */
function str(check?: (s: string) => string | undefined, hints: CrdHints = {}): z.ZodString {
  const s = check
    ? z.string().superRefine((v, ctx) => {
        const reason = check(v);
        if (reason) ctx.addIssue({ code: 'custom', message: reason, input: v });
      })
    : z.string();
  return withHints(s, hints);
}

/** A string with a maximum length (a CRD `maxLength`), optionally checked further. */
function maxLen(n: number, check?: (s: string) => string | undefined): z.ZodString {
  const s = z.string().max(n);
  return check
    ? s.superRefine((v, ctx) => {
        const reason = v.length <= n ? check(v) : undefined;
        if (reason) ctx.addIssue({ code: 'custom', message: reason, input: v });
      })
    : s;
}

/** True when a value counts as set the way protobuf sees it: present, and not an empty list. */
function present(v: unknown): boolean {
  return isSet(v) && !(Array.isArray(v) && v.length === 0);
}

const LABEL_RE = new RegExp(`^${LABEL}$`);
const checkWildcardDomain = checkWildcardHost;

function isIp(s: string): boolean {
  return checkIp(s) === undefined;
}

/** checkPortName returns why `name` is not a valid port name (a DNS-1123 label of at most `max` characters). */
function checkPortName(name: string, max = 63): string | undefined {
  if (name.length <= max && LABEL_RE.test(name)) return undefined;
  return `invalid port name "${name}": must be letters, digits and '-', start and end with a letter or digit, and be at most ${max} characters`;
}

const PROTOCOLS = new Map<string, string>([
  ['tcp', 'TCP'], ['udp', 'UDP'], ['grpc', 'GRPC'], ['grpc-web', 'GRPC-Web'], ['http', 'HTTP'], ['http_proxy', 'HTTP_PROXY'],
  ['http2', 'HTTP2'], ['https', 'HTTPS'], ['tls', 'TLS'], ['mongo', 'Mongo'], ['redis', 'Redis'], ['mysql', 'MySQL'],
]);

/** parseProtocol returns Istio's protocol for a port's `protocol` (case-insensitive), or undefined when unknown. */
function parseProtocol(s: string): string | undefined {
  return PROTOCOLS.get(s.toLowerCase());
}
const isHttpProtocol = (p: string | undefined): boolean => p === 'HTTP' || p === 'HTTP2' || p === 'HTTP_PROXY' || p === 'GRPC' || p === 'GRPC-Web';
const isTlsProtocol = (p: string | undefined): boolean => p === 'HTTPS' || p === 'TLS';

function checkProtocol(s: string): string | undefined {
  // Empty means "detect the protocol".
  if (s === '' || parseProtocol(s)) return undefined;
  return `unsupported protocol "${s}"; use one of HTTP, HTTPS, HTTP2, GRPC, GRPC-Web, HTTP_PROXY, TCP, TLS, UDP, Mongo, Redis, MySQL`;
}

const UNIX_PREFIX = 'unix://';

/** Istio's ValidateUnixAddress on the part after `unix://`: an absolute file path or an abstract socket (`@name`). */
function checkUnixPath(path: string): string | undefined {
  if (path === '') return 'unix socket path must not be empty';
  if (path.startsWith('@')) return undefined;
  if (!path.startsWith('/') || path.endsWith('/')) return `unix socket path "${path}" must be an absolute path to a file`;
  return undefined;
}

// Istio's labels.Instance.Validate: Kubernetes label syntax (upper-case DNS prefixes allowed, no value length limit).
const QUALIFIED = '(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const TAG_RE = new RegExp(`^(${LABEL}(?:\\.${LABEL})*/)?(${QUALIFIED})$`);
const LABEL_VALUE_RE = new RegExp(`^(?:${QUALIFIED})?$`);

/** checkLabel returns why a label key/value pair is invalid for Istio, or undefined. */
function checkLabel(key: string, value: string): string | undefined {
  const m = TAG_RE.exec(key);
  if (!m) return `invalid label key "${key}"`;
  if (m[1] && m[1].length - 1 > 253) return `invalid label key "${key}": prefix is longer than 253 characters`;
  if (m[2].length > 63) return `invalid label key "${key}": name is longer than 63 characters`;
  if (!LABEL_VALUE_RE.test(value)) return `invalid label value "${value}" for key "${key}"`;
  return undefined;
}

function checkMaxEntries(m: Record<string, unknown>, max: number, ctx: Ctx): void {
  const n = Object.keys(m).length;
  if (n > max) fail(ctx, [], `must have at most ${max} entries, got ${n}`);
}

/** The CRD rule for a map's size (Istio's CRDs say `maxProperties`; CEL is what the hints carry). */
function maxEntries<T extends z.ZodType>(schema: T, max: number): T {
  return withHints(schema, { validations: [{ rule: `self.size() <= ${max}`, message: `must have at most ${max} entries` }] });
}

/** Labels checked with Istio's label rules; `max` is the CRD's maxProperties. */
function istioLabels(max?: number): z.ZodRecord<z.ZodString, z.ZodString> {
  const labels = z.record(z.string(), z.string()).superRefine((m, ctx) => {
    if (max !== undefined) checkMaxEntries(m, max, ctx);
    for (const [k, v] of Object.entries(m)) {
      const reason = typeof v === 'string' ? checkLabel(k, v) : undefined;
      if (reason) fail(ctx, [k], reason, v);
    }
  });
  return max === undefined ? labels : maxEntries(labels, max);
}

/** A string map with at most `max` entries. */
function boundedMap(max: number): z.ZodRecord<z.ZodString, z.ZodString> {
  return maxEntries(z.record(z.string(), z.string()).superRefine((m, ctx) => checkMaxEntries(m, max, ctx)), max);
}

/** A non-negative protobuf int32 (Istio's webhook rejects negatives where the proto type allows them). */
function nonNegInt32(): z.ZodNumber {
  return withHints(z.number().int().min(0).max(2147483647), { format: 'int32' });
}

/** A double within [min, max] (a CRD `minimum`/`maximum`). */
function boundedDouble(min: number, max?: number): z.ZodNumber {
  const n = z.number().min(min);
  return withHints(max === undefined ? n : n.max(max), { format: 'double' });
}

/** A protobuf uint64 (JSON numbers within the safe-integer range). */
function uint64(): z.ZodNumber {
  return withHints(z.number().int().min(0), { format: 'uint64' });
}

/** A duration the way Istio's ValidateDuration accepts it: at least 1ms, whole milliseconds. */
const msDuration = (): z.ZodString => duration();
/** A duration the CRD checks only with CEL `duration(self) >= duration('1ms')`. */
const celMsDuration = (): z.ZodString => duration({ minNs: 1e6 });
/** A duration Istio does not check beyond parsing. */
const anyDuration = (): z.ZodString => duration({});

/**
 * Where a resource is exported (`exportTo`): `.`, `*`, a namespace, and for ServiceEntry
 * also `~` (no one). Checks that need the resource's own namespace (`.` duplicating it)
 * cannot be made here, since the spec is validated without its metadata.
 */
function checkExportTo(list: unknown, ctx: Ctx, opts: { serviceEntry: boolean; drWithSelector: boolean }): void {
  if (!Array.isArray(list) || list.length === 0) return;
  const seen = new Set<string>();
  list.forEach((e, i) => {
    if (typeof e !== 'string') return;
    if (seen.has(e)) {
      fail(ctx, ['exportTo', i], `duplicate exportTo entry "${e}"`, e);
    } else if (e === '.' || e === '*' || (e === '~' && opts.serviceEntry)) {
      seen.add(e);
    } else if (e === '~') {
      fail(ctx, ['exportTo', i], '"~" (visible to no one) is only allowed in a ServiceEntry', e);
    } else if (!isIstioDnsLabel(e)) {
      fail(ctx, ['exportTo', i], `exportTo entry "${e}" must be ".", "*" or a namespace name`, e);
    } else {
      seen.add(e);
    }
  });
  if (opts.drWithSelector && seen.size > 0) {
    // Only the resource's own namespace ("." or its name) is allowed; a single named entry may be it.
    if (seen.has('*') || seen.size > 1) fail(ctx, ['exportTo'], 'a DestinationRule with a workloadSelector can only be exported to its own namespace', list);
  }
  if (seen.has('*') && list.length > 1) fail(ctx, ['exportTo'], '"*" (all namespaces) cannot be combined with other exportTo entries', list);
  if (seen.has('~') && list.length > 1) fail(ctx, ['exportTo'], '"~" (no one) cannot be combined with other exportTo entries', list);
}

const ExportTo = z.array(z.string());

/** istio.networking.v1.WorkloadSelector (ServiceEntry, Sidecar): `labels`, no wildcards. */
export const NetworkingWorkloadSelector = obj({
  labels: maxEntries(z
    .record(z.string(), z.string().max(63))
    .superRefine((m, ctx) => {
      checkMaxEntries(m, 256, ctx);
      for (const [k, v] of Object.entries(m)) {
        if (k === '') fail(ctx, [k], 'an empty label key is not allowed in a selector', k);
        if (k.includes('*') || (typeof v === 'string' && v.includes('*'))) fail(ctx, [k], `wildcard "*" is not supported in selector "${k}=${v}"`, v);
      }
    }), 256)
    .optional(),
});
export type NetworkingWorkloadSelector = z.output<typeof NetworkingWorkloadSelector>;

// ---------------------------------------------------------------------------
// DestinationRule and its traffic policy.
// ---------------------------------------------------------------------------

/** ConnectionPoolSettings.TCPSettings. */
export const TcpSettings = obj({
  maxConnections: nonNegInt32().optional(),
  connectTimeout: msDuration().optional(),
  tcpKeepalive: obj({
    probes: uint32().optional(),
    time: msDuration().optional(),
    interval: msDuration().optional(),
  }).optional(),
  maxConnectionDuration: msDuration().optional(),
  // 0 disables the idle timeout; Istio skips checking anything under a millisecond.
  idleTimeout: str((s) => {
    const r = parseDuration(s);
    if (!r.ok) return r.reason;
    if (r.ns < 0) return `duration must not be negative, got "${s}"`;
    if (r.ns < 1e6) return undefined;
    return r.ns % 1e6 === 0 ? undefined : `only durations to ms precision are supported, got "${s}"`;
  }).optional(),
});

/** ConnectionPoolSettings.HTTPSettings. */
export const HttpSettings = crossCheck(
  obj({
    http1MaxPendingRequests: nonNegInt32().optional(),
    http2MaxRequests: nonNegInt32().optional(),
    maxRequestsPerConnection: nonNegInt32().optional(),
    maxRetries: nonNegInt32().optional(),
    idleTimeout: msDuration().optional(),
    h2UpgradePolicy: z.enum(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']).optional(),
    useClientProtocol: z.boolean().optional(),
    maxConcurrentStreams: nonNegInt32().optional(),
    http2KeepAlive: obj({ interval: msDuration(), timeout: msDuration() }).optional(),
  }),
  (h, ctx) => {
    if (h.h2UpgradePolicy === 'UPGRADE' && h.useClientProtocol === true) {
      fail(ctx, ['useClientProtocol'], 'useClientProtocol must not be true when h2UpgradePolicy is UPGRADE', true);
    }
  },
);

/** istio.networking.v1.ConnectionPoolSettings: circuit-breaker limits. */
export const ConnectionPoolSettings = crossCheck(obj({ tcp: TcpSettings.optional(), http: HttpSettings.optional() }), (c, ctx) => {
  if (!isSet(c.tcp) && !isSet(c.http)) fail(ctx, [], 'a connection pool must set tcp or http', c);
});
export type ConnectionPoolSettings = z.output<typeof ConnectionPoolSettings>;

/** istio.networking.v1.OutlierDetection: passive health checking (ejection of failing hosts). */
export const OutlierDetection = crossCheck(
  obj({
    splitExternalLocalOriginErrors: z.boolean().optional(),
    consecutiveLocalOriginFailures: uint32().nullable().optional(),
    consecutiveGatewayErrors: uint32().nullable().optional(),
    consecutive5xxErrors: uint32().nullable().optional(),
    interval: msDuration().optional(),
    baseEjectionTime: msDuration().optional(),
    maxEjectionPercent: int32().optional(),
    minHealthPercent: int32().optional(),
    /** Deprecated (use consecutive5xxErrors / consecutiveGatewayErrors); accepted as Istio does. */
    consecutiveErrors: int32().optional(),
    outlierDetectionHttpErrorCodes: z.array(z.number().int().min(100).max(599)).optional(),
  }),
  (o, ctx) => {
    if (o.splitExternalLocalOriginErrors !== true && typeof o.consecutiveLocalOriginFailures === 'number' && o.consecutiveLocalOriginFailures > 0) {
      fail(ctx, ['consecutiveLocalOriginFailures'], 'consecutiveLocalOriginFailures requires splitExternalLocalOriginErrors: true', o.consecutiveLocalOriginFailures);
    }
    for (const f of ['maxEjectionPercent', 'minHealthPercent'] as const) {
      const v = o[f];
      if (typeof v === 'number' && (v < 0 || v > 100)) fail(ctx, [f], `percentage ${v} must be in the range 0..100`, v);
    }
  },
);
export type OutlierDetection = z.output<typeof OutlierDetection>;

/** istio.networking.v1.ClientTLSSettings: TLS the sidecar originates towards the destination. */
export const ClientTLSSettings = crossCheck(
  obj({
    mode: z.enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).optional(),
    clientCertificate: z.string().optional(),
    privateKey: z.string().optional(),
    caCertificates: z.string().optional(),
    credentialName: z.string().optional(),
    subjectAltNames: z.array(z.string()).optional(),
    sni: z.string().optional(),
    insecureSkipVerify: z.boolean().nullable().optional(),
    caCrl: z.string().optional(),
  }),
  (t, ctx) => {
    const cred = t.credentialName ?? '';
    if (cred.startsWith('configmap://')) {
      // configmap:// must name <namespace>/<name>; the namespace must also be the resource's own.
      const [ns, name] = cred.slice('configmap://'.length).split('/');
      if (!ns || !name) fail(ctx, ['credentialName'], `credentialName "${cred}" must have the form configmap://<namespace>/<name>`, cred);
    }
    if (t.insecureSkipVerify === true) {
      if (t.mode === 'SIMPLE' && (t.caCertificates || cred || isSet(t.subjectAltNames))) {
        fail(ctx, ['insecureSkipVerify'], 'caCertificates, credentialName and subjectAltNames must not be set when insecureSkipVerify is true', true);
      }
      if (t.mode === 'MUTUAL' && (t.caCertificates || isSet(t.subjectAltNames))) {
        fail(ctx, ['insecureSkipVerify'], 'caCertificates and subjectAltNames must not be set when insecureSkipVerify is true', true);
      }
    }
    if ((t.mode === 'SIMPLE' || t.mode === 'MUTUAL') && cred) {
      if (t.clientCertificate || t.caCertificates || t.privateKey || t.caCrl) {
        fail(ctx, ['credentialName'], 'clientCertificate, privateKey, caCertificates and caCrl must not be set together with credentialName', cred);
      }
      return;
    }
    if (t.mode === 'MUTUAL') {
      if (!t.clientCertificate) fail(ctx, ['clientCertificate'], 'clientCertificate is required for mode MUTUAL unless credentialName is set');
      if (!t.privateKey) fail(ctx, ['privateKey'], 'privateKey is required for mode MUTUAL unless credentialName is set');
    }
  },
);
export type ClientTLSSettings = z.output<typeof ClientTLSSettings>;

const TOPOLOGY_LABELS = new Set(['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone']);

/**
 * checkLocalities returns the index of the first locality that is malformed or overlaps an
 * earlier one, with the reason (Istio's validateLocalities, which stops at the first).
 */
function checkLocalities(localities: readonly string[]): { index: number; reason: string } | undefined {
  // region -> zone -> subzone -> true; "*" marks "everything below".
  const seen = new Map<string, Map<string, Map<string, boolean>>>();
  const overlap = (l: string): string => `locality "${l}" overlaps with an earlier one`;
  for (let index = 0; index < localities.length; index++) {
    const l = localities[index];
    const stars = l.split('*').length - 1;
    if (stars > 0 && (stars > 1 || !l.endsWith('*'))) return { index, reason: `locality "${l}" may contain only one "*", at the end` };
    if (seen.has('*')) return { index, reason: overlap(l) };
    const items = splitN(l, '/', 3);
    if (items.some((s) => s === '')) return { index, reason: `locality "${l}" must not have an empty region, zone or subzone` };
    const [region, zone, sub] = items;
    const r = seen.get(region);
    if (items.length === 1) {
      if (r) return { index, reason: overlap(l) };
      seen.set(region, new Map([['*', new Map([['*', true]])]]));
    } else if (items.length === 2) {
      if (r) {
        if (r.has('*') || r.has(zone)) return { index, reason: overlap(l) };
        r.set(zone, new Map([['*', true]]));
      } else {
        seen.set(region, new Map([[zone, new Map([['*', true]])]]));
      }
    } else if (r) {
      if (r.has('*')) return { index, reason: overlap(l) };
      const z2 = r.get(zone);
      if (z2) {
        if (z2.get('*') || z2.get(sub)) return { index, reason: overlap(l) };
        z2.set(sub, true);
      } else {
        r.set(zone, new Map([[sub, true]]));
      }
    } else {
      seen.set(region, new Map([[zone, new Map([[sub, true]])]]));
    }
  }
  return undefined;
}

// Go's strings.SplitN.
function splitN(s: string, sep: string, n: number): string[] {
  const parts = s.split(sep);
  return parts.length <= n ? parts : [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)];
}

const Failover = obj({ from: z.string().optional(), to: z.string().optional() });

function checkFailover(list: unknown, ctx: Ctx, what: 'locality' | 'zone-aware'): void {
  if (!Array.isArray(list)) return;
  list.forEach((f: { from?: unknown; to?: unknown } | null, i) => {
    if (typeof f !== 'object' || f === null) return;
    const from = typeof f.from === 'string' ? f.from : '';
    const to = typeof f.to === 'string' ? f.to : '';
    if (from === to) fail(ctx, ['failover', i], `${what} failover must go to a different region, got "${from}" to "${to}"`, f);
    if (from.includes('/') || to.includes('/')) {
      fail(ctx, ['failover', i], what === 'locality'
        ? 'locality failover names regions only (no "/")'
        : 'zone-aware failover names regions only (no "/"); zone and subzone failover is automatic', f);
    }
    if (from.includes('*') || to.includes('*')) fail(ctx, ['failover', i], `${what} failover regions must not contain "*"`, f);
  });
}

/** istio.networking.v1.LocalityLoadBalancerSetting: locality-weighted distribution or failover. */
export const LocalityLoadBalancerSetting = crossCheck(
  obj({
    distribute: z
      .array(obj({ from: z.string().optional(), to: z.record(z.string(), uint32()).optional() }))
      .optional(),
    failover: z.array(Failover).optional(),
    failoverPriority: z.array(z.string()).optional(),
    enabled: z.boolean().nullable().optional(),
  }),
  (lb, ctx) => {
    const distribute = Array.isArray(lb.distribute) ? lb.distribute : [];
    const failover = Array.isArray(lb.failover) ? lb.failover : [];
    if (distribute.length > 0 && failover.length > 0) {
      fail(ctx, [], 'distribute and failover cannot both be set', lb);
      return;
    }
    if (failover.length > 0 && Array.isArray(lb.failoverPriority)) {
      const i = lb.failoverPriority.findIndex((p) => TOPOLOGY_LABELS.has(p));
      if (i >= 0) {
        fail(ctx, ['failoverPriority', i], `failoverPriority must not use the topology label "${lb.failoverPriority[i]}" together with failover`, lb.failoverPriority[i]);
        return;
      }
    }
    distribute.forEach((d, i) => {
      if (typeof d !== 'object' || d === null) return;
      const to = (typeof d.to === 'object' && d.to !== null ? d.to : {}) as Record<string, unknown>;
      let total = 0;
      let weightsOk = true;
      for (const [loc, w] of Object.entries(to)) {
        if (typeof w !== 'number') continue;
        if (w < 1 || w > 100) {
          fail(ctx, ['distribute', i, 'to', loc], `locality weight ${w} must be in the range 1..100`, w);
          weightsOk = false;
        }
        total += w;
      }
      if (weightsOk && total !== 100) fail(ctx, ['distribute', i, 'to'], `locality weights must add up to 100, got ${total}`, to);
      const keys = Object.keys(to);
      const bad = checkLocalities(keys);
      if (bad) fail(ctx, ['distribute', i, 'to', keys[bad.index]], bad.reason, keys[bad.index]);
    });
    const froms = distribute.map((d) => (typeof d?.from === 'string' ? d.from : ''));
    const bad = checkLocalities(froms);
    if (bad) fail(ctx, ['distribute', bad.index, 'from'], bad.reason, froms[bad.index]);
    checkFailover(lb.failover, ctx, 'locality');
  },
);
export type LocalityLoadBalancerSetting = z.output<typeof LocalityLoadBalancerSetting>;

/** istio.networking.v1.ZoneAwareLoadBalancerSetting: Envoy's zone-aware routing with region failover. */
export const ZoneAwareLoadBalancerSetting = crossCheck(
  obj({
    enabled: z.boolean().nullable().optional(),
    failover: z.array(Failover).optional(),
    failoverPriority: z.array(z.string()).optional(),
    minClusterSize: withHints(z.number().int().min(1), { format: 'uint64' }).nullable().optional(),
  }),
  (lb, ctx) => {
    (Array.isArray(lb.failoverPriority) ? lb.failoverPriority : []).forEach((p, i) => {
      if (TOPOLOGY_LABELS.has(p)) {
        fail(ctx, ['failoverPriority', i], `failoverPriority must not use the topology label "${p}" with zone-aware load balancing: region and zone routing are automatic`, p);
      }
    });
    checkFailover(lb.failover, ctx, 'zone-aware');
  },
);
export type ZoneAwareLoadBalancerSetting = z.output<typeof ZoneAwareLoadBalancerSetting>;

// Envoy's primality test, which Istio reuses for the Maglev table size.
function isPrime(x: number): boolean {
  if (x !== 0 && x < 4) return true;
  if (x % 2 === 0) return false;
  const limit = Math.floor(Math.sqrt(x));
  for (let f = 3; f <= limit; f += 2) if (x % f === 0) return false;
  return true;
}

const HttpCookie = crossCheck(
  obj({
    name: str((s) => (s === '' ? 'cookie name must not be empty' : undefined)),
    path: z.string().optional(),
    // 0s makes a session cookie.
    ttl: anyDuration().optional(),
    attributes: z.array(obj({ name: z.string(), value: z.string().optional() })).optional(),
  }),
  (c, ctx) => {
    const names = new Set<string>();
    (Array.isArray(c.attributes) ? c.attributes : []).forEach((a, i) => {
      if (typeof a?.name !== 'string') return;
      if (a.name === '') fail(ctx, ['attributes', i, 'name'], 'cookie attribute name must not be empty', a.name);
      else if (names.has(a.name)) fail(ctx, ['attributes', i, 'name'], `duplicate cookie attribute "${a.name}"`, a.name);
      else names.add(a.name);
    });
  },
);

/** LoadBalancerSettings.ConsistentHashLB: session affinity by header, cookie, source IP or query parameter. */
export const ConsistentHashLB = crossCheck(
  oneOf(
    oneOf(
      obj({
        httpHeaderName: z.string().optional(),
        httpCookie: HttpCookie.optional(),
        useSourceIp: z.boolean().optional(),
        httpQueryParameterName: z.string().optional(),
        ringHash: obj({ minimumRingSize: uint64().optional() }).optional(),
        maglev: obj({ tableSize: uint64().optional() }).optional(),
        /** Deprecated: use ringHash.minimumRingSize. */
        minimumRingSize: uint64().optional(),
      }),
      ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
    ),
    ['ringHash', 'maglev'],
  ),
  (c, ctx) => {
    if (typeof c.minimumRingSize === 'number' && c.minimumRingSize !== 0 && (isSet(c.ringHash) || isSet(c.maglev))) {
      fail(ctx, ['minimumRingSize'], 'the deprecated minimumRingSize cannot be combined with ringHash or maglev', c.minimumRingSize);
    }
    if (typeof c.maglev === 'object' && c.maglev !== null) {
      const n = c.maglev.tableSize;
      if (n === undefined || n === 0) fail(ctx, ['maglev', 'tableSize'], 'maglev tableSize must be set (a prime number below 5000011)');
      else if (typeof n === 'number') {
        if (n >= 5000011) fail(ctx, ['maglev', 'tableSize'], `maglev tableSize must be less than 5000011, got ${n}`, n);
        if (!isPrime(n)) fail(ctx, ['maglev', 'tableSize'], `maglev tableSize must be a prime number, got ${n}`, n);
      }
    }
  },
);
export type ConsistentHashLB = z.output<typeof ConsistentHashLB>;

/** istio.networking.v1.WarmupConfiguration: slow start for new endpoints. */
export const WarmupConfiguration = obj({
  duration: msDuration(),
  minimumPercent: boundedDouble(0, 100).nullable().optional(),
  // The CRD allows 0; Istio's webhook wants it strictly positive.
  aggression: boundedDouble(0)
    .superRefine((v, ctx) => {
      if (v === 0) ctx.addIssue({ code: 'custom', message: 'aggression must be greater than 0', input: v });
    })
    .nullable()
    .optional(),
});

/** istio.networking.v1.LoadBalancerSettings. */
export const LoadBalancerSettings = oneOf(
  oneOf(
    obj({
      simple: z.enum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']).optional(),
      consistentHash: ConsistentHashLB.optional(),
      localityLbSetting: LocalityLoadBalancerSetting.optional(),
      zoneAwareLbSetting: ZoneAwareLoadBalancerSetting.optional(),
      warmupDurationSecs: celMsDuration().optional(),
      warmup: WarmupConfiguration.optional(),
    }),
    ['simple', 'consistentHash'],
  ),
  ['localityLbSetting', 'zoneAwareLbSetting'],
);
export type LoadBalancerSettings = z.output<typeof LoadBalancerSettings>;

/** TrafficPolicy.TunnelSettings: HTTP CONNECT/POST tunnelling of TCP to a proxy. */
export const TunnelSettings = obj({
  protocol: str((s) => (s === '' || s === 'CONNECT' || s === 'POST' ? undefined : `tunnel protocol must be "CONNECT" or "POST", got "${s}"`)).optional(),
  targetHost: str((s) => (checkFqdn(s) === undefined || isIp(s) ? undefined : `targetHost "${s}" must be a valid FQDN or IP address`)),
  targetPort: port(),
});

/** TrafficPolicy.RetryBudget: retries as a share of active requests. */
export const RetryBudget = obj({
  percent: boundedDouble(0, 100).nullable().optional(),
  minRetryConcurrency: uint32().optional(),
  budgetInterval: anyDuration().optional(),
});

/** TrafficPolicy.PortTrafficPolicy: settings for one destination port. */
export const PortTrafficPolicy = crossCheck(
  obj({
    // Istio does not range-check this port number.
    port: obj({ number: uint32().optional() }),
    loadBalancer: LoadBalancerSettings.optional(),
    connectionPool: ConnectionPoolSettings.optional(),
    outlierDetection: OutlierDetection.optional(),
    tls: ClientTLSSettings.optional(),
  }),
  (p, ctx) => {
    if (!isSet(p.loadBalancer) && !isSet(p.connectionPool) && !isSet(p.outlierDetection) && !isSet(p.tls)) {
      fail(ctx, [], 'a port-level traffic policy must set at least one of loadBalancer, connectionPool, outlierDetection, tls', p);
    }
  },
);
export type PortTrafficPolicy = z.output<typeof PortTrafficPolicy>;

const TRAFFIC_POLICY_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget'] as const;

/** istio.networking.v1.TrafficPolicy. */
export const TrafficPolicy = crossCheck(
  obj({
    loadBalancer: LoadBalancerSettings.optional(),
    connectionPool: ConnectionPoolSettings.optional(),
    outlierDetection: OutlierDetection.optional(),
    tls: ClientTLSSettings.optional(),
    portLevelSettings: z.array(PortTrafficPolicy).max(4096).optional(),
    tunnel: TunnelSettings.optional(),
    proxyProtocol: obj({ version: z.enum(['V1', 'V2']).optional() }).optional(),
    retryBudget: RetryBudget.optional(),
  }),
  (p, ctx) => {
    if (!TRAFFIC_POLICY_FIELDS.some((f) => present(p[f]))) {
      fail(ctx, [], `a traffic policy must set at least one of ${TRAFFIC_POLICY_FIELDS.join(', ')}`, p);
    }
    if (isSet(p.tunnel) && isSet(p.proxyProtocol)) fail(ctx, ['proxyProtocol'], 'tunnel and proxyProtocol cannot both be set', p.proxyProtocol);
  },
);
export type TrafficPolicy = z.output<typeof TrafficPolicy>;

/** istio.networking.v1.Subset: a named version of a service, selected by labels. */
export const Subset = obj({
  name: str((s) => (s === '' ? 'subset name must not be empty' : isIstioDnsLabel(s) ? undefined : `subset name "${s}" must be a DNS-1123 label`)),
  labels: istioLabels().optional(),
  trafficPolicy: TrafficPolicy.optional(),
});
export type Subset = z.output<typeof Subset>;

/** networking.istio.io DestinationRule spec: what happens to traffic after routing. */
export const DestinationRuleSpec = crossCheck(
  obj({
    host: str(checkWildcardDomain),
    trafficPolicy: TrafficPolicy.optional(),
    subsets: z.array(Subset).optional(),
    exportTo: ExportTo.optional(),
    workloadSelector: WorkloadSelector.optional(),
  }),
  (dr, ctx) => {
    const names = new Set<string>();
    (Array.isArray(dr.subsets) ? dr.subsets : []).forEach((s, i) => {
      if (typeof s?.name !== 'string') return;
      if (names.has(s.name)) fail(ctx, ['subsets', i, 'name'], `duplicate subset name "${s.name}"`, s.name);
      names.add(s.name);
    });
    checkExportTo(dr.exportTo, ctx, { serviceEntry: false, drWithSelector: isSet(dr.workloadSelector) });
  },
);
export type DestinationRuleSpec = z.output<typeof DestinationRuleSpec>;

// ---------------------------------------------------------------------------
// WorkloadEntry, ServiceEntry, WorkloadGroup.
// ---------------------------------------------------------------------------

/** The CRD's rules for a `unix://` address: an absolute path or abstract socket, not a directory. */
function checkWorkloadAddress(s: string): string | undefined {
  if (!s.startsWith(UNIX_PREFIX)) return undefined;
  const c = s.charAt(UNIX_PREFIX.length);
  if (c !== '/' && c !== '@') return `unix socket address "${s}" must be an absolute path or an abstract socket (unix://@name)`;
  if (s.endsWith('/')) return `unix socket address "${s}" must not be a directory (trailing "/")`;
  return undefined;
}

const WorkloadPorts = maxEntries(z
  .record(z.string(), port())
  .superRefine((m, ctx) => {
    checkMaxEntries(m, 128, ctx);
    // The CRD wants names shorter than 63 characters; Istio wants DNS-1123 labels.
    for (const k of Object.keys(m)) {
      const reason = checkPortName(k, 62);
      if (reason) fail(ctx, [k], reason, k);
    }
  }), 128);

function workloadEntryFields<L extends z.ZodType>(labels: L) {
  return {
    address: maxLen(256, checkWorkloadAddress).optional(),
    ports: WorkloadPorts.optional(),
    labels: labels.optional(),
    network: maxLen(2048).optional(),
    locality: maxLen(2048).optional(),
    weight: uint32().optional(),
    serviceAccount: maxLen(253).optional(),
  };
}

interface WorkloadEntryLike {
  address?: string;
  network?: string;
  ports?: Record<string, number>;
}

function checkUdsPorts(we: WorkloadEntryLike, ctx: Ctx): void {
  if (typeof we.address === 'string' && we.address.startsWith(UNIX_PREFIX) && isSet(we.ports)) {
    fail(ctx, ['ports'], 'a unix socket address must not have ports', we.ports);
  }
}

function checkAddressRequired(we: WorkloadEntryLike, ctx: Ctx): void {
  if (!we.address && !we.network) fail(ctx, ['address'], 'address is required unless network is set');
}

/** A WorkloadEntry as a ServiceEntry endpoint: address checks depend on the entry's resolution. */
const EndpointEntry = crossCheck(obj(workloadEntryFields(istioLabels(256))), (we, ctx) => {
  checkAddressRequired(we, ctx);
  checkUdsPorts(we, ctx);
});

/** networking.istio.io WorkloadEntry spec: a non-Kubernetes workload (VM, bare metal) in the mesh. */
export const WorkloadEntrySpec = crossCheck(obj(workloadEntryFields(istioLabels(256))), (we, ctx) => {
  checkAddressRequired(we, ctx);
  checkUdsPorts(we, ctx);
  const a = we.address;
  if (typeof a === 'string' && a !== '' && !a.startsWith(UNIX_PREFIX) && !isIp(a) && checkFqdn(a) !== undefined) {
    fail(ctx, ['address'], `address "${a}" is not a valid IP address or FQDN`, a);
  }
});
export type WorkloadEntrySpec = z.output<typeof WorkloadEntrySpec>;

/** istio.networking.v1.ServicePort. */
export const ServicePort = obj({
  number: port(),
  protocol: maxLen(256, checkProtocol).optional(),
  name: maxLen(256, (s) => checkPortName(s)),
  targetPort: port().optional(),
});
export type ServicePort = z.output<typeof ServicePort>;

const isWildcarded = (h: string): boolean => h.startsWith('*');

/** networking.istio.io ServiceEntry spec: adds a service (usually external) to the mesh's registry. */
export const ServiceEntrySpec = crossCheck(
  obj({
    hosts: z
      .array(str((h) => (h === '*' ? 'host "*" is not allowed in a ServiceEntry' : checkWildcardDomain(h))))
      .min(1, { error: 'a ServiceEntry must have at least one host' })
      .max(256),
    addresses: z
      .array(maxLen(64, (a) => (a.split('/').length === 2 ? (checkCidr(a) ? `"${a}" is not a valid CIDR block` : undefined) : isIp(a) ? undefined : `"${a}" is not a valid IP address`)))
      .max(256)
      .optional(),
    ports: z.array(ServicePort).max(256).optional(),
    location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).optional(),
    resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']).optional(),
    endpoints: z.array(EndpointEntry).max(4096).optional(),
    workloadSelector: NetworkingWorkloadSelector.optional(),
    exportTo: ExportTo.optional(),
    subjectAltNames: z.array(z.string()).optional(),
  }),
  (se, ctx) => {
    const resolution = se.resolution ?? 'NONE';
    const hosts = (Array.isArray(se.hosts) ? se.hosts : []).filter((h): h is string => typeof h === 'string');
    const addresses = (Array.isArray(se.addresses) ? se.addresses : []).filter((a): a is string => typeof a === 'string');
    const ports = (Array.isArray(se.ports) ? se.ports : []).filter((p) => typeof p === 'object' && p !== null);
    const endpoints = Array.isArray(se.endpoints) ? se.endpoints : [];

    if (isSet(se.workloadSelector) && isSet(se.endpoints)) fail(ctx, ['endpoints'], 'only one of workloadSelector, endpoints may be set', se.endpoints);
    if (addresses.some((a) => a.includes('/')) && resolution !== 'NONE' && resolution !== 'STATIC') {
      fail(ctx, ['addresses'], `CIDR addresses are only allowed with resolution NONE or STATIC, got ${resolution}`, se.addresses);
    }

    const portNames = new Set<string>();
    const portNumbers = new Set<number>();
    ports.forEach((p, i) => {
      if (typeof p.name === 'string') {
        if (portNames.has(p.name)) fail(ctx, ['ports', i, 'name'], `port name "${p.name}" is already used by another port`, p.name);
        portNames.add(p.name);
      }
      if (typeof p.number === 'number') {
        if (portNumbers.has(p.number)) fail(ctx, ['ports', i, 'number'], `port number ${p.number} is already used by another port`, p.number);
        portNumbers.add(p.number);
      }
    });

    const checkEndpointPorts = (ep: { ports?: unknown }, i: number): void => {
      if (typeof ep.ports !== 'object' || ep.ports === null) return;
      for (const name of Object.keys(ep.ports)) {
        if (!portNames.has(name)) fail(ctx, ['endpoints', i, 'ports', name], `port "${name}" is not one of the ServiceEntry's ports`, name);
      }
    };

    switch (resolution) {
      case 'NONE':
        if (endpoints.length > 0) fail(ctx, ['endpoints'], 'endpoints must not be set when resolution is NONE', se.endpoints);
        break;
      case 'STATIC':
        endpoints.forEach((ep, i) => {
          if (typeof ep !== 'object' || ep === null) return;
          const a = typeof ep.address === 'string' ? ep.address : '';
          if (a.startsWith(UNIX_PREFIX)) {
            if (portNames.size !== 1) fail(ctx, ['endpoints', i, 'address'], `a unix socket endpoint needs exactly one ServiceEntry port, got ${portNames.size}`, a);
          } else if (a !== '' && !isIp(a)) {
            fail(ctx, ['endpoints', i, 'address'], `endpoint address "${a}" must be an IP address or a unix:// socket when resolution is STATIC`, a);
          }
          checkEndpointPorts(ep, i);
        });
        break;
      case 'DNS':
      case 'DNS_ROUND_ROBIN': {
        if (endpoints.length === 0) {
          const i = hosts.findIndex((h) => checkFqdn(h) !== undefined);
          if (i >= 0) fail(ctx, ['hosts', i], `host "${hosts[i]}" must be a fully qualified name without wildcards when resolution is ${resolution} and no endpoints are given`, hosts[i]);
        }
        if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
          fail(ctx, ['endpoints'], `resolution DNS_ROUND_ROBIN allows at most one endpoint, got ${endpoints.length}`, se.endpoints);
        }
        endpoints.forEach((ep, i) => {
          if (typeof ep !== 'object' || ep === null) return;
          const a = typeof ep.address === 'string' ? ep.address : '';
          if (!isIp(a) && checkFqdn(a) !== undefined) {
            fail(ctx, ['endpoints', i, 'address'], `endpoint address "${a}" must be an IP address or FQDN when resolution is ${resolution}`, a);
          }
          checkEndpointPorts(ep, i);
        });
        break;
      }
      case 'DYNAMIC_DNS':
        hosts.forEach((h, i) => {
          if (!isWildcarded(h)) fail(ctx, ['hosts', i], `host "${h}" must be a wildcard (*.example.com) when resolution is DYNAMIC_DNS`, h);
        });
        if (addresses.length > 0) fail(ctx, ['addresses'], 'addresses must not be set when resolution is DYNAMIC_DNS', se.addresses);
        if (endpoints.length > 0) fail(ctx, ['endpoints'], 'endpoints must not be set when resolution is DYNAMIC_DNS', se.endpoints);
        ports.forEach((p, i) => {
          const proto = parseProtocol(typeof p.protocol === 'string' ? p.protocol : '');
          if (proto !== 'HTTP' && proto !== 'TLS' && proto !== 'GRPC' && proto !== 'HTTP2') {
            fail(ctx, ['ports', i, 'protocol'], `resolution DYNAMIC_DNS supports only HTTP, TLS, GRPC and HTTP2 ports, got "${p.protocol ?? ''}"`, p.protocol);
          }
        });
        break;
    }

    // Plain TCP cannot tell several hosts apart (no Host header, no SNI), unless resolution is NONE.
    if (resolution !== 'NONE' && hosts.length > 1) {
      const i = ports.findIndex((p) => {
        const proto = parseProtocol(typeof p.protocol === 'string' ? p.protocol : '');
        return !isHttpProtocol(proto) && !isTlsProtocol(proto);
      });
      if (i >= 0) fail(ctx, ['ports', i, 'protocol'], `a ServiceEntry with several hosts and resolution ${resolution} needs HTTP or TLS ports, got "${ports[i].protocol ?? ''}"`, ports[i].protocol);
    }
    checkExportTo(se.exportTo, ctx, { serviceEntry: true, drWithSelector: false });
  },
);
export type ServiceEntrySpec = z.output<typeof ServiceEntrySpec>;

const PROBE_HEADER_RE = /^[-A-Za-z0-9]+$/;

/** istio.networking.v1.ReadinessProbe: how the agent checks a VM workload's health. */
export const ReadinessProbe = crossCheck(
  oneOf(
    obj({
      initialDelaySeconds: nonNegInt32().optional(),
      timeoutSeconds: nonNegInt32().optional(),
      periodSeconds: nonNegInt32().optional(),
      successThreshold: nonNegInt32().optional(),
      failureThreshold: nonNegInt32().optional(),
      httpGet: obj({
        path: z.string().optional(),
        port: port(),
        host: z.string().optional(),
        scheme: str((s) => (s === '' || s === 'HTTP' || s === 'HTTPS' ? undefined : `scheme must be "HTTP" or "HTTPS", got "${s}"`)).optional(),
        httpHeaders: z
          .array(
            obj({
              name: str((s) => (s === '' ? 'header name must not be empty' : PROBE_HEADER_RE.test(s) ? undefined : `header name "${s}" may contain only letters, digits and '-'`)),
              value: z.string().optional(),
            }),
          )
          .optional(),
      }).optional(),
      tcpSocket: obj({ host: z.string().optional(), port: port() }).optional(),
      exec: obj({
        command: z
          .array(str((s) => (s === '' ? 'command arguments must not be empty' : undefined)))
          .min(1, { error: 'exec.command must have at least one item' }),
      }).optional(),
      grpc: obj({ port: port().optional(), service: z.string().optional() }).optional(),
    }),
    ['httpGet', 'tcpSocket', 'exec', 'grpc'],
  ),
  (p, ctx) => {
    // Istio's webhook knows only these three methods; a grpc probe is refused there.
    if (isSet(p.grpc)) fail(ctx, ['grpc'], 'grpc probes are not supported for WorkloadGroup; use httpGet, tcpSocket or exec', p.grpc);
    else if (!isSet(p.httpGet) && !isSet(p.tcpSocket) && !isSet(p.exec)) fail(ctx, [], 'a probe must set one of httpGet, tcpSocket, exec', p);
  },
);
export type ReadinessProbe = z.output<typeof ReadinessProbe>;

/** networking.istio.io WorkloadGroup spec: the template for auto-registered WorkloadEntries. */
export const WorkloadGroupSpec = obj({
  metadata: obj({ labels: istioLabels(256).optional(), annotations: boundedMap(256).optional() }).optional(),
  // Only the CRD's shape rules apply: address and labels are filled in at registration.
  template: crossCheck(obj(workloadEntryFields(boundedMap(256))), (we, ctx) => checkUdsPorts(we, ctx)),
  probe: ReadinessProbe.optional(),
});
export type WorkloadGroupSpec = z.output<typeof WorkloadGroupSpec>;

// ---------------------------------------------------------------------------
// Sidecar.
// ---------------------------------------------------------------------------

/** istio.networking.v1.SidecarPort. */
const SidecarPort = obj({
  number: uint32().optional(),
  protocol: z.string().optional(),
  name: z.string().optional(),
  /** Deprecated and meaningless for a Sidecar; Istio refuses a non-zero value. */
  targetPort: uint32().optional(),
});

/** istio.networking.v1.ServerTLSSettings as a Sidecar ingress listener uses it. */
export const SidecarIngressTLS = crossCheck(
  ServerTLSSettingsFields,
  (t, ctx) => {
    // What a sidecar cannot do on its inbound side.
    if (present(t.subjectAltNames)) fail(ctx, ['subjectAltNames'], 'subjectAltNames is not supported in a Sidecar ingress listener', t.subjectAltNames);
    if (t.httpsRedirect === true) fail(ctx, ['httpsRedirect'], 'httpsRedirect is not supported in a Sidecar ingress listener', true);
    if (t.credentialName) fail(ctx, ['credentialName'], 'credentialName is not supported in a Sidecar ingress listener', t.credentialName);
    if (present(t.credentialNames)) fail(ctx, ['credentialNames'], 'credentialNames is not supported in a Sidecar ingress listener', t.credentialNames);
    if (present(t.tlsCertificates)) fail(ctx, ['tlsCertificates'], 'tlsCertificates is not supported in a Sidecar ingress listener', t.tlsCertificates);
    if (t.mode === 'ISTIO_MUTUAL' || t.mode === 'AUTO_PASSTHROUGH') {
      fail(ctx, ['mode'], `mode ${t.mode} is not allowed in a Sidecar ingress listener`, t.mode);
      return;
    }
    if ((t.mode === 'SIMPLE' || t.mode === 'MUTUAL' || t.mode === 'OPTIONAL_MUTUAL') && !t.credentialName && !present(t.credentialNames)) {
      const mutual = t.mode !== 'SIMPLE';
      if (mutual && !t.caCertificates) fail(ctx, ['caCertificates'], `caCertificates (the client CA bundle) is required for mode ${t.mode}`);
      const certs = present(t.tlsCertificates) ? [] : [t];
      for (const c of certs) {
        if (!c.serverCertificate) fail(ctx, ['serverCertificate'], `serverCertificate is required for mode ${t.mode}`);
        if (!c.privateKey) fail(ctx, ['privateKey'], `privateKey is required for mode ${t.mode}`);
      }
    }
    if (t.caCrl && t.mode === 'SIMPLE') fail(ctx, ['caCrl'], 'caCrl is not supported with mode SIMPLE', t.caCrl);
  },
);

const CaptureMode = z.enum(['DEFAULT', 'IPTABLES', 'NONE']);

/** IstioIngressListener: an inbound port of the workload. */
export const IstioIngressListener = obj({
  port: SidecarPort,
  bind: z.string().optional(),
  captureMode: CaptureMode.optional(),
  defaultEndpoint: z.string().optional(),
  tls: SidecarIngressTLS.optional(),
  connectionPool: ConnectionPoolSettings.optional(),
});

/** IstioEgressListener: the outbound services a workload can reach, per port or catch-all. */
export const IstioEgressListener = obj({
  port: SidecarPort.optional(),
  bind: z.string().optional(),
  captureMode: CaptureMode.optional(),
  hosts: z.array(z.string()),
});

/** OutboundTrafficPolicy: what to do with traffic to hosts the registry does not know. */
export const OutboundTrafficPolicy = crossCheck(
  obj({
    mode: z.enum(['REGISTRY_ONLY', 'ALLOW_ANY']).optional(),
    egressProxy: obj({
      host: z.string(),
      subset: z.string().optional(),
      port: obj({ number: uint32().optional() }).optional(),
    }).optional(),
  }),
  (tp, ctx) => {
    const ep = tp.egressProxy;
    if (typeof ep !== 'object' || ep === null) return;
    if (tp.mode !== 'ALLOW_ANY') {
      fail(ctx, ['egressProxy'], 'egressProxy can only be set with mode ALLOW_ANY', ep);
      return;
    }
    if (typeof ep.host === 'string') {
      const reason = checkFqdn(ep.host);
      if (reason) fail(ctx, ['egressProxy', 'host'], reason, ep.host);
    }
    if (!isSet(ep.port)) {
      fail(ctx, ['egressProxy', 'port'], 'egressProxy.port is required');
      return;
    }
    if (typeof ep.subset === 'string' && ep.subset !== '' && !isIstioDnsLabel(ep.subset)) {
      fail(ctx, ['egressProxy', 'subset'], `subset name "${ep.subset}" must be a DNS-1123 label`, ep.subset);
    }
    const n = ep.port?.number ?? 0;
    if (n < 1 || n > 65535) fail(ctx, ['egressProxy', 'port', 'number'], `port number ${n} must be in the range 1..65535`, n);
  },
);

// Go's net.SplitHostPort, enough to tell the accepted defaultEndpoint forms apart.
function splitHostPort(s: string): { host: string; port: string } | undefined {
  const i = s.lastIndexOf(':');
  if (i < 0) return undefined;
  let host: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || end + 1 !== i) return undefined;
    host = s.slice(1, end);
  } else {
    host = s.slice(0, i);
    if (host.includes(':')) return undefined;
  }
  const port = s.slice(i + 1);
  if (host.includes('[') || host.includes(']') || port.includes('[') || port.includes(']')) return undefined;
  return { host, port };
}

const DEFAULT_ENDPOINT_FORMS = 'defaultEndpoint must be 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port> or unix://<path>';

function checkDefaultEndpoint(s: string): string[] {
  if (s.startsWith(UNIX_PREFIX)) {
    const r = checkUnixPath(s.slice(UNIX_PREFIX.length));
    return r ? [r] : [];
  }
  const hp = splitHostPort(s);
  if (!hp) return [`${DEFAULT_ENDPOINT_FORMS}, got "${s}"`];
  const out: string[] = [];
  if (!['', '127.0.0.1', '0.0.0.0', '::1', '::'].includes(hp.host)) out.push(`${DEFAULT_ENDPOINT_FORMS}, got "${s}"`);
  if (!isGoInt(hp.port)) out.push(`defaultEndpoint port "${hp.port}" is not a number`);
  else if (Number(hp.port) < 1 || Number(hp.port) > 65535) out.push(`port number ${Number(hp.port)} must be in the range 1..65535`);
  return out;
}

/** Problems with one `namespace/dnsName` egress host (Istio's ValidateNamespaceSlashWildcardHostname). */
function checkEgressHost(host: string): string[] {
  const slash = host.indexOf('/');
  if (slash < 0) return [`host "${host}" must have the form namespace/dnsName`];
  const ns = host.slice(0, slash);
  const name = host.slice(slash + 1);
  const out: string[] = [];
  if (ns === '' || name === '') out.push(`host "${host}" must have a non-empty namespace and dnsName`);
  const bareNs = ns.startsWith('~') ? ns.slice(1) : ns;
  if (bareNs !== '' && bareNs !== '*' && bareNs !== '.' && !isIstioDnsLabel(bareNs)) out.push(`invalid namespace "${ns}" in host "${host}"`);
  if (name === '') return out;
  if (name !== '*' && !name.includes('.')) out.push(`short name "${name}" in host "${host}" is not allowed; use a fully qualified name`);
  const domain = checkWildcardDomain(name);
  if (domain) out.push(domain);
  if (name.includes('*') && name !== '*' && !name.startsWith('*.')) out.push(`partial wildcard "${name}" in host "${host}" is not allowed`);
  return out;
}

interface SidecarPortLike {
  number?: number;
  protocol?: string;
  name?: string;
  targetPort?: number;
}

function checkSidecarPortCommon(p: SidecarPortLike, path: Path, ctx: Ctx): void {
  if (typeof p.targetPort === 'number' && p.targetPort > 0) fail(ctx, [...path, 'targetPort'], 'targetPort has no effect in a Sidecar; remove it', p.targetPort);
  if (typeof p.name === 'string' && p.name !== '') {
    const reason = checkPortName(p.name);
    if (reason) fail(ctx, [...path, 'name'], reason, p.name);
  }
  if (typeof p.protocol === 'string') {
    const reason = checkProtocol(p.protocol);
    if (reason) fail(ctx, [...path, 'protocol'], reason, p.protocol);
  }
}

function checkPortNumber(n: number, path: Path, ctx: Ctx): void {
  if (n < 1 || n > 65535) fail(ctx, path, `port number ${n} must be in the range 1..65535`, n);
}

function checkBindIp(bind: unknown, path: Path, ctx: Ctx): void {
  if (typeof bind === 'string' && bind !== '' && !isIp(bind)) fail(ctx, path, `bind "${bind}" is not a valid IP address`, bind);
}

/** networking.istio.io Sidecar spec: the listeners and reachable hosts of a workload's proxy. */
export const SidecarSpec = crossCheck(
  obj({
    workloadSelector: NetworkingWorkloadSelector.optional(),
    ingress: z.array(IstioIngressListener).optional(),
    egress: z.array(IstioEgressListener).optional(),
    inboundConnectionPool: ConnectionPoolSettings.optional(),
    outboundTrafficPolicy: OutboundTrafficPolicy.optional(),
  }),
  (sc, ctx) => {
    const ingress = Array.isArray(sc.ingress) ? sc.ingress : [];
    const egress = Array.isArray(sc.egress) ? sc.egress : [];
    if (ingress.length === 0 && egress.length === 0 && !isSet(sc.outboundTrafficPolicy) && !isSet(sc.inboundConnectionPool)) {
      fail(ctx, [], 'a Sidecar must set at least one of ingress, egress, outboundTrafficPolicy, inboundConnectionPool', sc);
      return;
    }

    const ingressPorts = new Set<number>();
    ingress.forEach((l, i) => {
      if (typeof l !== 'object' || l === null || typeof l.port !== 'object' || l.port === null) return;
      const p = l.port;
      const path: Path = ['ingress', i, 'port'];
      checkSidecarPortCommon(p, path, ctx);
      const n = typeof p.number === 'number' ? p.number : 0;
      checkPortNumber(n, [...path, 'number'], ctx);
      checkBindIp(l.bind, ['ingress', i, 'bind'], ctx);
      if (ingressPorts.has(n)) fail(ctx, [...path, 'number'], `port ${n} is already used by another ingress listener`, n);
      ingressPorts.add(n);
      if (typeof l.defaultEndpoint === 'string' && l.defaultEndpoint !== '') {
        for (const reason of checkDefaultEndpoint(l.defaultEndpoint)) fail(ctx, ['ingress', i, 'defaultEndpoint'], reason, l.defaultEndpoint);
      }
      if (isSet(l.tls) && !isTlsProtocol(parseProtocol(typeof p.protocol === 'string' ? p.protocol : ''))) {
        fail(ctx, ['ingress', i, 'tls'], `tls requires an HTTPS or TLS port, got protocol "${p.protocol ?? ''}"`, l.tls);
      }
    });

    const egressPorts = new Set<number>();
    const socketBinds = new Set<string>();
    egress.forEach((l, i) => {
      if (typeof l !== 'object' || l === null) return;
      const bind = typeof l.bind === 'string' ? l.bind : '';
      if (!isSet(l.port)) {
        // The catch-all listener (no port) must come last.
        if (i !== egress.length - 1) fail(ctx, ['egress', i], 'the egress listener without a port must be the last one', l);
      } else if (typeof l.port === 'object' && l.port !== null) {
        const p = l.port;
        const path: Path = ['egress', i, 'port'];
        checkSidecarPortCommon(p, path, ctx);
        const n = typeof p.number === 'number' ? p.number : 0;
        if (n === 0) {
          // Port 0 means a unix domain socket listener.
          if (!bind.startsWith(UNIX_PREFIX)) fail(ctx, ['egress', i, 'bind'], 'a listener with port number 0 must bind a unix:// socket', l.bind);
          else {
            const reason = checkUnixPath(bind.slice(UNIX_PREFIX.length));
            if (reason) fail(ctx, ['egress', i, 'bind'], reason, bind);
          }
          const mode = l.captureMode ?? 'DEFAULT';
          if (mode !== 'DEFAULT' && mode !== 'NONE') fail(ctx, ['egress', i, 'captureMode'], 'captureMode must be DEFAULT or NONE for a unix socket listener', mode);
          if (socketBinds.has(bind)) fail(ctx, ['egress', i, 'bind'], `unix socket "${bind}" is already used by another egress listener`, bind);
          socketBinds.add(bind);
        } else {
          checkPortNumber(n, [...path, 'number'], ctx);
          checkBindIp(l.bind, ['egress', i, 'bind'], ctx);
          if (egressPorts.has(n)) fail(ctx, [...path, 'number'], `port ${n} is already used by another egress listener`, n);
          egressPorts.add(n);
        }
      }
      if (!Array.isArray(l.hosts)) return;
      if (l.hosts.length === 0) fail(ctx, ['egress', i, 'hosts'], 'an egress listener must list at least one host', l.hosts);
      l.hosts.forEach((h, j) => {
        if (typeof h !== 'string') return;
        for (const reason of checkEgressHost(h)) fail(ctx, ['egress', i, 'hosts', j], reason, h);
      });
    });
  },
);
export type SidecarSpec = z.output<typeof SidecarSpec>;

// ---------------------------------------------------------------------------
// Kind registrations.
// ---------------------------------------------------------------------------

const VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const;
const CATEGORIES = ['istio-io', 'networking-istio-io'] as const;
const AGE = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since the resource was created' } as const;

function kind(k: string, plural: string, shortNames: string[], spec: z.ZodType, printerColumns: KindDef['printerColumns']): KindDef {
  return {
    group: 'networking.istio.io',
    kind: k,
    versions: VERSIONS,
    plural,
    singular: k.toLowerCase(),
    ...(shortNames.length > 0 ? { shortNames } : {}),
    categories: CATEGORIES,
    namespaced: true,
    crd: true,
    body: obj({ spec, status: anyJson().optional() }),
    metadataRules: allRules(istioMetadataRules(false), exportToOwnNamespace),
    ...(printerColumns ? { printerColumns } : {}),
  };
}

export const TRAFFIC_KINDS: KindDef[] = [
  kind('DestinationRule', 'destinationrules', ['dr'], DestinationRuleSpec, [
    { name: 'Host', type: 'string', jsonPath: '.spec.host', description: 'The name of a service from the service registry' },
    AGE,
  ]),
  kind('ServiceEntry', 'serviceentries', ['se'], ServiceEntrySpec, [
    { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts', description: 'The hosts associated with the ServiceEntry' },
    { name: 'Location', type: 'string', jsonPath: '.spec.location', description: 'Whether the service is external to the mesh or part of it (MESH_EXTERNAL or MESH_INTERNAL)' },
    { name: 'Resolution', type: 'string', jsonPath: '.spec.resolution', description: 'Service resolution mode for the hosts (NONE, STATIC, DNS, ...)' },
    AGE,
  ]),
  kind('Sidecar', 'sidecars', [], SidecarSpec, undefined),
  kind('WorkloadEntry', 'workloadentries', ['we'], WorkloadEntrySpec, [
    AGE,
    { name: 'Address', type: 'string', jsonPath: '.spec.address', description: 'Address associated with the network endpoint' },
  ]),
  kind('WorkloadGroup', 'workloadgroups', ['wg'], WorkloadGroupSpec, [AGE]),
];
