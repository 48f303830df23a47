/**
 * Ingestion (issue 7 item 1, mixer side): telemetry batches from the MESH_TELEMETRY stream into
 * mixer's metrics and graph, exactly once in effect.
 *
 * - The stream is created when missing (limits retention: max age and bytes).
 * - One durable pull consumer is shared by every replica: JetStream hands each batch to one of
 *   them (work sharing like a queue group); explicit acks.
 * - A batch's ack waits for the checkpoint that contains its effect: every `checkpointMs` the
 *   replica writes its whole state (metrics, graph, applied (sender, seq) window) to KV and only
 *   then acks the batches applied since the previous checkpoint. A crash loses only un-acked
 *   batches, which JetStream redelivers; a restarted replica (same --replica-name) resumes from
 *   its checkpoint, so counters continue exactly where the acked batches left them.
 * - A redelivered batch whose (sender, seq) is in the restored window — the crash fell between
 *   checkpoint and ack — is acked without being applied again.
 *
 * Throughput: a checkpoint's KV writes and acks wait for replies that arrive on the same
 * connection as the batches, behind every byte the server already sent, so the pull is kept
 * shallow (`fetchBatch`): the deeper that buffer, the longer each checkpoint round trip, and
 * batches wait un-acked for longer (up to max_ack_pending, when JetStream stops delivering). Only
 * the reply subject of an applied batch is kept until its ack, not the message and its payload.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, Histogram } from 'prom-client';
import { TELEMETRY_SUBJECTS } from '@meshwork/bus';
import { decodeWireBatch, WireIntern } from '@meshwork/telemetry';
import type { CheckpointStore } from './checkpoint.js';
import { SeqWindow, type DedupeSnapshot } from './dedupe.js';
import { IngestSetupError } from './errors.js';
import type { MixerLog, RecordFeed } from './extension.js';
import type { MixerMetrics, MixerMetricsSnapshot } from './mixer-metrics.js';
import type { TopologySnapshot, TopologyStore } from './topology.js';

/** Options of Ingestor. */
export interface IngestOptions {
  readonly nc: NatsConnection;
  readonly stream: string;
  readonly consumer: string;
  /** Used only when the stream is created. */
  readonly streamMaxAgeMs: number;
  readonly streamMaxBytes: number;
  /** Used only when the consumer is created. */
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
  /** Most batches delivered ahead of the one being applied (the pull's max_messages): bounds the wait of a checkpoint's round trips, and memory. */
  readonly fetchBatch: number;
  /** How often state is checkpointed and the batches it covers acked. Must be well under ackWaitMs. */
  readonly checkpointMs: number;
  readonly checkpoints: CheckpointStore;
  readonly dedupeWindow: number;
  readonly metrics: MixerMetrics;
  readonly topology: TopologyStore;
  readonly feed: RecordFeed;
  readonly log: MixerLog;
  /** How often the consumer's num_pending is read for the lag gauge. Default 2 s. */
  readonly lagPollMs?: number;
}

/** The state a checkpoint holds. */
interface CheckpointState {
  readonly v: 1;
  readonly metrics: MixerMetricsSnapshot;
  readonly topology: TopologySnapshot;
  readonly dedupe: DedupeSnapshot;
}

const NS_PER_MS = 1_000_000;
/** JetStream's positive acknowledgement, published to a delivered message's reply subject (what JsMsg.ack() sends). */
const ACK = new TextEncoder().encode('+ACK');

/** Ingestor returns the consume loop: start() sets up stream, consumer and state; stop() drains and acks. */
export class Ingestor {
  private readonly dedupe: SeqWindow;
  /** Equal peers and services decode to one object across batches: the metrics' and graph's caches key on them. */
  private readonly intern = new WireIntern();
  /**
   * The batches applied since the last checkpoint: their reply (ack) subjects, as a JsMsg would
   * keep its payload alive until the ack (hundreds of MB at max_ack_pending); the message itself
   * only if the client did not expose the subject.
   */
  private unacked: (string | JsMsg)[] = [];
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> | undefined;
  private stopped = false;
  private jsm: JetStreamManager | undefined;
  running = false;
  /** Checkpoints written, and failed (a failed checkpoint leaves its batches un-acked: they are redelivered). */
  checkpointsWritten = 0;
  checkpointsFailed = 0;

  private readonly checkpointSeconds: Histogram;

