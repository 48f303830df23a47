/**
 * The incremental (Delta) ADS protocol as a pure reducer, one stream at a time (Envoy's xDS
 * protocol, "Incremental xDS"). Per resource the server remembers the version the client has
 * (from initial_resource_versions, then from what was sent), so a push carries only changed
 * resources plus removed_resources. Subscription changes apply whatever the nonce; ACK/NACK
 * only for the last nonce sent. A NACKed resource version is not resent: it stays recorded as
 * the client's, and only a newer version goes out.
 */
import { CLUSTER_TYPE, LISTENER_TYPE } from './resources.js';

/** A DeltaDiscoveryRequest in object form: the fields the protocol reads. */
export interface DeltaRequest {
  readonly typeUrl: string;
  readonly resourceNamesSubscribe?: readonly string[];
  readonly resourceNamesUnsubscribe?: readonly string[];
  readonly initialResourceVersions?: Readonly<Record<string, string>>;
  readonly responseNonce?: string;
  readonly errorDetail?: { readonly code?: number; readonly message?: string };
}

/** What the server knows about one type on one Delta stream. */
export interface DeltaTypeState {
  readonly wildcard: boolean;
  /** Explicitly subscribed names, sorted. */
  readonly names: readonly string[];
  /** Resource name → the version the client has (as far as the server knows). */
  readonly known: Readonly<Record<string, string>>;
  /**
   * Set when `known` is exactly this DeltaCurrent's resources (a wildcard subscriber that was sent
   * everything): the next diff is then the diff between two DeltaCurrents, computed once and
   * shared by every stream on the same basis instead of walked per stream.
   */
  readonly basis?: DeltaCurrent;
  readonly sentNonce?: string;
  /** system_version_info of the last response (the snapshot's version of this type). */
  readonly sentVersion?: string;
  readonly ackedVersion?: string;
  readonly nackedVersion?: string;
  readonly lastError?: string;
  readonly pushes: number;
  readonly acks: number;
  readonly nacks: number;
}

/** Per-stream Delta state. */
export interface DeltaStreamState {
  readonly nextNonce: number;
  readonly types: Readonly<Record<string, DeltaTypeState>>;
}

/** The current resources of one type: name → version (a content hash), plus the type's version. */
export interface DeltaCurrent {
  readonly version: string;
  readonly resources: Readonly<Record<string, string>>;
}

/** A response the caller must send: these resources (at the versions given) and these removals. */
export interface DeltaRespond {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly systemVersionInfo: string;
  readonly resources: readonly { readonly name: string; readonly version: string }[];
  readonly removed: readonly string[];
}

/** What a request meant, for callbacks and metrics. */
export type DeltaEvent =
  | { readonly kind: 'subscribe'; readonly typeUrl: string }
  | { readonly kind: 'ack'; readonly typeUrl: string; readonly version: string }
  | { readonly kind: 'nack'; readonly typeUrl: string; readonly version: string; readonly error: string }
  | { readonly kind: 'stale'; readonly typeUrl: string; readonly nonce: string };

/** Result of one reducer step. */
export interface DeltaStep {
  readonly state: DeltaStreamState;
  readonly respond?: DeltaRespond;
  readonly events: readonly DeltaEvent[];
}

/** newDeltaStream returns the state of a Delta stream that has received nothing yet. */
export function newDeltaStream(): DeltaStreamState {
  return { nextNonce: 1, types: {} };
}

interface Changes {
  readonly resources: readonly { readonly name: string; readonly version: string }[];
  readonly removed: readonly string[];
}

const NO_CHANGES: Changes = { resources: [], removed: [] };
/** What a new subscriber holds. */
const NOTHING: DeltaCurrent = { version: '', resources: {} };

function isEmpty(o: Readonly<Record<string, string>>): boolean {
  for (const _ in o) return false;
  return true;
}
const sharedChanges = new WeakMap<DeltaCurrent, WeakMap<DeltaCurrent, Changes>>();

/** What a wildcard subscriber holding exactly `from` must be sent to hold `to` (memoized: both are immutable). */
function changesBetween(from: DeltaCurrent, to: DeltaCurrent): Changes {
  if (from === to || from.resources === to.resources) return NO_CHANGES;
  let byTo = sharedChanges.get(from);
  if (!byTo) sharedChanges.set(from, (byTo = new WeakMap()));
  let c = byTo.get(to);
  if (!c) {
    const resources: { name: string; version: string }[] = [];
    const removed: string[] = [];
    for (const name of Object.keys(to.resources).sort()) if (from.resources[name] !== to.resources[name]) resources.push({ name, version: to.resources[name] });
    for (const name of Object.keys(from.resources).sort()) if (!(name in to.resources)) removed.push(name);
    c = { resources, removed };
    byTo.set(to, c);
  }
  return c;
}

