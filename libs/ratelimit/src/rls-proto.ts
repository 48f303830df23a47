/**
 * Envoy's `envoy.service.ratelimit.v3.RateLimitService` on the wire: the request and response
 * messages from the rls.proto that @grpc/grpc-js-xds ships (found through libs/xds's include
 * directories, nothing vendored), and the grpc-js service definition whose (de)serializers use
 * them. Domain code sees plain objects (RlsRequest, RlsResponse), never protobufjs messages.
 */
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { serviceProtoTypes } from '@meshwork/xds';
import { RateLimitStartError } from './errors.js';

/** The service's full name (gRPC path prefix). */
export const RLS_SERVICE_NAME = 'envoy.service.ratelimit.v3.RateLimitService';

/** One descriptor entry as Envoy sends it. */
export interface RlsEntry {
  readonly key: string;
  readonly value: string;
}

/** ShouldRateLimit's request: a domain, descriptors (each a list of entries) and how many hits to count (0 = 1). */
export interface RlsRequest {
  readonly domain: string;
  readonly descriptors: readonly { readonly entries: readonly RlsEntry[] }[];
  readonly hitsAddend: number;
}

/** RateLimitResponse.Code. */
export type RlsCode = 'UNKNOWN' | 'OK' | 'OVER_LIMIT';
/** RateLimitResponse.RateLimit.Unit (the units Meshwork uses). */
export type RlsUnit = 'SECOND' | 'MINUTE' | 'HOUR' | 'DAY';

/** One descriptor's answer: its limit (absent when no limit applies), what is left, and when the window ends. */
export interface RlsDescriptorStatus {
  readonly code: RlsCode;
  readonly currentLimit?: { readonly name: string; readonly requestsPerUnit: number; readonly unit: RlsUnit };
  readonly limitRemaining: number;
  /** Milliseconds until the counting window resets. */
  readonly durationUntilResetMs: number;
}

/** ShouldRateLimit's response: OVER_LIMIT when any descriptor is, with one status per descriptor in request order. */
export interface RlsResponse {
  readonly overallCode: RlsCode;
  readonly statuses: readonly RlsDescriptorStatus[];
}

interface RlsTypes {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
}

let cached: RlsTypes | undefined;

/** rlsTypes loads rls.proto once and returns its request and response types. */
export function rlsTypes(): RlsTypes {
  if (cached) return cached;
  let types: protobuf.Type[];
  try {
    types = serviceProtoTypes('envoy/service/ratelimit/v3/rls.proto', ['envoy.service.ratelimit.v3.RateLimitRequest', 'envoy.service.ratelimit.v3.RateLimitResponse']);
  } catch (cause) {
    throw new RateLimitStartError((cause as Error).message, { cause });
  }
  cached = { request: types[0] as protobuf.Type, response: types[1] as protobuf.Type };
  return cached;
}

const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: Number, defaults: true, arrays: true };

/** decodeRequest turns wire bytes into an RlsRequest. */
export function decodeRequest(bytes: Buffer): RlsRequest {
  const t = rlsTypes().request;
  const o = t.toObject(t.decode(bytes), TO_OBJECT) as { domain: string; descriptors: { entries: RlsEntry[] }[]; hitsAddend: number };
  return { domain: o.domain, descriptors: o.descriptors.map((d) => ({ entries: d.entries.map((e) => ({ key: e.key, value: e.value })) })), hitsAddend: o.hitsAddend };
}

/** encodeRequest turns an RlsRequest into wire bytes (the client side; used by tests). */
export function encodeRequest(r: RlsRequest): Buffer {
  const t = rlsTypes().request;
  return Buffer.from(t.encode(t.fromObject({ domain: r.domain, descriptors: r.descriptors.map((d) => ({ entries: d.entries })), hitsAddend: r.hitsAddend })).finish());
}

/** encodeResponse turns an RlsResponse into wire bytes. */
export function encodeResponse(r: RlsResponse): Buffer {
  const t = rlsTypes().response;
  const msg = t.fromObject({
    overallCode: r.overallCode,
    statuses: r.statuses.map((s) => ({
      code: s.code,
      ...(s.currentLimit ? { currentLimit: s.currentLimit } : {}),
      limitRemaining: s.limitRemaining,
      durationUntilReset: { seconds: Math.floor(s.durationUntilResetMs / 1000), nanos: Math.round((s.durationUntilResetMs % 1000) * 1e6) },
    })),
  });
  return Buffer.from(t.encode(msg).finish());
}

/** decodeResponse turns wire bytes into an RlsResponse (the client side; used by tests). */
export function decodeResponse(bytes: Buffer): RlsResponse {
  const t = rlsTypes().response;
  const o = t.toObject(t.decode(bytes), TO_OBJECT) as { overallCode: RlsCode; statuses: { code: RlsCode; currentLimit?: { name: string; requestsPerUnit: number; unit: RlsUnit } | null; limitRemaining: number; durationUntilReset?: { seconds: number; nanos: number } | null }[] };
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

/** rlsServiceDefinition returns the grpc-js definition of RateLimitService (one unary method). */
export function rlsServiceDefinition(): grpc.ServiceDefinition {
  rlsTypes();
  return {
    ShouldRateLimit: {
      path: `/${RLS_SERVICE_NAME}/ShouldRateLimit`,
      requestStream: false,
      responseStream: false,
      requestSerialize: encodeRequest,
      requestDeserialize: decodeRequest,
      responseSerialize: encodeResponse,
      responseDeserialize: decodeResponse,
    },
  } as grpc.ServiceDefinition;
}
