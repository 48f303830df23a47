/**
 * The local mesh (`meshctl up`): nats-server, citadel, pilot, mixer, the ingress gateway and
 * Bookinfo with a sidecar per workload, on loopback, started in dependency order (each waits for
 * the previous one's readiness URL) and supervised. The state directory keeps what must survive
 * a restart: citadel's CA, NATS's JetStream store (mesh config applied with `meshctl apply`,
 * registrations), the port plan, logs and the status file `meshctl status` reads.
 *
 * Identity: citadel issues join tokens for pilot, the gateway and each Bookinfo service account;
 * every sidecar gets its SVID from citadel and streams config from pilot over mutual TLS (15012),
 * and traffic between sidecars is Istio mutual TLS.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { BOOKINFO_SERVICE_PORT, bookinfoPlatformYaml, loadBookinfoWorkloads, type WorkloadPorts } from './bookinfo.js';
import { LocalMeshError } from './errors.js';
import { PortAllocator } from './ports.js';
import { Supervisor, type ComponentStatus, type ProcessSpec } from './supervisor.js';

/** Paths of the programs the mesh runs (resolved by the caller from the installed workspace). */
export interface LocalMeshBinaries {
  /** nats-server on PATH, or undefined when it is not installed (then `natsUrl` is required). */
  readonly natsServer?: string;
  readonly node: string;
  readonly citadel: string;
  readonly pilot: string;
  readonly mixer?: string;
  readonly gateway?: string;
  readonly sidecar: string;
  readonly bookinfo?: string;
  /** Prometheus on PATH (optional: `meshctl dashboard prometheus`). */
  readonly prometheus?: string;
}

export interface LocalMeshOptions {
  readonly stateDir: string;
  readonly binaries: LocalMeshBinaries;
  /** Use this NATS server instead of starting one. */
  readonly natsUrl?: string;
  /** The ingress gateway's HTTP port (Bookinfo's Gateway server port, 8080). */
  readonly gatewayPort?: number;
  /** Start Bookinfo (default true). */
  readonly bookinfo?: boolean;
  /** Progress lines for the user. */
  readonly progress: (line: string) => void;
  /** Issues a join token for ns/sa from citadel's admin port (meshctl's citadel client). */
  readonly joinToken: (citadelAdmin: string, citadelStateDir: string, namespace: string, serviceAccount: string) => Promise<string>;
  /** Applies YAML files through pilot's config API (meshctl apply), namespace `default` when a document has none. */
  readonly apply: (pilotUrl: string, files: readonly string[]) => Promise<void>;
  /** Prefer Istio's well-known ports (default true); false: any free ports (several meshes on one machine). */
  readonly wellKnownPorts?: boolean;
  /** How long each component may take to become ready (default 60 s). */
  readonly readyTimeoutMs?: number;
}

/** The state file: ports, and whether the sample's config was applied once. */
interface LocalState {
  ports: Record<string, number>;
  bookinfoConfigApplied?: boolean;
}

/** What the status file holds (meshctl status / down read it). */
export interface LocalMeshStatus {
  readonly pid: number;
  readonly startedAt: string;
  readonly ready: boolean;
  readonly error?: string;
  readonly urls: Readonly<Record<string, string>>;
  readonly components: readonly ComponentStatus[];
}

/** statusFile returns where a local mesh's status is written. */
export function statusFile(stateDir: string): string {
  return join(stateDir, 'status.json');
}

/** readStatus returns the status a local mesh last wrote, or undefined. */
export function readStatus(stateDir: string): LocalMeshStatus | undefined {
  try {
    return JSON.parse(readFileSync(statusFile(stateDir), 'utf8')) as LocalMeshStatus;
  } catch {
    return undefined;
  }
}

