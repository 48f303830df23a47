/**
 * What a sidecar reports about its traffic, as Istio's proxies do: every finished exchange becomes
 * a telemetry RequestRecord — reporter `source` on outbound listeners, `destination` on inbound
 * ones; this workload on its side, the other side from the upstream endpoint's and cluster's
 * Istio metadata (or unknown, as Istio says when peer metadata is missing) — which updates the
 * standard istio_* metrics and writes one access log line in Istio's JSON format.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { WORKLOAD_CERT_SECRET, type ClusterManager, type DownstreamInfo, type EngineExchangeRecord, type EngineTcpRecord, type FilterChainPlan, type ListenerPlanExt, type RequestHead, type SecretProvider, type AccessLogAttributes, type AccessLogPlan, type Endpoint } from '@meshwork/proxy';
import { AccessLogWriter, IstioMetrics, responseFlagsOf, type DestinationService, type PeerInfo, type RequestRecord } from '@meshwork/telemetry';
import { Counter, Registry } from 'prom-client';

export interface ProxyTelemetryOptions {
  /** This workload, as it appears in the metrics of the traffic it sends and receives. */
  readonly self: PeerInfo;
  readonly clusters: ClusterManager;
  /** Where access log lines go (stdout); undefined: no access log. */
  readonly accessLog?: Writable;
  /** Every finished request record and TCP close (mixer's feed over NATS); must not block. */
  readonly onRecord?: (r: RequestRecord) => void;
  /** SDS secrets: this workload's own identity (`default`'s SPIFFE ID) is the destination principal of inbound mTLS. */
  readonly secrets?: SecretProvider;
  /** Where `/dev/stdout` access logs from pilot's config go (the app passes process.stdout); default: `accessLog`. */
  readonly stdout?: Writable;
  /** The source workload an inbound request's peer metadata names (Istio's metadata exchange), if any. */
  readonly inboundPeer?: (req: RequestHead) => PeerInfo | undefined;
  /** The listener manager's connection counters (`listener.0.0.0.0_15006.ssl.handshake` …), exported as Envoy's `envoy_listener_*{envoy_listener_address}`. */
  readonly listenerStats?: () => ReadonlyMap<string, number>;
}

const UNKNOWN: PeerInfo = {};
/** The destination service of records without cluster metadata (inbound, or an unknown cluster). */
const NO_SERVICE: DestinationService = {};

/** What the records to one endpoint share. */
/** A cluster's Istio metadata (service host/name/namespace, subset), as the engine compiled it. */
type ClusterMeta = NonNullable<ReturnType<ClusterManager['get']>>['plan']['meta'];

interface UpstreamInfo {
  readonly cluster: string | undefined;
  /** The cluster metadata `peer` was made from (a CDS update replaces it). */
  readonly meta: object | undefined;
  readonly peer: PeerInfo;
  readonly host: string;
}

/** A downstream connection's `ip:port` strings. */
interface ConnectionAddresses {
  readonly local: string | undefined;
  readonly remote: string | undefined;
}

/** The policy an RBAC denial names: `rbac_access_denied_matched_policy[ns[x]-policy[y]-rule[0]]` → `ns[x]-policy[y]-rule[0]` (`none`: no ALLOW policy matched). */
export function deniedPolicy(details: string | undefined): string | undefined {
  const prefix = 'rbac_access_denied_matched_policy[';
  if (!details?.startsWith(prefix) || !details.endsWith(']')) return undefined;
  return details.slice(prefix.length, -1);
}

/** mtlsPeer returns the verified peer identity of a connection that was mutual TLS (a client certificate was presented and verified). */
function mtlsPeer(down: DownstreamInfo | undefined): string | undefined {
  const ids = down?.tls?.peerIdentities;
  return ids && ids.length > 0 ? ids[0] : undefined;
}

