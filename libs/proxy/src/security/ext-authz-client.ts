/**
 * The proxy's side of Envoy's external authorization: `envoy.service.auth.v3.Authorization/Check`
 * over grpc-js (messages from the external_auth.proto that @grpc/grpc-js-xds ships), and the
 * plain-HTTP authorizer of `http_service`. Envoy dials the cluster the filter names; this engine
 * resolves that name to an address: the resolver set with configureExtAuthz (a sidecar can map a
 * cluster to its endpoints), else the host and port in Istio's cluster name
 * `outbound|9000||ext-authz.foo.svc.cluster.local`.
 */
import type * as grpc from '@grpc/grpc-js';
import { request as httpRequest } from 'node:http';
import type protobuf from 'protobufjs';
import { grpcJs, serviceTypes } from '../lazy-modules.js';

/** A CheckRequest as this engine fills it (AttributeContext, the fields Envoy sends for HTTP and TCP). */
export interface CheckRequest {
  readonly attributes: {
    readonly source: Peer;
    readonly destination: Peer;
    readonly request?: { readonly time: { seconds: number; nanos: number }; readonly http: HttpAttributes };
    readonly contextExtensions?: Readonly<Record<string, string>>;
    readonly tlsSession?: { readonly sni: string };
  };
}

/** AttributeContext.Peer. */
export interface Peer {
  readonly address: { readonly socketAddress: { readonly address: string; readonly portValue: number } };
  readonly principal?: string;
}

/** AttributeContext.HttpRequest. */
export interface HttpAttributes {
  readonly id: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly path: string;
  readonly host: string;
  readonly scheme: string;
  readonly protocol?: string;
  readonly body?: string;
  readonly rawBody?: Uint8Array;
  readonly size?: number;
}

/** A header and whether it is appended (else it replaces), from a HeaderValueOption. */
export interface HeaderOption {
  readonly key: string;
  readonly value: string;
  readonly append: boolean;
}

/** What an authorizer answered, in the terms the stage acts on. */
export type CheckResult =
  | { readonly kind: 'ok'; readonly headers: readonly HeaderOption[]; readonly headersToRemove: readonly string[]; readonly responseHeaders: readonly HeaderOption[] }
  | { readonly kind: 'denied'; readonly status: number; readonly body: string; readonly headers: readonly HeaderOption[] };

/** Calls one authorizer; rejects on transport errors and deadlines (the failure mode then decides). */
export interface ExtAuthzClient {
  check(req: CheckRequest, timeoutMs: number): Promise<CheckResult>;
}

let resolver: ((cluster: string) => string | undefined) | undefined;

/**
 * configureExtAuthz sets how ext_authz filters find their authorizer: `resolve` maps a cluster
 * name to `host:port` (undefined falls back to the name's own host and port). The sidecar or
 * gateway calls it once at startup; undefined removes a resolver.
 */
export function configureExtAuthz(opts: { resolve?: (cluster: string) => string | undefined }): void {
  resolver = opts.resolve;
}

/** extAuthzTarget returns the `host:port` a filter naming `cluster` calls, or undefined when it cannot tell. */
export function extAuthzTarget(cluster: string): string | undefined {
  const r = resolver?.(cluster);
  if (r) return r;
  const m = /^outbound\|(\d+)\|[^|]*\|(.+)$/.exec(cluster);
  return m ? `${m[2]}:${m[1]}` : undefined;
}

interface Codec {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
}
let codec: Codec | undefined;
let loading: Promise<Codec> | undefined;

/** extAuthzCodec resolves with the CheckRequest/CheckResponse types, loaded once (on the first ext_authz filter a configuration has). */
export function extAuthzCodec(): Promise<Codec> {
  loading ??= serviceTypes('envoy/service/auth/v3/external_auth.proto', ['envoy.service.auth.v3.CheckRequest', 'envoy.service.auth.v3.CheckResponse']).then(([request, response]) => (codec = { request: request as protobuf.Type, response: response as protobuf.Type }));
  return loading;
}

function loadedCodec(): Codec {
  if (!codec) throw new Error('external_auth.proto not loaded yet');
  return codec;
}

/** The method path of Envoy's authorization service. */
export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