/** findOnPath returns the first executable `name` on PATH, or undefined. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The install hint for nats-server, by platform. */
export const NATS_INSTALL_HINT = 'install it with `sudo apt-get install -y nats-server` (Debian/Ubuntu), `brew install nats-server` (macOS), or see https://docs.nats.io/running-a-nats-service/introduction/installation — or use an existing server with --nats-url';

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** A running local mesh. */
export interface LocalMesh {
  readonly urls: Readonly<Record<string, string>>;
  status(): LocalMeshStatus;
  /** stop ends every component (reverse order, SIGTERM then SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * startLocalMesh starts the mesh and resolves once every component is ready; a component that does
 * not become ready stops everything already started and rejects with a LocalMeshError naming it
 * and its log file.
 */
export async function startLocalMesh(o: LocalMeshOptions): Promise<LocalMesh> {
  const dir = o.stateDir;
  mkdirSync(join(dir, 'tokens'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'platform'), { recursive: true });
  const stateFile = join(dir, 'state.json');
  let state: LocalState = { ports: {} };
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8')) as LocalState;
  } catch {
    // first start
  }
  const saveState = (): void => writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  if (!o.natsUrl && !o.binaries.natsServer) throw new LocalMeshError(`nats-server is not installed: ${NATS_INSTALL_HINT}`);

  const ports = new PortAllocator(state.ports, '127.0.0.1', o.wellKnownPorts ?? true);
  const startedAt = new Date().toISOString();
  const urls: Record<string, string> = {};
  let error: string | undefined;
  let ready = false;
  const writeStatus = (components: readonly ComponentStatus[]): void => {
    const s: LocalMeshStatus = { pid: process.pid, startedAt, ready, ...(error ? { error } : {}), urls, components };
    writeFileSync(statusFile(dir), `${JSON.stringify(s, null, 2)}\n`);
  };
  const sup = new Supervisor({
    logDir: join(dir, 'logs'),
    onChange: writeStatus,
    onRestart: (name, exit, inMs) => o.progress(`${name} exited (code ${exit.code}, signal ${exit.signal}); restarting in ${inMs / 1000}s — see ${join(dir, 'logs', `${name}.log`)}`),
  });
  const timeout = o.readyTimeoutMs ?? 60_000;
  /** Prometheus scrape jobs: job name → targets (host:port) and path. */
  const scrape: { job: string; path: string; targets: string[] }[] = [];
  const node = o.binaries.node;

  /** run starts a component and waits for its readiness URL. */
  const run = async (spec: ProcessSpec): Promise<void> => {
    sup.start(spec);
    const deadline = Date.now() + timeout;
    for (;;) {
      // Our process must still be the one starting: a port another process holds would otherwise answer for it.
      const st = sup.status().find((c) => c.name === spec.name);
      if (st?.state === 'starting' && st.restarts === 0 && (spec.healthUrl ? await httpOk(spec.healthUrl) : true)) break;
      if (st && st.restarts > 0) throw new LocalMeshError(`${spec.name} exited while starting (code ${st.lastExit?.code ?? '?'}); its log: ${join(dir, 'logs', `${spec.name}.log`)}`);
      if (Date.now() > deadline) throw new LocalMeshError(`${spec.name} did not become ready within ${timeout / 1000}s (${spec.healthUrl ?? 'process'}); its log: ${join(dir, 'logs', `${spec.name}.log`)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    sup.markRunning(spec.name);
    o.progress(`${spec.name} ready${spec.urls ? ` (${Object.values(spec.urls).join(', ')})` : ''}`);
  };

  try {
    // 1. NATS with JetStream (the config store, registry, telemetry stream).
    let natsUrl = o.natsUrl;
    if (!natsUrl) {
      const port = await ports.port('nats', 4222);
      const monitor = await ports.port('nats-monitor', 8222);
      natsUrl = `nats://127.0.0.1:${port}`;
      await run({
        name: 'nats',
        command: o.binaries.natsServer as string,
        args: ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), '-js', '-sd', join(dir, 'nats'), '-n', 'meshwork-local'],
        healthUrl: `http://127.0.0.1:${monitor}/healthz?js-enabled-only=true`,
        urls: { nats: natsUrl },
      });
    }
    urls.nats = natsUrl;

