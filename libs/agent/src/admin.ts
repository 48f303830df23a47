/**
 * The proxy's admin port (Envoy's 15000) and the agent's health port (Istio's 15021), shaped like
 * Envoy's and Istio's so their tools and habits carry over: `/config_dump` (Envoy
 * envoy.admin.v3.*ConfigDump JSON, `?include_eds`, `?resource=`), `/clusters` (Envoy's text lines,
 * or `?format=json`), `/stats` and `/stats/prometheus`, `/ready`, `/healthz`, `/quitquitquit`,
 * `/logging`; and `/healthz/ready` on the health port. Exported as builders (STYLE.md 10); the
 * app's main.ts listens.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, type ResourceObject } from '@meshwork/xds';
import type { ResourceSet, TypeStatus } from './xds-agent.js';
import type { Secret } from '@meshwork/proxy';

/** One upstream host as /clusters shows it. */
export interface HostStatus {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly healthy: boolean;
  /** Ejected by outlier detection (`/failed_outlier_check`). */
  readonly ejected: boolean;
  readonly activeRequests: number;
  readonly activeConnections: number;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly subZone?: string };
}

/** One cluster as /clusters shows it. */
export interface ClusterStatus {
  readonly name: string;
  readonly circuitBreakers: { readonly maxConnections: number; readonly maxPendingRequests: number; readonly maxRequests: number; readonly maxRetries: number };
  readonly hosts: readonly HostStatus[];
}

/** What the admin pages read; the app wires it to the xDS agent, the engine and the metrics. */
export interface AdminSource {
  /** The Node as sent to pilot (bootstrap section of /config_dump). */
  readonly node: ResourceObject;
  resources(): ResourceSet | undefined;
  xdsStatus(): Record<string, TypeStatus>;
  clusters(): readonly ClusterStatus[];
  /** Envoy's server state: LIVE once the first configuration is live. */
  ready(): boolean;
  /** Prometheus exposition (the proxy's istio_* and envoy-style metrics). */
  prometheus(): Promise<{ contentType: string; text: string }>;
  /** Stop the proxy (and its application) gracefully. */
  quit(): void;
  /** Current log level, and a setter; undefined when the app has no runtime log control. */
  logLevel?: { get(): string; set(level: string): void };
  /** The SDS secrets the proxy holds (workload certificate, trust bundle); undefined without mTLS. */
  secrets?(): ReadonlyMap<string, Secret>;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** configDump returns Envoy's /config_dump document for a resource set. */
export function configDump(src: AdminSource, opts: { includeEds?: boolean; resource?: string } = {}): { configs: ResourceObject[] } {
  const set = src.resources();
  const status = src.xdsStatus();
  const now = new Date().toISOString();
  const typed = (typeUrl: string, r: ResourceObject): ResourceObject => ({ '@type': typeUrl, ...r });
  const v = (t: string): string => status[t]?.version ?? set?.versions[t] ?? '';
  const list = (m: ReadonlyMap<string, ResourceObject> | undefined): ResourceObject[] => [...(m?.values() ?? [])];
  const configs: ResourceObject[] = [
    { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: src.node } },
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      versionInfo: v(CLUSTER_TYPE),
      dynamicActiveClusters: list(set?.clusters).map((c) => ({ versionInfo: v(CLUSTER_TYPE), cluster: typed(CLUSTER_TYPE, c), lastUpdated: now })),
    },
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      versionInfo: v(LISTENER_TYPE),
      dynamicListeners: list(set?.listeners).map((l) => ({ name: l.name, activeState: { versionInfo: v(LISTENER_TYPE), listener: typed(LISTENER_TYPE, l), lastUpdated: now } })),
    },
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
      dynamicRouteConfigs: list(set?.routes).map((r) => ({ versionInfo: v(ROUTE_TYPE), routeConfig: typed(ROUTE_TYPE, r), lastUpdated: now })),
    },
  ];
  const secrets = src.secrets?.();
  if (secrets) configs.push(secretsDump(secrets, now));
  if (opts.includeEds) {
    configs.push({
      '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
      dynamicEndpointConfigs: list(set?.endpoints).map((e) => ({ versionInfo: v(ENDPOINT_TYPE), endpointConfig: typed(ENDPOINT_TYPE, e), lastUpdated: now })),
    });
  }
  if (!opts.resource) return { configs };
  // ?resource=dynamic_active_clusters returns just those entries, each typed, as Envoy does.
  const key = opts.resource.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  return { configs: configs.flatMap((c) => (Array.isArray(c[key]) ? (c[key] as ResourceObject[]) : [])) };
}

