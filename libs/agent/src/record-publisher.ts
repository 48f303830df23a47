/**
 * The sidecar's feed to mixer (issue 7 item 1): every finished request / TCP event the proxy
 * records is offered here, batched, and published to JetStream on
 * `mesh.telemetry.<ns>.<workload>` as a record-wire batch. Nothing on the request path waits:
 * `offer` appends to a bounded buffer and returns.
 *
 * When NATS is slow or away the buffer fills and NEW records are dropped (counted), as Envoy's
 * buffered access-log/metrics sinks and OpenTelemetry's BatchSpanProcessor do: what is already
 * queued is kept and sent in order, and a drop costs O(1). Each batch carries the sender's drop
 * counts in its header, so mixer can report the loss it never saw.
 *
 * A record is encoded (record-wire v2, WireBatchEncoder.write) the moment it is offered, straight
 * into one byte buffer, and the object is let go. Kept as objects until their batch was encoded (up to a
 * batch of records or a second), records outlived the sidecar's small young generation: the garbage
 * collector copied, promoted and marked every one, and that cost the sidecar more than encoding
 * and sending them (docs/telemetry.md, Performance).
 */
import { randomUUID } from 'node:crypto';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import { telemetrySubject } from '@meshwork/bus';
import { BufferedPublisher, JsonWriter, WireBatchEncoder, type BatchHeader, type BatchStore, type PublisherTimers, type RequestRecord } from '@meshwork/telemetry';

/** Publishes one encoded batch (a record-wire body); resolves once the stream has stored it. `msgId` lets JetStream drop a retried duplicate. */
export type BatchPublish = (subject: string, body: Uint8Array, msgId: string) => Promise<void>;

const INITIAL_BYTES = 64 * 1024;
/**
 * About the most bytes of one batch's records and tables (as characters: non-ASCII text takes more):
 * NATS refuses a message above the server's max_payload (1 MB by default), and records with long,
 * varied paths, user agents or forwarded-for lists are several times the usual ~200 bytes.
 */
const MAX_BATCH_BYTES = 512 * 1024;
const COMMA = 0x2c;

/** A batch taken from EncodedRecords: its records' v2 texts (UTF-8), comma-separated, and the encoder whose tables they refer to. */
export interface EncodedBatch {
  readonly records: Uint8Array;
  readonly encoder: WireBatchEncoder;
}

/**
 * EncodedRecords keeps waiting records as v2 record texts, each followed by a comma, in one byte
 * buffer (WireBatchEncoder.write puts them there directly: no slot array, string or copy per
 * record), with each record's end offset. Every `batchSize`
 * records (or `maxBytes` of them) start a new encoder, so a batch's tables hold its own records' entries only (as
 * encodeWireBatch's do) however many records wait behind it: a frame carries its whole tables,
 * and tables shared across a backlog would grow every message of it.
 */
export class EncodedRecords implements BatchStore<RequestRecord, EncodedBatch> {
  private readonly out = new JsonWriter(INITIAL_BYTES);
  /** Where each waiting record's text ends (its comma follows). */
  private readonly ends: number[] = [];
  /** The encoders of the waiting records, oldest first, with how many records each still has waiting; the last one takes new records until it has batchSize records or maxBytes of records and tables. */
  private readonly segments: { encoder: WireBatchEncoder; waiting: number; encoded: number; bytes: number }[] = [];

  constructor(
    private readonly batchSize: number,
    private readonly maxBytes = MAX_BATCH_BYTES,
  ) {}

  get size(): number {
    return this.ends.length;
  }

  push(r: RequestRecord): void {
    let seg = this.segments.at(-1);
    if (seg === undefined || seg.encoded >= this.batchSize || seg.bytes + seg.encoder.tableChars >= this.maxBytes) this.segments.push((seg = { encoder: new WireBatchEncoder(), waiting: 0, encoded: 0, bytes: 0 }));
    const start = this.out.used;
    // A malformed record throws here with nothing written (BufferedPublisher drops and counts it).
    seg.encoder.write(r, this.out);
    this.ends.push(this.out.used);
    this.out.byte(COMMA);
    seg.waiting++;
    seg.encoded++;
    seg.bytes += this.out.used - start;
  }