/** headerRecord returns a flat header list as an object (first value wins), for access-log filters. */
function headerRecord(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) if (!(list[i] in out)) out[list[i]] = list[i + 1];
  return out;
}

/** accessLogAttributes returns Envoy's attributes of a finished exchange, as access-log filters read them. */
function accessLogAttributes(rec: EngineExchangeRecord, r: RequestRecord): AccessLogAttributes {
  const q = rec.request.path.indexOf('?');
  return {
    request: {
      method: rec.request.method,
      path: rec.request.path,
      url_path: q < 0 ? rec.request.path : rec.request.path.slice(0, q),
      host: rec.request.authority,
      protocol: rec.protocol,
      ...(r.requestId ? { id: r.requestId } : {}),
      ...(r.userAgent ? { useragent: r.userAgent } : {}),
      size: rec.requestBodyBytes,
      headers: headerRecord(rec.request.headers.list),
      duration_ms: rec.durationMs,
    },
    response: {
      code: rec.status,
      flags: r.responseFlags,
      size: rec.responseBodyBytes,
      ...(rec.responseCodeDetails ? { code_details: rec.responseCodeDetails } : {}),
      ...(rec.grpcStatus !== undefined ? { grpc_status: rec.grpcStatus } : {}),
    },
    connection: { mtls: r.securityPolicy === 'mutual_tls', ...(rec.downstream.tls?.sni ? { requested_server_name: rec.downstream.tls.sni } : {}) },
    source: { address: rec.downstream.remoteAddress, port: rec.downstream.remotePort },
    destination: { address: rec.downstream.localAddress, port: rec.downstream.localPort },
    ...(rec.upstream ? { upstream: { address: rec.upstream.address, port: rec.upstream.port } } : {}),
    xds: { ...(rec.cluster ? { cluster_name: rec.cluster } : {}), ...(rec.route ? { route_name: rec.route } : {}) },
  };
}

/** ProxyTelemetry turns a proxy's exchanges into Istio metrics and access log lines. */
export class ProxyTelemetry {
  readonly registry = new Registry();
  readonly metrics = new IstioMetrics({ registry: this.registry });
  private readonly log?: AccessLogWriter;
  /** Writers of the access logs pilot's HCMs declare, by path and format. */
  private readonly writers = new Map<string, AccessLogWriter>();
  private readonly peers = new Map<string, PeerInfo>();
  /** Per endpoint: the destination peer and `ip:port` its records share. */
  private readonly upstreams = new WeakMap<Endpoint, UpstreamInfo>();
  /** Per downstream connection: its address strings. */
  private readonly connections = new WeakMap<DownstreamInfo, ConnectionAddresses>();
  /** Per cluster metadata object: the destination service. */
  private readonly services = new WeakMap<object, DestinationService>();
  /** Inbound mTLS peers by principal, and this workload with its principal (one object per value: the metrics cache keys on identity). */
  private readonly sources = new Map<string, PeerInfo>();
  private readonly withMeta = new WeakMap<PeerInfo, Map<string, PeerInfo>>();
  private selfWithPrincipal: PeerInfo | undefined;
  /** Envoy's `http.<stat_prefix>.rbac.denied`, with the denying policy as a label. */
  private readonly httpRbacDenied = new Counter({ name: 'envoy_http_rbac_denied', help: 'Requests denied by the RBAC HTTP filter, by connection manager stat prefix and policy', labelNames: ['envoy_http_conn_manager_prefix', 'policy'], registers: [this.registry] });
  /** Envoy's `tcp.rbac.denied` (Istio's network RBAC stat prefix `tcp.`), with the denying policy as a label. */
  private readonly tcpRbacDenied = new Counter({ name: 'envoy_tcp_rbac_denied', help: 'Connections closed by the RBAC network filter, by policy', labelNames: ['policy'], registers: [this.registry] });

  constructor(private readonly opts: ProxyTelemetryOptions) {
    if (opts.accessLog) this.log = new AccessLogWriter({ stream: opts.accessLog });
    const stats = opts.listenerStats;
    if (stats) this.listenerCounters(stats);
  }

