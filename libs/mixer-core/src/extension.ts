/**
 * The extension point of mixer: traces, access logs, SLOs and the rate-limit service are each a
 * MixerExtension listed in apps/mixer/src/extensions.ts. An extension declares its own flags,
 * adds routes to the 15014 fastify app, and/or starts a service (a gRPC server, a NATS
 * subscription) with a close() that mixer calls on SIGTERM. Adding one is a one-line change in
 * that list.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { SettingDef } from '@meshwork/settings';
import type { RequestRecord } from '@meshwork/telemetry';

/** Log sink (pino fits). */
export interface MixerLog {
  debug(o: object, m: string): void;
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

/**
 * RecordFeed hands every applied batch of records (after deduplication: each record once) to its
 * listeners, synchronously, in ingestion order. Listeners must be quick (they run before the ack).
 */
export class RecordFeed {
  private readonly listeners = new Set<(records: readonly RequestRecord[]) => void>();

  /** subscribe adds a listener and returns the function that removes it. */
  subscribe(fn: (records: readonly RequestRecord[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** emit calls every listener; a throwing listener is reported to onError and does not stop the others. */
  emit(records: readonly RequestRecord[], onError?: (err: unknown) => void): void {
    for (const fn of this.listeners) {
      try {
        fn(records);
      } catch (err) {
        onError?.(err);
      }
    }
  }
}

/** What an extension gets from mixer. */
export interface MixerContext {
  /** The NATS connection mixer ingests on (spans are on `mesh.spans.>`, see @meshwork/bus). */
  readonly nc: NatsConnection;
  /** Mixer's Prometheus registry, served on /metrics: register the extension's metrics here. */
  readonly registry: Registry;
  readonly log: MixerLog;
  /** Every parsed setting by key (mixer's own and each extension's declared ones). */
  readonly settings: Readonly<Record<string, unknown>>;
  /** The deduplicated request/TCP records as mixer applies them. */
  readonly records: RecordFeed;
  /** The name of this replica (--replica-name). */
  readonly replica: string;
}

/** A started extension service: mixer closes it on SIGTERM, before closing NATS. */
export interface MixerService {
  close(): Promise<void>;
  /** False keeps /healthz/ready at 503 (e.g. until a port is bound). Default: ready. */
  ready?(): boolean;
}

/** One part of mixer beyond ingestion, metrics and topology. */
export interface MixerExtension {
  /** Short name used in logs and errors (`traces`, `ratelimit`). */
  readonly name: string;
  /** Flags of this extension, parsed with mixer's own (shown in --help and docs/mixer.md). */
  readonly settings?: readonly SettingDef[];
  /** Adds routes to the 15014 app (registered as an encapsulated fastify plugin). */
  readonly routes?: (app: FastifyInstance, ctx: MixerContext) => Promise<void> | void;
  /** Starts a service once ingestion runs; resolves when it is listening. */
  readonly start?: (ctx: MixerContext) => Promise<MixerService | void>;
}