// Envoy prints private keys as "[redacted]" (base64 of it) in /config_dump.
const REDACTED = Buffer.from('[redacted]').toString('base64');

/**
 * secretsDump returns Envoy's SecretsConfigDump for the proxy's SDS secrets: certificate chains
 * and trust bundles as inline bytes, private keys redacted, plus Meshwork's `meshwork` block
 * (serial, SPIFFE identity, validity) that `meshctl proxy-config secret` prints.
 */
export function secretsDump(secrets: ReadonlyMap<string, Secret>, now: string): ResourceObject {
  const b64 = (pem: string): string => Buffer.from(pem).toString('base64');
  return {
    '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
    dynamicActiveSecrets: [...secrets].map(([name, s]) => ({
      name,
      versionInfo: s.kind === 'certificate' ? (s.serialHex ?? '') : '',
      lastUpdated: now,
      secret: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
        name,
        ...(s.kind === 'certificate'
          ? { tlsCertificate: { certificateChain: { inlineBytes: b64(s.certChainPem) }, privateKey: { inlineBytes: REDACTED } } }
          : { validationContext: { trustedCa: { inlineBytes: b64(s.trustedCaPem) } } }),
      },
      ...(s.kind === 'certificate'
        ? { meshwork: { ...(s.serialHex ? { serialNumber: s.serialHex } : {}), ...(s.identity ? { identity: s.identity } : {}), ...(s.notBefore ? { notBefore: s.notBefore.toISOString() } : {}), ...(s.notAfter ? { notAfter: s.notAfter.toISOString() } : {}) } }
        : {}),
    })),
  };
}

