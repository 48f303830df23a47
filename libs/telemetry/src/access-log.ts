/**
 * Envoy's access log in Istio's default shape. Istio's default (TEXT encoding) is
 *
 *   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
 *   %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
 *   "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
 *   %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
 *   "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER%
 *   %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
 *   %REQUESTED_SERVER_NAME% %ROUTE_NAME%
 *
 * and with `accessLogEncoding: JSON` the same operators under Istio's JSON keys. As Envoy's JSON
 * formatter does: numeric operators are numbers, absent values are `null` (the text form prints
 * `-`), keys come out sorted, and %RESP(...)% stays a string (it is a header value).
 */
import type { Writable } from 'node:stream';
import { BufferedPublisher, type BufferedPublisherOptions } from './buffered-publisher.js';
import type { RequestRecord } from './request-record.js';

/** One access log entry under Istio's JSON key names (the order is Envoy's: sorted). */
export interface AccessLogEntry {
  authority: string | null;
  bytes_received: number;
  bytes_sent: number;
  connection_termination_details: string | null;
  downstream_local_address: string | null;
  downstream_remote_address: string | null;
  duration: number;
  method: string | null;
  path: string | null;
  protocol: string | null;
  request_id: string | null;
  requested_server_name: string | null;
  response_code: number;
  response_code_details: string | null;
  response_flags: string;
  route_name: string | null;
  start_time: string;
  upstream_cluster: string | null;
  upstream_host: string | null;
  upstream_local_address: string | null;
  upstream_service_time: string | null;
  upstream_transport_failure_reason: string | null;
  user_agent: string | null;
  x_forwarded_for: string | null;
}

const orNull = (s: string | undefined): string | null => (s === undefined || s === '' ? null : s);

/** accessLogEntry returns the access log fields of a record (Envoy's semantics for absent values). */
export function accessLogEntry(r: RequestRecord): AccessLogEntry {
  return {
    authority: orNull(r.authority),
    bytes_received: r.bytesReceived,
    bytes_sent: r.bytesSent,
    connection_termination_details: orNull(r.connectionTerminationDetails),
    downstream_local_address: orNull(r.downstreamLocalAddress),
    downstream_remote_address: orNull(r.downstreamRemoteAddress),
    // %DURATION% is whole milliseconds in Envoy.
    duration: Math.floor(r.durationMs),
    method: orNull(r.method),
    path: orNull(r.path),
    // %PROTOCOL% is not set for TCP.
    protocol: r.protocol === 'tcp' ? null : orNull(r.httpProtocol),
    request_id: orNull(r.requestId),
    requested_server_name: orNull(r.requestedServerName),
    response_code: r.responseCode,
    response_code_details: orNull(r.responseCodeDetails),
    // %RESPONSE_FLAGS% prints `-` when there are none, in JSON too.
    response_flags: r.responseFlags === '' ? '-' : r.responseFlags,
    route_name: orNull(r.routeName),
    // Envoy's default %START_TIME%: `%Y-%m-%dT%H:%M:%E3SZ`, UTC with milliseconds.
    start_time: new Date(r.startTime).toISOString(),
    upstream_cluster: orNull(r.upstreamCluster),
    upstream_host: orNull(r.upstreamHost),
    upstream_local_address: orNull(r.upstreamLocalAddress),
    upstream_service_time: r.upstreamServiceTimeMs === undefined ? null : String(Math.floor(r.upstreamServiceTimeMs)),
    upstream_transport_failure_reason: orNull(r.upstreamTransportFailureReason),
    user_agent: orNull(r.userAgent),
    x_forwarded_for: orNull(r.xForwardedFor),
  };
}

/** formatAccessLog returns one JSON access log line (no trailing newline), Istio's JSON encoding. */
export function formatAccessLog(r: RequestRecord): string {
  return JSON.stringify(accessLogEntry(r));
}

const dash = (s: string | number | null): string => (s === null ? '-' : String(s));

/** formatAccessLogText returns one line in Istio's default TEXT encoding (absent values as `-`). */
export function formatAccessLogText(r: RequestRecord): string {
  const e = accessLogEntry(r);
  return (
    `[${e.start_time}] "${dash(e.method)} ${dash(e.path)} ${dash(e.protocol)}" ${e.response_code} ${e.response_flags} ` +
    `${dash(e.response_code_details)} ${dash(e.connection_termination_details)} "${dash(e.upstream_transport_failure_reason)}" ` +
    `${e.bytes_received} ${e.bytes_sent} ${e.duration} ${dash(e.upstream_service_time)} "${dash(e.x_forwarded_for)}" ` +
    `"${dash(e.user_agent)}" "${dash(e.request_id)}" "${dash(e.authority)}" "${dash(e.upstream_host)}" ${dash(e.upstream_cluster)} ` +
    `${dash(e.upstream_local_address)} ${dash(e.downstream_local_address)} ${dash(e.downstream_remote_address)} ` +
    `${dash(e.requested_server_name)} ${dash(e.route_name)}`
  );
}

/** Options of AccessLogWriter: the stream plus the buffering knobs of BufferedPublisher. */
export interface AccessLogWriterOptions extends Omit<BufferedPublisherOptions<string>, 'sink'> {
  /** Where lines go (stdout in the sidecar). */
  readonly stream: Writable;
  /** `json` (default) or Istio's `text` encoding. */
  readonly encoding?: 'json' | 'text';
}

/**
 * AccessLogWriter returns a writer that formats records and writes them in batches (one write
 * per batch) without blocking the request path: lines wait in a bounded buffer, a slow stream
 * makes the writer wait for 'drain', and lines beyond the buffer are dropped and counted.
 */
export class AccessLogWriter {
  private readonly publisher: BufferedPublisher<string>;
  private readonly format: (r: RequestRecord) => string;

  constructor(opts: AccessLogWriterOptions) {
    const { stream } = opts;
    this.format = opts.encoding === 'text' ? formatAccessLogText : formatAccessLog;
    this.publisher = new BufferedPublisher<string>({
      ...opts,
      sink: (lines) => writeAll(stream, lines.join('\n') + '\n'),
    });
  }

  /** log formats and queues one record; returns false when the line was dropped (buffer full or closed). */
  log(r: RequestRecord): boolean {
    return this.publisher.offer(this.format(r));
  }

  /** Lines dropped because the buffer was full, the writer closed, or the stream failed. */
  get dropped(): number {
    return this.publisher.dropped;
  }

  /** Lines handed to the stream. */
  get written(): number {
    return this.publisher.published;
  }

  /** close writes what is buffered and stops accepting lines. */
  close(): Promise<void> {
    return this.publisher.close();
  }
}

/** writeAll writes one chunk and resolves when the stream can take more ('drain' when its buffer was full). */
function writeAll(stream: Writable, chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off('error', onError);
      stream.off('drain', onDrain);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    stream.on('error', onError);
    if (stream.write(chunk)) onDrain();
    else stream.on('drain', onDrain);
  });
}
