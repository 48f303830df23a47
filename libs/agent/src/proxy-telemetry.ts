/**
 * What a sidecar reports about its traffic, as Istio's proxies do: every finished exchange becomes
 * a telemetry RequestRecord — reporter `source` on outbound listeners, `destination` on inbound
 * ones; this workload on its side, the other side from the upstream endpoint's and cluster's
 * Istio metadata (or unknown, as Istio says when peer metadata is missing) — which updates the
 * standard istio_* metrics and writes one access log line in Istio's JSON format.
 */
import type { Writable } from 'node:stream';
import type { ClusterManager, ExchangeRecord, ListenerPlanExt, TcpRecord } from '@meshwork/proxy';
import { AccessLogWriter, IstioMetrics, responseFlagsOf, type PeerInfo, type RequestRecord } from '@meshwork/telemetry';
import { Registry } from 'prom-client';

export interface ProxyTelemetryOptions {
  /** This workload, as it appears in the metrics of the traffic it sends and receives. */
  readonly self: PeerInfo;
  readonly clusters: ClusterManager;
  /** Where access log lines go (stdout); undefined: no access log. */
  readonly accessLog?: Writable;
  /** Every finished request record and TCP close (mixer's feed over NATS); must not block. */
  readonly onRecord?: (r: RequestRecord) => void;
}

const UNKNOWN: PeerInfo = {};

/** ProxyTelemetry turns a proxy's exchanges into Istio metrics and access log lines. */
export class ProxyTelemetry {
  readonly registry = new Registry();
  readonly metrics = new IstioMetrics({ registry: this.registry });
  private readonly log?: AccessLogWriter;
  private readonly peers = new Map<string, PeerInfo>();

  constructor(private readonly opts: ProxyTelemetryOptions) {
    if (opts.accessLog) this.log = new AccessLogWriter({ stream: opts.accessLog });
  }

  /** http records one HTTP/1.1 or HTTP/2 exchange. */
  http(rec: ExchangeRecord, listener: ListenerPlanExt): void {
    const r = this.record(rec, listener);
    this.metrics.recordRequest(r);
    this.log?.log(r);
    this.opts.onRecord?.(r);
  }

  /** tcp records a finished TCP connection (open and close at once). */
  tcp(rec: TcpRecord, listener: ListenerPlanExt): void {
    const outbound = listener.trafficDirection !== 'INBOUND';
    const dest = outbound ? this.peerOf(rec.cluster, undefined) : this.opts.self;
    const base = {
      reporter: outbound ? 'source' : 'destination',
      protocol: 'tcp',
      startTime: Date.now() - rec.durationMs,
      source: outbound ? this.opts.self : UNKNOWN,
      destination: dest,
      destinationService: this.serviceOf(rec.cluster),
      responseCode: 0,
      responseFlags: responseFlagsOf(rec.flags),
      securityPolicy: outbound ? 'unknown' : 'none',
      durationMs: rec.durationMs,
      ...(rec.cluster ? { upstreamCluster: rec.cluster } : {}),
      ...(rec.upstream ? { upstreamHost: rec.upstream } : {}),
    } as const;
    this.metrics.recordTcp({ ...base, tcpEvent: 'open', bytesReceived: 0, bytesSent: 0 });
    const close: RequestRecord = { ...base, tcpEvent: 'close', bytesReceived: rec.sentBytes, bytesSent: rec.receivedBytes };
    this.metrics.recordTcp(close);
    this.log?.log(close);
    this.opts.onRecord?.(close);
  }

  /** prometheus returns the exposition of the istio_* metrics. */
  async prometheus(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  async close(): Promise<void> {
    await this.log?.close();
  }

  private record(rec: ExchangeRecord, listener: ListenerPlanExt): RequestRecord {
    const outbound = listener.trafficDirection !== 'INBOUND';
    const h = rec.request.headers;
    return {
      reporter: outbound ? 'source' : 'destination',
      protocol: rec.grpc ? 'grpc' : 'http',
      startTime: rec.startTime,
      source: outbound ? this.opts.self : UNKNOWN,
      destination: outbound ? this.peerOf(rec.cluster, rec.upstream?.meta) : this.opts.self,
      destinationService: outbound ? this.serviceOf(rec.cluster) : {},
      method: rec.request.method,
      path: h.get('x-envoy-original-path') ?? rec.request.path,
      authority: rec.request.authority,
      httpProtocol: rec.protocol,
      ...(h.get('user-agent') !== undefined ? { userAgent: h.get('user-agent') } : {}),
      ...(h.get('x-forwarded-for') !== undefined ? { xForwardedFor: h.get('x-forwarded-for') } : {}),
      ...(h.get('x-request-id') !== undefined ? { requestId: h.get('x-request-id') } : {}),
      responseCode: rec.status,
      ...(rec.grpcStatus !== undefined ? { grpcStatus: rec.grpcStatus } : {}),
      responseFlags: responseFlagsOf(rec.flags),
      // No workload certificates yet (the zero-trust issue): plaintext between sidecars.
      securityPolicy: outbound ? 'unknown' : 'none',
      durationMs: rec.durationMs,
      ...(rec.upstreamServiceTimeMs !== undefined ? { upstreamServiceTimeMs: rec.upstreamServiceTimeMs } : {}),
      bytesReceived: rec.requestBodyBytes,
      bytesSent: rec.responseBodyBytes,
      ...(rec.cluster ? { upstreamCluster: rec.cluster } : {}),
      ...(rec.upstream ? { upstreamHost: `${rec.upstream.address}:${rec.upstream.port}` } : {}),
      ...(rec.downstream.remoteAddress ? { downstreamRemoteAddress: `${rec.downstream.remoteAddress}:${rec.downstream.remotePort}` } : {}),
      ...(rec.downstream.localAddress ? { downstreamLocalAddress: `${rec.downstream.localAddress}:${rec.downstream.localPort}` } : {}),
      ...(rec.route ? { routeName: rec.route } : {}),
    };
  }

  /** peerOf returns the destination workload from endpoint metadata (cached per value, as the metrics cache keys on identity). */
  private peerOf(cluster: string | undefined, meta: { workload?: string; namespace?: string; identity?: string } | undefined): PeerInfo {
    const plan = cluster ? this.opts.clusters.get(cluster)?.plan : undefined;
    const key = `${meta?.workload ?? ''}|${meta?.namespace ?? plan?.meta?.namespace ?? ''}|${meta?.identity ?? ''}|${plan?.meta?.subset ?? ''}`;
    let p = this.peers.get(key);
    if (!p) {
      p = {
        ...(meta?.workload ? { workload: meta.workload } : {}),
        ...(meta?.namespace || plan?.meta?.namespace ? { namespace: meta?.namespace ?? plan?.meta?.namespace } : {}),
        ...(meta?.identity ? { principal: meta.identity } : {}),
        ...(plan?.meta?.name ? { app: plan.meta.name, canonicalService: plan.meta.name } : {}),
        ...(plan?.meta?.subset ? { version: plan.meta.subset } : {}),
      };
      this.peers.set(key, p);
    }
    return p;
  }

  private serviceOf(cluster: string | undefined): { host?: string; name?: string; namespace?: string } {
    const m = cluster ? this.opts.clusters.get(cluster)?.plan.meta : undefined;
    return m ? { ...(m.host ? { host: m.host } : {}), ...(m.name ? { name: m.name } : {}), ...(m.namespace ? { namespace: m.namespace } : {}) } : {};
  }
}