    // 2. citadel: the CA (its key store under the state directory survives restarts).
    const citadelDir = join(dir, 'citadel');
    const ca = { grpc: await ports.port('citadel-grpc', 8060), admin: await ports.port('citadel-admin', 8061), monitoring: await ports.port('citadel-monitoring', 15024) };
    await run({
      name: 'citadel',
      command: node,
      args: [o.binaries.citadel, '--state-dir', citadelDir, '--grpc-port', String(ca.grpc), '--admin-port', String(ca.admin), '--monitoring-port', String(ca.monitoring), '--nats-url', natsUrl],
      healthUrl: `http://127.0.0.1:${ca.monitoring}/healthz/ready`,
      urls: { citadel: `127.0.0.1:${ca.grpc}` },
    });
    const rootCert = join(citadelDir, 'root-cert.pem');
    const tokenFile = async (ns: string, sa: string): Promise<string> => {
      const f = join(dir, 'tokens', `${ns}.${sa}.token`);
      writeFileSync(f, `${await o.joinToken(`127.0.0.1:${ca.admin}`, citadelDir, ns, sa)}\n`, { mode: 0o600 });
      return f;
    };
    const caFlags = async (ns: string, sa: string): Promise<string[]> => ['--ca-address', `127.0.0.1:${ca.grpc}`, '--ca-root-cert', rootCert, '--ca-token-file', await tokenFile(ns, sa)];

    // 3. pilot: user config in NATS KV (meshctl apply), the generated platform config from a directory.
    const workloadPorts = new Map<string, WorkloadPorts>();
    const bookinfo = (o.bookinfo ?? true) && o.binaries.bookinfo !== undefined;
    // samples/bookinfo/local.yaml says which workloads run and how (one list for up and the sample's tests).
    const workloads = bookinfo ? loadBookinfoWorkloads(bookinfoSamplesDir(o.binaries.bookinfo as string)) : [];
    if (bookinfo) {
      for (const w of workloads) workloadPorts.set(w.name, { inbound: await ports.port(`${w.name}-inbound`), app: await ports.port(`${w.name}-app`) });
      writeFileSync(join(dir, 'platform', 'bookinfo-platform.yaml'), bookinfoPlatformYaml(workloads, workloadPorts));
    }
    const pilot = { xds: await ports.port('pilot-xds', 15010), secure: await ports.port('pilot-secure-xds', 15012), monitoring: await ports.port('pilot-monitoring', 15014) };
    const pilotUrl = `http://127.0.0.1:${pilot.monitoring}`;
    await run({
      name: 'pilot',
      command: node,
      args: [o.binaries.pilot, '--nats-url', natsUrl, '--config-dir', join(dir, 'platform'), '--xds-port', String(pilot.xds), '--secure-xds-port', String(pilot.secure), '--monitoring-port', String(pilot.monitoring), ...(await caFlags('istio-system', 'pilot'))],
      healthUrl: `${pilotUrl}/healthz/ready`,
      urls: { pilot: pilotUrl },
    });
    urls.pilot = pilotUrl;
    scrape.push({ job: 'pilot', path: '/metrics', targets: [`127.0.0.1:${pilot.monitoring}`] }, { job: 'citadel', path: '/metrics', targets: [`127.0.0.1:${ca.monitoring}`] });
    if (bookinfo && !state.bookinfoConfigApplied) {
      // The sample's own networking config, applied once: later changes are the user's (meshctl apply/delete).
      await o.apply(pilotUrl, ['bookinfo-gateway.yaml', 'destination-rule-all.yaml'].map((f) => join(bookinfoSamplesDir(o.binaries.bookinfo as string), 'networking', f)));
      state.bookinfoConfigApplied = true;
      saveState();
    }
    const proxyCommon = ['--pilot', `127.0.0.1:${pilot.secure}`, '--nats-url', natsUrl];
    /** Sidecars' global rate-limit service: mixer's RateLimitService when mixer runs. */
    let ratelimitFlags: string[] = [];

