/**
 * gRPC over HTTP/2 facts the proxy needs (gRPC's PROTOCOL-HTTP2 spec): recognising a gRPC
 * request, the `grpc-timeout` header as a deadline, and trailers-only local replies.
 */

/** isGrpc says whether a content-type is gRPC's (`application/grpc`, `application/grpc+proto`, …). */
export function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && (contentType === 'application/grpc' || contentType.startsWith('application/grpc+') || contentType.startsWith('application/grpc;'));
}

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** grpcTimeoutMs returns a `grpc-timeout` header value (`<1-8 digits><H|M|S|m|u|n>`) in milliseconds, or undefined if absent or malformed. */
export function grpcTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]];
}

/**
 * effectiveTimeoutMs combines a route timeout (0 = none, undefined = Envoy's 15 s default) with
 * the request's grpc-timeout, when the route honours it (Envoy max_stream_duration
 * grpc_timeout_header_max: 0 = no cap): the grpc-timeout then replaces the route timeout.
 */
export function effectiveTimeoutMs(routeTimeoutMs: number | undefined, grpcTimeout: number | undefined, grpcTimeoutHeaderMax: number | undefined): number | undefined {
  if (grpcTimeout === undefined || grpcTimeoutHeaderMax === undefined) return routeTimeoutMs;
  const capped = grpcTimeoutHeaderMax > 0 ? Math.min(grpcTimeout, grpcTimeoutHeaderMax) : grpcTimeout;
  // A zero grpc-timeout means "already expired"; keep at least 1 ms so the attempt is made and times out.
  return Math.max(1, Math.ceil(capped));
}

/** grpcMessage percent-encodes a status message as the grpc-message header requires. */
export function grpcMessage(text: string): string {
  return encodeURIComponent(text).replace(/%20/g, ' ');
}
