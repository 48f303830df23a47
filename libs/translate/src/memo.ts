/**
 * The translation memo: generated resources keyed by fingerprints of every input they read,
 * kept per mesh snapshot and carried over from the snapshot it replaced. Unchanged inputs give
 * the identical (===) object, across proxy views and across pushes, so downstream caches
 * (libs/xds's ResourceEncoder, per-type snapshots) hit by identity instead of re-encoding and
 * re-hashing. A DestinationRule change for one host re-translates that host's resources only.
 *
 * Keys are built from the inputs themselves (content hashes of the service, its endpoints, the
 * effective DestinationRule, ...) by the function that reads them, never from names or versions
 * a caller supplies, so an entry cannot outlive a change of its inputs (STYLE.md 4). Only the
 * entries used while translating one snapshot are carried into the next: the memo holds two
 * generations at most.
 */
import { createHash } from 'node:crypto';
import type { EnvoyResource } from './envoy.js';
import { contentHash } from './hash.js';
import type { MeshServicePort, Service } from '@meshwork/api';
import type { EffectiveDestinationRule, MeshSnapshot } from './snapshot.js';

/**
 * Entries as a tree of maps, one level per key part: every part is a string that already exists
 * (a fingerprint, a name) or a number, so a lookup hashes nothing new, where one joined string key
 * would be built, flattened and hashed on every call (it was a tenth of a push).
 */
type Tree = Map<KeyPart | typeof LEAF, unknown>;
/** One part of a memo key. */
export type KeyPart = string | number | boolean;
const LEAF = Symbol('leaf');

interface Memo {
  /** Entries used with this snapshot. */
  readonly resources: Tree;
  /** The replaced snapshot's entries, looked up on a miss and moved over on a hit. */
  readonly previous?: Tree;
  /** Content hashes of this snapshot's input objects, by identity (the snapshot is immutable). */
  readonly fingerprints: WeakMap<object, string>;
  /** Hash of the snapshot-wide inputs any memoized resource may read (MeshConfig). */
  readonly context: string;
}

const memos = new WeakMap<MeshSnapshot, Memo>();

function newMemo(snapshot: MeshSnapshot, previous?: Memo): Memo {
  const context = contentHash(snapshot.meshConfig);
  return { resources: new Map(), fingerprints: new WeakMap(), context, ...(previous && previous.context === context ? { previous: previous.resources } : {}) };
}

function memoOf(snapshot: MeshSnapshot): Memo {
  let m = memos.get(snapshot);
  if (!m) memos.set(snapshot, (m = newMemo(snapshot)));
  return m;
}

/** carryMemo starts `next`'s memo from the entries `previous` used (when their MeshConfig agrees). */
export function carryMemo(next: MeshSnapshot, previous: MeshSnapshot | undefined): void {
  memos.set(next, newMemo(next, previous ? memos.get(previous) : undefined));
}

/**
 * fingerprint returns the content hash of one of `snapshot`'s input objects, computed once per
 * snapshot. Plain JSON (key order as built) rather than stableJson: equal content rendered in
 * another key order only costs a memo miss, never a wrong hit, and JSON.stringify is native.
 */
export function fingerprint(snapshot: MeshSnapshot, obj: object | undefined): string {
  if (obj === undefined) return '-';
  const m = memoOf(snapshot);
  let fp = m.fingerprints.get(obj);
  if (fp === undefined) {
    fp = createHash('sha256').update(JSON.stringify(obj)).digest('base64url');
    m.fingerprints.set(obj, fp);
  }
  return fp;
}

/**
 * hostInputs returns the fingerprints of what every per-service builder reads about a service as
 * one proxy sees it: the service, the DestinationRule that applies, and the host's endpoints.
 */
export function hostInputs(snapshot: MeshSnapshot, svc: Service, dr: object | undefined): [string, string, string] {
  return [fingerprint(snapshot, svc), fingerprint(snapshot, dr), fingerprint(snapshot, snapshot.index.endpointsByHost.get(svc.hostname))];
}

/** eachTarget calls `f` for every (port, subset) a service's outbound clusters exist for: the unsubsetted one, then each subset of the rule. */
export function eachTarget<T>(svc: Service, dr: EffectiveDestinationRule | undefined, f: (port: MeshServicePort, subset: string) => T): T[] {
  const out: T[] = [];
  for (const p of svc.ports) {
    out.push(f(p, ''));
    for (const sub of dr?.spec.subsets ?? []) out.push(f(p, sub.name));
  }
  return out;
}

/** setFingerprint records `fp` as the content fingerprint of a derived object (one whose inputs are already hashed). */
export function setFingerprint(snapshot: MeshSnapshot, obj: object, fp: string): void {
  memoOf(snapshot).fingerprints.set(obj, fp);
}

/**
 * memoized returns the resource stored under `key` (built by the caller from every input of
 * `build`), else builds, freezes (top level: shared objects must not be edited) and stores it.
 */
export function memoized<T extends EnvoyResource | readonly EnvoyResource[]>(snapshot: MeshSnapshot, key: readonly KeyPart[], build: () => T): T {
  const m = memoOf(snapshot);
  let node = m.resources;
  for (const part of key) {
    let next = node.get(part) as Tree | undefined;
    if (!next) node.set(part, (next = new Map()));
    node = next;
  }
  let r = node.get(LEAF) as T | undefined;
  if (r !== undefined) return r;
  let old: Tree | undefined = m.previous;
  for (let i = 0; old && i < key.length; i++) old = old.get(key[i]) as Tree | undefined;
  r = old?.get(LEAF) as T | undefined;
  if (r === undefined) r = Object.freeze(build());
  node.set(LEAF, r);
  return r;
}

function leaves(t: Tree, out: unknown[] = []): unknown[] {
  for (const [k, v] of t) {
    if (k === LEAF) out.push(v);
    else leaves(v as Tree, out);
  }
  return out;
}

/** memoStats returns how many entries `snapshot`'s memo holds and carried over (for tests). */
export function memoStats(snapshot: MeshSnapshot): { entries: number; carried: number } {
  const m = memoOf(snapshot);
  const now = leaves(m.resources);
  const before = new Set(m.previous ? leaves(m.previous) : []);
  return { entries: now.length, carried: now.filter((v) => before.has(v)).length };
}