/** clustersText returns Envoy's /clusters text: `<cluster>::<host>::<stat>::<value>` lines. */
export function clustersText(clusters: readonly ClusterStatus[]): string {
  const out: string[] = [];
  for (const c of clusters) {
    const cb = c.circuitBreakers;
    out.push(`${c.name}::observability_name::${c.name}`);
    out.push(`${c.name}::default_priority::max_connections::${cb.maxConnections}`, `${c.name}::default_priority::max_pending_requests::${cb.maxPendingRequests}`);
    out.push(`${c.name}::default_priority::max_requests::${cb.maxRequests}`, `${c.name}::default_priority::max_retries::${cb.maxRetries}`);
    for (const h of c.hosts) {
      const p = `${c.name}::${h.address}:${h.port}`;
      const flags = h.healthy && !h.ejected ? 'healthy' : [h.healthy ? '' : '/failed_eds_health', h.ejected ? '/failed_outlier_check' : ''].join('');
      out.push(`${p}::cx_active::${h.activeConnections}`, `${p}::rq_active::${h.activeRequests}`, `${p}::health_flags::${flags}`, `${p}::weight::${h.weight}`);
      out.push(`${p}::region::${h.locality?.region ?? ''}`, `${p}::zone::${h.locality?.zone ?? ''}`, `${p}::sub_zone::${h.locality?.subZone ?? ''}`);
    }
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

/** statsText returns Envoy-style `name: value` lines from Prometheus exposition text (gauges and counters). */
export function statsText(prometheus: string): string {
  const lines: string[] = [];
  for (const l of prometheus.split('\n')) {
    if (l === '' || l.startsWith('#')) continue;
    const i = l.lastIndexOf(' ');
    lines.push(`${l.slice(0, i)}: ${l.slice(i + 1)}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** buildAdminApp returns the admin port's fastify app (not listening). */
export function buildAdminApp(src: AdminSource): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.get('/config_dump', async (req) => {
    const q = req.query as { include_eds?: string; resource?: string };
    return configDump(src, { includeEds: q.include_eds !== undefined && q.include_eds !== 'false', resource: q.resource });
  });
  app.get('/clusters', async (req, reply) => {
    if ((req.query as { format?: string }).format === 'json') return { cluster_statuses: src.clusters() };
    reply.type('text/plain');
    return clustersText(src.clusters());
  });
  app.get('/stats/prometheus', async (_req, reply) => {
    const p = await src.prometheus();
    reply.type(p.contentType);
    return p.text;
  });
  app.get('/stats', async (_req, reply) => {
    reply.type('text/plain');
    return statsText((await src.prometheus()).text);
  });
  app.get('/ready', async (_req, reply) => {
    reply.type('text/plain');
    return src.ready() ? 'LIVE\n' : reply.code(503).send('PRE_INITIALIZING\n');
  });
  app.get('/healthz', async (_req, reply) => {
    reply.type('text/plain');
    return src.ready() ? 'OK\n' : reply.code(503).send('not ready\n');
  });
  app.post('/quitquitquit', async (_req, reply) => {
    reply.type('text/plain');
    // Answer first: the caller (a job's last line) must see its request succeed.
    reply.raw.once('finish', () => src.quit());
    return 'OK\n';
  });
  app.post('/logging', async (req, reply) => {
    const level = (req.query as { level?: string }).level;
    if (!src.logLevel) return reply.code(501).send('runtime log level not supported\n');
    if (level === undefined) return `active loggers:\n  meshwork: ${src.logLevel.get()}\n`;
    if (!LEVELS.includes(level)) return reply.code(400).send(`unknown level "${level}": one of ${LEVELS.join(', ')}\n`);
    src.logLevel.set(level);
    return `active loggers:\n  meshwork: ${level}\n`;
  });
  app.get('/logging', async () => (src.logLevel ? `active loggers:\n  meshwork: ${src.logLevel.get()}\n` : 'runtime log level not supported\n'));
  return app;
}

/** buildHealthApp returns the health port's app (Istio 15021): /healthz/ready is 200 once the proxy is ready. */
export function buildHealthApp(ready: () => boolean): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.get('/healthz/ready', async (_req, reply) => (ready() ? reply.code(200).send() : reply.code(503).send()));
  return app;
}

/** buildStatsApp returns the Prometheus port's app (Envoy's 15090): /stats/prometheus. */
export function buildStatsApp(prometheus: () => Promise<{ contentType: string; text: string }>): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.get('/stats/prometheus', async (_req, reply) => {
    const p = await prometheus();
    reply.type(p.contentType);
    return p.text;
  });
  return app;
}

/**
 * buildMergedMetricsApp returns the agent port's app (Istio's 15020): /stats/prometheus is the
 * proxy's metrics followed by the application's, scraped from `appMetricsUrl` (Istio's metrics
 * merging of prometheus.io annotations), so one scrape target serves both. A failed application
 * scrape leaves the proxy's metrics and counts `istio_agent_scrape_failures_total`.
 */
export function buildMergedMetricsApp(o: { prometheus: () => Promise<{ contentType: string; text: string }>; appMetricsUrl?: string; timeoutMs?: number }): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  let failures = 0;
  app.get('/stats/prometheus', async (_req, reply) => {
    const proxy = await o.prometheus();
    let appText = '';
    if (o.appMetricsUrl) {
      try {
        const r = await fetch(o.appMetricsUrl, { signal: AbortSignal.timeout(o.timeoutMs ?? 2000) });
        if (!r.ok) throw new Error(`status ${r.status}`);
        appText = await r.text();
      } catch {
        failures++;
      }
    }
    const agent = `# HELP istio_agent_scrape_failures_total The total number of failed scrapes.\n# TYPE istio_agent_scrape_failures_total counter\nistio_agent_scrape_failures_total ${failures}\n`;
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    return [proxy.text, appText, agent].map((t) => (t === '' || t.endsWith('\n') ? t : `${t}\n`)).join('');
  });
  return app;
}
