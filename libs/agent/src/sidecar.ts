/**
 * A sidecar, wired: the xDS agent feeds the proxy engine (clusters, then listeners), the admin
 * (15000) and health (15021) ports report on both, and readiness means "first configuration live
 * and its listeners bound". Explicit capture (no iptables): `virtualOutbound` is bound on the
 * outbound port as an HTTP proxy, and each inbound port of `virtualInbound` is bound on the
 * inbound address as the port it stands for. meshwork-sidecar's main.ts reads settings and calls
 * startSidecar; the gateway (gateway.ts) runs the same assembly, startProxyAgent, with its own
 * bindings.
 */
import type * as grpc from '@grpc/grpc-js';
import { ClusterManager, configureExtAuthz, ListenerManager, type BindFn, type Binding, type CompiledConfig, type EngineClock, type FilterChainPlan, type ListenerPlanExt, type SecretProvider } from '@meshwork/proxy';
import type { ResourceObject } from '@meshwork/xds';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Writable } from 'node:stream';
import type { PeerInfo, RequestRecord, SpanRecord } from '@meshwork/telemetry';
import { buildAdminApp, buildHealthApp, buildMergedMetricsApp, buildStatsApp, type ClusterStatus } from './admin.js';
import { ProxyTelemetry } from './proxy-telemetry.js';
import { MetadataExchange } from './metadata-exchange.js';
import { ProxyTracing } from './proxy-tracing.js';
import { proxyCompiler } from './proxy-compiler.js';
import { XdsAgent } from './xds-agent.js';