  /**
   * take returns the oldest records (at most `max`, and only of one encoder) with their encoder.
   * When it empties the store, the bytes are a view of the store's buffer, valid until the next
   * push: body() copies them into the message. (One copy per batch instead of three: at tens of
   * thousands of records a second, each ~100 KB copy is external memory V8 counts towards its
   * next full collection.)
   */
  take(max: number): EncodedBatch {
    const seg = this.segments[0];
    const ends = this.ends;
    const n = Math.min(max, ends.length, seg?.waiting ?? 0);
    const end = n > 0 ? ends[n - 1] : 0;
    const encoder = seg?.encoder ?? new WireBatchEncoder();
    if (seg !== undefined && (seg.waiting -= n) === 0) this.segments.shift();
    const out = this.out;
    if (n === ends.length) {
      const records = out.bytes.subarray(0, end);
      ends.length = 0;
      out.used = 0;
      // A backlog (NATS slow or away) grew the buffer; give the memory back once it is drained (the view keeps the old one).
      if (out.bytes.length > 16 * INITIAL_BYTES) out.bytes = new Uint8Array(INITIAL_BYTES);
      return { records, encoder };
    }
    // Records stay behind: they move to the front, so the batch is copied out first.
    const records = out.bytes.slice(0, end);
    const from = end + 1;
    out.bytes.copyWithin(0, from, out.used);
    out.used -= from;
    ends.splice(0, n);
    for (let i = 0; i < ends.length; i++) ends[i] -= from;
    return { records, encoder };
  }

  /** body returns the record-wire body of a batch taken from this store: call it before the next push. */
  body(header: BatchHeader, batch: EncodedBatch): Buffer {
    const { head, tail } = batch.encoder.frame(header);
    const headBytes = Buffer.byteLength(head);
    const out = Buffer.allocUnsafe(headBytes + batch.records.length + Buffer.byteLength(tail));
    out.write(head, 0);
    out.set(batch.records, headBytes);
    out.write(tail, headBytes + batch.records.length);
    return out;
  }
}

/** Options of RecordPublisher. */
export interface RecordPublisherOptions {
  /** NATS connection (JetStream publishes with stream acks); or give `publish` instead. */
  readonly nc?: NatsConnection;
  /** Replaces the JetStream publish (tests). */
  readonly publish?: BatchPublish;
  readonly namespace: string;
  readonly workload: string;
  /** Most records waiting; newer ones are dropped beyond it. Default 10,000. */
  readonly maxBuffered?: number;
  /**
   * Most records per batch (a full batch is published at once; a batch also ends at about 512 KB
   * of records and tables). Default 2,000: each JetStream publish has a fixed cost (a socket write and an ack to
   * read, ~0.6 ms of CPU on the bench host whatever the size), which 500-record batches paid
   * six times a second at 3,000 requests/s.
   */
  readonly maxBatch?: number;
  /** Longest a record waits for its batch. Default 1,000 ms. */
  readonly flushIntervalMs?: number;
  /** How long one publish waits for the stream's ack. Default 5,000 ms. */
  readonly publishTimeoutMs?: number;
  /** Attempts per batch (same message id, so the stream keeps one copy). Default 2. */
  readonly attempts?: number;
  /** Where the sidecar_telemetry_* metrics are registered (the sidecar's /stats/prometheus registry). */
  readonly registry?: Registry;
  /** Called when a batch could not be published after every attempt (it is counted as dropped). */
  readonly onError?: (err: unknown, records: number) => void;
  readonly timers?: PublisherTimers;
  readonly now?: () => number;
}

/**
 * RecordPublisher returns the sidecar's non-blocking record feed: `offer` a record, `close` on
 * shutdown to flush. `dropped` counts every record lost (buffer full, after close, or in a batch
 * that could not be published).
 */
export class RecordPublisher {
  /** `<ns>/<workload>/<boot id>`: unique per process, so a restart starts a fresh sequence. */
  readonly sender: string;
  private readonly buffer: BufferedPublisher<RequestRecord, EncodedBatch>;
  private readonly store: EncodedRecords;
  private readonly subject: string;
  private readonly publish: BatchPublish;
  private readonly attempts: number;
  private readonly now: () => number;
  private seq = 0;
  /** Drops already carried by a batch the stream stored. */
  private reportedDropped = 0;
  /** Batches the stream stored. */
  batchesPublished = 0;

