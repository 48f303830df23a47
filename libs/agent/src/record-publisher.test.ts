import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { TELEMETRY_STREAM, TELEMETRY_SUBJECTS } from '@meshwork/bus';
import { decodeWireBatch, encodeWireBatch, type BatchHeader, type PublisherTimers, type RequestRecord } from '@meshwork/telemetry';
import { sampleHttpRecord } from '@meshwork/telemetry/testing';
import { EncodedRecords, RecordPublisher } from './record-publisher.js';

/** Timers that never fire on their own: tests flush explicitly. */
const manualTimers: PublisherTimers = { setTimeout: () => 0, clearTimeout: () => undefined };

describe('RecordPublisher (injected publish)', () => {
  it('batches by size, numbers batches 1, 2, … and names the sender and subject', async () => {
    const sent: { subject: string; header: BatchHeader; n: number; msgId: string }[] = [];
    const p = new RecordPublisher({
      namespace: 'default',
      workload: 'reviews-v2',
      maxBatch: 3,
      timers: manualTimers,
      publish: async (subject, body, msgId) => {
        const d = decodeWireBatch(body);
        if (!d.ok) throw new Error(d.errors.join());
        sent.push({ subject, header: d.value.header, n: d.value.records.length, msgId });
      },
    });
    for (let i = 0; i < 7; i++) expect(p.offer(sampleHttpRecord())).toBe(true);
    await p.close();
    expect(sent.map((s) => [s.subject, s.header.seq, s.n])).toEqual([
      ['mesh.telemetry.default.reviews-v2', 1, 3],
      ['mesh.telemetry.default.reviews-v2', 2, 3],
      ['mesh.telemetry.default.reviews-v2', 3, 1],
    ]);
    expect(sent[0].header.sender).toBe(p.sender);
    expect(sent[0].msgId).toBe(`${p.sender}:1`);
    expect(p.published).toBe(7);
    expect(p.dropped).toBe(0);
  });

  it('never waits when NATS is stuck: drops the newest records beyond the buffer and reports them in the next batch', async () => {
    let release: () => void = () => undefined;
    const stuck = new Promise<void>((r) => (release = r));
    const headers: BatchHeader[] = [];
    const p = new RecordPublisher({
      namespace: 'ns',
      workload: 'w',
      maxBatch: 2,
      maxBuffered: 4,
      timers: manualTimers,
      publish: async (_s, body) => {
        const d = decodeWireBatch(body);
        if (d.ok) headers.push(d.value.header);
        if (headers.length === 1) await stuck;
      },
    });
    // first batch (2) goes out and hangs; 4 more fill the buffer; the next 3 are dropped
    const accepted = Array.from({ length: 9 }, (_, i) => p.offer(sampleHttpRecord({ requestId: String(i) })));
    expect(accepted).toEqual([true, true, true, true, true, true, false, false, false]);
    expect(p.dropped).toBe(3);
    release();
    await p.close();
    expect(headers.map((h) => [h.seq, h.droppedTotal, h.droppedDelta])).toEqual([
      [1, 0, 0],
      [2, 3, 3],
      [3, 3, 0],
    ]);
    expect(p.published).toBe(6);
  });

  it('counts a batch that fails every attempt as dropped and reports it with the next batch, and exposes the counters', async () => {
    let calls = 0;
    const registry = new Registry();
    const headers: BatchHeader[] = [];
    const p = new RecordPublisher({
      namespace: 'ns',
      workload: 'w',
      maxBatch: 2,
      attempts: 2,
      timers: manualTimers,
      registry,
      publish: async (_s, body) => {
        calls++;
        if (calls <= 2) throw new Error('nats: timeout');
        const d = decodeWireBatch(body);
        if (d.ok) headers.push(d.value.header);
      },
    });
    p.offer(sampleHttpRecord());
    p.offer(sampleHttpRecord());
    await p.flush();
    p.offer(sampleHttpRecord());
    await p.close();
    expect(headers.map((h) => [h.seq, h.droppedTotal, h.droppedDelta])).toEqual([[2, 2, 2]]);
    const text = await registry.metrics();
    expect(text).toContain('sidecar_telemetry_records_dropped_total 2');
    expect(text).toContain('sidecar_telemetry_records_published_total 1');
  });
});