  /**
   * http records one HTTP/1.1 or HTTP/2 exchange. Access logs: the ones the chain's HCM declares
   * (pilot's translation of the Telemetry resource: path, format, CEL filter) when it declares
   * any, else the sidecar's own (--access-log).
   */
  http(rec: EngineExchangeRecord, listener: ListenerPlanExt, chain?: FilterChainPlan): void {
    const r = this.record(rec, listener);
    this.metrics.recordRequest(r);
    const plans = chain?.handler.kind === 'http' ? chain.handler.telemetry?.accessLogs : undefined;
    if (plans && plans.length > 0) {
      let attrs: AccessLogAttributes | undefined;
      for (const plan of plans) {
        if (plan.filter && !plan.filter((attrs ??= accessLogAttributes(rec, r)))) continue;
        this.writerFor(plan)?.log(r);
      }
    } else this.log?.log(r);
    this.opts.onRecord?.(r);
    const policy = deniedPolicy(rec.responseCodeDetails);
    if (policy !== undefined) this.httpRbacDenied.inc({ envoy_http_conn_manager_prefix: rec.statPrefix ?? '', policy });
  }

  /** writerFor returns the writer of an access log's path and format: /dev/stdout is the sidecar's log stream, other paths are appended to. */
  private writerFor(plan: AccessLogPlan): AccessLogWriter | undefined {
    const key = `${plan.path}|${plan.format}`;
    let w = this.writers.get(key);
    if (!w) {
      const stream = plan.path === '/dev/stdout' ? (this.opts.stdout ?? this.opts.accessLog) : createWriteStream(plan.path, { flags: 'a' }).on('error', () => undefined);
      if (!stream) return undefined;
      this.writers.set(key, (w = new AccessLogWriter({ stream, encoding: plan.format })));
    }
    return w;
  }

  /**
   * tcpOpen records a TCP connection whose upstream is now connected: istio_tcp_connections_opened_total
   * and the open record for mixer, as Istio's sidecars count it when it opens.
   */
  tcpOpen(rec: EngineTcpRecord, listener: ListenerPlanExt): void {
    const open: RequestRecord = { ...this.tcpBase(rec, listener), tcpEvent: 'open', bytesReceived: 0, bytesSent: 0 };
    this.metrics.recordTcp(open);
    this.opts.onRecord?.(open);
  }

  /** tcpReport records the bytes an open TCP connection moved since its last report (a `report` event: byte counters only). */
  tcpReport(rec: EngineTcpRecord, listener: ListenerPlanExt): void {
    const report: RequestRecord = { ...this.tcpBase(rec, listener), tcpEvent: 'report', bytesReceived: rec.sentBytes, bytesSent: rec.receivedBytes };
    this.metrics.recordTcp(report);
    this.opts.onRecord?.(report);
  }

  /**
   * tcp records a finished TCP connection: its close, and its open too when tcpOpen did not see
   * it (the upstream was never connected, or a network filter closed it, which is logged with why).
   */
  tcp(rec: EngineTcpRecord, listener: ListenerPlanExt): void {
    const base = this.tcpBase(rec, listener);
    const policy = deniedPolicy(rec.connectionTerminationDetails);
    if (policy !== undefined) this.tcpRbacDenied.inc({ policy });
    if (!rec.opened) {
      // Mixer counts istio_tcp_connections_opened_total (and a tcp edge's connections) from open records: both go to the feed.
      const open: RequestRecord = { ...base, tcpEvent: 'open', bytesReceived: 0, bytesSent: 0 };
      this.metrics.recordTcp(open);
      this.opts.onRecord?.(open);
    }
    // Counters and the feed get the bytes no report carried; the access log line the connection's totals.
    const rs = rec.reportedSentBytes ?? 0;
    const rr = rec.reportedReceivedBytes ?? 0;
    const close: RequestRecord = { ...base, tcpEvent: 'close', bytesReceived: rec.sentBytes - rs, bytesSent: rec.receivedBytes - rr };
    this.metrics.recordTcp(close);
    this.log?.log(rs === 0 && rr === 0 ? close : { ...close, bytesReceived: rec.sentBytes, bytesSent: rec.receivedBytes });
    this.opts.onRecord?.(close);
  }

