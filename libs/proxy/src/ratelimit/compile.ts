/**
 * Compiles the rate-limit filters translate emits (libs/translate/src/ratelimit.ts): an
 * `xds.type.v3.TypedStruct` (or the older `udpa.type.v1.TypedStruct`) whose `type_url` is
 * Meshwork's GLOBAL or LOCAL rate-limit config and whose `value` holds Envoy's filter fields plus
 * the `rateLimits` actions. TypedStructs of other types are not this module's business and are
 * skipped, as unknown filters are.
 */
import { at, bool, duration, enumName, int, obj, objects, str, wrapped, type Obj, type Problems } from '../config/fields.js';
import type { HttpFilterStage } from '../model.js';
import { compileActions, type DescriptorBuilder } from './descriptors.js';
import { ClusterRlsClient, type RlsClient } from './rls-client.js';
import { GlobalRateLimitStage, LocalRateLimitStage, type RateLimitResponsePlan } from './stages.js';
import { sharedBuckets } from './token-bucket.js';

/** `type_url` of a GLOBAL RateLimit's filter config. */
export const GLOBAL_RATELIMIT_TYPE = 'meshwork.filters.http.ratelimit.v1alpha1.RateLimit';
/** `type_url` of a LOCAL RateLimit's filter config. */
export const LOCAL_RATELIMIT_TYPE = 'meshwork.filters.http.ratelimit.v1alpha1.LocalRateLimit';
/** Registry keys (filter-registry.ts) of the TypedStruct wrappers. */
export const TYPED_STRUCT_TYPES = ['xds.type.v3.TypedStruct', 'udpa.type.v1.TypedStruct'] as const;

/** Envoy's default timeout of the rate-limit call when the config has none. */
const DEFAULT_TIMEOUT_MS = 20;

/** Makes the RLS client of a filter (tests inject one). */
export type RlsClientFactory = (clusterName: string) => RlsClient;
let clientFactory: RlsClientFactory = (c) => new ClusterRlsClient(c);

/** setRlsClientFactory replaces how filters reach the rate-limit service (tests); returns the previous factory. */
export function setRlsClientFactory(f: RlsClientFactory): RlsClientFactory {
  const prev = clientFactory;
  clientFactory = f;
  return prev;
}

/** compileTypedStructFilter returns the stage of a Meshwork rate-limit TypedStruct, or undefined for other TypedStructs. */
export function compileTypedStructFilter(p: Problems, tc: Obj, path: string): HttpFilterStage | undefined {
  const typeUrl = str(p, tc, 'typeUrl', path) ?? '';
  const type = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  const value = obj(p, tc, 'value', path) ?? {};
  const vp = at(path, 'value');
  if (type === GLOBAL_RATELIMIT_TYPE) return compileGlobalRateLimit(p, value, vp);
  if (type === LOCAL_RATELIMIT_TYPE) return compileLocalRateLimit(p, value, vp);
  return undefined;
}

function status(p: Problems, o: Obj, key: string, path: string, dflt: number): number {
  const s = obj(p, o, key, path);
  if (!s) return dflt;
  const code = int(p, s, 'code', at(path, key), 200, 599);
  return code ?? dflt;
}

function responsePlan(p: Problems, v: Obj, path: string, name: string, statusKey: string): RateLimitResponsePlan {
  const headers = objects(p, v, 'responseHeadersToAdd', path).map((h) => {
    const hv = obj(p, h.v, 'header', h.path) ?? {};
    return [(str(p, hv, 'key', at(h.path, 'header')) ?? '').toLowerCase(), str(p, hv, 'value', at(h.path, 'header')) ?? ''] as const;
  });
  const x = enumName(p, v, 'enableXRatelimitHeaders', path, ['OFF', 'DRAFT_VERSION_03'] as const) ?? 'OFF';
  return { name, status: status(p, v, statusKey, path, 429), headers: headers.filter(([k]) => k !== ''), xRateLimitHeaders: x === 'DRAFT_VERSION_03' };
}

function builders(p: Problems, v: Obj, path: string): { b: DescriptorBuilder; v: Obj; path: string }[] {
  const out: { b: DescriptorBuilder; v: Obj; path: string }[] = [];
  for (const e of objects(p, v, 'rateLimits', path)) {
    const b = compileActions(p, e.v, e.path);
    if (b) out.push({ b, v: e.v, path: e.path });
  }
  return out;
}

/** compileGlobalRateLimit returns the GLOBAL stage; errors go to `p`. */
export function compileGlobalRateLimit(p: Problems, v: Obj, path: string): GlobalRateLimitStage | undefined {
  const before = p.errors.length;
  const domain = str(p, v, 'domain', path) ?? '';
  if (domain === '') p.error(at(path, 'domain'), 'must not be empty');
  const rls = obj(p, v, 'rateLimitService', path) ?? {};
  const grpcService = obj(p, rls, 'grpcService', at(path, 'rate_limit_service')) ?? {};
  const envoyGrpc = obj(p, grpcService, 'envoyGrpc', at(path, 'rate_limit_service.grpc_service'));
  const cluster = envoyGrpc ? (str(p, envoyGrpc, 'clusterName', at(path, 'rate_limit_service.grpc_service.envoy_grpc')) ?? '') : '';
  if (cluster === '') p.error(at(path, 'rate_limit_service.grpc_service.envoy_grpc.cluster_name'), 'is required');
  const timeoutMs = duration(p, v, 'timeout', path) ?? DEFAULT_TIMEOUT_MS;
  const failureModeDeny = bool(p, v, 'failureModeDeny', path) ?? false;
  const resp = responsePlan(p, v, path, `ratelimit:${str(p, v, 'statPrefix', path) ?? domain}`, 'rateLimitedStatus');
  // Envoy answers a failed call with 500 under failure_mode_deny unless status_on_error says otherwise.
  const statusOnError = status(p, v, 'statusOnError', path, 500);
  const descriptors = builders(p, v, path).map((x) => x.b);
  if (p.errors.length !== before) return undefined;
  return new GlobalRateLimitStage({ ...resp, domain, timeoutMs, failureModeDeny, statusOnError, descriptors }, clientFactory(cluster));
}

/** compileLocalRateLimit returns the LOCAL stage; errors go to `p`. */
export function compileLocalRateLimit(p: Problems, v: Obj, path: string, now?: () => number): LocalRateLimitStage | undefined {
  const before = p.errors.length;
  const statPrefix = str(p, v, 'statPrefix', path) ?? '';
  if (statPrefix === '') p.error(at(path, 'stat_prefix'), 'must not be empty');
  const resp = responsePlan(p, v, path, `local_ratelimit:${statPrefix}`, 'status');
  const rules = builders(p, v, path).flatMap(({ b, v: e, path: ep }) => {
    const tb = obj(p, e, 'tokenBucket', ep);
    if (!tb) {
      p.error(at(ep, 'token_bucket'), 'is required');
      return [];
    }
    const tp = at(ep, 'token_bucket');
    const maxTokens = int(p, tb, 'maxTokens', tp, 1) ?? 0;
    const tokensPerFill = wrapped(p, tb, 'tokensPerFill', tp, 1) ?? 1;
    const fillIntervalMs = duration(p, tb, 'fillInterval', tp) ?? 0;
    if (fillIntervalMs <= 0) {
      p.error(at(tp, 'fill_interval'), 'must be positive');
      return [];
    }
    return [{ descriptor: b, buckets: sharedBuckets(statPrefix, { maxTokens, tokensPerFill, fillIntervalMs }) }];
  });
  if (p.errors.length !== before) return undefined;
  return new LocalRateLimitStage({ ...resp, rules }, now);
}
