/**
 * The server side of ADS over grpc-js, SotW and Delta. The owner (pilot) decides what each proxy
 * gets: it is asked once per stream for the proxy's snapshot (onConnect) and later pushes new
 * snapshots with pushSnapshot; this module runs the protocol (pure reducers in sotw.ts/delta.ts)
 * and reports ACKs, NACKs, pushes and disconnects through hooks, for /debug/syncz and metrics.
 *
 * Push order: within one snapshot, types go out CDS → EDS → LDS → RDS (→ SDS), the order Envoy's
 * xDS protocol recommends under ADS so that nothing refers to a resource the proxy lacks yet.
 * We do not wait for the CDS ACK before sending LDS (Istio does not either); the snapshot's
 * consistency check ensures every reference resolves within the snapshot being sent.
 */
import * as grpc from '@grpc/grpc-js';
import { deltaOnPush, deltaOnRequest, newDeltaStream, type DeltaCurrent, type DeltaEvent, type DeltaRespond, type DeltaStreamState } from './delta.js';
import { AdsRefusedError } from './errors.js';
import { SendWindow } from './send-window.js';
import { shortTypeName, type PackedAny, type ResourceObject } from './resources.js';
import { pushOrder, type Snapshot, type TypeSnapshot } from './snapshot.js';
import { newSotwStream, sotwOnPush, sotwOnRequest, type SotwEvent, type SotwRequest, type SotwRespond, type SotwStreamState } from './sotw.js';
import { adsServiceDefinition, encodeDeltaBody, encodeSotwBody, type WireDeltaResponse, type WireSotwResponse } from './wire.js';
import type { DeltaRequest } from './delta.js';

/** TLS facts of a stream, as grpc-js reports them (its AuthContext type is not exported from the package root). */
export type AuthContext = ReturnType<grpc.ServerDuplexStream<unknown, unknown>['getAuthContext']>;

/** Sync state of one type on one connection (what /debug/syncz shows). */
export interface TypeSyncStatus {
  readonly typeUrl: string;
  /** cds, eds, lds, rds, sds. */
  readonly type: string;
  readonly subscribed: '*' | readonly string[];
  readonly sentVersion?: string;
  readonly sentNonce?: string;
  readonly ackedVersion?: string;
  readonly nackedVersion?: string;
  readonly lastError?: string;
  readonly pushes: number;
  readonly acks: number;
  readonly nacks: number;
}

/** One proxy's ADS stream. */
export interface AdsConnection {
  /** Unique per server process ("<node id>-<n>"). */
  readonly id: string;
  /** The Node of the first request, in object form (metadata as plain JSON). */
  readonly node: ResourceObject;
  readonly nodeId: string;
  readonly delta: boolean;
  readonly peer: string;
  /** TLS facts of the stream (peer certificate on the mTLS port 15012), for identity checks in onConnect. */
  readonly authContext: AuthContext;
  /** The stream's request metadata (e.g. an `authorization` bearer token). */
  readonly metadata: grpc.Metadata;
  readonly connectedAt: Date;
  /** The snapshot this connection serves from (the last pushed). */
  readonly snapshot: Snapshot | undefined;
  /** Per-type sync state, keyed by type URL. */
  status(): Record<string, TypeSyncStatus>;
  /** Ends the stream (OK status), e.g. to make the proxy reconnect to another replica. */
  close(): void;
}

/** The owner's side: how to find a proxy's snapshot, and what to tell it. */
export interface AdsServerHooks {
  /**
   * A stream's first request arrived: returns the proxy's current snapshot (undefined: nothing
   * yet, push one later). Throw AdsRefusedError to refuse the stream with a gRPC status.
   */
  onConnect(conn: AdsConnection): Snapshot | undefined | Promise<Snapshot | undefined>;
  onAck?(conn: AdsConnection, typeUrl: string, version: string): void;
  onNack?(conn: AdsConnection, typeUrl: string, version: string, error: string): void;
  /** A response went out: `count` resources (Delta: changed ones) and `removed` names. */
  onPush?(conn: AdsConnection, typeUrl: string, version: string, count: number, removed: number): void;
  onDisconnect?(conn: AdsConnection, error?: Error): void;
  /**
   * A request changed what the stream subscribes to for a type (`'*'` = wildcard). The owner may
   * generate names it could not know before (a proxyless gRPC client's listener names) and push.
   */
  onSubscribe?(conn: AdsConnection, typeUrl: string, subscribed: '*' | readonly string[]): void;
}