describe('RecordPublisher (malformed records)', () => {
  it('drops and counts a record it cannot encode, without throwing at the proxy', async () => {
    const bodies: Uint8Array[] = [];
    const p = new RecordPublisher({ namespace: 'ns', workload: 'w', timers: manualTimers, publish: async (_s, body) => void bodies.push(body) });
    const broken = { ...sampleHttpRecord(), source: undefined } as unknown as RequestRecord;
    expect(p.offer(sampleHttpRecord({ requestId: 'a' }))).toBe(true);
    expect(p.offer(broken)).toBe(false);
    expect(p.offer(sampleHttpRecord({ requestId: 'b' }))).toBe(true);
    await p.close();
    expect(p.dropped).toBe(1);
    const d = decodeWireBatch(bodies[0]);
    expect(d.ok && d.value.records.map((r) => r.requestId)).toEqual(['a', 'b']);
    expect(d.ok && d.value.header.droppedTotal).toBe(1);
  });
});

describe('EncodedRecords', () => {
  const header = (seq: number): BatchHeader => ({ sender: 'ns/w/boot', seq, namespace: 'ns', workload: 'w', droppedTotal: 0, droppedDelta: 0, sentAt: 1_764_000_000_000 });
  const decode = (body: Uint8Array): RequestRecord[] => {
    const d = decodeWireBatch(body);
    if (!d.ok) throw new Error(d.errors.join());
    expect(d.value.errors).toEqual([]);
    return d.value.records;
  };

  it('frames a batch into the body encodeWireBatch makes of the same records', () => {
    const peer = { workload: 'reviews-v2', namespace: 'default', app: 'reviews', version: 'v2' };
    const records = [
      sampleHttpRecord({ requestId: 'a' }),
      sampleHttpRecord({ requestId: 'b', destination: peer, path: '/ünïcode?q="quoted"\\', userAgent: 'curl/8\u0001' }),
      sampleHttpRecord({ requestId: 'c', destination: peer, responseCode: 503, responseFlags: 'UH' }),
    ];
    const store = new EncodedRecords(1000);
    for (const r of records) store.push(r);
    expect(store.size).toBe(3);
    const body = store.body(header(1), store.take(10));
    expect(store.size).toBe(0);
    expect(body.toString('utf8')).toBe(encodeWireBatch(header(1), records));
    expect(decode(body)).toEqual(records);
  });

  it('refuses a malformed record (push throws) without leaving any of its bytes: the batch is still what encodeWireBatch makes of the others', () => {
    const store = new EncodedRecords(1000);
    const good = [sampleHttpRecord({ requestId: 'a' }), sampleHttpRecord({ requestId: 'b' })];
    store.push(good[0]);
    // fails at its destination service, after its first ten slots were written
    expect(() => store.push({ ...sampleHttpRecord({ requestId: 'bad', path: '/half-written' }), destinationService: null } as unknown as RequestRecord)).toThrow(TypeError);
    store.push(good[1]);
    expect(store.size).toBe(2);
    const body = store.body(header(1), store.take(10));
    expect(decode(body)).toEqual(good);
    expect(body.toString('utf8')).not.toContain('bad');
  });

  it('takes the oldest records first; a partial take leaves the rest decodable with the same tables', () => {
    const store = new EncodedRecords(1000);
    const records = Array.from({ length: 7 }, (_, i) => sampleHttpRecord({ requestId: `r${i}`, path: `/p${i % 3}` }));
    for (const r of records.slice(0, 5)) store.push(r);
    const first = store.body(header(1), store.take(2));
    for (const r of records.slice(5)) store.push(r);
    const second = store.body(header(2), store.take(3));
    const third = store.body(header(3), store.take(3));
    expect(store.size).toBe(0);
    expect([decode(first), decode(second), decode(third)]).toEqual([records.slice(0, 2), records.slice(2, 5), records.slice(5)]);
  });

  it('gives every batchSize records their own tables, so a backlog does not grow every message', () => {
    const store = new EncodedRecords(3);
    const records = Array.from({ length: 7 }, (_, i) => sampleHttpRecord({ requestId: `r${i}`, routeName: `route-${i}` }));
    for (const r of records) store.push(r);
    const bodies = [store.take(3), store.take(3), store.take(3)].map((b, i) => store.body(header(i + 1), b).toString('utf8'));
    expect(store.size).toBe(0);
    expect(bodies).toEqual([encodeWireBatch(header(1), records.slice(0, 3)), encodeWireBatch(header(2), records.slice(3, 6)), encodeWireBatch(header(3), records.slice(6))]);
    expect(bodies[1]).not.toContain('route-0');
  });

  it('ends a batch at maxBytes of records and tables as at batchSize (NATS refuses messages above max_payload)', () => {
    const store = new EncodedRecords(1000, 4096);
    // ~1 KB each, in the string table (a path) or ~0.5 KB in the record (x-forwarded-for)
    const records = Array.from({ length: 16 }, (_, i) => sampleHttpRecord({ requestId: `b${i}`, ...(i < 6 ? { path: `/${'y'.repeat(900)}${i}` } : { xForwardedFor: `${'10.0.0.1, '.repeat(24)}${i}` }) }));
    for (const r of records) store.push(r);
    const bodies: Buffer[] = [];
    while (store.size > 0) bodies.push(store.body(header(bodies.length + 1), store.take(1000)));
    expect(bodies.flatMap((b) => decode(b).map((r) => r.requestId))).toEqual(records.map((r) => r.requestId));
    expect(bodies.length).toBeGreaterThanOrEqual(3);
    // a batch ends with the record that reaches the limit
    for (const b of bodies) expect(b.length).toBeLessThan(4096 + 1500);
  });

  it('starts fresh tables once everything waiting was taken, and grows past its first buffer', () => {
    const store = new EncodedRecords(1000);
    store.push(sampleHttpRecord({ requestId: 'old', routeName: 'only-in-the-first-batch' }));
    decode(store.body(header(1), store.take(1)));
    // 400 records of ~400 bytes: more than twice the initial 64 KB buffer (and below a batch's 512 KB)
    const many = Array.from({ length: 400 }, (_, i) => sampleHttpRecord({ requestId: `n${i}`, xForwardedFor: `${'10.0.0.1, '.repeat(24)}${i}` }));
    for (const r of many) store.push(r);
    const body = store.body(header(2), store.take(1000));
    expect(body.toString('utf8')).not.toContain('only-in-the-first-batch');
    expect(decode(body)).toEqual(many);
  });
});

