/**
 * Opaque TCP proxying (Envoy's tcp_proxy filter, for TCP ports and TLS passthrough): the
 * connection goes to a cluster (weighted when the filter chain names several), a host chosen by
 * the cluster's balancer, with connect retries on other hosts (Envoy's max_connect_attempts, 1 by
 * default) — then bytes flow both ways until either side closes. Flags: UH no healthy host, UF
 * connect failure, UO connection limit, NC unknown cluster. A cluster with upstream TLS (Istio
 * mTLS to a TCP port, DestinationRule SIMPLE/MUTUAL) is dialled with TLS: the connection counts
 * once the handshake and the server's verification are done, and a failed handshake is UF.
 */
import { connect, type Socket } from 'node:net';
import type { EngineClock, Endpoint, ResponseFlag } from '../model.js';
import type { ClusterRuntime } from '../pipeline/forward.js';
import { transportFailureReason, type TlsOrigination } from '../upstream/tls-origination.js';

/** One finished TCP connection, for istio_tcp_* metrics and the access log. */
export interface TcpRecord {
  readonly cluster?: string;
  readonly upstream?: string;
  readonly flags: readonly ResponseFlag[];
  /** Bytes from downstream to upstream, and back. */
  readonly sentBytes: number;
  readonly receivedBytes: number;
  readonly durationMs: number;
  /** Whether the upstream connection was TLS (origination). */
  readonly upstreamTls?: boolean;
  /** Why the TLS handshake with the upstream failed (Envoy's %UPSTREAM_TRANSPORT_FAILURE_REASON%). */
  readonly upstreamTransportFailureReason?: string;
  /** onOpen was called for this connection (its upstream was connected): the close record is not the first word about it. */
  readonly opened?: boolean;
  /** Of `sentBytes` / `receivedBytes`, what onReport already reported (the close adds only the rest to byte counters). */
  readonly reportedSentBytes?: number;
  readonly reportedReceivedBytes?: number;
}

export interface TcpProxyOptions {
  /** The filter chain's clusters with weights (one entry: no split). */
  readonly clusters: readonly { readonly name: string; readonly weight: number }[];
  /** A cluster's runtime; its `tls` (the cluster manager's origination) makes upstream connections TLS. */
  readonly cluster: (name: string) => (ClusterRuntime & { readonly tls?: TlsOrigination }) | undefined;
  readonly clock: EngineClock;
  /** Connection attempts on distinct hosts before giving up (Envoy max_connect_attempts). */
  readonly maxConnectAttempts?: number;
  /** Idle timeout (Envoy tcp_proxy idle_timeout, default 1 h); 0 disables. */
  readonly idleTimeoutMs?: number;
  readonly onClose?: (rec: TcpRecord) => void;
  /** Called once the upstream is connected, before any byte is proxied (Istio counts a TCP connection opened here, not at its close). */
  readonly onOpen?: (rec: TcpRecord) => void;
  /**
   * Called every `reportIntervalMs` while the connection is open and bytes moved since the last
   * call, with those bytes (deltas) in `sentBytes` / `receivedBytes`: Istio's proxies report a
   * long-lived connection's bytes every tcp_reporting_duration (5 s), not only at its close.
   */
  readonly onReport?: (rec: TcpRecord) => void;
  /** Default 5,000 ms (Istio's tcp_reporting_duration); 0: no reports. */
  readonly reportIntervalMs?: number;
}

function pickWeighted(cs: TcpProxyOptions['clusters'], random: () => number): string | undefined {
  if (cs.length <= 1) return cs[0]?.name;
  const total = cs.reduce((a, c) => a + c.weight, 0);
  let r = random() * total;
  for (const c of cs) {
    r -= c.weight;
    if (r < 0) return c.name;
  }
  return cs[cs.length - 1].name;
}

/** dial connects to an endpoint (TLS when `tls` is given: resolved after the handshake); undefined on failure, with the TLS failure reason. */
function dial(e: Endpoint, timeoutMs: number, tls: TlsOrigination | undefined): Promise<{ socket?: Socket; reason?: string }> {
  return new Promise((resolve) => {
    const s = tls ? tls.connect(e.address, e.port, 'tcp') : connect({ host: e.address, port: e.port, noDelay: true, allowHalfOpen: true });
    if (tls) s.setNoDelay(true);
    const timer = setTimeout(() => {
      s.destroy();
      resolve({});
    }, timeoutMs);
    s.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve({ socket: s });
    });
    s.once('error', () => {
      clearTimeout(timer);
      const reason = transportFailureReason(s);
      resolve(reason !== undefined ? { reason } : {});
    });
  });
}