/** Bytes of responses in flight to all proxies before further writes wait (see SendWindow). */
export const DEFAULT_SEND_WINDOW_BYTES = 64 * 1024 * 1024;

/** Options of createAdsServer. */
export interface AdsServerOptions {
  /** Bound on response bytes handed to grpc-js and not yet flushed, over all streams (default 64 MiB). */
  readonly sendWindowBytes?: number;
}

/** An ADS service to add to a grpc.Server, and the connections it holds. */
export interface AdsServer {
  readonly service: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
  /** Connected proxies (streams past their first request). */
  connections(): AdsConnection[];
  /** Ends every stream (for graceful shutdown). */
  closeAll(): void;
}

type Call<Req, Res> = grpc.ServerDuplexStream<Req, Res>;

abstract class ConnectionBase implements AdsConnection {
  /** noteSubscription tells the owner when a request changed what the stream subscribes to for a type. */
  protected noteSubscription(typeUrl: string, before: { wildcard: boolean; names: readonly string[] } | undefined, after: { wildcard: boolean; names: readonly string[] } | undefined): void {
    if (!after || (before && before.wildcard === after.wildcard && before.names.join('\n') === after.names.join('\n'))) return;
    this.hooks.onSubscribe?.(this, typeUrl, after.wildcard ? '*' : after.names);
  }

  id = '';
  node: ResourceObject = {};
  nodeId = '';
  snapshot: Snapshot | undefined;
  readonly connectedAt = new Date();
  closed = false;
  readonly peer: string;
  readonly authContext: AuthContext;
  readonly metadata: grpc.Metadata;
  /** close() was called: writes still waiting in the send window are dropped. */
  private ending = false;
  /** Flush callbacks of writes handed to grpc-js and not yet flushed, released if the stream goes away. */
  private readonly unflushed = new Set<() => void>();
  constructor(
    readonly delta: boolean,
    private readonly rawCall: Call<ResourceObject, unknown>,
    protected readonly hooks: AdsServerHooks,
    private readonly window: SendWindow,
  ) {
    this.peer = rawCall.getPeer();
    this.authContext = rawCall.getAuthContext();
    this.metadata = rawCall.metadata;
  }
  abstract status(): Record<string, TypeSyncStatus>;
  abstract push(snapshot: Snapshot): number;
  close(): void {
    if (this.closed) return;
    this.ending = true;
    this.rawCall.end();
  }

  /** write sends one response through the server's send window (`bytes`: its encoded size). */
  protected write(msg: WireSotwResponse | WireDeltaResponse, bytes: number): void {
    this.window.submit(bytes, (done) => {
      if (this.closed || this.ending) return done();
      this.unflushed.add(done);
      this.rawCall.write(msg, () => {
        this.unflushed.delete(done);
        done();
      });
    });
  }

  /** The stream ended: what it still held in the send window is given back. */
  released(): void {
    for (const done of [...this.unflushed]) done();
    this.unflushed.clear();
  }
}

/** What both reducers keep per type that /debug/syncz and subscription changes read. */
interface TypeStateView {
  readonly wildcard: boolean;
  readonly names: readonly string[];
  readonly sentVersion?: string;
  readonly sentNonce?: string;
  readonly ackedVersion?: string;
  readonly nackedVersion?: string;
  readonly lastError?: string;
  readonly pushes: number;
  readonly acks: number;
  readonly nacks: number;
}