  /** tcpBase returns what a TCP connection's open and close records share. */
  private tcpBase(rec: EngineTcpRecord, listener: ListenerPlanExt) {
    const outbound = listener.trafficDirection !== 'INBOUND';
    const meta = this.clusterMeta(rec.cluster);
    const dest = outbound ? this.peerOf(meta, undefined) : this.opts.self;
    const peer = outbound ? undefined : mtlsPeer(rec.downstream);
    const down = rec.downstream;
    const conn = down ? this.connectionOf(down) : undefined;
    const base = {
      reporter: outbound ? 'source' : 'destination',
      protocol: 'tcp',
      startTime: Date.now() - rec.durationMs,
      source: outbound ? this.opts.self : this.sourceOf(peer),
      destination: peer !== undefined ? this.selfMtls() : dest,
      destinationService: this.serviceOf(meta),
      responseCode: 0,
      responseFlags: responseFlagsOf(rec.flags),
      securityPolicy: outbound ? 'unknown' : peer !== undefined ? 'mutual_tls' : 'none',
      durationMs: rec.durationMs,
      ...(rec.cluster ? { upstreamCluster: rec.cluster } : {}),
      ...(rec.upstream ? { upstreamHost: rec.upstream } : {}),
      ...(rec.connectionTerminationDetails ? { connectionTerminationDetails: rec.connectionTerminationDetails } : {}),
      ...(down?.tls?.sni ? { requestedServerName: down.tls.sni } : {}),
      ...(conn?.remote ? { downstreamRemoteAddress: conn.remote } : {}),
      ...(conn?.local ? { downstreamLocalAddress: conn.local } : {}),
    } as const;
    return base;
  }

