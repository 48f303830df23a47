import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { telemetrySubject } from '@meshwork/bus';
import { encodeWireBatch, encodeWireBatchV1 } from '@meshwork/telemetry';
import { sampleHttpRecord } from '@meshwork/telemetry/testing';
import { kvCheckpointStore, type CheckpointStore } from './checkpoint.js';
import { RecordFeed } from './extension.js';
import { Ingestor } from './ingest.js';
import { MixerMetrics } from './mixer-metrics.js';
import { TopologyStore } from './topology.js';

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Logged = { level: string; o: Record<string, unknown>; m: string };
/** A MixerLog that keeps every line. */
function recordingLog(): { log: typeof silent; lines: Logged[] } {
  const lines: Logged[] = [];
  const at = (level: string) => (o: object, m: string) => void lines.push({ level, o: o as Record<string, unknown>, m });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

function ingestor(nc: NatsConnection, checkpoints: CheckpointStore, stream: string, over: { ackWaitMs?: number; log?: typeof silent } = {}) {
  const metrics = new MixerMetrics();
  const ing = new Ingestor({
    nc,
    stream,
    consumer: 'mixer',
    streamMaxAgeMs: 3_600_000,
    streamMaxBytes: 64 * 1024 * 1024,
    ackWaitMs: over.ackWaitMs ?? 30_000,
    maxAckPending: 1000,
    fetchBatch: 50,
    checkpointMs: 100,
    checkpoints,
    dedupeWindow: 1000,
    metrics,
    topology: new TopologyStore(),
    feed: new RecordFeed(),
    log: over.log ?? silent,
    lagPollMs: 200,
  });
  return { ing, metrics };
}

const body = (seq: number, n: number, dd = 0) =>
  encodeWireBatch({ sender: 'default/productpage-v1/abcd', seq, namespace: 'default', workload: 'productpage-v1', droppedTotal: dd, droppedDelta: dd, sentAt: Date.now() }, Array.from({ length: n }, () => sampleHttpRecord({ startTime: Date.now() })));

describe('Ingestor (real nats-server)', () => {
  let srv: NatsServerHandle;
  let nc: NatsConnection;
  beforeAll(async () => {
    srv = await startNatsServer();
    nc = await connect({ servers: srv.url });
  });
  afterAll(async () => {
    await nc.close();
    await srv.stop();
  });

  it('creates the stream, applies each (sender, seq) once, adds reported drops, and a restart resumes from the checkpoint', async () => {
    const stream = 'T1';
    const store = await kvCheckpointStore(nc, 'state-t1', 'mixer', 'r1');
    const a = ingestor(nc, store, stream);
    await a.ing.start();
    const js = jetstream(nc);
    await js.publish(telemetrySubject('default', 'productpage-v1'), body(1, 10));
    await js.publish(telemetrySubject('default', 'productpage-v1'), body(2, 5, 3));
    // the same batch again (a publisher retry the stream did not deduplicate)
    await js.publish(telemetrySubject('default', 'productpage-v1'), body(2, 5, 3));
    await js.publish(telemetrySubject('default', 'productpage-v1'), 'not json');
    await until(() => a.metrics.counts.batches + a.metrics.counts.duplicates + a.metrics.counts.invalid >= 4, 'four deliveries');
    expect(a.metrics.counts).toMatchObject({ ingested: 15, batches: 2, duplicates: 1, invalid: 1 });
    expect(a.metrics.droppedTotal).toBe(3);
    await a.ing.stop();
    expect(a.ing.checkpointsWritten).toBeGreaterThan(0);

    // a new life of the same replica: counters continue, nothing is applied twice
    const b = ingestor(nc, await kvCheckpointStore(nc, 'state-t1', 'mixer', 'r1'), stream);
    await b.ing.start();
    expect(b.metrics.counts).toMatchObject({ ingested: 15, batches: 2 });
    await js.publish(telemetrySubject('default', 'productpage-v1'), body(3, 7));
    await until(() => b.metrics.counts.ingested === 22, '22 records');
    await until(() => b.ing.checkpointsWritten > 0, 'a checkpoint of the second life');
    const text = await b.metrics.registry.metrics();
    expect(text).toContain('mixer_records_ingested_total 22');
    expect(text).toContain('mixer_records_dropped_total{source_workload_namespace="default",source_workload="productpage-v1"} 3');
    expect(text).toMatch(/istio_requests_total\{reporter="destination",.*\} 22/);
    expect(text).toMatch(/mixer_checkpoints_total\{result="ok"\} [1-9]/);
    await b.ing.stop();
  });

  it('leaves batches un-acked when the checkpoint fails, so they are redelivered and counted once by the next replica life', async () => {
    const stream = 'T2';
    // the first test's stream holds the same subjects
    await (await jetstreamManager(nc)).streams.delete('T1');
    let fail = true;
    const real = await kvCheckpointStore(nc, 'state-t2', 'mixer', 'r1');
    const flaky: CheckpointStore = { load: () => real.load(), save: async (s) => (fail ? Promise.reject(new Error('kv away')) : real.save(s)) };
    const rec = recordingLog();
    const a = ingestor(nc, flaky, stream, { ackWaitMs: 1_000, log: rec.log });
    await a.ing.start();
    const js = jetstream(nc);
    for (let q = 1; q <= 4; q++) await js.publish(telemetrySubject('default', 'productpage-v1'), body(q, 10));
    await until(() => a.metrics.counts.ingested === 40, '40 records in the first life');
    await until(() => a.ing.checkpointsFailed > 0, 'a failed checkpoint');
    // logged with its batches and how long it took (a timeout after seconds reads differently from a refusal)
    expect(rec.lines.find((l) => l.level === 'warn' && /checkpoint failed/.test(l.m))?.o).toMatchObject({ err: 'kv away', batches: expect.any(Number), ms: expect.any(Number) });
    // "crash": stop consuming without a successful checkpoint; state in memory is lost
    await a.ing.stop();
    fail = false;
    const b = ingestor(nc, real, stream, { ackWaitMs: 1_000 });
    await b.ing.start();
    await until(() => b.metrics.counts.ingested === 40, '40 records redelivered to the second life');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(b.metrics.counts.ingested).toBe(40);
    expect(b.metrics.counts.redelivered).toBeGreaterThan(0);
    await b.ing.stop();
  });

  it('reads v1 and v2 batches alike, and acks every applied batch at the checkpoint (by its reply subject)', async () => {
    const stream = 'T3';
    await (await jetstreamManager(nc)).streams.delete('T2').catch(() => undefined);
    const rec = recordingLog();
    const a = ingestor(nc, await kvCheckpointStore(nc, 'state-t3', 'mixer', 'r1'), stream, { log: rec.log });
    await a.ing.start();
    const js = jetstream(nc);
    for (let q = 1; q <= 4; q++) await js.publish(telemetrySubject('default', 'productpage-v1'), body(q, 20));
    // a sidecar from before wire v2
    const old = encodeWireBatchV1({ sender: 'default/reviews-v1/old', seq: 1, namespace: 'default', workload: 'reviews-v1', droppedTotal: 0, droppedDelta: 0, sentAt: Date.now() }, Array.from({ length: 20 }, () => sampleHttpRecord({ startTime: Date.now() })));
    await js.publish(telemetrySubject('default', 'reviews-v1'), old);
    await until(() => a.metrics.counts.ingested === 100, '100 records');
    expect(a.metrics.counts.invalid).toBe(0);
    expect(await a.metrics.registry.metrics()).toMatch(/istio_requests_total\{reporter="destination",.*\} 100/);
    const jsm = await jetstreamManager(nc);
    await until(() => a.ing.checkpointsWritten > 0, 'a checkpoint');
    let info = await jsm.consumers.info(stream, 'mixer');
    for (const end = Date.now() + 5_000; info.num_ack_pending > 0 && Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 50));
      info = await jsm.consumers.info(stream, 'mixer');
    }
    expect([info.num_ack_pending, info.ack_floor.stream_seq]).toEqual([0, 5]);
    // each checkpoint logs its duration and the batches it acked (debug): together, the five
    const written = rec.lines.filter((l) => l.level === 'debug' && /checkpoint written/.test(l.m));
    expect(written.every((l) => typeof l.o.seconds === 'number')).toBe(true);
    expect(written.reduce((n, l) => n + (l.o.batches as number), 0)).toBe(5);
    await a.ing.stop();
  });
});
