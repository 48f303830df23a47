/**
 * SLO counts shared between mixer replicas and kept across restarts, in a JetStream KV bucket
 * (`--slo-state-bucket`, default `mesh-mixer-slo`). Replicas split the telemetry batches, so each
 * counts only its share of an objective's requests; every evaluation interval each replica
 * writes its counts (key `<namespace>/<name>/<replica>`, value `{specKey, counts}`) and watches
 * the others', and evaluates the SLI and alerts over the sum. A replica restarted under the same
 * name (`--replica-name`) starts from the counts it last wrote. A replica that is gone keeps
 * counting in the others' sums until its buckets age out of the windows: those requests did
 * happen.
 *
 * What this does not make exact: counts written up to one interval before a crash are lost, and
 * the other replicas see a replica's counts up to one interval late.
 */
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { WindowSnapshot } from '@meshwork/slo';
import type { MixerLog } from '../extension.js';
import type { SloEvaluator } from './evaluator.js';

/** KV keys allow [-/_=.a-zA-Z0-9]; a replica name with anything else gets `_` there. */
const keyToken = (s: string): string => s.replace(/[^-_=.a-zA-Z0-9]/g, '_');

interface Shared {
  readonly specKey: string;
  readonly counts: WindowSnapshot;
}

/** SloCountSharing connects an evaluator to the shared bucket. */
export class SloCountSharing {
  private stopWatch?: () => void;
  private watching?: Promise<void>;

  private constructor(
    private readonly kv: KV,
    private readonly replica: string,
    private readonly evaluator: SloEvaluator,
    private readonly log: MixerLog,
  ) {}

  /** open creates the bucket when missing, restores this replica's saved counts and starts following the others'. */
  static async open(nc: NatsConnection, bucket: string, replica: string, evaluator: SloEvaluator, log: MixerLog): Promise<SloCountSharing> {
    const kv = await new Kvm(nc).create(bucket, { history: 1 });
    const s = new SloCountSharing(kv, keyToken(replica), evaluator, log);
    await s.start();
    return s;
  }

  private parse(e: { key: string; value: Uint8Array }): { key: string; replica: string; shared?: Shared } | undefined {
    const parts = e.key.split('/');
    if (parts.length !== 3) return undefined;
    const key = `${parts[0]}/${parts[1]}`;
    if (e.value.length === 0) return { key, replica: parts[2] };
    try {
      return { key, replica: parts[2], shared: JSON.parse(Buffer.from(e.value).toString('utf8')) as Shared };
    } catch {
      return undefined;
    }
  }

  private async start(): Promise<void> {
    const iter = await this.kv.watch({ key: '>' });
    this.stopWatch = () => iter.stop();
    let initial = true;
    let resolveLoaded!: () => void;
    const loaded = new Promise<void>((r) => (resolveLoaded = r));
    const apply = (e: KvWatchEntry): void => {
      const p = this.parse(e);
      if (!p) return;
      const deleted = e.operation !== 'PUT' || !p.shared;
      if (p.replica === this.replica) {
        // Our own counts from a previous life: restore once, at start.
        if (initial && !deleted && p.shared && !this.evaluator.restore(p.key, p.shared.specKey, p.shared.counts)) {
          this.log.info({ slo: p.key }, 'SLO counts saved before the restart are for another spec; starting from zero');
        }
        return;
      }
      this.evaluator.setPeer(p.key, p.replica, p.shared?.specKey ?? '', deleted ? undefined : p.shared?.counts);
    };
    this.watching = (async () => {
      for await (const e of iter) {
        apply(e);
        if (e.delta === 0) {
          initial = false;
          resolveLoaded();
        }
      }
    })().catch((err: Error) => this.log.warn({ err: err.message }, 'SLO shared counts: watch ended'));
    // An empty bucket delivers nothing: do not wait for a last initial entry that never comes.
    const status = await this.kv.status();
    if (status.values === 0) {
      initial = false;
      resolveLoaded();
    }
    await loaded;
  }

  /** publish writes this replica's counts of every objective. */
  async publish(): Promise<void> {
    for (const s of this.evaluator.snapshots()) {
      await this.kv.put(`${s.key}/${this.replica}`, JSON.stringify({ specKey: s.specKey, counts: s.counts }));
    }
  }

  /** close writes the counts a last time and stops watching. */
  async close(): Promise<void> {
    await this.publish().catch((err: Error) => this.log.warn({ err: err.message }, 'SLO shared counts: last write failed'));
    this.stopWatch?.();
    await this.watching;
  }
}
