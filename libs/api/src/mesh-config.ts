/**
 * Istio's mesh config (mesh/v1alpha1 MeshConfig) read from YAML: the `istio` ConfigMap (its
 * `data.mesh` holds the MeshConfig as YAML text), an IstioOperator (`spec.meshConfig`) or the bare
 * MeshConfig document. The fields Meshwork acts on are validated with Istio's rules and every
 * problem is reported with its field path (`extensionProviders[1].envoyExtAuthzGrpc.port: ...`);
 * the many MeshConfig fields Meshwork does not use are accepted and ignored (a warning each), so a
 * mesh config written for Istio loads unchanged.
 */
import { parse } from 'yaml';
import { parseDuration } from './fields/duration.js';
import type { EnvoyExtAuthzGrpcProvider, EnvoyExtAuthzHttpProvider, ExtAuthzRequestBody, ExtensionProvider, MeshConfig } from './model.js';

/** The MeshConfig fields a mesh config file set (the caller merges them over its defaults). */
export type MeshConfigFile = { -readonly [K in keyof MeshConfig]?: MeshConfig[K] };

/** A parsed mesh config: the fields it set, or every error with its field path. */
export type MeshConfigResult = { readonly ok: true; readonly value: MeshConfigFile; readonly warnings: readonly string[] } | { readonly ok: false; readonly errors: readonly string[] };

// Istio's provider kinds (the ExtensionProvider oneof). Those Meshwork does not read are kept as they are.
const OTHER_PROVIDER_KINDS = new Set(['prometheus', 'stackdriver', 'skywalking', 'datadog', 'lightstep', 'envoyFileAccessLog', 'envoyHttpAls', 'envoyTcpAls', 'envoyOtelAls', 'sds']);

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Collects errors by field path; readers return undefined for absent or bad values. */
class Reader {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];

  err(path: string, reason: string): void {
    this.errors.push(`${path}: ${reason}`);
  }

  str(o: Obj, k: string, path: string): string | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') return void this.err(`${path}.${k}`, 'must be a string');
    return v;
  }

  bool(o: Obj, k: string, path: string): boolean | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') return void this.err(`${path}.${k}`, 'must be true or false');
    return v;
  }

  uint(o: Obj, k: string, path: string): number | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return void this.err(`${path}.${k}`, 'must be a non-negative integer');
    return v;
  }

  strings(o: Obj, k: string, path: string): string[] | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) return void this.err(`${path}.${k}`, 'must be a list of strings');
    return v as string[];
  }

  duration(o: Obj, k: string, path: string): string | undefined {
    const v = this.str(o, k, path);
    if (v === undefined) return undefined;
    const d = parseDuration(v);
    if (!d.ok) return void this.err(`${path}.${k}`, `invalid duration ${JSON.stringify(v)}: ${d.reason}`);
    if (d.ns <= 0) return void this.err(`${path}.${k}`, 'must be positive');
    return v;
  }

  obj(o: Obj, k: string, path: string): Obj | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) return void this.err(`${path}.${k}`, 'must be an object');
    return v;
  }

  /** Reports fields of `o` outside `known` (a typo in a security setting must not pass silently). */
  only(o: Obj, known: readonly string[], path: string): void {
    for (const k of Object.keys(o)) if (!known.includes(k)) this.err(`${path}.${k}`, 'unknown field');
  }
}

/**
 * unwrapMeshConfig returns the MeshConfig object inside a parsed document: a ConfigMap's
 * `data.mesh` (YAML text), an IstioOperator's `spec.meshConfig`, or the document itself.
 */
