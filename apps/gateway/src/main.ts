/**
 * meshwork-gateway: the ingress/egress gateway. Reads its settings, gets its workload
 * certificate when a CA is configured, loads credentialName secrets (secret directory,
 * Kubernetes Secrets), and starts the proxy agent with a router's node id (libs/agent
 * startGateway): pilot sends the listeners of the Gateways whose selector matches --labels and
 * they are bound on --address at their ports (or mapped ones). SIGTERM (or POST /quitquitquit)
 * drains in-flight requests for --drain-duration and exits 0.
 */
import { pino } from 'pino';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { CredentialStore, gatewayNodeId, kubeSecretCredential, parsePortMap, RecordPublisher, startGateway, startWorkloadIdentity, watchCredentialDir, type KubeSecretObject } from '@meshwork/agent';
import { spansSubject } from '@meshwork/bus';
import { configureRateLimitService, MemorySecretProvider } from '@meshwork/proxy';
import type { KubeCollection } from '@meshwork/registry';
import { parseSettings, SettingsError } from '@meshwork/settings';
import { BufferedPublisher, type SpanRecord } from '@meshwork/telemetry';
import { GATEWAY_SETTINGS } from './settings.js';

async function main(): Promise<number> {
  let s;
  try {
    s = parseSettings({ name: 'meshwork-gateway', description: 'Meshwork gateway: ingress/egress proxy configured by Gateway resources (Istio Gateway or Kubernetes Gateway API)' }, GATEWAY_SETTINGS, process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  if (!s) return 0; // --help
  const labels: Record<string, string> = {};
  for (const kv of s.labels) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--labels: "${kv}" is not key=value`);
    labels[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const ports = { map: parsePortMap(s.portMap), offset: s.portOffset };
  const samplingPercent = Number(s.traceSampling);
  if (!Number.isFinite(samplingPercent) || samplingPercent < 0 || samplingPercent > 100) throw new Error(`--trace-sampling: "${s.traceSampling}" is not a percentage between 0 and 100`);
  const log = pino({ base: { component: 'gateway', workload: `${s.namespace}/${s.workload}` }, level: s.logLevel });
  grpc.setLogger({ error: (...a: unknown[]) => log.debug({ grpc: a.join(' ') }, 'grpc'), info: () => undefined, debug: () => undefined } as unknown as Console);
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);

  let nc: NatsConnection | undefined;
  if (s.natsUrl) {
    try {
      // noAsyncTraces: no Error (stack capture) per request-reply or JetStream publish on the telemetry path
      nc = await connect({ servers: s.natsUrl, name: `meshwork-gateway ${s.namespace}/${s.workload}`, noAsyncTraces: true });
    } catch (err) {
      throw new Error(`cannot connect to NATS at ${s.natsUrl}: ${(err as Error).message}`);
    }
  }
  const spanPublisher = nc
    ? new BufferedPublisher<SpanRecord>({
        sink: async (batch) => {
          nc?.publish(spansSubject(s.namespace, s.name), JSON.stringify(batch));
        },
        onError: (err) => log.debug({ err: String(err) }, 'span publishing failed'),
      })
    : undefined;
  const records = nc ? new RecordPublisher({ nc, namespace: s.namespace, workload: s.name, onError: (err, n) => log.debug({ err: String(err), records: n }, 'record publishing failed') }) : undefined;

  // Workload identity (mTLS to meshed backends and to pilot) when a CA is configured.
  const identity = s.caAddress
    ? await startWorkloadIdentity({ caAddress: s.caAddress, caRootCert: s.caRootCert, ...(s.caTokenFile ? { caTokenFile: s.caTokenFile } : {}), trustDomain: s.trustDomain, namespace: s.namespace, serviceAccount: s.serviceAccount, ...(nc ? { nc } : {}), log })
    : undefined;
  const pilotCreds = identity?.pilotCredentials;
  const secrets = identity?.secrets ?? new MemorySecretProvider();

  // credentialName secrets: the gateway's own SDS, next to the workload certificate.
  const credentials = new CredentialStore(secrets, log);
  const stopDirWatch = s.secretDir ? await watchCredentialDir(credentials, s.secretDir, { log }) : undefined;
  if (s.secretDir) log.info({ dir: s.secretDir, credentials: credentials.names() }, 'secret directory loaded');
  let kubeSecrets: KubeCollection | undefined;
  if (s.kubeSecrets) {
    // Loaded only here: the registry's index also brings the resource schemas (zod, yaml, re2js),
    // ~10 MB of heap a gateway without Kubernetes secrets never uses (footprint.test.ts).
    const { inClusterConnection, KubeClient, KubeCollection, kubeconfigConnection } = await import('@meshwork/registry');
    const conn = (await inClusterConnection(process.env)) ?? (await kubeconfigConnection(s.kubeconfig));
    const onSecret = (o: unknown, removed = false): void => {
      const obj = o as KubeSecretObject;
      const name = obj.metadata.name;
      if (!name) return;
      credentials.set('kube', name, removed ? undefined : kubeSecretCredential(obj));
    };
    kubeSecrets = new KubeCollection({
      client: new KubeClient(conn),
      path: `/api/v1/namespaces/${encodeURIComponent(s.namespace)}/secrets`,
      log,
      onAdd: (o) => onSecret(o),
      onUpdate: (o) => onSecret(o),
      onDelete: (o) => onSecret(o, true),
    });
    await kubeSecrets.start();
    log.info({ namespace: s.namespace, credentials: credentials.names() }, 'Kubernetes secrets loaded');
  }

  const node = {
    id: gatewayNodeId(s.address === '0.0.0.0' ? '127.0.0.1' : s.address, s.workload, s.namespace, s.domainSuffix),
    metadata: { NAMESPACE: s.namespace, LABELS: labels, SERVICE_ACCOUNT: s.serviceAccount, INSTANCE_IPS: s.address, WORKLOAD_NAME: s.name, ISTIO_VERSION: 'meshwork' },
  };
  let stopping: Promise<number> | undefined;
  let onStopped: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((r) => (onStopped = r));
  // GLOBAL RateLimit filters call mixer here instead of resolving their cluster name (docs/mixer.md, Rate limiting).
  configureRateLimitService({ address: s.ratelimitAddress });

  const gateway = await startGateway({
    node,
    pilot: { target: s.pilot, delta: s.deltaXds, ...(pilotCreds ? { credentials: pilotCreds, channelOptions: { 'grpc.ssl_target_name_override': s.pilotServerName, 'grpc.default_authority': s.pilotServerName } } : {}) },
    address: s.address,
    ports,
    adminAddress: s.adminAddress,
    adminPort: s.adminPort,
    healthPort: s.healthPort,
    statsPort: s.statsPort,
    agentPort: s.agentPort,
    self: { workload: s.name, namespace: s.namespace, ...(labels.app ? { app: labels.app, canonicalService: labels['service.istio.io/canonical-name'] ?? labels.app } : {}), ...(labels.version ? { version: labels.version, canonicalRevision: labels.version } : {}) },
    ...(s.accessLog ? { accessLog: process.stdout } : {}),
    stdout: process.stdout,
    secrets,
    ...(records ? { onRecord: (r) => void records.offer(r) } : {}),
    tracing: { samplingPercent, onSpans: (spans) => spans.forEach((sp) => spanPublisher?.offer(sp)) },
    log,
    quit: () => void stop('quitquitquit'),
    logLevel: { get: () => log.level, set: (l) => (log.level = l) },
  }).catch((err: Error) => {
    throw new Error(/EADDRINUSE/.test(err.message) ? `cannot listen on the admin, health, stats or agent port (${s.adminAddress}:${s.adminPort}/${s.healthPort}/${s.statsPort}/${s.agentPort}): address already in use` : err.message);
  });
  log.info({ node: node.id, pilot: s.pilot, labels, admin: `${s.adminAddress}:${gateway.adminPort}`, health: `${s.adminAddress}:${gateway.healthPort}`, stats: `${s.adminAddress}:${gateway.statsPort}`, agent: `${s.adminAddress}:${gateway.agentPort}` }, 'gateway started');
  void gateway.whenReady.then(() => log.info({ listeners: Object.fromEntries(gateway.bindings()) }, 'gateway ready'));

  const stop = (why: string): Promise<number> =>
    (stopping ??= (async () => {
      log.info({ why }, 'stopping');
      await gateway.close(s.drainDuration);
      stopDirWatch?.();
      await kubeSecrets?.stop();
      await records?.close();
      await spanPublisher?.close();
      await nc?.close().catch(() => undefined);
      identity?.stop();
      onStopped(0);
      return 0;
    })());
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  return stopped;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`meshwork-gateway: ${err.message}\n`, () => process.exit(1));
  },
);