/**
 * proxyTcp serves one accepted downstream connection. The downstream is paused until the upstream
 * is connected, so nothing is read before there is somewhere to send it.
 */
export async function proxyTcp(down: Socket, o: TcpProxyOptions): Promise<void> {
  const start = o.clock.now();
  down.pause();
  let sent = 0;
  let received = 0;
  const finish = (rec: Omit<TcpRecord, 'sentBytes' | 'receivedBytes' | 'durationMs'>): void => o.onClose?.({ ...rec, sentBytes: sent, receivedBytes: received, durationMs: o.clock.now() - start });
  const name = pickWeighted(o.clusters, o.clock.random);
  const cluster = name !== undefined ? o.cluster(name) : undefined;
  if (!cluster) {
    down.destroy();
    finish({ cluster: name, flags: ['NC'] });
    return;
  }
  if (!cluster.limits.tryAcquireConnection()) {
    down.destroy();
    finish({ cluster: name, flags: ['UO'] });
    return;
  }
  const tried = new Set<Endpoint>();
  let up: Socket | undefined;
  let endpoint: Endpoint | undefined;
  let usedTls = false;
  let reason: string | undefined;
  for (let i = 0; i < (o.maxConnectAttempts ?? 1) && !up; i++) {
    endpoint = cluster.lb.pick({ exclude: tried.size > 0 ? tried : undefined });
    if (!endpoint) break;
    tried.add(endpoint);
    const tls = cluster.tls?.appliesTo(endpoint) ? cluster.tls : undefined;
    usedTls = tls !== undefined;
    const r = await dial(endpoint, cluster.plan.connectTimeoutMs, tls);
    up = r.socket;
    reason = r.reason;
    cluster.outlier?.record(endpoint, up ? 'success' : 'local-origin-failure');
  }
  const tlsFacts = usedTls ? { upstreamTls: true, ...(reason !== undefined && !up ? { upstreamTransportFailureReason: reason } : {}) } : {};
  if (!up || down.destroyed) {
    up?.destroy();
    down.destroy();
    cluster.limits.releaseConnection();
    finish({ cluster: name, ...(endpoint ? { upstream: `${endpoint.address}:${endpoint.port}` } : {}), flags: down.destroyed && up ? [] : [endpoint ? 'UF' : 'UH'], ...tlsFacts });
    return;
  }
  const upstream = `${endpoint?.address}:${endpoint?.port}`;
  const u = up;
  const opened = o.onOpen !== undefined;
  o.onOpen?.({ cluster: name, upstream, flags: [], sentBytes: 0, receivedBytes: 0, durationMs: o.clock.now() - start, ...tlsFacts });
  let reportedSent = 0;
  let reportedReceived = 0;
  let reportTimer: unknown;
  const every = o.reportIntervalMs ?? 5_000;
  const onReport = o.onReport;
  if (onReport && every > 0) {
    const tick = (): void => {
      if (sent !== reportedSent || received !== reportedReceived) {
        onReport({ cluster: name, upstream, flags: [], sentBytes: sent - reportedSent, receivedBytes: received - reportedReceived, durationMs: o.clock.now() - start, ...tlsFacts, ...(opened ? { opened } : {}) });
        reportedSent = sent;
        reportedReceived = received;
      }
      reportTimer = o.clock.setTimeout(tick, every);
    };
    reportTimer = o.clock.setTimeout(tick, every);
  }
  down.on('data', (c: Buffer) => (sent += c.length));
  u.on('data', (c: Buffer) => (received += c.length));
  down.pipe(u);
  u.pipe(down);
  const idle = o.idleTimeoutMs ?? 3_600_000;
  if (idle > 0) {
    down.setTimeout(idle, () => down.destroy());
    u.setTimeout(idle, () => u.destroy());
  }
  let closed = 0;
  const onClose = (): void => {
    if (++closed < 2) return;
    cluster.limits.releaseConnection();
    if (reportTimer !== undefined) o.clock.clearTimeout(reportTimer);
    finish({ cluster: name, upstream, flags: [], ...tlsFacts, ...(opened ? { opened } : {}), ...(reportedSent || reportedReceived ? { reportedSentBytes: reportedSent, reportedReceivedBytes: reportedReceived } : {}) });
  };
  // Either side failing tears the pair down (Envoy closes both on a reset).
  down.once('error', () => u.destroy());
  u.once('error', () => down.destroy());
  down.once('close', onClose);
  u.once('close', onClose);
  down.resume();
}
