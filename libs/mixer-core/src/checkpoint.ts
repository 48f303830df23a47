/**
 * Where a mixer replica keeps its state between lives: a JetStream KV bucket, one entry per
 * (consumer, replica), gzip-compressed JSON split into chunks under NATS' payload limit. A new
 * generation's chunks are written first and the small manifest last, so a crash mid-write leaves
 * the previous checkpoint readable.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { IngestSetupError } from './errors.js';

/** Stores and loads one replica's state. */
export interface CheckpointStore {
  load(): Promise<unknown | undefined>;
  save(state: unknown): Promise<void>;
}

const CHUNK_BYTES = 512 * 1024;
/** KV keys allow [-/_=.a-zA-Z0-9]; anything else in a replica name becomes `_`. */
const keyToken = (s: string): string => s.replace(/[^-_=a-zA-Z0-9]/g, '_');

/** kvCheckpointStore returns a CheckpointStore in KV bucket `bucket` (created when missing) for this consumer and replica. */
export async function kvCheckpointStore(nc: NatsConnection, bucket: string, consumer: string, replica: string): Promise<CheckpointStore> {
  let kv: KV;
  try {
    kv = await new Kvm(nc).create(bucket, { history: 1 });
  } catch (err) {
    throw new IngestSetupError(`cannot open KV bucket ${bucket} for mixer checkpoints: ${(err as Error).message}`, { cause: err });
  }
  const base = `${keyToken(consumer)}.${keyToken(replica)}`;
  let generation = 0;
  let chunksOfGeneration = 0;
  return {
    async load() {
      const meta = await kv.get(`${base}.meta`);
      if (!meta || meta.operation !== 'PUT' || meta.value.length === 0) return undefined;
      const m = meta.json<{ gen: number; chunks: number }>();
      const parts: Uint8Array[] = [];
      for (let i = 0; i < m.chunks; i++) {
        const c = await kv.get(`${base}.g${m.gen}.${i}`);
        if (!c) throw new IngestSetupError(`checkpoint ${base} generation ${m.gen} is missing chunk ${i}`);
        parts.push(c.value);
      }
      generation = m.gen;
      chunksOfGeneration = m.chunks;
      return JSON.parse(gunzipSync(Buffer.concat(parts)).toString('utf8')) as unknown;
    },
    async save(state) {
      const data = gzipSync(JSON.stringify(state));
      const gen = generation + 1;
      const chunks = Math.max(1, Math.ceil(data.length / CHUNK_BYTES));
      // The chunks together, then the manifest: two round trips whatever the size (each waits
      // behind the batches already in flight to this connection).
      const puts: Promise<unknown>[] = [];
      for (let i = 0; i < chunks; i++) puts.push(kv.put(`${base}.g${gen}.${i}`, data.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)));
      await Promise.all(puts);
      await kv.put(`${base}.meta`, JSON.stringify({ gen, chunks, at: Date.now() }));
      const old = generation;
      const oldChunks = chunksOfGeneration;
      generation = gen;
      chunksOfGeneration = chunks;
      // Not awaited: the new generation is complete without it, and a purge that fails only leaves garbage.
      for (let i = 0; i < oldChunks; i++) kv.purge(`${base}.g${old}.${i}`).catch(() => undefined);
    },
  };
}
