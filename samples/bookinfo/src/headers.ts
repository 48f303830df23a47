/**
 * The request headers every Bookinfo service copies from the request it serves onto the calls it
 * makes, so the sidecars can join their spans into one trace and route on the user. The list is
 * Istio's (its sample services and the "Trace context propagation" section of its tracing docs):
 * x-request-id, Lightstep, Datadog, W3C, Cloud Trace, gRPC binary, B3 (multi and single header),
 * SkyWalking, and the application headers end-user, user-agent, cookie, authorization, jwt.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Headers copied from the incoming request to every outgoing call, lower case. */
export const PROPAGATED_HEADERS: readonly string[] = [
  'x-request-id',
  'x-ot-span-context',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
  'traceparent',
  'tracestate',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'b3',
  'sw8',
  'end-user',
  'user-agent',
  'cookie',
  'authorization',
  'jwt',
];

/**
 * forwardHeaders returns the headers to send on a call made while serving a request with
 * `incoming` headers. productpage passes `endUser` (its session's user, or undefined): the user
 * then comes from the session only, never from a client's own end-user header, as in Istio's
 * productpage; reviews and the others pass the incoming end-user on.
 */
export function forwardHeaders(incoming: IncomingHttpHeaders, opts: { endUser?: string | undefined; fromSession?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PROPAGATED_HEADERS) {
    if (name === 'end-user' && opts.fromSession) continue;
    const v = incoming[name];
    if (v === undefined) continue;
    out[name] = Array.isArray(v) ? v.join(name === 'cookie' ? '; ' : ', ') : v;
  }
  if (opts.fromSession && opts.endUser) out['end-user'] = opts.endUser;
  return out;
}