function unwrapMeshConfig(doc: unknown, r: Reader): Obj | undefined {
  if (doc === undefined || doc === null) return {};
  if (!isObj(doc)) return void r.err('(document)', 'expected a MeshConfig, an istio ConfigMap or an IstioOperator');
  if (doc.kind === 'ConfigMap') {
    const mesh = isObj(doc.data) ? doc.data.mesh : undefined;
    if (mesh === undefined) return void r.err('data.mesh', 'the ConfigMap has no mesh key');
    if (typeof mesh !== 'string') return void r.err('data.mesh', 'must be MeshConfig YAML text');
    let inner: unknown;
    try {
      inner = parse(mesh);
    } catch (e) {
      return void r.err('data.mesh', `invalid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    if (inner === undefined || inner === null) return {};
    if (!isObj(inner)) return void r.err('data.mesh', 'must be a MeshConfig object');
    return inner;
  }
  if (doc.kind === 'IstioOperator') {
    const spec = isObj(doc.spec) ? doc.spec : {};
    if (spec.meshConfig === undefined || spec.meshConfig === null) return {};
    if (!isObj(spec.meshConfig)) return void r.err('spec.meshConfig', 'must be an object');
    return spec.meshConfig;
  }
  return doc;
}

const STATUS_CODES = new Set([100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511]);

function service(r: Reader, o: Obj, path: string): { service: string; port: number } | undefined {
  const svc = r.str(o, 'service', path);
  if (!svc) r.err(`${path}.service`, 'is required');
  const port = o.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) r.err(`${path}.port`, `port must be in the range [1, 65535], found: ${JSON.stringify(port ?? 0)}`);
  return svc && typeof port === 'number' ? { service: svc, port } : undefined;
}

function statusOnError(r: Reader, o: Obj, path: string): string | undefined {
  const v = o.statusOnError;
  if (v === undefined || v === null || v === '') return undefined;
  const s = typeof v === 'number' ? String(v) : v;
  // Istio: a numeric string naming an Envoy StatusCode.
  if (typeof s !== 'string' || !/^\d+$/.test(s) || !STATUS_CODES.has(Number(s))) return void r.err(`${path}.statusOnError`, `unsupported statusOnError ${JSON.stringify(v)}: must be an HTTP status code Envoy knows`);
  return s;
}

function requestBody(r: Reader, o: Obj, path: string): ExtAuthzRequestBody | undefined {
  const b = r.obj(o, 'includeRequestBodyInCheck', path);
  if (!b) return undefined;
  const p = `${path}.includeRequestBodyInCheck`;
  r.only(b, ['maxRequestBytes', 'allowPartialMessage', 'packAsBytes'], p);
  const maxRequestBytes = r.uint(b, 'maxRequestBytes', p);
  const allowPartialMessage = r.bool(b, 'allowPartialMessage', p);
  const packAsBytes = r.bool(b, 'packAsBytes', p);
  return { ...(maxRequestBytes !== undefined ? { maxRequestBytes } : {}), ...(allowPartialMessage !== undefined ? { allowPartialMessage } : {}), ...(packAsBytes !== undefined ? { packAsBytes } : {}) };
}

function grpcProvider(r: Reader, o: Obj, path: string): EnvoyExtAuthzGrpcProvider | undefined {
  r.only(o, ['service', 'port', 'timeout', 'failOpen', 'statusOnError', 'includeRequestBodyInCheck', 'clearRouteCache'], path);
  const sp = service(r, o, path);
  const timeout = r.duration(o, 'timeout', path);
  const failOpen = r.bool(o, 'failOpen', path);
  const status = statusOnError(r, o, path);
  const body = requestBody(r, o, path);
  const clearRouteCache = r.bool(o, 'clearRouteCache', path);
  if (!sp) return undefined;
  return { ...sp, ...(timeout ? { timeout } : {}), ...(failOpen !== undefined ? { failOpen } : {}), ...(status ? { statusOnError: status } : {}), ...(body ? { includeRequestBodyInCheck: body } : {}), ...(clearRouteCache !== undefined ? { clearRouteCache } : {}) };
}

function httpProvider(r: Reader, o: Obj, path: string): EnvoyExtAuthzHttpProvider | undefined {
  const lists = ['includeRequestHeadersInCheck', 'includeHeadersInCheck', 'headersToUpstreamOnAllow', 'headersToDownstreamOnDeny', 'headersToDownstreamOnAllow'] as const;
  r.only(o, ['service', 'port', 'timeout', 'pathPrefix', 'failOpen', 'statusOnError', 'includeAdditionalHeadersInCheck', 'includeRequestBodyInCheck', ...lists], path);
  const sp = service(r, o, path);
  const timeout = r.duration(o, 'timeout', path);
  const pathPrefix = r.str(o, 'pathPrefix', path);
  if (pathPrefix !== undefined && pathPrefix !== '' && !pathPrefix.startsWith('/')) r.err(`${path}.pathPrefix`, `pathPrefix must begin with \`/\`, found: ${JSON.stringify(pathPrefix)}`);
  const failOpen = r.bool(o, 'failOpen', path);
  const status = statusOnError(r, o, path);
  const body = requestBody(r, o, path);
  const out: Record<string, unknown> = {};
  for (const k of lists) {
    const v = r.strings(o, k, path);
    if (v) out[k] = v;
  }
  const extra = r.obj(o, 'includeAdditionalHeadersInCheck', path);
  if (extra) {
    for (const [k, v] of Object.entries(extra)) if (typeof v !== 'string') r.err(`${path}.includeAdditionalHeadersInCheck.${k}`, 'must be a string');
    out.includeAdditionalHeadersInCheck = extra;
  }
  if (!sp) return undefined;
  return { ...sp, ...(timeout ? { timeout } : {}), ...(pathPrefix ? { pathPrefix } : {}), ...(failOpen !== undefined ? { failOpen } : {}), ...(status ? { statusOnError: status } : {}), ...(body ? { includeRequestBodyInCheck: body } : {}), ...out } as EnvoyExtAuthzHttpProvider;
}

function extensionProviders(r: Reader, v: unknown): ExtensionProvider[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return void r.err('extensionProviders', 'must be a list');
  const seen = new Set<string>();
  const out: ExtensionProvider[] = [];
  v.forEach((e, i) => {
    const path = `extensionProviders[${i}]`;
    if (!isObj(e)) return r.err(path, 'must be an object');
    const name = r.str(e, 'name', path);
    if (!name) r.err(`${path}.name`, 'extension provider name must not be empty');
    else if (seen.has(name)) r.err(`${path}.name`, `extension provider name must be unique, found duplicate: ${name}`);
    else seen.add(name);
    const kinds = Object.keys(e).filter((k) => k !== 'name');
    if (kinds.length !== 1) return r.err(path, kinds.length === 0 ? 'must set one provider kind (envoyExtAuthzGrpc, envoyExtAuthzHttp, zipkin, opentelemetry, ...)' : `must set exactly one provider kind, found: ${kinds.join(', ')}`);
    const kind = kinds[0] as string;
    const body = e[kind];
    const kp = `${path}.${kind}`;
    if (!isObj(body)) return r.err(kp, 'must be an object');
    let parsed: unknown;
    switch (kind) {
      case 'envoyExtAuthzGrpc':
        parsed = grpcProvider(r, body, kp);
        break;
      case 'envoyExtAuthzHttp':
        parsed = httpProvider(r, body, kp);
        break;
      case 'zipkin':
      case 'opentelemetry':
        // Read by mixer's trace export; here only what every tracer needs.
        parsed = service(r, body, kp) ? body : undefined;
        break;
      default:
        if (!OTHER_PROVIDER_KINDS.has(kind)) return r.err(kp, 'unknown provider kind');
        parsed = body;
    }
    if (name && parsed) out.push({ name, [kind]: parsed } as ExtensionProvider);
  });
  return out;
}

/**
 * parseMeshConfigText reads a mesh config file's text (see the file comment) and returns the
 * MeshConfig fields it sets, or every error with its field path.
 */
export function parseMeshConfigText(text: string): MeshConfigResult {
  const r = new Reader();
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    return { ok: false, errors: [`(document): invalid YAML: ${(e as Error).message.split('\n')[0]}`] };
  }
  const m = unwrapMeshConfig(doc, r);
  if (!m) return { ok: false, errors: r.errors };
  const out: MeshConfigFile = {};
  for (const [k, v] of Object.entries(m)) {
    switch (k) {
      case 'rootNamespace':
      case 'trustDomain': {
        const s = r.str(m, k, '');
        if (s !== undefined && s !== '') out[k] = s;
        break;
      }
      case 'enableAutoMtls': {
        const b = r.bool(m, k, '');
        if (b !== undefined) out.enableAutoMtls = b;
        break;
      }
      case 'connectTimeout': {
        const d = r.duration(m, k, '');
        if (d) {
          const p = parseDuration(d);
          if (p.ok) out.connectTimeoutMs = Math.round(p.ns / 1e6);
        }
        break;
      }
      case 'outboundTrafficPolicy': {
        const o = r.obj(m, k, '');
        const mode = o ? r.str(o, 'mode', k) : undefined;
        if (mode !== undefined && mode !== 'ALLOW_ANY' && mode !== 'REGISTRY_ONLY') r.err('outboundTrafficPolicy.mode', 'must be ALLOW_ANY or REGISTRY_ONLY');
        else if (mode) out.outboundTrafficPolicy = mode;
        break;
      }
      case 'extensionProviders': {
        const l = extensionProviders(r, v);
        if (l) out.extensionProviders = l;
        break;
      }
      case 'defaultProviders': {
        const o = r.obj(m, k, '');
        if (!o) break;
        r.only(o, ['tracing', 'metrics', 'accessLogging'], k);
        const tracing = r.strings(o, 'tracing', k);
        const metrics = r.strings(o, 'metrics', k);
        const accessLogging = r.strings(o, 'accessLogging', k);
        out.defaultProviders = { ...(tracing ? { tracing } : {}), ...(metrics ? { metrics } : {}), ...(accessLogging ? { accessLogging } : {}) };
        break;
      }
      default:
        r.warnings.push(`${k}: not used by Meshwork (ignored)`);
    }
  }
  // Paths of top-level fields were built as `.<field>`: drop the leading dot.
  const clean = (l: string[]): string[] => l.map((e) => e.replace(/^\./, ''));
  if (r.errors.length > 0) return { ok: false, errors: clean(r.errors) };
  // A default provider that names no provider selects nothing: worth a warning, not a refusal.
  const names = new Set((out.extensionProviders ?? []).map((p) => p.name));
  const dp = out.defaultProviders;
  const missing = [...(dp?.tracing ?? []).map((n) => ['tracing', n]), ...(dp?.metrics ?? []).map((n) => ['metrics', n]), ...(dp?.accessLogging ?? []).map((n) => ['accessLogging', n])].filter(([, n]) => !names.has(n as string) && !BUILTIN_PROVIDERS.has(n as string));
  const warnings = [...clean(r.warnings), ...missing.map(([k, n]) => `defaultProviders.${k}: provider ${JSON.stringify(n)} is not in extensionProviders`)];
  return { ok: true, value: out, warnings };
}

// Providers Istio defines without an extensionProviders entry.
const BUILTIN_PROVIDERS = new Set(['prometheus', 'envoy', 'stackdriver']);

/** mergeMeshConfig lays the fields a mesh config file set over `base` (defaults and flags). */
export function mergeMeshConfig(base: MeshConfig, file: MeshConfigFile): MeshConfig {
  return { ...base, ...file };
}
