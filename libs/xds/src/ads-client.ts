/**
 * A minimal ADS client (SotW or Delta) over grpc-js, for tests and for the sidecar: subscribe
 * to names (or wildcard) per type, decode what arrives, ACK it or NACK it (a validate callback
 * decides; undecodable resources are always NACKed and the last good set is kept), reconnect
 * with exponential backoff, resuming with the versions it holds.
 */
import * as grpc from '@grpc/grpc-js';
import { ADS_SERVICE_NAME, codec, type WireDeltaResponse, type WireSotwResponse } from './wire.js';
import { CLUSTER_TYPE, LISTENER_TYPE, decodeResource, type ResourceObject } from './resources.js';
import { resourceName } from './snapshot.js';

/** What changed for one type after an accepted response. */
export interface AdsUpdate {
  readonly typeUrl: string;
  /** version_info (SotW) or system_version_info (Delta) of the response. */
  readonly version: string;
  /** Every resource the client now holds for the type. */
  readonly resources: ReadonlyMap<string, ResourceObject>;
  /** Names added or changed by this response, and names removed. */
  readonly changed: readonly string[];
  readonly removed: readonly string[];
}

/** Options of createAdsClient. */
export interface AdsClientOptions {
  /** host:port of the ADS server. */
  readonly target: string;
  readonly credentials?: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
  /** The Node sent on each stream's first request (object form; metadata as plain JSON). */
  readonly node: ResourceObject;
  /** Use DeltaAggregatedResources instead of StreamAggregatedResources. */
  readonly delta?: boolean;
  /** Checks the complete resource set a response would leave; an error message NACKs it. */
  readonly validate?: (typeUrl: string, resources: ReadonlyMap<string, ResourceObject>) => string | undefined;
  readonly onUpdate?: (u: AdsUpdate) => void;
  readonly onNack?: (typeUrl: string, error: string) => void;
  /** Stream failures (the client reconnects by itself). */
  readonly onStreamError?: (err: Error) => void;
  /** Reconnect backoff: initial delay, doubled per failure up to max (gRPC's connection backoff shape). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
}

/** A running ADS client. */
export interface AdsClient {
  /** Subscribes to `names` of `typeUrl` (omitted: wildcard), adding to any earlier names. */
  subscribe(typeUrl: string, names?: readonly string[]): void;
  /** Drops `names` of `typeUrl` from the subscription. */
  unsubscribe(typeUrl: string, names: readonly string[]): void;
  /** The resources held for `typeUrl`. */
  resources(typeUrl: string): ReadonlyMap<string, ResourceObject>;
  /** The last accepted version of `typeUrl`. */
  version(typeUrl: string): string | undefined;
  /** Streams opened so far (1 + reconnects). */
  readonly streams: number;
  /** Stops the client for good. */
  close(): void;
}

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  version?: string;
  nonce?: string;
  resources: Map<string, ResourceObject>;
  /** Delta: per-resource versions. */
  versions: Map<string, string>;
}

type Stream = grpc.ClientDuplexStream<ResourceObject, WireSotwResponse | WireDeltaResponse>;

