/**
 * meshwork-pilot: reads its settings, wires the config sources and service registries into
 * the discovery server, and listens (xDS on --xds-port, HTTP on --monitoring-port). All
 * logic lives in libs (registry, discovery, translate, xds).
 */
import { readFileSync } from 'node:fs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { DEFAULT_MESH_CONFIG, mergeMeshConfig, type MeshConfig } from '@meshwork/api';
import { buildPilotHttp, DiscoveryServer, MergedConfigSource, PilotMetrics } from '@meshwork/discovery';
import {
  AggregateRegistry,
  KubeClient,
  KubeConfigSource,
  KubeServiceRegistry,
  KvConfigStore,
  RegistrationRegistry,
  ServiceEntryRegistry,
  kubeconfigConnection,
  startDirectorySource,
  type ConfigSource,
  type ConfigStore,
  type ServiceRegistry,
} from '@meshwork/registry';
import { parseSettings, SettingsError } from '@meshwork/settings';
import { listenAds } from '@meshwork/xds';
import * as grpc from '@grpc/grpc-js';
import { readMeshConfigFile, watchMeshConfig } from './mesh-config-watch.js';
import { startSecureXds, type SecureXds } from './secure-xds.js';
import { PILOT_SETTINGS } from './settings.js';

const log = pino({ base: { component: 'pilot' } });
// grpc-js logs to stderr on its own; route it into our structured log instead.
grpc.setLogger({ error: (...a: unknown[]) => log.debug({ grpc: a.join(' ') }, 'grpc'), info: () => undefined, debug: () => undefined } as unknown as Console);
grpc.setLogVerbosity(grpc.logVerbosity.ERROR);

/** listenError turns a bind failure into the one line an operator needs. */
function listenError(what: string, addr: string, err: Error): Error {
  return new Error(`cannot listen for ${what} on ${addr}: ${/EADDRINUSE/.test(err.message) ? 'address already in use' : err.message}`);
}

