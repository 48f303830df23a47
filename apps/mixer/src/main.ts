/**
 * meshwork-mixer: reads its settings, connects to NATS, ingests telemetry batches from JetStream
 * into Istio's metrics and the topology graph, starts the extensions (traces, logs, SLOs, rate
 * limits), and serves 15014. All logic lives in libs/mixer-core.
 */
import { hostname } from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { buildMixerApp, ExtensionStartError, Ingestor, kvCheckpointStore, MixerMetrics, parseHealthThresholds, RecordFeed, TopologyStore, type MixerContext, type MixerService } from '@meshwork/mixer-core';
import { parseSettings, SettingsError } from '@meshwork/settings';
import { allSettings } from './all-settings.js';
import { MIXER_EXTENSIONS } from './extensions.js';
import type { MIXER_SETTINGS } from './settings.js';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseSettings({ name: 'meshwork-mixer', description: 'Meshwork mixer: telemetry ingestion from NATS JetStream, Istio metrics, topology graph, and the extensions (traces, logs, SLOs, rate limits)' }, allSettings(), process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  if (!parsed) return 0; // --help
  const all = parsed as Record<string, unknown>;
  // The core settings keep their types; extension settings are read by key from `all`.
  const s = parsed as unknown as { [K in (typeof MIXER_SETTINGS)[number] as K['key']]: K extends { type: 'int' | 'port' | 'duration' } ? number : string } & { replicaName?: string };
  // The host name is stable across restarts of the process (a pod's name in Kubernetes), so the default resumes the checkpoint.
  const replica = s.replicaName || hostname();
  const log = pino({ base: { component: 'mixer', replica }, level: s.logLevel });

  // Checked before connecting: a bad flag is one line and exit 1, whatever NATS's state.
  const health = parseHealthThresholds(s.graphDegradedRatio, s.graphFailingRatio);
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: s.natsUrl, name: `meshwork-mixer ${replica}` });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${s.natsUrl}: ${(err as Error).message}`);
  }
  const metrics = new MixerMetrics({ maxSeries: s.maxSeries });
  const records = new RecordFeed();
  const ctx: MixerContext = { nc, registry: metrics.registry, log, settings: all, records, replica };
  const topology = new TopologyStore({ health });
  if (s.checkpointInterval * 2 > s.ackWait) throw new Error(`--checkpoint-interval (${s.checkpointInterval} ms) must be under half of --ack-wait (${s.ackWait} ms): batches are acked at checkpoints`);
  const ingest = new Ingestor({
    nc,
    stream: s.stream,
    consumer: s.consumer,
    streamMaxAgeMs: s.streamMaxAge,
    streamMaxBytes: s.streamMaxBytes,
    ackWaitMs: s.ackWait,
    maxAckPending: s.maxAckPending,
    fetchBatch: s.fetchBatch,
    checkpointMs: s.checkpointInterval,
    checkpoints: await kvCheckpointStore(nc, s.stateBucket, s.consumer, replica),
    dedupeWindow: s.dedupeWindow,
    metrics,
    topology,
    feed: records,
    log,
  });
  await ingest.start();

  const services: { name: string; svc: MixerService }[] = [];
  for (const ext of MIXER_EXTENSIONS) {
    if (!ext.start) continue;
    try {
      const svc = await ext.start(ctx);
      if (svc) services.push({ name: ext.name, svc });
    } catch (err) {
      throw new ExtensionStartError(ext.name, { cause: err });
    }
  }
  const ready = (): boolean => ingest.running && services.every((x) => x.svc.ready?.() ?? true);
  const http = await buildMixerApp({ registry: metrics.registry, ready, topology, extensions: MIXER_EXTENSIONS, ctx });
  try {
    await http.listen({ host: s.address, port: s.metricsPort });
  } catch (err) {
    const e = err as Error;
    throw new Error(`cannot listen for HTTP on ${s.address}:${s.metricsPort}: ${/EADDRINUSE/.test(e.message) ? 'address already in use' : e.message}`);
  }
  const httpPort = (http.server.address() as { port: number }).port;
  log.info({ http: `${s.address}:${httpPort}`, nats: s.natsUrl, stream: s.stream, consumer: s.consumer, extensions: MIXER_EXTENSIONS.map((e) => e.name) }, 'mixer ready');

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  log.info({}, 'shutting down');
  // With NATS away a drain or the last checkpoint could wait forever: bound each step. Un-acked
  // batches are redelivered, so giving up loses nothing the stream holds.
  const bounded = (what: string, p: Promise<unknown>, ms: number): Promise<unknown> =>
    Promise.race([p, new Promise((r) => setTimeout(r, ms).unref())]).catch((err: Error) => log.warn({ step: what, err: err.message }, 'shutdown step failed'));
  // Stop pulling first, apply what was delivered, checkpoint and ack it; then the rest.
  await bounded('ingestion', ingest.stop(), 10_000);
  for (const x of services.reverse()) await bounded(`extension ${x.name}`, x.svc.close(), 5_000);
  await bounded('http', http.close(), 3_000);
  await bounded('nats', nc.drain(), 3_000);
  log.info({}, 'stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    // Startup failures are one clear line (DESIGN §5); exit now, open sockets would keep the process alive.
    process.stderr.write(`meshwork-mixer: ${err.message}\n`, () => process.exit(1));
  },
);
