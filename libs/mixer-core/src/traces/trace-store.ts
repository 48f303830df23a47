/**
 * Recent traces in bounded memory: spans from every sidecar (`mesh.spans.<ns>.<workload>`) are
 * grouped by trace id. Bounds, each with a counter so a missing span is explained:
 *
 * - `maxTraces`: the least recently updated trace is evicted first (LRU by last span arrival);
 * - `maxSpans`: total spans held; whole traces are evicted, oldest first, to stay under it;
 * - `maxSpansPerTrace`: further spans of a trace are dropped and counted on the trace;
 * - `maxAgeMs`: a trace with no new span for this long is expired.
 *
 * The LRU order is a queue of (trace, touch number) entries: a trace that gets a span is pushed
 * again with a new number, and eviction and expiry pop from the front, skipping entries whose
 * number is stale, stopping at the first trace to keep. Stale entries are compacted away when
 * they outnumber live ones, so every operation is amortised O(1). (Moving entries to the end of
 * a Map instead leaves deleted slots at its front that every scan from the front has to skip.)
 */
import type { SpanRecord } from '@meshwork/telemetry';
import { parseDuration } from './duration.js';

/** A span as mixer keeps it: the sidecar's record plus the service that reported it. */
export interface StoredSpan extends SpanRecord {
  /** Istio's Zipkin service name: `<canonical service>.<namespace>` (else `<workload>.<namespace>` from the subject). */
  readonly service: string;
}

/** Where a batch of spans came from (the subject's namespace and workload tokens). */
export interface SpanOrigin {
  readonly namespace?: string;
  readonly workload?: string;
}

interface Trace {
  readonly traceId: string;
  readonly spans: StoredSpan[];
  readonly ids: Set<string>;
  lastSeenMs: number;
  droppedSpans: number;
  /** Number of the trace's latest entry in the LRU queue. */
  touch: number;
  // Kept up to date as spans arrive, so a search reads them instead of walking every span.
  startUs: number;
  endUs: number;
  error: boolean;
  /** Full service names (`reviews.default`) and canonical names (`reviews`). */
  readonly services: Set<string>;
  readonly shortServices: Set<string>;
}

/** One trace in search results. */
export interface TraceSummary {
  readonly traceId: string;
  /** Name and service of the root span (the earliest span without a parent held here). */
  readonly rootName: string;
  readonly rootService: string;
  /** Start, epoch microseconds, and duration (first start to last end), microseconds. */
  readonly startUs: number;
  readonly durationUs: number;
  readonly spanCount: number;
  readonly services: readonly string[];
  readonly error: boolean;
  /** Spans of this trace dropped past maxSpansPerTrace. */
  readonly droppedSpans: number;
}

/** A whole trace: its summary and spans in start order. */
export interface TraceDetail extends TraceSummary {
  readonly spans: readonly StoredSpan[];
}

/** Search criteria; all given ones must hold. */
export interface TraceQuery {
  /** A span of the trace has this service (`reviews.default`, or just the canonical service `reviews`). */
  readonly service?: string;
  /** The trace lasted at least this long, microseconds. */
  readonly minDurationUs?: number;
  /** true: some span is an error; false: none is. */
  readonly error?: boolean;
  /** Every `key` / `key:value` holds on some span (value compared as a string). */
  readonly tags?: readonly { key: string; value?: string }[];
  /** Most results (newest first); default 20. */
  readonly limit?: number;
}

/** Options of TraceStore. */
export interface TraceStoreOptions {
  readonly maxTraces?: number;
  readonly maxSpans?: number;
  readonly maxSpansPerTrace?: number;
  readonly maxAgeMs?: number;
  /** Clock (injected for tests). */
  readonly now?: () => number;
}

/** Counters of what the store held back, for mixer's metrics. */
export interface TraceStoreStats {
  readonly traces: number;
  readonly spans: number;
  /** Spans received (accepted or not). */
  readonly received: number;
  /** Spans dropped past maxSpansPerTrace, or malformed. */
  readonly droppedSpans: number;
  /** Traces evicted for maxTraces or maxSpans. */
  readonly evictedTraces: number;
  /** Traces expired for maxAgeMs. */
  readonly expiredTraces: number;
}