function encode(req: CheckRequest): Buffer {
  const t = loadedCodec().request;
  return Buffer.from(t.encode(t.fromObject(req)).finish());
}

interface WireHeaderOption {
  header?: { key?: string; value?: string; rawValue?: Uint8Array } | null;
  append?: { value?: boolean } | null;
  appendAction?: string;
}
interface WireResponse {
  status?: { code?: number; message?: string } | null;
  deniedResponse?: { status?: { code?: number | string } | null; headers?: WireHeaderOption[]; body?: string } | null;
  okResponse?: { headers?: WireHeaderOption[]; headersToRemove?: string[]; responseHeadersToAdd?: WireHeaderOption[] } | null;
}

/** headerOptions reads HeaderValueOptions; `defaultAppend` is what Envoy does when neither append nor append_action says. */
function headerOptions(list: readonly WireHeaderOption[] | undefined, defaultAppend: boolean): HeaderOption[] {
  return (list ?? []).flatMap((o) => {
    const key = (o.header?.key ?? '').toLowerCase();
    if (key === '') return [];
    const value = o.header?.value || (o.header?.rawValue ? Buffer.from(o.header.rawValue).toString('latin1') : '');
    const append = o.append ? o.append.value === true : o.appendAction ? o.appendAction === 'APPEND_IF_EXISTS_OR_ADD' : defaultAppend;
    return [{ key, value, append }];
  });
}

/** decodeCheckResponse turns a CheckResponse into a result (Envoy's gRPC ext_authz client). */
export function decodeCheckResponse(bytes: Uint8Array): CheckResult {
  const t = loadedCodec().response;
  const o = t.toObject(t.decode(bytes), { enums: String, longs: Number, defaults: false, arrays: true }) as WireResponse;
  if ((o.status?.code ?? 0) === 0) {
    const ok = o.okResponse ?? {};
    return { kind: 'ok', headers: headerOptions(ok.headers, false), headersToRemove: (ok.headersToRemove ?? []).map((h) => h.toLowerCase()), responseHeaders: headerOptions(ok.responseHeadersToAdd, false) };
  }
  const d = o.deniedResponse ?? {};
  const code = typeof d.status?.code === 'number' ? d.status.code : Number(HTTP_STATUS_NAMES[String(d.status?.code ?? '')] ?? 0);
  // Envoy answers 403 when the authorizer gives no (or an unset) status.
  return { kind: 'denied', status: code >= 200 ? code : 403, body: d.body ?? '', headers: headerOptions(d.headers, false) };
}

// envoy.type.v3.StatusCode names that protobufjs may hand back instead of numbers.
const HTTP_STATUS_NAMES: Record<string, number> = { Unauthorized: 401, Forbidden: 403, NotFound: 404, TooManyRequests: 429, InternalServerError: 500, ServiceUnavailable: 503, BadRequest: 400, OK: 200 };

const channels = new Map<string, grpc.Client>();

/** channelFor returns the shared channel to `target`, connecting now so the first check does not pay the handshake inside its deadline. */
function channelFor(target: string): grpc.Client {
  let c = channels.get(target);
  if (!c) {
    const g = grpcJs();
    c = new g.Client(target, g.credentials.createInsecure(), { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2000 });
    c.getChannel().getConnectivityState(true);
    channels.set(target, c);
  }
  return c;
}

/** GrpcExtAuthzClient calls Authorization/Check on the cluster of one filter (resolved per call, see the file comment). */
export class GrpcExtAuthzClient implements ExtAuthzClient {
  constructor(
    private readonly cluster: string,
    private readonly authority?: string,
  ) {
    void extAuthzCodec().catch(() => undefined);
    const t = extAuthzTarget(cluster);
    if (t) {
      try {
        channelFor(t);
      } catch {
        // An unusable target fails each check instead (the failure mode then decides).
      }
    }
  }