    // 4. mixer: telemetry from the sidecars over NATS, metrics and topology.
    if (o.binaries.mixer) {
      const mixerPort = await ports.port('mixer', 15016);
      const rlsPort = await ports.port('mixer-ratelimit', 8081);
      await run({
        name: 'mixer',
        command: node,
        // the flag the mixer's launcher line carries (node ignores a shebang when given the file)
        args: ['--max-semi-space-size=32', o.binaries.mixer, '--nats-url', natsUrl, '--metrics-port', String(mixerPort), '--ratelimit-port', String(rlsPort)],
        healthUrl: `http://127.0.0.1:${mixerPort}/healthz/ready`,
        urls: { mixer: `http://127.0.0.1:${mixerPort}`, ratelimit: `127.0.0.1:${rlsPort}` },
      });
      urls.mixer = `http://127.0.0.1:${mixerPort}`;
      ratelimitFlags = ['--ratelimit-address', `127.0.0.1:${rlsPort}`];
      scrape.push({ job: 'mixer', path: '/metrics', targets: [`127.0.0.1:${mixerPort}`] });
    }

    // 5. Bookinfo: each workload's application runs under its sidecar (held until the proxy is ready).
    if (bookinfo) {
      for (const w of workloads) {
        const p = workloadPorts.get(w.name) as WorkloadPorts;
        const sc = { outbound: await ports.port(`${w.name}-outbound`), admin: await ports.port(`${w.name}-admin`), health: await ports.port(`${w.name}-health`), stats: await ports.port(`${w.name}-stats`), agent: await ports.port(`${w.name}-agent`) };
        // Istio's Prometheus scrapes each pod's merged port (15020): the proxy's and the application's metrics.
        scrape.push({ job: `envoy-stats-${w.name}`, path: '/stats/prometheus', targets: [`127.0.0.1:${sc.agent}`] });
        await run({
          name: w.name,
          command: node,
          args: [
            '--max-semi-space-size=1',
            o.binaries.sidecar,
            ...proxyCommon,
            ...ratelimitFlags,
            '--workload', `${w.name}-local`,
            '--workload-name', w.name,
            '--namespace', 'default',
            '--service-account', w.serviceAccount,
            '--labels', `app=${w.app},version=${w.version}`,
            '--ports', `http=${p.inbound}`,
            '--outbound-port', String(sc.outbound),
            '--admin-port', String(sc.admin),
            '--health-port', String(sc.health),
            '--stats-port', String(sc.stats),
            '--agent-port', String(sc.agent),
            // A laptop mesh stops in seconds; Istio's 5 s drain suits rolling updates, not `meshctl down`.
            '--drain-duration', '2s',
            // Access logs in each workload's log file, as Istio's demo profile has them (off by default).
            '--access-log=true',
            ...(await caFlags('default', w.serviceAccount)),
            '--',
            node,
            ...w.args,
            '--port', String(p.app),
          ],
          healthUrl: `http://127.0.0.1:${sc.health}/healthz/ready`,
          urls: { admin: `http://127.0.0.1:${sc.admin}`, app: `http://127.0.0.1:${p.app}` },
        });
      }
    }