/** Log sink (pino fits). */
export interface SidecarLog {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

/** What a proxy and its agent need whatever the proxy's role (sidecar or gateway). */
export interface ProxyAgentOptions {
  /** The Node sent to pilot: Istio's node id (`sidecar~…` or `router~…`) and metadata. */
  readonly node: ResourceObject;
  readonly pilot: { readonly target: string; readonly credentials?: grpc.ChannelCredentials; readonly channelOptions?: grpc.ChannelOptions; readonly delta?: boolean };
  /** Admin (15000) and health (15021) ports on `adminAddress`; 0 = ephemeral. */
  readonly adminAddress: string;
  readonly adminPort: number;
  readonly healthPort: number;
  readonly clock?: EngineClock;
  readonly log: SidecarLog;
  /** Prometheus port (Envoy's 15090, /stats/prometheus); 0 = ephemeral. */
  readonly statsPort: number;
  /** Agent port (Istio's 15020): proxy and application metrics merged; 0 = ephemeral. */
  readonly agentPort: number;
  /** The application's Prometheus endpoint, merged into the agent port's metrics. */
  readonly appMetricsUrl?: string;
  /** This workload in the metrics (source on outbound traffic, destination on inbound). */
  readonly self: PeerInfo;
  /** Where access logs that pilot's config sends to /dev/stdout go (Telemetry accessLogging), even when `accessLog` is off. */
  readonly stdout?: Writable;
  /** Where access log lines go (Istio's JSON); undefined: none. */
  readonly accessLog?: Writable;
  /** Tracing: spans per request (propagated W3C and B3), sampled new traces in percent; finished spans to onSpans. */
  readonly tracing?: { readonly samplingPercent: number; readonly onSpans: (spans: SpanRecord[]) => void };
  /** SDS secrets (workload certificate `default`, trust bundle `ROOTCA`) for mTLS; undefined: plaintext only. */
  readonly secrets?: SecretProvider;
  /** Registers more metrics on the proxy's Prometheus registry (15090, merged on 15020), e.g. the mixer feed's counters. */
  readonly registerMetrics?: (registry: Registry) => void;
  /** Every finished request record / TCP close, for mixer (a bounded, non-blocking publisher). */
  readonly onRecord?: (r: RequestRecord) => void;
  /** Called by /quitquitquit. */
  readonly quit?: () => void;
  readonly logLevel?: { get(): string; set(level: string): void };
}

/** A sidecar: the proxy agent with explicit capture on the outbound port and the inbound ports. */
export interface SidecarOptions extends ProxyAgentOptions {
  /** Where `virtualOutbound` (the explicit HTTP proxy) listens. */
  readonly outbound: { readonly host: string; readonly port: number };
  /** Address the inbound ports are bound on. */
  readonly inboundAddress: string;
}

/** A running sidecar. */
export interface RunningSidecar {
  /** True once the first configuration is live and its listeners are bound. */
  ready(): boolean;
  /** Resolves when ready. */
  readonly whenReady: Promise<void>;
  readonly adminPort: number;
  readonly healthPort: number;
  readonly statsPort: number;
  readonly agentPort: number;
  /** Bound sockets per listener (`virtualOutbound` → ['127.0.0.1:15001']). */
  bindings(): ReadonlyMap<string, string[]>;
  /** Stop taking config, close listeners letting exchanges finish (up to drainMs), stop admin. */
  close(drainMs: number): Promise<void>;
}

const realClock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/**
 * inboundBindings returns the sockets explicit capture binds for virtualInbound: one per inbound
 * port on the inbound address, except a port whose inbound cluster sends to that same
 * address:port — the application itself listens there (no Sidecar ingress with a defaultEndpoint),
 * and binding it would loop traffic back into the proxy.
 */
export function inboundBindings(plan: ListenerPlanExt, config: CompiledConfig, address: string, log?: SidecarLog): Binding[] {
  const ports = new Set<number>();
  for (const c of plan.filterChains) {
    const d = c.match.destinationPort;
    if (d === undefined || d === plan.port) continue;
    ports.add(d);
  }
  const out: Binding[] = [];
  for (const port of ports) {
    const loops = [...config.clusters.values()].some((c) => c.name.startsWith(`inbound|${port}|`) && (c.inlineEndpoints?.priorities ?? []).some((lv) => lv.some((l) => l.endpoints.some((e) => e.port === port && (e.address === address || e.address === '127.0.0.1' || e.address === '0.0.0.0')))));
    if (loops) {
      log?.warn({ port }, 'inbound port is the application port itself: not captured (declare a Sidecar ingress with a defaultEndpoint to proxy it)');
      continue;
    }
    out.push({ host: address, port, destinationPort: port });
  }
  return out;
}

/** sidecarBind returns where a sidecar binds each listener: explicit capture of virtualOutbound and virtualInbound, other listeners on their own address. */
export function sidecarBind(o: Pick<SidecarOptions, 'outbound' | 'inboundAddress' | 'log'>): BindFn {
  return (plan, config) => {
    if (plan.name === 'virtualOutbound') return { host: o.outbound.host, port: o.outbound.port };
    if (plan.name === 'virtualInbound') return inboundBindings(plan, config, o.inboundAddress, o.log);
    if (plan.apiListener || !plan.bindToPort) return undefined;
    return { host: plan.address === '0.0.0.0' || plan.address === '::' ? o.inboundAddress : plan.address, port: plan.port };
  };
}

/**
 * startSidecar starts the admin and health ports and the xDS agent; listeners follow the
 * configuration. With `secrets` (a workload certificate from citadel) the data plane speaks
 * Istio mTLS: inbound chains terminate it per PeerAuthentication, clusters originate it.
 */
export async function startSidecar(o: SidecarOptions): Promise<RunningSidecar> {
  return startProxyAgent({ ...o, bind: sidecarBind(o), dataPlaneTls: true });
}

/**
 * startProxyAgent returns a running proxy and agent (sidecar or gateway): the xDS agent feeding
 * the engine, admin/health/stats/agent ports, telemetry and tracing; `bind` says where each
 * listener of the configuration is served. With `dataPlaneTls` the engine reads `secrets` to
 * terminate TLS on filter chains and originate it on clusters.
 */
export async function startProxyAgent(o: ProxyAgentOptions & { readonly bind: BindFn; readonly dataPlaneTls?: boolean; readonly onApplied?: (config: CompiledConfig) => void }): Promise<RunningSidecar> {
  const clock = o.clock ?? realClock;
  const engineSecrets = o.dataPlaneTls && o.secrets ? { secrets: o.secrets } : {};
  const clusters = new ClusterManager(clock, engineSecrets);
  // ext_authz filters name their authorizer by cluster: dial one of its endpoints (EDS), as Envoy would.
  configureExtAuthz({
    resolve: (name) => {
      const c = clusters.get(name);
      for (const level of c?.endpoints.priorities ?? []) for (const l of level) for (const e of l.endpoints) if (e.healthy) return `${e.address}:${e.port}`;
      return undefined;
    },
  });
  const tracing = o.tracing
    ? new ProxyTracing({
        identity: { nodeId: String(o.node.id), ...(o.self.namespace ? { namespace: o.self.namespace } : {}), ...(o.self.canonicalService ? { canonicalService: o.self.canonicalService } : {}), ...(o.self.canonicalRevision ? { canonicalRevision: o.self.canonicalRevision } : {}) },
        samplingPercent: o.tracing.samplingPercent,
        onSpans: o.tracing.onSpans,
      })
    : undefined;
  // Istio's metadata exchange: peers learn this workload's name, app and version from request headers.
  const mx = new MetadataExchange(String(o.node.id), (o.node.metadata ?? {}) as Record<string, unknown>);
  const telemetry = new ProxyTelemetry({
    self: o.self,
    clusters,
    inboundPeer: (req) => mx.peerOf(req),
    ...(o.stdout ? { stdout: o.stdout } : {}),
    ...(o.accessLog ? { accessLog: o.accessLog } : {}),
    ...(o.onRecord ? { onRecord: o.onRecord } : {}),
    // The workload's own SPIFFE ID is the destination principal of inbound mTLS.
    ...(o.secrets ? { secrets: o.secrets } : {}),
    listenerStats: () => listeners.stats(),
  });
  o.registerMetrics?.(telemetry.registry);
  const listeners = new ListenerManager({
    ...engineSecrets,
    clusters,
    clock,
    // Refused handshakes for a missing secret and similar, once per distinct problem.
    onWarning: (m) => o.log.warn({}, m),
    onHttp1: (r, l, c) => {
      tracing?.end(r);
      telemetry.http(r, l, c);
    },
    onHttp2: (r, l, c) => {
      tracing?.end(r);
      telemetry.http(r, l, c);
    },
    systemFilters: (l: ListenerPlanExt, c?: FilterChainPlan) => (tracing ? [tracing.stage(l, c), mx.stage(l)] : [mx.stage(l)]),
    onTcp: (r, l) => telemetry.tcp(r, l),
    onTcpOpen: (r, l) => telemetry.tcpOpen(r, l),
    onTcpReport: (r, l) => telemetry.tcpReport(r, l),
    bind: o.bind,
  });
  let live = false;
  let markReady: () => void = () => undefined;
  const whenReady = new Promise<void>((r) => (markReady = r));
  // Updates are applied one at a time, in order: binding listeners is asynchronous.
  let chain: Promise<void> = Promise.resolve();
  const agent = new XdsAgent<CompiledConfig>({
    ...o.pilot,
    node: o.node,
    compiler: proxyCompiler(),
    onConfig: (config) => {
      chain = chain.then(async () => {
        clusters.apply(config);
        const failures = await listeners.apply(config);
        for (const f of failures) o.log.error(f, 'listener not bound');
        o.log.info({ listeners: Object.fromEntries(listeners.bindings()), clusters: config.clusters.size, versions: config.versions }, 'configuration applied');
        o.onApplied?.(config);
        if (!live) {
          live = true;
          markReady();
        }
      });
    },
    onNack: (typeUrl, error) => o.log.warn({ type: typeUrl, error }, 'configuration rejected (NACK); keeping the last good one'),
    onStreamError: (err) => o.log.warn({ err: err.message, pilot: o.pilot.target }, 'xDS stream to pilot failed; reconnecting'),
  });

  const clusterStatuses = (): ClusterStatus[] =>
    [...clusters.all()].map(([name, c]) => ({
      name,
      circuitBreakers: c.plan.circuitBreakers,
      hosts: c.endpoints.priorities.flatMap((lv) =>
        lv.flatMap((l) =>
          l.endpoints.map((e) => ({ address: e.address, port: e.port, weight: e.weight, healthy: e.healthy, ejected: c.outlier?.isEjected(e) ?? false, activeRequests: c.active.get(e) ?? 0, activeConnections: 0, locality: l.locality })),
        ),
      ),
    }));
  const admin: FastifyInstance = buildAdminApp({
    node: o.node,
    resources: () => agent.currentSet(),
    xdsStatus: () => agent.status(),
    clusters: clusterStatuses,
    ready: () => live,
    prometheus: () => telemetry.prometheus(),
    quit: o.quit ?? (() => undefined),
    ...(o.logLevel ? { logLevel: o.logLevel } : {}),
    ...(o.secrets ? { secrets: () => (o.secrets as SecretProvider).all() } : {}),
  });
  const health = buildHealthApp(() => live);
  const stats = buildStatsApp(() => telemetry.prometheus());
  const agentApp = buildMergedMetricsApp({ prometheus: () => telemetry.prometheus(), ...(o.appMetricsUrl ? { appMetricsUrl: o.appMetricsUrl } : {}) });
  await admin.listen({ host: o.adminAddress, port: o.adminPort });
  await health.listen({ host: o.adminAddress, port: o.healthPort });
  await stats.listen({ host: o.adminAddress, port: o.statsPort });
  await agentApp.listen({ host: o.adminAddress, port: o.agentPort });
  const portOf = (f: FastifyInstance): number => (f.server.address() as { port: number }).port;

  return {
    ready: () => live,
    whenReady,
    adminPort: portOf(admin),
    healthPort: portOf(health),
    statsPort: portOf(stats),
    agentPort: portOf(agentApp),
    bindings: () => listeners.bindings(),
    close: async (drainMs) => {
      agent.close();
      live = false;
      await Promise.race([listeners.close(), new Promise((r) => setTimeout(r, drainMs).unref())]);
      clusters.close();
      await telemetry.close();
      await tracing?.close();
      await Promise.allSettled([admin.close(), health.close(), stats.close(), agentApp.close()]);
    },
  };
}

/** sidecarNodeId returns Istio's node id for a sidecar: `sidecar~<ip>~<workload>.<ns>~<ns>.svc.<domain>`. */
export function sidecarNodeId(ip: string, workload: string, namespace: string, domainSuffix: string): string {
  return `sidecar~${ip}~${workload}.${namespace}~${namespace}.svc.${domainSuffix}`;
}