  check(req: CheckRequest, timeoutMs: number): Promise<CheckResult> {
    const target = extAuthzTarget(this.cluster);
    if (!target) return Promise.reject(new Error(`no address for ext_authz cluster ${this.cluster}`));
    const client = channelFor(target);
    if (!codec) return extAuthzCodec().then(() => this.check(req, timeoutMs));
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(CHECK_PATH, encode, (b: Buffer) => decodeCheckResponse(b), req, new (grpcJs().Metadata)(), { deadline: Date.now() + timeoutMs, ...(this.authority ? { host: this.authority } : {}) }, (err, r) => (err || !r ? reject(err ?? new Error('empty answer')) : resolve(r)));
    });
  }
}

/** How an HTTP authorizer is asked and read (Envoy's http_service with its authorization_request/response). */
export interface HttpServicePlan {
  readonly cluster: string;
  readonly pathPrefix: string;
  /** Request headers sent on (besides Envoy's always-sent ones); undefined = none. */
  readonly allowedHeaders?: (name: string) => boolean;
  readonly headersToAdd: readonly (readonly [string, string])[];
  /** Authorizer response headers copied onto the upstream request on allow. */
  readonly allowedUpstreamHeaders?: (name: string) => boolean;
  /** Authorizer response headers returned to the client on deny; undefined = all but Host/content-length. */
  readonly allowedClientHeaders?: (name: string) => boolean;
  readonly allowedClientHeadersOnSuccess?: (name: string) => boolean;
}

// Envoy always sends these to an HTTP authorizer (plus the Host and the allowed ones).
const ALWAYS_SENT = new Set(['authorization', 'method', 'path', 'host']);
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'content-length', 'host']);

/** HttpExtAuthzClient asks a plain HTTP authorizer: the request's method and path under path_prefix, allowed headers, no body. */
export class HttpExtAuthzClient implements ExtAuthzClient {
  constructor(private readonly plan: HttpServicePlan) {}

  check(req: CheckRequest, timeoutMs: number): Promise<CheckResult> {
    const target = extAuthzTarget(this.plan.cluster);
    const http = req.attributes.request?.http;
    if (!target || !http) return Promise.reject(new Error(`no address for ext_authz cluster ${this.plan.cluster}`));
    const i = target.lastIndexOf(':');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(http.headers)) {
      if (k.startsWith(':') || HOP.has(k)) continue;
      if (ALWAYS_SENT.has(k) || this.plan.allowedHeaders?.(k)) headers[k] = v;
    }
    for (const [k, v] of this.plan.headersToAdd) headers[k] = v;
    headers.host = http.host;
    headers['content-length'] = '0';
    const p = this.plan;
    return new Promise((done, fail) => {
      // The timeout bounds the whole check (connect to last byte), as Envoy's server_uri.timeout.
      const timer = setTimeout(() => r.destroy(new Error('ext_authz HTTP service timed out')), timeoutMs);
      const resolve = (v: CheckResult): void => {
        clearTimeout(timer);
        done(v);
      };
      const reject = (e: Error): void => {
        clearTimeout(timer);
        fail(e);
      };
      const r = httpRequest({ host: target.slice(0, i), port: Number(target.slice(i + 1)), method: http.method, path: p.pathPrefix + http.path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const list: [string, string][] = [];
          for (let j = 0; j < res.rawHeaders.length; j += 2) list.push([(res.rawHeaders[j] as string).toLowerCase(), res.rawHeaders[j + 1] as string]);
          // Envoy treats a 5xx from the authorizer as an error (the failure mode decides).
          if (status >= 500) return reject(new Error(`ext_authz HTTP service answered ${status}`));
          if (status === 200) {
            const up = list.filter(([k]) => p.allowedUpstreamHeaders?.(k) && !HOP.has(k));
            const down = list.filter(([k]) => p.allowedClientHeadersOnSuccess?.(k) && !HOP.has(k));
            return resolve({ kind: 'ok', headers: up.map(([key, value]) => ({ key, value, append: false })), headersToRemove: [], responseHeaders: down.map(([key, value]) => ({ key, value, append: false })) });
          }
          const client = list.filter(([k]) => !HOP.has(k) && (p.allowedClientHeaders ? p.allowedClientHeaders(k) : true));
          resolve({ kind: 'denied', status: status || 403, body: Buffer.concat(chunks).toString('utf8'), headers: client.map(([key, value]) => ({ key, value, append: false })) });
        });
      });
      r.on('error', reject);
      r.end();
    });
  }
}