async function main(): Promise<number> {
  let s;
  try {
    s = parseSettings({ name: 'meshwork-pilot', description: 'Meshwork pilot: mesh config and service discovery served to proxies over Envoy xDS v3' }, PILOT_SETTINGS, process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  if (!s) return 0; // --help
  if (s.caAddress && !s.caRootCert) throw new Error('--ca-address needs --ca-root-cert (the trust bundle that authenticates citadel and proxies)');
  const flagsMeshConfig: MeshConfig = { ...DEFAULT_MESH_CONFIG, domainSuffix: s.domainSuffix, trustDomain: s.trustDomain, rootNamespace: s.rootNamespace };
  let meshConfig = flagsMeshConfig;
  // A bad file fails startup with every error; once running, a bad edit is logged and ignored.
  const meshFile = s.meshConfig ? await readMeshConfigFile(s.meshConfig, log) : undefined;
  if (meshFile) {
    meshConfig = mergeMeshConfig(flagsMeshConfig, meshFile.fields);
    log.info({ file: s.meshConfig, extensionProviders: (meshFile.fields.extensionProviders ?? []).map((p) => p.name) }, 'mesh config loaded');
  }
  const closers: (() => Promise<void> | void)[] = [];

  // Ingest: config sources (first listed wins on duplicates) and service registries.
  const sources: ConfigSource[] = [];
  let store: ConfigStore | undefined;
  let nc: NatsConnection | undefined;
  if (s.natsUrl) {
    try {
      nc = await connect({ servers: s.natsUrl, name: 'meshwork-pilot' });
    } catch (err) {
      throw new Error(`cannot connect to NATS at ${s.natsUrl}: ${(err as Error).message}`);
    }
    closers.push(() => nc?.close());
    store = await KvConfigStore.open({ nc, log });
    sources.push(store);
  }
  if (s.configDir) sources.push(await startDirectorySource({ path: s.configDir, log }));
  let kube: KubeClient | undefined;
  if (s.kubeconfig) {
    kube = new KubeClient(await kubeconfigConnection(s.kubeconfig));
    const ks = new KubeConfigSource({ client: kube, log });
    await ks.start();
    sources.push(ks);
  }
  const config = new MergedConfigSource(sources);
  for (const src of sources) closers.push(() => src.close());

  const registries: ServiceRegistry[] = [];
  if (kube) {
    const kr = new KubeServiceRegistry({ client: kube, domainSuffix: s.domainSuffix, log });
    await kr.start();
    registries.push(kr);
  }
  let registration: RegistrationRegistry | undefined;
  // The registration registry asks the aggregate for services, which does not exist until every
  // registry has started: until then it sees none (it only uses them to name workloads' services).
  const late: { aggregate?: AggregateRegistry } = {};
  if (nc) {
    registration = new RegistrationRegistry({ nc, ttlMs: s.registrationTtl, log, services: () => late.aggregate?.services() ?? [] });
    await registration.start();
  }
  const se = new ServiceEntryRegistry({ source: config, log, workloads: () => registration?.workloads() ?? [] });
  await se.start();
  registries.push(se);
  if (registration) registries.push(registration);
  const agg = new AggregateRegistry(registries, { log });
  late.aggregate = agg;
  closers.push(() => agg.close());

  // Serve.
  const metrics = new PilotMetrics();
  const discovery = new DiscoveryServer({ config, registry: agg, metrics, meshConfig, debounce: { quietMs: s.debounceAfter, maxMs: s.debounceMax }, log });
  await discovery.start();
  if (s.meshConfig && meshFile) {
    closers.push(watchMeshConfig({ file: s.meshConfig, base: flagsMeshConfig, initialText: meshFile.text, onChange: (m) => discovery.setMeshConfig(m), log }));
  }
  const ads = await listenAds(discovery.ads, { host: s.listenAddress, port: s.xdsPort }).catch((err: Error) => {
    throw listenError('xDS', `${s.listenAddress}:${s.xdsPort}`, err);
  });
  // mTLS xDS (15012) once citadel has issued pilot's certificate; until then pilot is not ready.
  let secure: SecureXds | undefined;
  let secureReady = false;
  if (s.caAddress && s.caRootCert) {
    secure = startSecureXds({ ads: discovery.ads, host: s.listenAddress, port: s.secureXdsPort, caAddress: s.caAddress, caRootCert: s.caRootCert, caTokenFile: s.caTokenFile, trustDomain: s.trustDomain, namespace: s.namespace, serviceAccount: s.serviceAccount, dnsNames: s.xdsDnsNames, nc, log });
    const addr = `${s.listenAddress}:${s.secureXdsPort}`;
    secure.listening.then(
      (l) => {
        secureReady = true;
        log.info({ secureXds: `${s.listenAddress}:${l.port}`, identity: `spiffe://${s.trustDomain}/ns/${s.namespace}/sa/${s.serviceAccount}`, dnsNames: s.xdsDnsNames }, 'secure xDS ready');
      },
      (err: Error) => {
        // A bind failure is fatal like the plaintext port's; a stopped manager (shutdown) is not.
        if (secure?.manager.current()) {
          process.stderr.write(`meshwork-pilot: ${listenError('mTLS xDS', addr, err).message}\n`, () => process.exit(1));
        }
      },
    );
    closers.push(() => secure?.close());
  }
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  const http = await buildPilotHttp({ metrics, store, sources, version, registry: agg, syncz: () => discovery.syncz(), proxyConfig: (id) => discovery.proxyConfig(id), ready: () => !secure || secureReady, logger: false });
  try {
    await http.listen({ host: s.listenAddress, port: s.monitoringPort });
  } catch (err) {
    throw listenError('HTTP', `${s.listenAddress}:${s.monitoringPort}`, err as Error);
  }
  const httpPort = (http.server.address() as { port: number }).port;
  log.info({ xds: `${s.listenAddress}:${ads.port}`, http: `${s.listenAddress}:${httpPort}`, sources: sources.map((x) => x.name), registries: registries.map((r) => r.name) }, 'pilot ready');

  // Graceful shutdown: stop accepting, end streams, close sources, exit 0.
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log.info({}, 'shutting down');
  discovery.stop();
  // Streams a peer never half-closes must not hold shutdown: give them a bounded grace period.
  await Promise.race([Promise.allSettled([ads.close(), http.close()]), new Promise((r) => setTimeout(r, 3000).unref())]);
  for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
  return 0;
}

main().then(
  (code) => {
    // Exit explicitly: a closed-but-lingering handle must not keep a stopped pilot alive.
    process.exit(code);
  },
  (err: Error) => {
    // Startup failures are one clear line (DESIGN §5).
    // Exit now: watchers and sockets opened before the failure would keep the process alive.
    process.stderr.write(`meshwork-pilot: ${err.message}\n`, () => process.exit(1));
  },
);
