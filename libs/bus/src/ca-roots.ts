/**
 * Trust-bundle distribution over NATS: citadel publishes every change of its root set on
 * `mesh.ca.roots` and stores it in the `mesh-ca` KV bucket (key `roots`), so a workload that starts
 * late reads the current bundle and then follows updates (root rotation).
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { CA_BUCKET, CA_ROOTS_KEY, CA_ROOTS_SUBJECT } from './subjects.js';

/** One version of the trust bundle. */
export interface TrustBundleMessage {
  readonly trustDomain: string;
  /** PEM roots every workload must trust now, the signing root first. */
  readonly roots: readonly string[];
  /** When citadel produced it (ISO 8601); later wins. */
  readonly updatedAt: string;
}

function isBundle(v: unknown): v is TrustBundleMessage {
  const b = v as TrustBundleMessage;
  return typeof b === 'object' && b !== null && typeof b.trustDomain === 'string' && typeof b.updatedAt === 'string' && Array.isArray(b.roots) && b.roots.every((r) => typeof r === 'string');
}

async function bucket(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).create(CA_BUCKET, { history: 5 });
}

/** publishTrustBundle stores the bundle under mesh-ca/roots and announces it on mesh.ca.roots; resolves once stored. */
export async function publishTrustBundle(nc: NatsConnection, bundle: TrustBundleMessage): Promise<void> {
  const kv = await bucket(nc);
  const data = JSON.stringify(bundle);
  await kv.put(CA_ROOTS_KEY, data);
  nc.publish(CA_ROOTS_SUBJECT, data);
}

/** readTrustBundle returns the stored bundle, or undefined when citadel has not published one. */
export async function readTrustBundle(nc: NatsConnection): Promise<TrustBundleMessage | undefined> {
  const e = await (await bucket(nc)).get(CA_ROOTS_KEY);
  if (!e || e.operation !== 'PUT') return undefined;
  const v: unknown = e.json();
  return isBundle(v) ? v : undefined;
}

/**
 * watchTrustBundle calls `onBundle` with the stored bundle (if any) and then with every newer one,
 * from the KV watch; malformed values are skipped. Returns a function that stops watching.
 */
export async function watchTrustBundle(nc: NatsConnection, onBundle: (b: TrustBundleMessage) => void): Promise<() => void> {
  const iter = await (await bucket(nc)).watch({ key: CA_ROOTS_KEY });
  let last = '';
  void (async () => {
    for await (const e of iter) {
      if (e.operation !== 'PUT') continue;
      let v: unknown;
      try {
        v = e.json();
      } catch {
        continue;
      }
      // KV order is publication order; the timestamp guards against a stale writer.
      if (isBundle(v) && v.updatedAt >= last) {
        last = v.updatedAt;
        onBundle(v);
      }
    }
  })();
  return () => iter.stop();
}
