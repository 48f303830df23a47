/**
 * The most recent access-log records mixer has ingested, in a fixed-size ring: `add` is O(1)
 * and never allocates beyond the ring, so ingestion can call it for every record; formatting
 * into Istio's access-log JSON happens only when someone queries.
 */
import { accessLogEntry, type AccessLogEntry, type RequestRecord } from '@meshwork/telemetry';

/** One log line as the API returns it: Istio's JSON access-log keys plus who logged it. */
export interface RecentLogEntry extends AccessLogEntry {
  /** `source` (the caller's sidecar logged it) or `destination` (the callee's). */
  readonly reporter: RequestRecord['reporter'];
  /** The workload whose proxy logged the request (what `kubectl logs <pod> -c istio-proxy` would show). */
  readonly workload: string | null;
  readonly namespace: string | null;
  readonly source_workload: string | null;
  readonly destination_workload: string | null;
  readonly destination_service: string | null;
  readonly trace_id: string | null;
}

/** Filters of a log query; all given ones must hold. */
export interface LogQuery {
  /** The logging workload (`reviews-v1`). */
  readonly workload?: string;
  readonly namespace?: string;
  readonly reporter?: RequestRecord['reporter'];
  /** Status codes and classes (`503`, `5xx`); any may match. */
  readonly codes?: readonly string[];
  /** Most entries, newest first (default 100). */
  readonly limit?: number;
}

/** Largest query limit. */
export const MAX_LOG_LIMIT = 5000;

/** loggingPeer returns the side whose proxy produced the record. */
function loggingPeer(r: RequestRecord): RequestRecord['source'] {
  return r.reporter === 'source' ? r.source : r.destination;
}

/** codeMatcher returns whether a status matches any of `503` / `5xx` (`0`: no response). */
export function codeMatcher(codes: readonly string[]): (code: number) => boolean {
  const exact = new Set<number>();
  const classes = new Set<number>();
  for (const c of codes) {
    if (/^[0-9]xx$/i.test(c)) classes.add(Number(c[0]));
    else exact.add(Number(c));
  }
  return (code) => exact.has(code) || classes.has(Math.floor(code / 100));
}

/** RecentLogs keeps the last `capacity` request records and answers filtered queries, newest first. */
export class RecentLogs {
  private readonly ring: (RequestRecord | undefined)[];
  private next = 0;
  private total = 0;

  constructor(readonly capacity = 10_000) {
    this.ring = new Array<RequestRecord | undefined>(Math.max(1, capacity));
  }

  /** add keeps one record (the oldest is overwritten when full). The ingestion calls it for every request record. */
  add(record: RequestRecord): void {
    this.ring[this.next] = record;
    this.next = (this.next + 1) % this.ring.length;
    this.total++;
  }

  /** addAll keeps a batch in order (the RecordFeed listener shape). */
  addAll(records: readonly RequestRecord[]): void {
    for (const r of records) this.add(r);
  }

  /** Records added since start (held or overwritten). */
  get added(): number {
    return this.total;
  }

  /** Records currently held. */
  get size(): number {
    return Math.min(this.total, this.ring.length);
  }

  /** query returns the newest entries matching every filter. */
  query(q: LogQuery = {}): RecentLogEntry[] {
    const limit = Math.min(Math.max(1, q.limit ?? 100), MAX_LOG_LIMIT);
    const code = q.codes && q.codes.length > 0 ? codeMatcher(q.codes) : undefined;
    const out: RecentLogEntry[] = [];
    const n = this.ring.length;
    for (let k = 1; k <= this.size && out.length < limit; k++) {
      const r = this.ring[(this.next - k + n) % n] as RequestRecord;
      const peer = loggingPeer(r);
      if (q.workload !== undefined && peer.workload !== q.workload) continue;
      if (q.namespace !== undefined && peer.namespace !== q.namespace) continue;
      if (q.reporter !== undefined && r.reporter !== q.reporter) continue;
      if (code && !code(r.responseCode)) continue;
      out.push({
        ...accessLogEntry(r),
        reporter: r.reporter,
        workload: peer.workload ?? null,
        namespace: peer.namespace ?? null,
        source_workload: r.source.workload ?? null,
        destination_workload: r.destination.workload ?? null,
        destination_service: r.destinationService.host ?? null,
        trace_id: r.traceId ?? null,
      });
    }
    return out;
  }
}