/** syncStatus returns a stream's per-type sync state (SotW and Delta alike). */
function syncStatus(types: Readonly<Record<string, TypeStateView>>): Record<string, TypeSyncStatus> {
  return Object.fromEntries(
    Object.entries(types).map(([t, s]) => [
      t,
      { typeUrl: t, type: shortTypeName(t), subscribed: s.wildcard ? '*' : s.names, sentVersion: s.sentVersion, sentNonce: s.sentNonce, ackedVersion: s.ackedVersion, nackedVersion: s.nackedVersion, lastError: s.lastError, pushes: s.pushes, acks: s.acks, nacks: s.nacks },
    ]),
  );
}

class SotwConnection extends ConnectionBase {
  state: SotwStreamState = newSotwStream();
  constructor(call: Call<ResourceObject, WireSotwResponse>, hooks: AdsServerHooks, window: SendWindow) {
    super(false, call as Call<ResourceObject, unknown>, hooks, window);
  }

  status(): Record<string, TypeSyncStatus> {
    return syncStatus(this.state.types);
  }

  onRequest(req: SotwRequest): void {
    const before = this.state.types[req.typeUrl];
    const step = sotwOnRequest(this.state, req, this.snapshot?.types[req.typeUrl]?.version);
    this.state = step.state;
    this.report(step.event);
    if (step.respond) this.send(step.respond);
    this.noteSubscription(req.typeUrl, before, this.state.types[req.typeUrl]);
  }

  push(snapshot: Snapshot): number {
    this.snapshot = snapshot;
    let sent = 0;
    for (const typeUrl of pushOrder(snapshot)) {
      const r = sotwOnPush(this.state, typeUrl, snapshot.types[typeUrl].version);
      this.state = r.state;
      if (r.respond) {
        this.send(r.respond);
        sent++;
      }
    }
    return sent;
  }

  private report(e: SotwEvent): void {
    if (e.kind === 'ack') this.hooks.onAck?.(this, e.typeUrl, e.version);
    else if (e.kind === 'nack') this.hooks.onNack?.(this, e.typeUrl, e.version, e.error);
  }

  private send(r: SotwRespond): void {
    if (this.closed) return;
    const ts = this.snapshot?.types[r.typeUrl];
    const { body, count } = ts && ts.version === r.version ? sotwBody(r.typeUrl, ts, r.wildcard, r.names) : { body: encodeSotwBody(r.version, r.typeUrl, []), count: 0 };
    this.write({ versionInfo: r.version, typeUrl: r.typeUrl, nonce: r.nonce, resources: [], body }, body.length);
    this.hooks.onPush?.(this, r.typeUrl, r.version, count, 0);
  }
}

const sotwBodies = new WeakMap<TypeSnapshot, Map<string, { body: Buffer; count: number }>>();
/**
 * The nonce-less DiscoveryResponse for one subscription to one snapshot type, encoded once and
 * shared by every stream with the same subscription (a push to N identical proxies encodes once).
 */
function sotwBody(typeUrl: string, ts: TypeSnapshot, wildcard: boolean, names: readonly string[]): { body: Buffer; count: number } {
  let byNames = sotwBodies.get(ts);
  if (!byNames) {
    byNames = new Map();
    sotwBodies.set(ts, byNames);
  }
  const key = wildcard ? '*' : names.join('\n');
  let hit = byNames.get(key);
  if (!hit) {
    const resources: PackedAny[] = [];
    if (wildcard) for (const e of ts.resources.values()) resources.push({ typeUrl, value: e.value });
    else
      for (const n of names) {
        const e = ts.resources.get(n);
        if (e) resources.push({ typeUrl, value: e.value });
      }
    hit = { body: encodeSotwBody(ts.version, typeUrl, resources), count: resources.length };
    // Bounded: a type with very many distinct subscriptions (EDS per proxy) just re-encodes.
    if (byNames.size < 1000) byNames.set(key, hit);
  }
  return hit;
}