/** createAdsClient connects to an ADS server and keeps the subscribed resources up to date. */
export function createAdsClient(opts: AdsClientOptions): AdsClient {
  const delta = opts.delta ?? false;
  const client = new grpc.Client(opts.target, opts.credentials ?? grpc.credentials.createInsecure(), opts.channelOptions);
  const types = new Map<string, TypeState>();
  const initialMs = opts.backoff?.initialMs ?? 100;
  const maxMs = opts.backoff?.maxMs ?? 30_000;
  let delay = initialMs;
  let stream: Stream | undefined;
  let sentNode = false;
  let closed = false;
  let streams = 0;
  let timer: NodeJS.Timeout | undefined;

  const state = (typeUrl: string): TypeState => {
    let t = types.get(typeUrl);
    if (!t) {
      t = { wildcard: false, names: new Set(), resources: new Map(), versions: new Map() };
      types.set(typeUrl, t);
    }
    return t;
  };

  const send = (req: ResourceObject): void => {
    if (!stream) return;
    stream.write(sentNode ? req : { ...req, node: opts.node });
    sentNode = true;
  };

  const sotwRequest = (typeUrl: string, t: TypeState, nonce?: string, error?: string): ResourceObject => ({
    typeUrl,
    resourceNames: t.wildcard ? (typeUrl === LISTENER_TYPE || typeUrl === CLUSTER_TYPE ? [] : ['*']) : [...t.names].sort(),
    ...(t.version !== undefined ? { versionInfo: t.version } : {}),
    ...(nonce !== undefined ? { responseNonce: nonce } : {}),
    ...(error !== undefined ? { errorDetail: { code: grpc.status.INVALID_ARGUMENT, message: error } } : {}),
  });

  const decodeAll = (typeUrl: string, items: { name?: string; typeUrl: string; value: Uint8Array }[]): { ok: Map<string, ResourceObject>; errors: string[] } => {
    const ok = new Map<string, ResourceObject>();
    const errors: string[] = [];
    for (const it of items) {
      if (it.typeUrl !== typeUrl) {
        errors.push(`resource of type ${it.typeUrl} in a ${typeUrl} response`);
        continue;
      }
      const r = decodeResource(typeUrl, it.value);
      if (!r.ok) errors.push(...r.errors);
      else ok.set(it.name ?? resourceName(typeUrl, r.value), r.value);
    }
    return { ok, errors };
  };

  const onSotw = (res: WireSotwResponse): void => {
    const t = state(res.typeUrl);
    const { ok, errors } = decodeAll(res.typeUrl, res.resources.map((a) => ({ typeUrl: a.typeUrl, value: a.value })));
    // LDS and CDS responses are the whole set: an omitted resource is removed. RDS and EDS
    // responses need not repeat unchanged resources, so omission means nothing there (xDS
    // protocol "Deleting resources"; grpc-node#1925).
    const fullSet = res.typeUrl === LISTENER_TYPE || res.typeUrl === CLUSTER_TYPE;
    const next = fullSet ? ok : new Map([...t.resources, ...ok]);
    const error = errors.length > 0 ? errors.join('; ') : opts.validate?.(res.typeUrl, next);
    t.nonce = res.nonce;
    if (error !== undefined) {
      // NACK: the previous version_info, this nonce, the reason; keep the last good set.
      send(sotwRequest(res.typeUrl, t, res.nonce, error));
      opts.onNack?.(res.typeUrl, error);
      return;
    }
    const removed = fullSet ? [...t.resources.keys()].filter((n) => !ok.has(n)) : [];
    t.resources = next;
    t.version = res.versionInfo;
    send(sotwRequest(res.typeUrl, t, res.nonce));
    opts.onUpdate?.({ typeUrl: res.typeUrl, version: res.versionInfo, resources: next, changed: [...ok.keys()], removed });
  };

  const onDelta = (res: WireDeltaResponse): void => {
    const t = state(res.typeUrl);
    const { ok, errors } = decodeAll(res.typeUrl, res.resources.map((r) => ({ name: r.name, typeUrl: r.resource.typeUrl, value: r.resource.value })));
    const next = new Map(t.resources);
    for (const [n, v] of ok) next.set(n, v);
    for (const n of res.removedResources) next.delete(n);
    const error = errors.length > 0 ? errors.join('; ') : opts.validate?.(res.typeUrl, next);
    if (error !== undefined) {
      send({ typeUrl: res.typeUrl, responseNonce: res.nonce, errorDetail: { code: grpc.status.INVALID_ARGUMENT, message: error } });
      opts.onNack?.(res.typeUrl, error);
      return;
    }
    t.resources = next;
    for (const r of res.resources) t.versions.set(r.name, r.version);
    for (const n of res.removedResources) t.versions.delete(n);
    t.version = res.systemVersionInfo;
    send({ typeUrl: res.typeUrl, responseNonce: res.nonce });
    opts.onUpdate?.({ typeUrl: res.typeUrl, version: res.systemVersionInfo, resources: next, changed: [...ok.keys()], removed: res.removedResources });
  };

  const deltaSubscribe = (typeUrl: string, t: TypeState, initial: boolean): ResourceObject => ({
    typeUrl,
    resourceNamesSubscribe: [...(t.wildcard ? ['*'] : []), ...[...t.names].sort()],
    ...(initial && t.versions.size > 0 ? { initialResourceVersions: Object.fromEntries(t.versions) } : {}),
  });

  const open = (): void => {
    if (closed) return;
    streams++;
    sentNode = false;
    const method = delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources';
    const s: Stream = client.makeBidiStreamRequest(
      `/${ADS_SERVICE_NAME}/${method}`,
      delta ? codec.encodeDeltaRequest : codec.encodeSotwRequest,
      (delta ? codec.decodeDeltaResponse : codec.decodeSotwResponse) as (b: Buffer) => WireSotwResponse | WireDeltaResponse,
    );
    stream = s;
    s.on('data', (res: WireSotwResponse | WireDeltaResponse) => {
      delay = initialMs;
      if (delta) onDelta(res as WireDeltaResponse);
      else onSotw(res as WireSotwResponse);
    });
    const retry = (err?: Error): void => {
      if (stream !== s) return;
      stream = undefined;
      if (err) opts.onStreamError?.(err);
      if (closed) return;
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, maxMs);
    };
    s.on('error', (e: Error) => retry(e));
    s.on('end', () => retry());
    // Resume every subscription, with the versions held (SotW version_info, Delta initial_resource_versions).
    for (const [typeUrl, t] of types) send(delta ? deltaSubscribe(typeUrl, t, true) : sotwRequest(typeUrl, t));
  };

  open();

  return {
    subscribe(typeUrl, names) {
      const t = state(typeUrl);
      const added = (names ?? []).filter((n) => !t.names.has(n));
      const becameWildcard = names === undefined && !t.wildcard;
      if (names === undefined) t.wildcard = true;
      for (const n of added) t.names.add(n);
      if (!becameWildcard && added.length === 0) return;
      if (delta) send({ typeUrl, resourceNamesSubscribe: becameWildcard ? ['*', ...added] : added });
      else send(sotwRequest(typeUrl, t, t.nonce));
    },
    unsubscribe(typeUrl, names) {
      const t = state(typeUrl);
      for (const n of names) {
        t.names.delete(n);
        t.resources.delete(n);
        t.versions.delete(n);
      }
      if (delta) send({ typeUrl, resourceNamesUnsubscribe: [...names] });
      else send(sotwRequest(typeUrl, t, t.nonce));
    },
    resources: (typeUrl) => types.get(typeUrl)?.resources ?? new Map(),
    version: (typeUrl) => types.get(typeUrl)?.version,
    get streams() {
      return streams;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      const s = stream;
      stream = undefined;
      s?.cancel();
      client.close();
    },
  };
}
