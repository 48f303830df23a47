/**
 * "The dropped counter explains any difference" with a real outage: nats-server is stopped and
 * restarted (same store) under traffic. Publishers never block; what they could not hand to the
 * stream is dropped and reported; mixer reconnects, keeps consuming, and in the end
 * ingested + dropped = offered, exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@meshwork/bus/testing';
import { until } from './support.js';
import { metricSum, peer, request, scrape, startMixer, workloadPublisher, type FakeWorkloadPublisher, type RunningMixer } from './mixer-support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mixer: NATS restarted under traffic', () => {
  let nats: NatsServerHandle;
  let mixer: RunningMixer;

  beforeAll(async () => {
    nats = await startNatsServer();
    mixer = await startMixer(nats.url, ['--replica-name', 'o1', '--ack-wait', '5s', '--checkpoint-interval', '250ms']);
  }, 60_000);

  afterAll(async () => {
    await mixer?.stop();
    await nats?.stop();
  });

  it('accounts for every offered record: ingested by mixer or reported dropped', async () => {
    const src = peer('productpage', 'v1');
    const dst = peer('reviews', 'v1');
    // a small buffer so the outage overflows it; short publish timeout so stuck batches fail and are counted
    const pubs: FakeWorkloadPublisher[] = [];
    for (let i = 0; i < 2; i++) pubs.push(await workloadPublisher(nats.url, 'default', `reviews-v${i + 1}`, { maxBatch: 20, maxBuffered: 200, flushIntervalMs: 50 }));
    let offered = 0;
    let sending = true;
    const traffic = (async () => {
      while (sending) {
        for (const p of pubs) for (let k = 0; k < 5; k++) {
          p.publisher.offer(request(src, dst, 200, 2));
          offered++;
        }
        await sleep(10);
      }
    })();
    await until(async () => metricSum(await scrape(mixer), 'mixer_records_ingested_total') > 200, 'traffic to flow');
    await nats.kill();
    await sleep(2_000);
    await nats.restart();
    await sleep(2_000);
    sending = false;
    await traffic;
    for (const p of pubs) await p.close();
    const published = pubs.reduce((n, p) => n + p.publisher.published, 0);
    const dropped = pubs.reduce((n, p) => n + p.publisher.dropped, 0);
    expect(published + dropped).toBe(offered);
    expect(dropped).toBeGreaterThan(0);
    const ingested = async () => metricSum(await scrape(mixer), 'mixer_records_ingested_total');
    for (let i = 0; i < 3 && (await ingested()) < published; i++) await until(async () => (await ingested()) >= published, 'mixer to catch up').catch(() => undefined);
    await sleep(1_000);
    const text = await scrape(mixer);
    console.info(`offered ${offered}: published ${published}, dropped ${dropped}; mixer ingested ${metricSum(text, 'mixer_records_ingested_total')}, reports dropped ${metricSum(text, 'mixer_records_dropped_total')}`);
    expect(metricSum(text, 'mixer_records_ingested_total')).toBe(published);
    // Drops are reported in the header of the next stored batch: the last ones only if a batch followed them.
    const reported = metricSum(text, 'mixer_records_dropped_total');
    expect(reported).toBeGreaterThan(0);
    expect(reported).toBeLessThanOrEqual(dropped);
    expect(metricSum(text, 'mixer_records_ingested_total') + reported).toBeLessThanOrEqual(offered);
  }, 180_000);
});