const deltaViews = new WeakMap<TypeSnapshot, DeltaCurrent>();
/** name → version view of a type, computed once per TypeSnapshot and shared by all Delta streams. */
function deltaView(ts: TypeSnapshot | undefined): DeltaCurrent | undefined {
  if (!ts) return undefined;
  let v = deltaViews.get(ts);
  if (!v) {
    v = { version: ts.version, resources: Object.fromEntries([...ts.resources.values()].map((e) => [e.name, e.version])) };
    deltaViews.set(ts, v);
  }
  return v;
}

const deltaBodies = new WeakMap<DeltaRespond['resources'], { ts: TypeSnapshot | undefined; removed: DeltaRespond['removed']; version: string; body: Buffer; count: number }>();
/**
 * The nonce-less DeltaDiscoveryResponse for `r`, encoded once per change list: streams whose
 * client held the same resources share the reducer's change list (delta.ts), so a push to N
 * such streams encodes once.
 */
function deltaBody(r: DeltaRespond, ts: TypeSnapshot | undefined): { body: Buffer; count: number } {
  const hit = deltaBodies.get(r.resources);
  if (hit && hit.ts === ts && hit.removed === r.removed && hit.version === r.systemVersionInfo) return hit;
  const resources: WireDeltaResponse['resources'][number][] = [];
  for (const { name, version } of r.resources) {
    const e = ts?.resources.get(name);
    if (e) resources.push({ name, version, resource: { typeUrl: r.typeUrl, value: e.value } });
  }
  const body = encodeDeltaBody({ systemVersionInfo: r.systemVersionInfo, typeUrl: r.typeUrl, resources, removedResources: r.removed });
  const out = { ts, removed: r.removed, version: r.systemVersionInfo, body, count: resources.length };
  deltaBodies.set(r.resources, out);
  return out;
}

class DeltaConnection extends ConnectionBase {
  state: DeltaStreamState = newDeltaStream();
  constructor(call: Call<ResourceObject, WireDeltaResponse>, hooks: AdsServerHooks, window: SendWindow) {
    super(true, call as Call<ResourceObject, unknown>, hooks, window);
  }

  status(): Record<string, TypeSyncStatus> {
    return syncStatus(this.state.types);
  }

  onRequest(req: DeltaRequest): void {
    const before = this.state.types[req.typeUrl];
    const step = deltaOnRequest(this.state, req, deltaView(this.snapshot?.types[req.typeUrl]));
    this.state = step.state;
    step.events.forEach((e) => this.report(e));
    if (step.respond) this.send(step.respond);
    this.noteSubscription(req.typeUrl, before, this.state.types[req.typeUrl]);
  }

  push(snapshot: Snapshot): number {
    this.snapshot = snapshot;
    let sent = 0;
    for (const typeUrl of pushOrder(snapshot)) {
      const r = deltaOnPush(this.state, typeUrl, deltaView(snapshot.types[typeUrl]) as DeltaCurrent);
      this.state = r.state;
      if (r.respond) {
        this.send(r.respond);
        sent++;
      }
    }
    return sent;
  }

  private report(e: DeltaEvent): void {
    if (e.kind === 'ack') this.hooks.onAck?.(this, e.typeUrl, e.version);
    else if (e.kind === 'nack') this.hooks.onNack?.(this, e.typeUrl, e.version, e.error);
  }

  private send(r: DeltaRespond): void {
    if (this.closed) return;
    const { body, count } = deltaBody(r, this.snapshot?.types[r.typeUrl]);
    this.write({ systemVersionInfo: r.systemVersionInfo, typeUrl: r.typeUrl, nonce: r.nonce, resources: [], removedResources: [], body }, body.length);
    this.hooks.onPush?.(this, r.typeUrl, r.systemVersionInfo, count, r.removed.length);
  }
}

/**
 * pushSnapshot makes `conn` serve `snapshot` and sends, in push order, only the types (SotW) or
 * resources (Delta) that changed since what the proxy was sent; returns the responses sent.
 */
