/**
 * Issue 7 "done when" (1): publishers (the sidecar's RecordPublisher) + a real nats-server + two
 * real mixer replicas sharing one durable consumer: after the traffic, mixer's Istio metrics and
 * graph edges match what was sent exactly, and the dropped counter explains the difference for
 * the workload whose buffer overflowed. Each replica applies a share of the batches (one replica
 * frozen for a moment holds its share un-acked, which the other's consumer gauges show), and the
 * lag histogram observes every batch once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { until } from './support.js';
import { metricSum, peer, request, scrape, startMixer, workloadPublisher, type RunningMixer } from './mixer-support.js';

describe('mixer: records → Istio metrics and graph (two replicas, one consumer)', () => {
  let nats: NatsServerHandle;
  let mixers: RunningMixer[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    // The first replica creates the stream and the consumer; the second joins the same consumer.
    mixers = [await startMixer(nats.url, ['--replica-name', 'm1'])];
    mixers.push(await startMixer(nats.url, ['--replica-name', 'm2']));
  }, 60_000);

  afterAll(async () => {
    for (const m of mixers) expect(await m.stop()).toBe(0);
    await nats?.stop();
  });

  it('counts every published record once, exactly, and reports the dropped ones', async () => {
    const productpage = peer('productpage', 'v1');
    const reviews1 = peer('reviews', 'v1');
    const reviews2 = peer('reviews', 'v2');
    const ratings = peer('ratings', 'v1');
    const details = peer('details', 'v1');
    // Each destination's sidecar reports its inbound requests; productpage reports its outbound ones.
    const pubs = {
      reviews1: await workloadPublisher(nats.url, 'default', 'reviews-v1', { maxBatch: 25, flushIntervalMs: 100 }),
      reviews2: await workloadPublisher(nats.url, 'default', 'reviews-v2', { maxBatch: 25, flushIntervalMs: 100 }),
      ratings: await workloadPublisher(nats.url, 'default', 'ratings-v1', { maxBatch: 25, flushIntervalMs: 100 }),
      productpage: await workloadPublisher(nats.url, 'default', 'productpage-v1', { maxBatch: 25, flushIntervalMs: 100 }),
      // a small buffer offered 500 records at once: the first batch (50) is in flight, 100 wait, 350 are dropped
      details: await workloadPublisher(nats.url, 'default', 'details-v1', { maxBatch: 50, maxBuffered: 100, flushIntervalMs: 100 }),
    };
    // m2 frozen (SIGSTOP) while the batches arrive: those its pending pull is handed stay un-acked,
    // so m1's reading of the shared consumer shows them (mixer_consumer_ack_pending_messages > 0)
    // until m2 resumes; after that both gauges must come back to 0 (asserted below).
    mixers[1].proc.kill('SIGSTOP');
    let heldByFrozen = 0;
    try {
      for (let i = 0; i < 300; i++) pubs.reviews1.publisher.offer(request(productpage, reviews1, 200, 5 + (i % 20)));
      for (let i = 0; i < 250; i++) pubs.reviews2.publisher.offer(request(productpage, reviews2, i < 50 ? 503 : 200, 30 + (i % 40), i < 50 ? { responseFlags: 'UF' } : {}));
      for (let i = 0; i < 250; i++) pubs.ratings.publisher.offer(request(reviews2, ratings, 200, 2));
      for (let i = 0; i < 550; i++) pubs.productpage.publisher.offer(request(productpage, i < 300 ? reviews1 : reviews2, 200, 10, { reporter: 'source', securityPolicy: 'unknown' }));
      for (let i = 0; i < 500; i++) pubs.details.publisher.offer(request(productpage, details, 200, 1));
      for (const p of Object.values(pubs)) await p.close();
      await until(async () => (heldByFrozen = metricSum(await scrape(mixers[0]), 'mixer_consumer_ack_pending_messages')) > 0, 'm1 to see the batches m2 holds un-acked');
    } finally {
      mixers[1].proc.kill('SIGCONT');
    }
    console.info(`un-acked while m2 was frozen: ${heldByFrozen}`);
    expect(pubs.details.publisher.dropped).toBe(350);
    const published = Object.values(pubs).reduce((n, p) => n + p.publisher.published, 0);
    expect(published).toBe(300 + 250 + 250 + 550 + 150);

    const scrapeAll = async () => Promise.all(mixers.map(scrape));
    const total = async (name: string, match: Record<string, string> = {}) => (await scrapeAll()).reduce((n, t) => n + metricSum(t, name, match), 0);
    await until(async () => (await total('mixer_records_ingested_total')) === published, 'both replicas to have ingested every published record');
    const texts = await scrapeAll();
    // Work sharing: the replicas split the batches between them (each batch to one replica).
    const perReplica = texts.map((t) => metricSum(t, 'mixer_batches_ingested_total'));
    const batches = Object.values(pubs).reduce((n, p) => n + p.publisher.batchesPublished, 0);
    expect(perReplica.reduce((a, b) => a + b, 0)).toBe(batches);
    console.info(`batches per replica: ${perReplica.join(' / ')} of ${batches}`);
    // Both pull from the one durable consumer, and JetStream hands a message to each waiting pull in
    // turn: with ~57 batches and both replicas pulling before the first is published, each gets some.
    for (const n of perReplica) expect(n).toBeGreaterThan(0);
    // Lag: each applied batch observed once in mixer_ingest_lag_seconds, on the replica that applied it.
    expect(texts.map((t) => metricSum(t, 'mixer_ingest_lag_seconds_count'))).toEqual(perReplica);
    expect(texts.map((t) => metricSum(t, 'mixer_ingest_lag_seconds_bucket', { le: '+Inf' }))).toEqual(perReplica);
    for (const t of texts) expect(metricSum(t, 'mixer_ingest_lag_seconds_sum')).toBeGreaterThan(0);
    // Drained: nothing left undelivered (num_pending) nor un-acked (acked at the next checkpoint);
    // both gauges are the consumer's, read every 2 s by each replica.
    for (const m of mixers) {
      const gauges = async () => {
        const t = await scrape(m);
        return [t.includes('\nmixer_consumer_pending_messages '), metricSum(t, 'mixer_consumer_pending_messages'), metricSum(t, 'mixer_consumer_ack_pending_messages')];
      };
      await until(async () => JSON.stringify(await gauges()) === JSON.stringify([true, 0, 0]), 'the consumer to report nothing pending or un-acked');
    }

    const sum = (match: Record<string, string>) => texts.reduce((n, t) => n + metricSum(t, 'istio_requests_total', match), 0);
    expect(sum({ reporter: 'destination', destination_workload: 'reviews-v1' })).toBe(300);
    expect(sum({ reporter: 'destination', destination_workload: 'reviews-v2', response_code: '200' })).toBe(200);
    expect(sum({ reporter: 'destination', destination_workload: 'reviews-v2', response_code: '503', response_flags: 'UF' })).toBe(50);
    expect(sum({ reporter: 'destination', source_workload: 'reviews-v2', destination_workload: 'ratings-v1' })).toBe(250);
    expect(sum({ reporter: 'source', source_workload: 'productpage-v1' })).toBe(550);
    expect(sum({ reporter: 'destination', destination_workload: 'details-v1' })).toBe(150);
    // the histogram count matches the counter, and the drop counter explains details' missing 350
    expect(texts.reduce((n, t) => n + metricSum(t, 'istio_request_duration_milliseconds_count', { destination_workload: 'reviews-v2', reporter: 'destination' }), 0)).toBe(250);
    expect(texts.reduce((n, t) => n + metricSum(t, 'mixer_records_dropped_total', { source_workload: 'details-v1' }), 0)).toBe(350);
    expect(texts.reduce((n, t) => n + metricSum(t, 'mixer_records_dropped_total'), 0)).toBe(350);
    expect(texts.reduce((n, t) => n + metricSum(t, 'mixer_batches_duplicate_total'), 0)).toBe(0);

    // Graph: each replica holds its share; the edges summed over replicas are the traffic sent.
    const edges = new Map<string, { requests: number; errors: number; isMTLS: number }>();
    for (const m of mixers) {
      const g = (await (await fetch(`${m.url}/api/graph?type=workload&window=5m&namespace=default`)).json()) as { elements: { edges: { data: { id: string; requests: number; errors: number; isMTLS: number } }[] } };
      for (const { data } of g.elements.edges) {
        const e = edges.get(data.id) ?? { requests: 0, errors: 0, isMTLS: data.isMTLS };
        e.requests += data.requests;
        e.errors += data.errors;
        edges.set(data.id, e);
      }
    }
    expect(Object.fromEntries([...edges].map(([id, e]) => [id, [e.requests, e.errors]]))).toEqual({
      'wl:default/productpage-v1->wl:default/details-v1': [150, 0],
      'wl:default/productpage-v1->wl:default/reviews-v1': [300, 0],
      'wl:default/productpage-v1->wl:default/reviews-v2': [250, 50],
      'wl:default/reviews-v2->wl:default/ratings-v1': [250, 0],
    });
    expect(edges.get('wl:default/productpage-v1->wl:default/reviews-v1')?.isMTLS).toBe(100);
  }, 120_000);
});