/** Largest search limit. */
export const MAX_SEARCH_LIMIT = 1000;

const HEX = /^[0-9a-f]+$/;

/** serviceOf returns Istio's Zipkin service name for a span. */
export function serviceOf(s: SpanRecord, origin: SpanOrigin = {}): string {
  const canonical = s.attributes['istio.canonical_service'];
  const ns = s.attributes['istio.namespace'] ?? origin.namespace;
  const name = canonical !== undefined ? String(canonical) : origin.workload;
  if (name === undefined) return 'unknown';
  return ns !== undefined ? `${name}.${ns}` : name;
}

function validSpan(s: SpanRecord): boolean {
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.traceId === 'string' &&
    s.traceId.length === 32 &&
    HEX.test(s.traceId) &&
    typeof s.spanId === 'string' &&
    s.spanId.length === 16 &&
    HEX.test(s.spanId) &&
    typeof s.name === 'string' &&
    Number.isFinite(s.startUs) &&
    Number.isFinite(s.durationUs) &&
    typeof s.attributes === 'object' &&
    s.attributes !== null
  );
}

/** parseMinDuration returns microseconds from a Go duration (`250ms`, `1.5s`) or a bare number of microseconds (Zipkin's unit). */
export function parseMinDuration(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const ns = parseDuration(text);
  return ns === undefined ? undefined : ns / 1000;
}

/** TraceStore keeps recent traces by id, bounded, and answers searches over them. */
export class TraceStore {
  private readonly traces = new Map<string, Trace>();
  private order: { readonly id: string; readonly touch: number }[] = [];
  private head = 0;
  private touches = 0;
  private readonly maxTraces: number;
  private readonly maxSpans: number;
  private readonly maxSpansPerTrace: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private spanCount = 0;
  private received = 0;
  private dropped = 0;
  private evicted = 0;
  private expired = 0;

  constructor(opts: TraceStoreOptions = {}) {
    this.maxTraces = opts.maxTraces ?? 10_000;
    this.maxSpans = opts.maxSpans ?? 200_000;
    this.maxSpansPerTrace = opts.maxSpansPerTrace ?? 1_000;
    this.maxAgeMs = opts.maxAgeMs ?? 3_600_000;
    this.now = opts.now ?? Date.now;
  }

  /** add stores finished spans (a sidecar's batch) and returns the ones accepted, for export. */
  add(spans: readonly SpanRecord[], origin: SpanOrigin = {}): StoredSpan[] {
    const now = this.now();
    const accepted: StoredSpan[] = [];
    for (const s of spans) {
      this.received++;
      if (!validSpan(s)) {
        this.dropped++;
        continue;
      }
      let t = this.traces.get(s.traceId);
      if (t) {
        if (t.ids.has(s.spanId)) continue; // the same span twice: keep one
      } else {
        t = { traceId: s.traceId, spans: [], ids: new Set(), lastSeenMs: now, droppedSpans: 0, touch: 0, startUs: Infinity, endUs: -Infinity, error: false, services: new Set(), shortServices: new Set() };
        this.traces.set(s.traceId, t);
      }
      this.touch(t);
      t.lastSeenMs = now;
      if (t.spans.length >= this.maxSpansPerTrace) {
        t.droppedSpans++;
        this.dropped++;
        continue;
      }
      const stored: StoredSpan = { ...s, service: serviceOf(s, origin) };
      t.spans.push(stored);
      t.ids.add(s.spanId);
      t.startUs = Math.min(t.startUs, s.startUs);
      t.endUs = Math.max(t.endUs, s.startUs + s.durationUs);
      t.error ||= s.error === true;
      if (!t.services.has(stored.service)) {
        t.services.add(stored.service);
        const dot = stored.service.indexOf('.');
        t.shortServices.add(dot < 0 ? stored.service : stored.service.slice(0, dot));
      }
      this.spanCount++;
      accepted.push(stored);
    }
    this.prune(now);
    return accepted;
  }

  /** touch makes a trace the most recently updated (its spans in a batch touch it once). */
  private touch(t: Trace): void {
    const last = this.order[this.order.length - 1];
    if (last && last.id === t.traceId && last.touch === t.touch) return;
    t.touch = ++this.touches;
    this.order.push({ id: t.traceId, touch: t.touch });
    if (this.order.length - this.head > 2 * this.traces.size + 1024) this.compact();
  }