export function pushSnapshot(conn: AdsConnection, snapshot: Snapshot): number {
  return (conn as ConnectionBase).push(snapshot);
}

/**
 * createAdsServer returns the ADS service implementation (SotW and Delta) driven by `hooks`;
 * add it to a grpc.Server with `server.addService(ads.service, ads.implementation)`, or use
 * listenAds.
 */
export function createAdsServer(hooks: AdsServerHooks, opts: AdsServerOptions = {}): AdsServer {
  const live = new Set<ConnectionBase>();
  const window = new SendWindow(opts.sendWindowBytes ?? DEFAULT_SEND_WINDOW_BYTES);
  let seq = 0;

  function serve<C extends SotwConnection | DeltaConnection>(call: Call<ResourceObject, unknown>, conn: C, handle: (req: ResourceObject) => void): void {
    let chain: Promise<void> = Promise.resolve();
    let started = false;
    const finish = (err?: Error): void => {
      if (conn.closed) return;
      conn.closed = true;
      conn.released();
      if (live.delete(conn)) hooks.onDisconnect?.(conn, err);
    };
    const fail = (err: Error): void => {
      const code = err instanceof AdsRefusedError ? err.grpcCode : grpc.status.INTERNAL;
      finish(err);
      call.emit('error', { code, details: err.message });
    };
    call.on('data', (req: ResourceObject) => {
      chain = chain
        .then(async () => {
          if (conn.closed) return;
          if (!started) {
            started = true;
            conn.node = (req.node as ResourceObject | undefined) ?? {};
            conn.nodeId = String(conn.node.id ?? '');
            conn.id = `${conn.nodeId}-${++seq}`;
            conn.snapshot = await hooks.onConnect(conn);
            if (conn.closed) return;
            live.add(conn);
          }
          handle(req);
        })
        .catch(fail);
    });
    call.on('end', () => {
      finish();
      call.end();
    });
    call.on('cancelled', () => finish());
    call.on('error', (e: Error) => finish(e));
    call.on('close', () => finish());
  }

  const implementation: grpc.UntypedServiceImplementation = {
    streamAggregatedResources: (call: Call<ResourceObject, WireSotwResponse>) => {
      const conn = new SotwConnection(call, hooks, window);
      serve(call as Call<ResourceObject, unknown>, conn, (req) => conn.onRequest(req as unknown as SotwRequest));
    },
    deltaAggregatedResources: (call: Call<ResourceObject, WireDeltaResponse>) => {
      const conn = new DeltaConnection(call, hooks, window);
      serve(call as Call<ResourceObject, unknown>, conn, (req) => conn.onRequest(req as unknown as DeltaRequest));
    },
  };

  return {
    service: adsServiceDefinition(),
    implementation,
    connections: () => [...live],
    closeAll: () => {
      for (const c of [...live]) c.close();
    },
  };
}

/** A grpc.Server listening with an AdsServer. */
export interface ListeningAds {
  readonly server: grpc.Server;
  readonly port: number;
  /** Ends every stream, then shuts the server down. */
  close(): Promise<void>;
}

/**
 * listenAds starts a grpc.Server serving `ads` on `host:port` (port 0 = ephemeral) with the given
 * credentials (insecure by default: pilot's plaintext 15010) and resolves once it is bound.
 */
export function listenAds(ads: AdsServer, opts: { host?: string; port?: number; credentials?: grpc.ServerCredentials; options?: grpc.ServerOptions } = {}): Promise<ListeningAds> {
  const server = new grpc.Server(opts.options);
  server.addService(ads.service, ads.implementation);
  const host = opts.host ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${opts.port ?? 0}`, opts.credentials ?? grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) return reject(err);
      resolve({
        server,
        port,
        close: () =>
          new Promise<void>((res) => {
            ads.closeAll();
            server.tryShutdown(() => res());
            // Streams the peer never half-closes would hold tryShutdown forever.
            setTimeout(() => server.forceShutdown(), 1000).unref();
          }),
      });
    });
  });
}
