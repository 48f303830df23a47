/**
 * The State-of-the-World ADS protocol as a pure reducer (STYLE.md 6), one stream at a time.
 * Rules follow Envoy's xDS protocol ("ACK and NACK semantics", "When to send an update",
 * "Resource hints"): a request whose nonce is not the last one sent for its type is stale and
 * ignored; a NACK (error_detail set) is recorded and the rejected version is never resent; an
 * ACK whose resource_names differ from the subscription is a subscription change and gets the
 * current version for the new names.
 */
import { CLUSTER_TYPE, LISTENER_TYPE } from './resources.js';

/** A DiscoveryRequest in object form: the fields the protocol reads. */
export interface SotwRequest {
  readonly typeUrl: string;
  readonly versionInfo?: string;
  readonly resourceNames?: readonly string[];
  readonly responseNonce?: string;
  readonly errorDetail?: { readonly code?: number; readonly message?: string };
}

/** What the server knows about one type on one stream. */
export interface SotwTypeState {
  /** Subscribed to every resource of the type (LDS/CDS with no names, or the name "*"). */
  readonly wildcard: boolean;
  /** Subscribed names, sorted (empty when wildcard). */
  readonly names: readonly string[];
  readonly sentVersion?: string;
  readonly sentNonce?: string;
  readonly ackedVersion?: string;
  readonly nackedVersion?: string;
  /** error_detail.message of the last NACK. */
  readonly lastError?: string;
  readonly pushes: number;
  readonly acks: number;
  readonly nacks: number;
}

/** Per-stream state: per-type state plus the nonce counter (nonces are unique per stream). */
export interface SotwStreamState {
  readonly nextNonce: number;
  readonly types: Readonly<Record<string, SotwTypeState>>;
}

/** A response the caller must send: `version` of `typeUrl`, restricted to `names` unless wildcard. */
export interface SotwRespond {
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly wildcard: boolean;
  readonly names: readonly string[];
}

/** What a request meant, for callbacks and metrics. */
export type SotwEvent =
  | { readonly kind: 'subscribe'; readonly typeUrl: string }
  | { readonly kind: 'ack'; readonly typeUrl: string; readonly version: string }
  | { readonly kind: 'nack'; readonly typeUrl: string; readonly version: string; readonly error: string }
  | { readonly kind: 'stale'; readonly typeUrl: string; readonly nonce: string };

/** Result of one reducer step. */
export interface SotwStep {
  readonly state: SotwStreamState;
  readonly respond?: SotwRespond;
  readonly event: SotwEvent;
}

/** newSotwStream returns the state of a stream that has received nothing yet. */
export function newSotwStream(): SotwStreamState {
  return { nextNonce: 1, types: {} };
}

/** Empty names mean "everything" only for the wildcard-capable types LDS and CDS (xDS protocol, "How the client specifies what resources to return"). */
function subscription(typeUrl: string, names: readonly string[]): { wildcard: boolean; names: readonly string[] } {
  const explicit = names.filter((n) => n !== '*');
  const wildcard = names.includes('*') || (names.length === 0 && (typeUrl === LISTENER_TYPE || typeUrl === CLUSTER_TYPE));
  return { wildcard, names: wildcard ? [] : [...new Set(explicit)].sort() };
}

function sameSub(a: SotwTypeState, b: { wildcard: boolean; names: readonly string[] }): boolean {
  return a.wildcard === b.wildcard && a.names.length === b.names.length && a.names.every((n, i) => n === b.names[i]);
}

function withResponse(state: SotwStreamState, typeUrl: string, ts: SotwTypeState, version: string): { state: SotwStreamState; respond: SotwRespond } {
  const nonce = String(state.nextNonce);
  const next: SotwTypeState = { ...ts, sentVersion: version, sentNonce: nonce, pushes: ts.pushes + 1 };
  return {
    state: { nextNonce: state.nextNonce + 1, types: { ...state.types, [typeUrl]: next } },
    respond: { typeUrl, version, nonce, wildcard: ts.wildcard, names: ts.names },
  };
}

/**
 * sotwOnRequest returns the stream state after `req` and, when the protocol calls for one, the
 * response to send, given `currentVersion`: the version of the request's type in the proxy's
 * current snapshot (undefined when the snapshot has none yet, so nothing can be sent).
 */
export function sotwOnRequest(state: SotwStreamState, req: SotwRequest, currentVersion: string | undefined): SotwStep {
  const typeUrl = req.typeUrl;
  const nonce = req.responseNonce ?? '';
  const sub = subscription(typeUrl, req.resourceNames ?? []);
  const prev = state.types[typeUrl];
  // A first request, or a request carrying a nonce this stream never sent (a client that
  // reconnected from another server): (re)subscribe and send what we have (Istio does the same).
  if (!prev || nonce === '' || prev.sentNonce === undefined) {
    const ts: SotwTypeState = prev ? { ...prev, ...sub } : { pushes: 0, acks: 0, nacks: 0, ...sub };
    const event: SotwEvent = { kind: 'subscribe', typeUrl };
    if (currentVersion === undefined) return { state: { ...state, types: { ...state.types, [typeUrl]: ts } }, event };
    return { ...withResponse(state, typeUrl, ts, currentVersion), event };
  }
  if (nonce !== prev.sentNonce) return { state, event: { kind: 'stale', typeUrl, nonce } };
  const changed = !sameSub(prev, sub);
  let ts: SotwTypeState;
  let event: SotwEvent;
  if (req.errorDetail) {
    const error = req.errorDetail.message ?? `code ${req.errorDetail.code ?? 0}`;
    ts = { ...prev, ...sub, nackedVersion: prev.sentVersion, lastError: error, nacks: prev.nacks + 1 };
    event = { kind: 'nack', typeUrl, version: prev.sentVersion ?? '', error };
  } else {
    const version = req.versionInfo ?? prev.sentVersion ?? '';
    ts = { ...prev, ...sub, ackedVersion: version, acks: prev.acks + 1 };
    event = { kind: 'ack', typeUrl, version };
  }
  const nextState = { ...state, types: { ...state.types, [typeUrl]: ts } };
  // A NACK is never answered with the version it rejected; new names are a new question, though.
  if (changed && currentVersion !== undefined) return { ...withResponse(nextState, typeUrl, ts, currentVersion), event };
  // An ACK of an older version while a newer one exists (a push raced the ACK) gets the newer one.
  if (!req.errorDetail && currentVersion !== undefined && currentVersion !== prev.sentVersion && currentVersion !== ts.nackedVersion) {
    return { ...withResponse(nextState, typeUrl, ts, currentVersion), event };
  }
  return { state: nextState, event };
}

/**
 * sotwOnPush returns the response to send for `typeUrl` when the proxy's snapshot now holds
 * `version` of it: none when the proxy never asked for the type or was already sent that version,
 * whether it ACKed or NACKed it (go-control-plane#962: resending a rejected version loops forever).
 */
export function sotwOnPush(state: SotwStreamState, typeUrl: string, version: string): { state: SotwStreamState; respond?: SotwRespond } {
  const ts = state.types[typeUrl];
  if (!ts || ts.sentVersion === version) return { state };
  return withResponse(state, typeUrl, ts, version);
}