describe('RecordPublisher (real nats-server)', () => {
  let srv: NatsServerHandle;
  beforeAll(async () => {
    srv = await startNatsServer();
  });
  afterAll(async () => {
    await srv.stop();
  });

  it('publishes batches into the MESH_TELEMETRY stream, stored once each', async () => {
    const nc = await connect({ servers: srv.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: TELEMETRY_STREAM, subjects: [TELEMETRY_SUBJECTS] });
    const p = new RecordPublisher({ nc, namespace: 'default', workload: 'productpage-v1', maxBatch: 10 });
    for (let i = 0; i < 25; i++) p.offer(sampleHttpRecord({ requestId: `r${i}` }));
    await p.close();
    const info = await jsm.streams.info(TELEMETRY_STREAM);
    expect(info.state.messages).toBe(3);
    const c = await jetstream(nc).consumers.get(TELEMETRY_STREAM);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await c.next({ expires: 5000 });
      expect(m?.subject).toBe('mesh.telemetry.default.productpage-v1');
      if (!m) throw new Error('batch missing');
      const d = decodeWireBatch(m.data);
      if (d.ok) ids.push(...d.value.records.map((r) => r.requestId ?? ''));
    }
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => `r${i}`));
    expect(p.dropped).toBe(0);
    await nc.close();
  });
});