  /** prometheus returns the exposition of the istio_* metrics. */
  async prometheus(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  async close(): Promise<void> {
    await this.log?.close();
    await Promise.all([...this.writers.values()].map((w) => w.close()));
  }

  /**
   * record returns the RequestRecord of an exchange. Built as one object literal with every field
   * (absent ones undefined, as record-wire's decoder makes them) and, besides the per-request
   * values, only objects and strings shared per cluster, endpoint and connection: with telemetry
   * publishing on, each record waits up to a second for its batch, and a record that is one small
   * object is cheaper for the garbage collector to keep than one with its own peers, service and
   * address strings (and its encoder and readers see one shape).
   */
  private record(rec: EngineExchangeRecord, listener: ListenerPlanExt): RequestRecord {
    const outbound = listener.trafficDirection !== 'INBOUND';
    const down = rec.downstream;
    // Inbound: the client certificate's identity is the source principal; then this workload is the destination principal (Istio's mTLS labels).
    const peer = outbound ? undefined : mtlsPeer(down);
    const up = rec.upstream;
    // One cluster lookup per record: the destination peer, service and upstream host all read its metadata.
    const meta = this.clusterMeta(rec.cluster);
    const upstream = up ? this.upstreamOf(rec.cluster, meta, up) : undefined;
    const conn = this.connectionOf(down);
    // The request headers the record reads, in one pass (first value wins, as Headers.get).
    const l = rec.request.headers.list;
    let originalPath: string | undefined, userAgent: string | undefined, xForwardedFor: string | undefined, requestId: string | undefined, traceparent: string | undefined;
    for (let i = 0; i < l.length; i += 2) {
      switch (l[i]) {
        case 'x-envoy-original-path':
          originalPath ??= l[i + 1];
          break;
        case 'user-agent':
          userAgent ??= l[i + 1];
          break;
        case 'x-forwarded-for':
          xForwardedFor ??= l[i + 1];
          break;
        case 'x-request-id':
          requestId ??= l[i + 1];
          break;
        case 'traceparent':
          traceparent ??= l[i + 1];
          break;
      }
    }
    return {
      reporter: outbound ? 'source' : 'destination',
      protocol: rec.grpc ? 'grpc' : 'http',
      tcpEvent: undefined,
      startTime: rec.startTime,
      source: outbound ? this.opts.self : this.sourceOf(peer, this.opts.inboundPeer?.(rec.request)),
      destination: outbound ? (upstream?.peer ?? this.peerOf(meta, undefined)) : peer !== undefined ? this.selfMtls() : this.opts.self,
      destinationService: outbound ? this.serviceOf(meta) : NO_SERVICE,
      method: rec.request.method,
      path: originalPath ?? rec.request.path,
      authority: rec.request.authority,
      httpProtocol: rec.protocol,
      userAgent,
      xForwardedFor,
      requestId,
      responseCode: rec.status,
      grpcStatus: rec.grpcStatus,
      responseFlags: responseFlagsOf(rec.flags),
      responseCodeDetails: rec.responseCodeDetails,
      connectionTerminationDetails: undefined,
      upstreamTransportFailureReason: undefined,
      // Istio: the source reporter says `unknown`; the destination says `mutual_tls` for an mTLS connection, else `none`.
      securityPolicy: outbound ? 'unknown' : peer !== undefined ? 'mutual_tls' : 'none',
      durationMs: rec.durationMs,
      upstreamServiceTimeMs: rec.upstreamServiceTimeMs,
      bytesReceived: rec.requestBodyBytes,
      bytesSent: rec.responseBodyBytes,
      upstreamCluster: rec.cluster || undefined,
      upstreamHost: upstream?.host,
      upstreamLocalAddress: undefined,
      downstreamLocalAddress: conn.local,
      downstreamRemoteAddress: conn.remote,
      requestedServerName: down.tls?.sni || undefined,
      routeName: rec.route || undefined,
      traceId: traceparent !== undefined && traceparent.length >= 35 && traceparent[2] === '-' ? traceparent.slice(3, 35) : undefined,
      spanId: undefined,
    };
  }

  /** upstreamOf returns what every record to this endpoint of this cluster shares: the destination workload and `ip:port` (cached per endpoint while the cluster's metadata stays). */
  private upstreamOf(cluster: string | undefined, meta: ClusterMeta, e: Endpoint): UpstreamInfo {
    let u = this.upstreams.get(e);
    if (u === undefined || u.cluster !== cluster || u.meta !== meta) {
      u = { cluster, meta, peer: this.peerOf(meta, e.meta), host: `${e.address}:${e.port}` };
      this.upstreams.set(e, u);
    }
    return u;
  }

  /** connectionOf returns a downstream connection's local and remote `ip:port` (made once per connection). */
  private connectionOf(down: DownstreamInfo): ConnectionAddresses {
    let c = this.connections.get(down);
    if (c === undefined) {
      c = { local: down.localAddress ? `${down.localAddress}:${down.localPort}` : undefined, remote: down.remoteAddress ? `${down.remoteAddress}:${down.remotePort}` : undefined };
      this.connections.set(down, c);
    }
    return c;
  }

  /** sourceOf returns the inbound source as far as the connection tells: its mTLS principal and the workload its peer metadata names, else unknown. */
  private sourceOf(principal: string | undefined, meta?: PeerInfo): PeerInfo {
    if (meta) {
      // One object per (metadata, principal): the metrics cache keys on identity.
      let byPrincipal = this.withMeta.get(meta);
      if (!byPrincipal) this.withMeta.set(meta, (byPrincipal = new Map()));
      const key = principal ?? '';
      let p = byPrincipal.get(key);
      if (!p) byPrincipal.set(key, (p = principal === undefined ? meta : { ...meta, principal }));
      return p;
    }
    if (principal === undefined) return UNKNOWN;
    let p = this.sources.get(principal);
    if (!p) {
      if (this.sources.size >= 10_000) this.sources.clear(); // bounded: principals come from certificates the mesh CA signed, but stay safe
      this.sources.set(principal, (p = { principal }));
    }
    return p;
  }

  /** selfMtls returns this workload with its own principal (the `default` certificate's SPIFFE ID) for inbound mTLS. */
  private selfMtls(): PeerInfo {
    const self = this.opts.self;
    const s = this.opts.secrets?.get(WORKLOAD_CERT_SECRET);
    const principal = self.principal ?? (s?.kind === 'certificate' ? s.identity : undefined);
    if (principal === undefined) return self;
    if (this.selfWithPrincipal?.principal !== principal) this.selfWithPrincipal = { ...self, principal };
    return this.selfWithPrincipal;
  }

  /** listenerCounters exports the listener manager's counters as Envoy's Prometheus names (`envoy_listener_ssl_handshake{envoy_listener_address}`). */
  private listenerCounters(stats: () => ReadonlyMap<string, number>): void {
    const names = ['ssl.handshake', 'ssl.fail_verify_no_cert', 'ssl.fail_verify_error', 'ssl.fail_verify_san', 'ssl.connection_error', 'ssl.no_certificate', 'no_filter_chain_match'];
    for (const stat of names) {
      new Counter({
        name: `envoy_listener_${stat.replace(/\./g, '_')}`,
        help: `Envoy listener stat ${stat}`,
        labelNames: ['envoy_listener_address'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [k, v] of stats()) {
            if (!k.startsWith('listener.') || !k.endsWith(`.${stat}`)) continue;
            this.inc({ envoy_listener_address: k.slice('listener.'.length, -stat.length - 1) }, v);
          }
        },
      });
    }
  }

