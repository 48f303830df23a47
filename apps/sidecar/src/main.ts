/**
 * meshwork-sidecar: reads its settings, starts the proxy and its agent (libs/agent startSidecar),
 * and optionally runs the application after `--` once the proxy is ready. SIGTERM (or POST
 * /quitquitquit, or the application exiting) drains the proxy and stops the application; the
 * sidecar then exits with the application's exit code.
 */
import { pino } from 'pino';
import * as grpc from '@grpc/grpc-js';
import { AppProcess, exitCodeOf, RecordPublisher, sidecarNodeId, startSidecar, startWorkloadIdentity, type AppExit } from '@meshwork/agent';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { register, type RegistrationHandle } from '@meshwork/registry/registration';
import { spansSubject } from '@meshwork/bus';
import { BufferedPublisher, type SpanRecord } from '@meshwork/telemetry';
import { parseSettings, SettingsError } from '@meshwork/settings';
import { configureRateLimitService } from '@meshwork/proxy';
import { SIDECAR_SETTINGS } from './settings.js';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const dashdash = argv.indexOf('--');
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const appCmd = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  let s;
  try {
    s = parseSettings({ name: 'meshwork-sidecar', description: 'Meshwork sidecar: the per-workload proxy and its agent. Usage: meshwork-sidecar [flags] [-- <application command>]' }, SIDECAR_SETTINGS, own, process.env);
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  if (!s) return 0; // --help
  if (!s.workload) throw new Error('--workload (POD_NAME) is required: the workload name, e.g. reviews-v1-1');
  const workload = s.workload;
  // Istio's node metadata: NAME is the pod (instance), WORKLOAD_NAME its Deployment (what metrics name).
  const workloadName = s.workloadName ?? s.workload.replace(/-[^-]+$/, '');
  const labels: Record<string, string> = {};
  for (const kv of s.labels) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--labels: "${kv}" is not key=value`);
    labels[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const ports: Record<string, number> = {};
  for (const kv of s.ports) {
    const m = /^([^=]+)=(\d+)$/.exec(kv);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`--ports: "${kv}" is not <port name>=<port number>`);
    ports[m[1]] = Number(m[2]);
  }
  const log = pino({ base: { component: 'sidecar', workload: `${s.namespace}/${s.workload}` }, level: s.logLevel });
  grpc.setLogger({ error: (...a: unknown[]) => log.debug({ grpc: a.join(' ') }, 'grpc'), info: () => undefined, debug: () => undefined } as unknown as Console);
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);

  let stopping: Promise<number> | undefined;
  let onStopped: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((r) => (onStopped = r));
  let app: AppProcess | undefined;
  const [region, zone, subZone] = (s.locality ?? '').split('/');
  const node = {
    id: sidecarNodeId(s.instanceIp, s.workload, s.namespace, s.domainSuffix),
    metadata: { NAMESPACE: s.namespace, LABELS: labels, SERVICE_ACCOUNT: s.serviceAccount, INSTANCE_IPS: s.instanceIp, NAME: s.workload, WORKLOAD_NAME: workloadName, ISTIO_VERSION: 'meshwork' },
    ...(s.locality ? { locality: { region, zone: zone ?? '', subZone: subZone ?? '' } } : {}),
  };

  // Auto-registration: the workload enters pilot's registry (and so EDS) while this sidecar lives.
  let nc: NatsConnection | undefined;
  let registration: RegistrationHandle | undefined;
  if (s.natsUrl) {
    try {
      // noAsyncTraces: no Error (stack capture) per request-reply or JetStream publish on the telemetry path
      nc = await connect({ servers: s.natsUrl, name: `meshwork-sidecar ${s.namespace}/${s.workload}`, noAsyncTraces: true });
    } catch (err) {
      throw new Error(`cannot connect to NATS at ${s.natsUrl}: ${(err as Error).message}`);
    }
    registration = await register(
      {
        name: s.workload,
        namespace: s.namespace,
        address: s.instanceIp,
        labels,
        ports,
        serviceAccount: s.serviceAccount,
        ...(s.locality ? { locality: s.locality } : {}),
        // Peers originate Istio mTLS only to endpoints labelled tlsMode=istio: only a sidecar with a workload certificate can terminate it.
        tlsMode: s.caAddress ? 'istio' : 'disabled',
      },
      { nc, ttlMs: s.registrationTtl, log },
    );
    log.info({ key: registration.key, ports }, 'workload registered');
  }
  const samplingPercent = Number(s.traceSampling);
  if (!Number.isFinite(samplingPercent) || samplingPercent < 0 || samplingPercent > 100) throw new Error(`--trace-sampling: "${s.traceSampling}" is not a percentage between 0 and 100`);
  // Finished spans go to mixer over NATS, batched; publishing never waits on the request path.
  const spanPublisher = nc
    ? new BufferedPublisher<SpanRecord>({
        sink: async (batch) => {
          nc?.publish(spansSubject(s.namespace, workload), JSON.stringify(batch));
        },
        onError: (err) => log.debug({ err: String(err) }, 'span publishing failed'),
      })
    : undefined;

  // Request records go to mixer over JetStream (MESH_TELEMETRY), batched; a full buffer drops, never waits.
  // The workload (not the pod) names the subject mesh.telemetry.<ns>.<workload> and mixer's drop counter, as in the metrics.
  const recordPublisher = nc
    ? new RecordPublisher({ nc, namespace: s.namespace, workload: workloadName, onError: (err, records) => log.debug({ err: String(err), records }, 'telemetry batch not published; counted as dropped') })
    : undefined;

  // Workload identity: a certificate from citadel (key in memory only), then mutual TLS to pilot;
  // the data plane's TLS contexts (inbound mTLS, outbound origination) read the same certificate.
  const identity = s.caAddress
    ? await startWorkloadIdentity({ caAddress: s.caAddress, caRootCert: s.caRootCert, ...(s.caTokenFile ? { caTokenFile: s.caTokenFile } : {}), trustDomain: s.trustDomain, namespace: s.namespace, serviceAccount: s.serviceAccount, validitySeconds: Math.max(1, Math.round(s.secretTtl / 1000)), ...(nc ? { nc } : {}), log })
    : undefined;
  const pilotCreds = identity?.pilotCredentials;
  const secrets = identity?.secrets;

  // GLOBAL RateLimit filters call mixer here instead of resolving their cluster name (docs/mixer.md, Rate limiting).
  configureRateLimitService({ address: s.ratelimitAddress });

  const sidecar = await startSidecar({
    node,
    pilot: {
      target: s.pilot,
      delta: s.deltaXds,
      ...(pilotCreds ? { credentials: pilotCreds, channelOptions: { 'grpc.ssl_target_name_override': s.pilotServerName, 'grpc.default_authority': s.pilotServerName } } : {}),
    },
    outbound: { host: s.outboundAddress, port: s.outboundPort },
    inboundAddress: s.inboundAddress,
    adminAddress: s.adminAddress,
    adminPort: s.adminPort,
    healthPort: s.healthPort,
    statsPort: s.statsPort,
    agentPort: s.agentPort,
    ...(s.appMetrics ? { appMetricsUrl: s.appMetrics } : {}),
    self: {
      workload: workloadName,
      namespace: s.namespace,
      ...(labels.app ? { app: labels.app, canonicalService: labels['service.istio.io/canonical-name'] ?? labels.app } : {}),
      ...(labels.version ? { version: labels.version, canonicalRevision: labels['service.istio.io/canonical-revision'] ?? labels.version } : {}),
    },
    ...(s.accessLog ? { accessLog: process.stdout } : {}),
    stdout: process.stdout,
    ...(secrets ? { secrets } : {}),
    ...(recordPublisher ? { onRecord: (r) => void recordPublisher.offer(r), registerMetrics: (reg) => recordPublisher.register(reg) } : {}),
    tracing: { samplingPercent, onSpans: (spans) => spans.forEach((sp) => spanPublisher?.offer(sp)) },
    log,
    quit: () => void stop('quitquitquit'),
    logLevel: { get: () => log.level, set: (l) => (log.level = l) },
  }).catch((err: Error) => {
    throw new Error(/EADDRINUSE/.test(err.message) ? `cannot listen on the admin or health port (${s.adminAddress}:${s.adminPort}/${s.healthPort}): address already in use` : err.message);
  });
  log.info({ node: node.id, pilot: s.pilot, admin: `${s.adminAddress}:${sidecar.adminPort}`, health: `${s.adminAddress}:${sidecar.healthPort}`, stats: `${s.adminAddress}:${sidecar.statsPort}`, agent: `${s.adminAddress}:${sidecar.agentPort}`, outbound: `${s.outboundAddress}:${s.outboundPort}` }, 'sidecar started');
  void sidecar.whenReady.then(() => log.info({ listeners: Object.fromEntries(sidecar.bindings()) }, 'sidecar ready'));

  // stop drains the proxy and the application together; resolves with the exit code.
  const stop = (why: string, appExit?: AppExit): Promise<number> =>
    (stopping ??= (async () => {
      log.info({ why }, 'stopping');
      // Leave EDS first, so new requests stop coming while the drain finishes the ones in flight.
      await registration?.deregister().catch((err: Error) => log.warn({ err: err.message }, 'deregistration failed; the entry expires with its TTL'));
      const appDone = app && !appExit ? app.stop(s.appStopGrace) : Promise.resolve(appExit);
      const [exit] = await Promise.all([appDone, sidecar.close(s.drainDuration)]);
      await spanPublisher?.close();
      await recordPublisher?.close();
      await nc?.close().catch(() => undefined);
      identity?.stop();
      const code = exit ? exitCodeOf(exit) : 0;
      onStopped(code);
      return code;
    })());
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  const startApp = async (): Promise<void> => {
    if (stopping) return;
    const proxyUrl = `http://${s.outboundAddress}:${s.outboundPort}`;
    try {
      app = await AppProcess.start({ command: appCmd[0], args: appCmd.slice(1), env: { HTTP_PROXY: proxyUrl, http_proxy: proxyUrl, NO_PROXY: 'localhost,127.0.0.1', no_proxy: 'localhost,127.0.0.1' } });
    } catch (err) {
      log.error({ err: (err as Error).message }, 'application did not start');
      void stop('application did not start', { code: 127, signal: null });
      return;
    }
    log.info({ pid: app.pid, command: appCmd[0] }, 'application started');
    void app.exited.then((e) => {
      log.info({ code: e.code, signal: e.signal }, 'application exited');
      void stop('application exited', e);
    });
  };
  if (appCmd.length > 0) {
    // holdApplicationUntilProxyStarts: the application's first requests find a ready proxy.
    if (s.holdApplication) void sidecar.whenReady.then(startApp);
    else await startApp();
  }
  return stopped;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`meshwork-sidecar: ${err.message}\n`, () => process.exit(1));
  },
);