/** The diff between what the client has and what it should have, and the state after sending it. */
function diff(state: DeltaStreamState, typeUrl: string, ts: DeltaTypeState, current: DeltaCurrent | undefined, force: boolean): { state: DeltaStreamState; respond?: DeltaRespond } {
  const withTs = (t: DeltaTypeState): DeltaStreamState => ({ ...state, types: { ...state.types, [typeUrl]: t } });
  if (!current) return { state: withTs(ts) };
  let known: Readonly<Record<string, string>>;
  let basis: DeltaCurrent | undefined;
  let resources: readonly { name: string; version: string }[];
  let removed: readonly string[];
  if (ts.wildcard && (ts.basis || isEmpty(ts.known))) {
    ({ resources, removed } = changesBetween(ts.basis ?? NOTHING, current));
    // A wildcard subscriber ends up holding exactly the current resources.
    known = current.resources;
    basis = current;
  } else {
    const k: Record<string, string> = { ...ts.known };
    const sent: { name: string; version: string }[] = [];
    const gone: string[] = [];
    // A named subscription only ever gets its names (already sorted): no walk over every resource.
    for (const name of ts.wildcard ? Object.keys(current.resources).sort() : ts.names) {
      const v = current.resources[name];
      if (v !== undefined && k[name] !== v) {
        sent.push({ name, version: v });
        k[name] = v;
      }
    }
    for (const name of Object.keys(k).sort()) {
      if (!(name in current.resources)) {
        gone.push(name);
        delete k[name];
      }
    }
    ({ resources, removed } = { resources: sent, removed: gone });
    known = ts.wildcard ? current.resources : k;
    basis = ts.wildcard ? current : undefined;
  }
  if (resources.length === 0 && removed.length === 0 && !force) return { state: withTs({ ...ts, known, basis }) };
  const nonce = String(state.nextNonce);
  const next: DeltaTypeState = { ...ts, known, basis, sentNonce: nonce, sentVersion: current.version, pushes: ts.pushes + 1 };
  return {
    state: { nextNonce: state.nextNonce + 1, types: { ...state.types, [typeUrl]: next } },
    respond: { typeUrl, nonce, systemVersionInfo: current.version, resources, removed },
  };
}

/**
 * deltaOnRequest returns the stream state after `req` and the response to send, if any, given
 * the current resources of the request's type in the proxy's snapshot (undefined: none yet).
 */
export function deltaOnRequest(state: DeltaStreamState, req: DeltaRequest, current: DeltaCurrent | undefined): DeltaStep {
  const typeUrl = req.typeUrl;
  const subscribe = req.resourceNamesSubscribe ?? [];
  const unsubscribe = req.resourceNamesUnsubscribe ?? [];
  const prev = state.types[typeUrl];
  const events: DeltaEvent[] = [];
  let ts: DeltaTypeState;
  if (!prev) {
    // First request of the type on this stream: an empty subscribe list is the legacy wildcard
    // for LDS/CDS; initial_resource_versions tell what the client kept from an earlier stream.
    const wildcard = subscribe.includes('*') || (subscribe.length === 0 && (typeUrl === LISTENER_TYPE || typeUrl === CLUSTER_TYPE));
    ts = { wildcard, names: [...new Set(subscribe.filter((n) => n !== '*'))].sort(), known: { ...(req.initialResourceVersions ?? {}) }, pushes: 0, acks: 0, nacks: 0 };
    events.push({ kind: 'subscribe', typeUrl });
  } else {
    ts = prev;
    const nonce = req.responseNonce ?? '';
    if (nonce !== '') {
      if (nonce !== prev.sentNonce) events.push({ kind: 'stale', typeUrl, nonce });
      else if (req.errorDetail) {
        const error = req.errorDetail.message ?? `code ${req.errorDetail.code ?? 0}`;
        ts = { ...ts, nackedVersion: prev.sentVersion, lastError: error, nacks: ts.nacks + 1 };
        events.push({ kind: 'nack', typeUrl, version: prev.sentVersion ?? '', error });
      } else {
        ts = { ...ts, ackedVersion: prev.sentVersion, acks: ts.acks + 1 };
        events.push({ kind: 'ack', typeUrl, version: prev.sentVersion ?? '' });
      }
    }
    if (subscribe.length > 0 || unsubscribe.length > 0) {
      const names = new Set(ts.names);
      let wildcard = ts.wildcard;
      for (const n of subscribe) if (n === '*') wildcard = true; else names.add(n);
      const known = { ...ts.known };
      // A client may have "forgotten" a resource it still subscribes to: an explicit subscribe is
      // always answered with the resource (xDS protocol, "Subscribing to Resources").
      for (const n of subscribe) delete known[n];
      for (const n of unsubscribe) {
        if (n === '*') wildcard = false;
        else names.delete(n);
      }
      // The client drops what it unsubscribed from; forget it so a resubscribe sends it again.
      for (const n of Object.keys(known)) if (!wildcard && !names.has(n)) delete known[n];
      ts = { ...ts, wildcard, names: [...names].sort(), known, basis: undefined };
      if (subscribe.length > 0) events.push({ kind: 'subscribe', typeUrl });
    }
  }
  // Only a subscription change (or the first request) can make the client miss something; an
  // ACK or NACK alone needs no answer. A first request is answered even when empty, so the
  // client learns the server's version.
  if (prev && subscribe.length === 0) return { state: { ...state, types: { ...state.types, [typeUrl]: ts } }, events };
  return { ...diff(state, typeUrl, ts, current, !prev), events };
}

/**
 * deltaOnPush returns the response carrying only what changed for `typeUrl` (new or changed
 * resources the client subscribes to, and removed ones), or none when nothing did.
 */
export function deltaOnPush(state: DeltaStreamState, typeUrl: string, current: DeltaCurrent): { state: DeltaStreamState; respond?: DeltaRespond } {
  const ts = state.types[typeUrl];
  if (!ts) return { state };
  return diff(state, typeUrl, ts, current, false);
}