  /** peerOf returns the destination workload from endpoint metadata (cached per value, as the metrics cache keys on identity). */
  private peerOf(cluster: ClusterMeta, meta: { workload?: string; namespace?: string; identity?: string } | undefined): PeerInfo {
    // The cluster's service name is part of the key: endpoints without workload metadata (a ServiceEntry's) of two services must not share a peer.
    const key = `${meta?.workload ?? ''}|${meta?.namespace ?? cluster?.namespace ?? ''}|${meta?.identity ?? ''}|${cluster?.name ?? ''}|${cluster?.subset ?? ''}`;
    let p = this.peers.get(key);
    if (!p) {
      p = {
        ...(meta?.workload ? { workload: meta.workload } : {}),
        ...(meta?.namespace || cluster?.namespace ? { namespace: meta?.namespace ?? cluster?.namespace } : {}),
        ...(meta?.identity ? { principal: meta.identity } : {}),
        ...(cluster?.name ? { app: cluster.name, canonicalService: cluster.name } : {}),
        ...(cluster?.subset ? { version: cluster.subset } : {}),
      };
      this.peers.set(key, p);
    }
    return p;
  }

  /** serviceOf returns the destination service of a cluster from its Istio metadata (one object per metadata object, so records share it). */
  private serviceOf(m: ClusterMeta): DestinationService {
    if (!m) return NO_SERVICE;
    let d = this.services.get(m);
    if (d === undefined) {
      d = { ...(m.host ? { host: m.host } : {}), ...(m.name ? { name: m.name } : {}), ...(m.namespace ? { namespace: m.namespace } : {}) };
      this.services.set(m, d);
    }
    return d;
  }

  /** clusterMeta returns a cluster's Istio metadata, or undefined (no cluster, unknown cluster, none set). */
  private clusterMeta(cluster: string | undefined): ClusterMeta {
    return cluster ? this.opts.clusters.get(cluster)?.plan.meta : undefined;
  }
}