    // 6. The ingress gateway: Bookinfo's Gateway (port 8080) and VirtualService expose the product page.
    if (o.binaries.gateway) {
      const want = o.gatewayPort ?? 8080;
      const http = await ports.port('gateway-http', want, o.gatewayPort !== undefined);
      const gw = { admin: await ports.port('gateway-admin', 15100), health: await ports.port('gateway-health', 15121), stats: await ports.port('gateway-stats', 15190), agent: await ports.port('gateway-agent', 15120) };
      if (http !== want) o.progress(`port ${want} is busy: the gateway serves Bookinfo's port ${BOOKINFO_GATEWAY_PORT} on ${http} instead`);
      await run({
        name: 'istio-ingressgateway',
        command: node,
        args: [
          o.binaries.gateway,
          ...proxyCommon,
          ...ratelimitFlags,
          '--workload', 'istio-ingressgateway-local',
          '--namespace', 'istio-system',
          '--service-account', 'istio-ingressgateway-service-account',
          '--labels', 'istio=ingressgateway,app=istio-ingressgateway',
          '--port-map', `${BOOKINFO_GATEWAY_PORT}=${http}`,
          '--admin-port', String(gw.admin),
          '--health-port', String(gw.health),
          '--stats-port', String(gw.stats),
          '--agent-port', String(gw.agent),
          // Access logs in the gateway's log file, as Istio's demo profile has them (off by default).
          '--access-log=true',
          ...(await caFlags('istio-system', 'istio-ingressgateway-service-account')),
        ],
        healthUrl: `http://127.0.0.1:${gw.health}/healthz/ready`,
        urls: { http: `http://127.0.0.1:${http}` },
      });
      if (bookinfo) urls.productpage = `http://127.0.0.1:${http}/productpage`;
    } else if (bookinfo) {
      urls.productpage = `http://127.0.0.1:${workloadPorts.get('productpage-v1')?.app}/productpage (direct to the application: no gateway in this build)`;
    }
    // 7. Prometheus, when installed: scrapes every component as Istio's sample addon does.
    if (o.binaries.prometheus) {
      const promPort = await ports.port('prometheus', 9090);
      writeFileSync(join(dir, 'prometheus.yml'), prometheusConfig(scrape));
      await run({
        name: 'prometheus',
        command: o.binaries.prometheus,
        args: [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'prometheus')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'],
        healthUrl: `http://127.0.0.1:${promPort}/-/ready`,
        urls: { prometheus: `http://127.0.0.1:${promPort}` },
      });
      urls.prometheus = `http://127.0.0.1:${promPort}`;
    }
    state.ports = { ...state.ports, ...ports.assigned };
    saveState();
    ready = true;
    writeStatus(sup.status());
  } catch (err) {
    error = (err as Error).message;
    ready = false;
    writeStatus(sup.status());
    await sup.stop(5000);
    throw err instanceof LocalMeshError ? err : new LocalMeshError(error, { cause: err });
  }

  return {
    urls,
    status: () => ({ pid: process.pid, startedAt, ready, ...(error ? { error } : {}), urls, components: sup.status() }),
    stop: async (graceMs = 10_000) => {
      ready = false;
      await sup.stop(graceMs);
    },
  };
}

/** prometheusConfig returns a Prometheus configuration scraping the given jobs every 5 s. */
export function prometheusConfig(jobs: readonly { job: string; path: string; targets: readonly string[] }[]): string {
  const lines = ['# Generated by meshctl up.', 'global:', '  scrape_interval: 5s', '  evaluation_interval: 5s', 'scrape_configs:'];
  for (const j of jobs) lines.push(`  - job_name: ${JSON.stringify(j.job)}`, `    metrics_path: ${JSON.stringify(j.path)}`, '    static_configs:', `      - targets: ${JSON.stringify(j.targets)}`);
  return `${lines.join('\n')}\n`;
}

/** Bookinfo's Gateway server port (samples/bookinfo/networking/bookinfo-gateway.yaml). */
export const BOOKINFO_GATEWAY_PORT = 8080;

/** bookinfoSamplesDir returns samples/bookinfo from the path of its bin. */
function bookinfoSamplesDir(bookinfoBin: string): string {
  return join(bookinfoBin, '..', '..');
}

export { BOOKINFO_SERVICE_PORT };