  constructor(private readonly o: RecordPublisherOptions) {
    this.sender = `${o.namespace}/${o.workload}/${randomUUID().slice(0, 8)}`;
    this.subject = telemetrySubject(o.namespace, o.workload);
    this.attempts = Math.max(1, o.attempts ?? 2);
    this.now = o.now ?? Date.now;
    if (o.publish) this.publish = o.publish;
    else if (o.nc) this.publish = jetStreamPublish(jetstream(o.nc), o.publishTimeoutMs ?? 5_000);
    else throw new TypeError('RecordPublisher needs nc or publish');
    const maxBatch = o.maxBatch ?? 2_000;
    this.store = new EncodedRecords(Math.max(1, maxBatch));
    this.buffer = new BufferedPublisher<RequestRecord, EncodedBatch>({
      store: this.store,
      sink: (batch) => this.send(batch),
      maxBuffered: o.maxBuffered ?? 10_000,
      maxBatch,
      flushIntervalMs: o.flushIntervalMs ?? 1_000,
      ...(o.onError ? { onError: o.onError } : {}),
      ...(o.timers ? { timers: o.timers } : {}),
    });
    if (o.registry) this.register(o.registry);
  }

  /** offer queues one record; false when it was dropped. Never waits. */
  offer(r: RequestRecord): boolean {
    return this.buffer.offer(r);
  }

  /** Records dropped so far. */
  get dropped(): number {
    return this.buffer.dropped;
  }

  /** Records the stream has stored. */
  get published(): number {
    return this.buffer.published;
  }

  /** Records waiting in the buffer. */
  get buffered(): number {
    return this.buffer.buffered;
  }

  /** flush publishes everything buffered. */
  flush(): Promise<void> {
    return this.buffer.flush();
  }

  /** close stops accepting records and publishes the rest (records offered afterwards are dropped). */
  close(): Promise<void> {
    return this.buffer.close();
  }

  /** send publishes one batch with its header; rejects (the buffer counts the batch dropped) when every attempt failed. */
  private async send(batch: EncodedBatch): Promise<void> {
    const seq = ++this.seq;
    const droppedTotal = this.buffer.dropped;
    const droppedDelta = droppedTotal - this.reportedDropped;
    // Framed before the first await: the batch's bytes may be a view of the store's buffer, which the next push overwrites.
    const body = this.store.body({ sender: this.sender, seq, namespace: this.o.namespace, workload: this.o.workload, droppedTotal, droppedDelta, sentAt: this.now() }, batch);
    let last: unknown;
    for (let i = 0; i < this.attempts; i++) {
      try {
        await this.publish(this.subject, body, `${this.sender}:${seq}`);
        this.reportedDropped = droppedTotal;
        this.batchesPublished++;
        return;
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  /**
   * register adds the sidecar_telemetry_* metrics to a registry (the sidecar's /stats/prometheus
   * one), for when the registry exists only after the publisher (startSidecar creates it).
   */
  register(registry: Registry): void {
    const registers = [registry];
    // collect() runs with the metric as `this`; read the publisher through closures.
    const dropped = (): number => this.dropped;
    const published = (): number => this.published;
    const buffered = (): number => this.buffered;
    new Counter({
      name: 'sidecar_telemetry_records_dropped_total',
      help: 'Request/TCP records not delivered to mixer: buffer full (NATS slow or away) or a batch NATS did not store.',
      registers,
      collect() {
        this.reset();
        this.inc(dropped());
      },
    });
    new Counter({
      name: 'sidecar_telemetry_records_published_total',
      help: 'Request/TCP records the MESH_TELEMETRY stream stored.',
      registers,
      collect() {
        this.reset();
        this.inc(published());
      },
    });
    new Gauge({
      name: 'sidecar_telemetry_records_buffered',
      help: 'Records waiting to be published to mixer.',
      registers,
      collect() {
        this.set(buffered());
      },
    });
  }
}

/** jetStreamPublish returns a BatchPublish over a JetStream client: waits for the stream's ack, message id for deduplication. */
function jetStreamPublish(js: JetStreamClient, timeout: number): BatchPublish {
  return async (subject, body, msgId) => {
    await js.publish(subject, body, { msgID: msgId, timeout });
  };
}