  /** compact drops stale and popped queue entries. */
  private compact(): void {
    const live: { id: string; touch: number }[] = [];
    for (let i = this.head; i < this.order.length; i++) {
      const e = this.order[i];
      if (this.traces.get(e.id)?.touch === e.touch) live.push(e);
    }
    this.order = live;
    this.head = 0;
  }

  /** oldest returns the least recently updated trace (front of the queue, stale entries skipped). */
  private oldest(): Trace | undefined {
    while (this.head < this.order.length) {
      const e = this.order[this.head];
      const t = this.traces.get(e.id);
      if (t && t.touch === e.touch) return t;
      this.head++;
    }
    return undefined;
  }

  /** prune expires traces idle past maxAgeMs, then evicts the least recently updated ones past the trace and span caps. */
  prune(now = this.now()): void {
    for (let t = this.oldest(); t && now - t.lastSeenMs >= this.maxAgeMs; t = this.oldest()) {
      this.remove(t);
      this.expired++;
    }
    for (let t = this.oldest(); t && (this.traces.size > this.maxTraces || this.spanCount > this.maxSpans); t = this.oldest()) {
      this.remove(t);
      this.evicted++;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) this.compact();
  }

  private remove(t: Trace): void {
    this.traces.delete(t.traceId);
    this.spanCount -= t.spans.length;
  }

  /** get returns the whole trace, spans in start order, or undefined when it is not (or no longer) held. */
  get(traceId: string): TraceDetail | undefined {
    this.prune();
    const t = this.traces.get(traceId.toLowerCase());
    if (!t) return undefined;
    return { ...summarize(t), spans: [...t.spans].sort((a, b) => a.startUs - b.startUs) };
  }

  /** search returns the newest traces matching every given criterion. */
  search(q: TraceQuery = {}): TraceSummary[] {
    this.prune();
    const limit = Math.min(Math.max(1, q.limit ?? 20), MAX_SEARCH_LIMIT);
    const out: TraceSummary[] = [];
    const matched: Trace[] = [];
    for (const t of this.traces.values()) {
      if (t.spans.length === 0) continue;
      if (q.service !== undefined && !t.services.has(q.service) && !t.shortServices.has(q.service)) continue;
      if (q.error !== undefined && t.error !== q.error) continue;
      if (q.minDurationUs !== undefined && t.endUs - t.startUs < q.minDurationUs) continue;
      if (q.tags && !q.tags.every((tag) => t.spans.some((s) => Object.hasOwn(s.attributes, tag.key) && (tag.value === undefined || String(s.attributes[tag.key]) === tag.value)))) continue;
      matched.push(t);
    }
    // Summaries (root span, sorted service list) only for what is returned.
    for (const t of matched.sort((a, b) => b.startUs - a.startUs).slice(0, limit)) out.push(summarize(t));
    return out;
  }

  /** stats returns the store's size and counters. */
  stats(): TraceStoreStats {
    return { traces: this.traces.size, spans: this.spanCount, received: this.received, droppedSpans: this.dropped, evictedTraces: this.evicted, expiredTraces: this.expired };
  }
}

function summarize(t: Trace): TraceSummary {
  let start = Infinity;
  let end = -Infinity;
  let root: StoredSpan | undefined;
  const services = new Set<string>();
  let error = false;
  for (const s of t.spans) {
    start = Math.min(start, s.startUs);
    end = Math.max(end, s.startUs + s.durationUs);
    services.add(s.service);
    error ||= s.error;
    const isRoot = !s.parentSpanId || !t.ids.has(s.parentSpanId);
    if (isRoot && (!root || s.startUs < root.startUs)) root = s;
  }
  return {
    traceId: t.traceId,
    rootName: root?.name ?? '',
    rootService: root?.service ?? '',
    startUs: Number.isFinite(start) ? start : 0,
    durationUs: Number.isFinite(end) ? end - start : 0,
    spanCount: t.spans.length,
    services: [...services].sort(),
    error,
    droppedSpans: t.droppedSpans,
  };
}