  constructor(private readonly o: IngestOptions) {
    this.dedupe = new SeqWindow(o.dedupeWindow);
    const registers = [o.metrics.registry];
    const written = (): number => this.checkpointsWritten;
    const failed = (): number => this.checkpointsFailed;
    new Counter({
      name: 'mixer_checkpoints_total',
      help: 'State checkpoints of this replica process, by result (a failed one leaves its batches un-acked, to be redelivered).',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'ok' }, written());
        this.inc({ result: 'failed' }, failed());
      },
    });
    this.checkpointSeconds = new Histogram({ name: 'mixer_checkpoint_duration_seconds', help: 'Time to snapshot, write and ack one checkpoint.', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers });
  }

  /** start ensures the stream and the durable consumer, restores the last checkpoint, and starts consuming. */
  async start(): Promise<void> {
    const o = this.o;
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(o.nc);
    } catch (err) {
      throw new IngestSetupError(`JetStream is not available on this NATS server (start nats-server with -js): ${(err as Error).message}`, { cause: err });
    }
    this.jsm = jsm;
    await this.ensureStream(jsm);
    await this.ensureConsumer(jsm);
    const state = (await o.checkpoints.load()) as CheckpointState | undefined;
    if (state && state.v === 1) {
      o.metrics.restore(state.metrics);
      o.topology.restore(state.topology);
      this.dedupe.restore(state.dedupe);
      o.log.info({ ingested: state.metrics.counts.ingested, senders: this.dedupe.size }, 'restored from checkpoint');
    }
    const consumer = await jetstream(o.nc).consumers.get(o.stream, o.consumer);
    // Bounded in messages, not bytes: with max_bytes, a trickle of batches (20,000 records/s from
    // 8 publishers) left pulls stalled for up to their 30 s expiry (bench lag p99 ≥ 30 s).
    const messages = await consumer.consume({ max_messages: o.fetchBatch });
    this.messages = messages;
    void this.watchStatus(messages);
    this.running = true;
    this.loop = (async () => {
      for await (const m of messages) {
        try {
          this.handle(m);
        } catch (err) {
          // A bug must not stop ingestion; the batch is acked with the next checkpoint.
          o.metrics.counts.invalid++;
          o.log.error({ err: (err as Error).message, subject: m.subject }, 'telemetry batch failed to apply');
        }
      }
    })().catch((err: unknown) => {
      if (!this.stopped) o.log.error({ err: (err as Error).message }, 'telemetry consumer stopped');
      this.running = false;
    });
    this.timer = setInterval(() => void this.checkpoint(), o.checkpointMs);
    this.lagTimer = setInterval(() => void this.pollLag(), o.lagPollMs ?? 2_000);
    void this.pollLag();
  }

  private async ensureStream(jsm: JetStreamManager): Promise<void> {
    const o = this.o;
    try {
      await jsm.streams.info(o.stream);
      return;
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw new IngestSetupError(`cannot read stream ${o.stream}: ${(err as Error).message}`, { cause: err });
    }
    try {
      await jsm.streams.add({
        name: o.stream,
        subjects: [TELEMETRY_SUBJECTS],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: o.streamMaxAgeMs * NS_PER_MS,
        max_bytes: o.streamMaxBytes,
        // Publishers retry with the same message id; two minutes (JetStream's default) covers it.
        duplicate_window: 120_000 * NS_PER_MS,
      });
      o.log.info({ stream: o.stream, subjects: TELEMETRY_SUBJECTS, maxAgeMs: o.streamMaxAgeMs, maxBytes: o.streamMaxBytes }, 'telemetry stream created');
    } catch (err) {
      // Another replica may have created it at the same moment.
      if (!/already in use|exists/i.test((err as Error).message)) throw new IngestSetupError(`cannot create stream ${o.stream}: ${(err as Error).message}`, { cause: err });
    }
  }

  private async ensureConsumer(jsm: JetStreamManager): Promise<void> {
    const o = this.o;
    try {
      await jsm.consumers.info(o.stream, o.consumer);
      return;
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw new IngestSetupError(`cannot read consumer ${o.stream}/${o.consumer}: ${(err as Error).message}`, { cause: err });
    }
    try {
      await jsm.consumers.add(o.stream, { durable_name: o.consumer, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: o.ackWaitMs * NS_PER_MS, max_ack_pending: o.maxAckPending, filter_subject: TELEMETRY_SUBJECTS });
      o.log.info({ stream: o.stream, consumer: o.consumer, ackWaitMs: o.ackWaitMs, maxAckPending: o.maxAckPending }, 'telemetry consumer created');
    } catch (err) {
      if (!/already in use|exists/i.test((err as Error).message)) throw new IngestSetupError(`cannot create consumer ${o.stream}/${o.consumer}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** handle applies one delivered batch (unless already applied) and queues its ack for the next checkpoint. */
  private handle(m: JsMsg): void {
    const o = this.o;
    const c = o.metrics.counts;
    if (m.redelivered) c.redelivered++;
    // JsMsg's implementation has the reply subject JsMsg.ack() publishes to; its type does not say so.
    const reply = (m as { reply?: unknown }).reply;
    this.unacked.push(typeof reply === 'string' && reply !== '' ? reply : m);
    const d = decodeWireBatch(m.data, this.intern);
    if (!d.ok) {
      c.invalid++;
      o.log.warn({ subject: m.subject, errors: d.errors.slice(0, 3) }, 'telemetry batch not readable; skipped');
      return;
    }
    const { header, records, errors } = d.value;
    if (this.dedupe.seen(header.sender, header.seq)) {
      c.duplicates++;
      return;
    }
    for (const r of records) {
      o.metrics.istio.record(r);
      o.topology.add(r);
    }
    c.ingested += records.length;
    c.batches++;
    c.invalid += errors.length;
    o.metrics.addDropped(header.namespace, header.workload, header.droppedDelta);
    o.metrics.lagSeconds.observe(Math.max(0, Date.now() - header.sentAt) / 1000);
    this.dedupe.mark(header.sender, header.seq);
    o.feed.emit(records, (err) => o.log.warn({ err: (err as Error).message }, 'record listener failed'));
    // Do not let un-acked batches approach max_ack_pending between timer ticks.
    if (this.unacked.length >= Math.max(1, Math.floor(o.maxAckPending / 2))) void this.checkpoint();
  }

  /** checkpoint writes the state and then acks every batch it covers; one at a time. */
  checkpoint(): Promise<void> {
    if (this.checkpointing) return this.checkpointing;
    if (this.unacked.length === 0) return Promise.resolve();
    // The snapshot and the list of batches it covers are taken together, synchronously.
    const covered = this.unacked;
    this.unacked = [];
    const end = this.checkpointSeconds.startTimer();
    const t0 = performance.now();
    const state: CheckpointState = { v: 1, metrics: this.o.metrics.snapshot(), topology: this.o.topology.snapshot(), dedupe: this.dedupe.snapshot() };
    this.checkpointing = (async () => {
      try {
        await this.o.checkpoints.save(state);
        this.checkpointsWritten++;
        const nc = this.o.nc;
        for (const x of covered) {
          if (typeof x === 'string') nc.publish(x, ACK);
          else x.ack();
        }
        const seconds = end();
        this.o.log.debug({ seconds, batches: covered.length }, 'checkpoint written and its batches acked');
      } catch (err) {
        // Their effect is still in memory: the next checkpoint that succeeds covers them, so they
        // are acked then (if ack_wait expires first, JetStream redelivers them and the window
        // recognises them as applied).
        this.unacked = covered.concat(this.unacked);
        // During a long outage redeliveries add new handles for the same batches: keep the newest.
        const cap = 4 * this.o.maxAckPending;
        if (this.unacked.length > cap) this.unacked = this.unacked.slice(-cap);
        this.checkpointsFailed++;
        this.o.log.warn({ err: (err as Error).message, batches: covered.length, ms: Math.round(performance.now() - t0) }, 'checkpoint failed; its batches stay un-acked until the next checkpoint');
      } finally {
        this.checkpointing = undefined;
      }
    })();
    return this.checkpointing;
  }

  /**
   * watchStatus logs the pull's status events: the client's view of a stalled pull (heartbeats
   * missed, 409s such as exceeded limits, a deleted consumer) at info; the routine ones (each new
   * pull, heartbeats, and a pull expiring unfilled: a 408 and its "discard" every 30 s when idle)
   * only counted, at debug every 100.
   */
  private async watchStatus(messages: ConsumerMessages): Promise<void> {
    let routine = 0;
    try {
      for await (const s of messages.status()) {
        if (s.type === 'next' || s.type === 'heartbeat' || s.type === 'discard' || (s.type === 'debug' && s.code === 408)) {
          if (++routine % 100 === 0) this.o.log.debug({ events: routine }, 'telemetry pull: routine status events');
          continue;
        }
        this.o.log.info({ status: s, unacked: this.unacked.length }, 'telemetry pull status');
      }
    } catch {
      // the iterator ends with the consumer
    }
  }

  private async pollLag(): Promise<void> {
    if (!this.jsm || this.stopped) return;
    try {
      const info = await this.jsm.consumers.info(this.o.stream, this.o.consumer);
      this.o.metrics.pending.set(info.num_pending);
      this.o.metrics.ackPending.set(info.num_ack_pending);
    } catch {
      // NATS away: the gauge keeps its last value; ingestion itself reports the outage.
    }
  }

  /** stop stops pulling, lets the batches already delivered be applied, writes a last checkpoint and acks. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.lagTimer);
    // close() returns undelivered buffered messages to the server (they are redelivered elsewhere).
    await this.messages?.close();
    await this.loop;
    this.running = false;
    await this.checkpointing;
    await this.checkpoint();
    // the acks of the last checkpoint are only published: make sure the server has them
    await this.o.nc.flush();
  }
}
