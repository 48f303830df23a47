/**
 * The proxy's client of `envoy.service.ratelimit.v3.RateLimitService` (mixer on 8081): one
 * grpc-js channel per target, a deadline per call (the filter's timeout), messages from the
 * rls.proto that @grpc/grpc-js-xds ships. Envoy dials the cluster the filter names
 * (`rate_limit_service.grpc_service.envoy_grpc.cluster_name`); this engine resolves that name to an
 * address: the one configured with configureRateLimitService (the sidecar's --ratelimit-address),
 * else the host and port in Istio's cluster name `outbound|8081||mixer.istio-system.svc.cluster.local`.
 */
import type * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { grpcJs, serviceTypes } from '../lazy-modules.js';

/** One descriptor entry. */
export interface RlsEntry {
  readonly key: string;
  readonly value: string;
}

/** What the stage needs from an answer. */
export interface RlsAnswer {
  readonly overallCode: 'UNKNOWN' | 'OK' | 'OVER_LIMIT';
  readonly statuses: readonly { readonly code: string; readonly currentLimit?: { readonly requestsPerUnit: number; readonly unit: string }; readonly limitRemaining: number; readonly durationUntilResetMs: number }[];
}

/** Calls ShouldRateLimit; rejects on any error or when the deadline passes. */
export interface RlsClient {
  shouldRateLimit(domain: string, descriptors: readonly (readonly RlsEntry[])[], timeoutMs: number): Promise<RlsAnswer>;
}

let configuredAddress: string | undefined;

/**
 * configureRateLimitService sets where the rate-limit filters send their calls (`host:port`),
 * whatever cluster they name; undefined goes back to resolving the cluster name. The sidecar
 * calls it once at startup from --ratelimit-address.
 */
export function configureRateLimitService(opts: { address?: string }): void {
  configuredAddress = opts.address || undefined;
}

/** rlsTarget returns the `host:port` the filter naming `clusterName` calls, or undefined when it cannot tell. */
export function rlsTarget(clusterName: string): string | undefined {
  if (configuredAddress) return configuredAddress;
  const m = /^outbound\|(\d+)\|[^|]*\|(.+)$/.exec(clusterName);
  return m ? `${m[2]}:${m[1]}` : undefined;
}

interface Codec {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
}
let codec: Codec | undefined;
let loading: Promise<Codec> | undefined;

/** loadRlsCodec loads rls.proto's request/response types once (on the first rate-limit filter a configuration has). */
function loadRlsCodec(): Promise<Codec> {
  loading ??= serviceTypes('envoy/service/ratelimit/v3/rls.proto', ['envoy.service.ratelimit.v3.RateLimitRequest', 'envoy.service.ratelimit.v3.RateLimitResponse']).then(([request, response]) => (codec = { request: request as protobuf.Type, response: response as protobuf.Type }));
  return loading;
}

function rlsCodec(): Codec {
  if (!codec) throw new Error('rls.proto not loaded yet');
  return codec;
}

const PATH = '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit';

function encode(req: { domain: string; descriptors: { entries: readonly RlsEntry[] }[] }): Buffer {
  const t = rlsCodec().request;
  return Buffer.from(t.encode(t.fromObject(req)).finish());
}

function decode(bytes: Buffer): RlsAnswer {
  const t = rlsCodec().response;
  const o = t.toObject(t.decode(bytes), { enums: String, longs: Number, defaults: true, arrays: true }) as {
    overallCode: RlsAnswer['overallCode'];
    statuses: { code: string; currentLimit?: { requestsPerUnit: number; unit: string } | null; limitRemaining: number; durationUntilReset?: { seconds: number; nanos: number } | null }[];
  };
  return {
    overallCode: o.overallCode,
    statuses: o.statuses.map((s) => ({
      code: s.code,
      ...(s.currentLimit ? { currentLimit: s.currentLimit } : {}),
      limitRemaining: s.limitRemaining,
      durationUntilResetMs: s.durationUntilReset ? s.durationUntilReset.seconds * 1000 + s.durationUntilReset.nanos / 1e6 : 0,
    })),
  };
}

const clients = new Map<string, grpc.Client>();

/** grpcClientFor returns the shared channel to `target`, connecting it now so the first call does not pay the handshake inside a 20 ms deadline. */
function grpcClientFor(target: string): grpc.Client {
  let c = clients.get(target);
  if (!c) {
    const g = grpcJs();
    c = new g.Client(target, g.credentials.createInsecure(), { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2000 });
    c.getChannel().getConnectivityState(true);
    clients.set(target, c);
  }
  return c;
}

/** ClusterRlsClient calls the rate-limit service of one filter (its cluster name resolved per call, see the file comment). */
export class ClusterRlsClient implements RlsClient {
  constructor(private readonly clusterName: string) {
    // Load the protos and dial now, at compile time: the first call must fit in the filter's timeout (20 ms by default).
    void loadRlsCodec().catch(() => undefined);
    const t = rlsTarget(clusterName);
    if (t) {
      try {
        grpcClientFor(t);
      } catch {
        // An unusable target fails each call instead (the failure mode then decides).
      }
    }
  }

  shouldRateLimit(domain: string, descriptors: readonly (readonly RlsEntry[])[], timeoutMs: number): Promise<RlsAnswer> {
    const target = rlsTarget(this.clusterName);
    if (!target) return Promise.reject(new Error(`no address for rate-limit cluster ${this.clusterName}`));
    const client = grpcClientFor(target);
    if (!codec) return loadRlsCodec().then(() => this.shouldRateLimit(domain, descriptors, timeoutMs));
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(PATH, encode, decode, { domain, descriptors: descriptors.map((entries) => ({ entries })) }, { deadline: Date.now() + timeoutMs }, (err, r) => (err || !r ? reject(err ?? new Error('empty answer')) : resolve(r)));
    });
  }
}
