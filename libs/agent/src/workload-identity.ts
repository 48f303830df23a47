/**
 * A proxy's workload identity (Istio's pilot-agent SDS duties): the SVID from citadel (key in
 * memory only; first request authenticated by a join token or Kubernetes JWT, renewals over mTLS
 * at half-life), the trust bundle (from --ca-root-cert, then citadel's root rotations over NATS),
 * and what uses them — the gRPC credentials of the mTLS stream to pilot and the data plane's SDS
 * secrets. Sidecar and gateway start it the same way.
 */
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from '@nats-io/transport-node';
import { watchTrustBundle } from '@meshwork/bus';
import type { WorkloadCertManager } from '@meshwork/pki';
import type { MemorySecretProvider } from '@meshwork/proxy';
import { workloadSecrets } from './workload-secrets.js';

export interface WorkloadIdentityOptions {
  /** citadel's gRPC address (host:8060). */
  readonly caAddress: string;
  /** PEM file of the trust bundle that authenticates citadel and pilot. */
  readonly caRootCert: string | undefined;
  /** File holding the bearer token of the first request (read at each request). */
  readonly caTokenFile?: string;
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Lifetime asked of citadel in seconds (0: citadel's default, 24 h). */
  readonly validitySeconds?: number;
  /** Follow root rotations published on NATS. */
  readonly nc?: NatsConnection;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/** A workload's identity while the proxy runs. */
export interface WorkloadIdentity {
  readonly spiffeId: string;
  readonly manager: WorkloadCertManager;
  /** SDS `default` and `ROOTCA`, kept in step with renewals and root changes. */
  readonly secrets: MemorySecretProvider;
  /** Credentials of the mutual-TLS stream to pilot (15012), renewed in place. */
  readonly pilotCredentials: grpc.ChannelCredentials;
  stop(): void;
}

/**
 * startWorkloadIdentity resolves once the first certificate is issued (retrying with backoff
 * meanwhile); a missing or unreadable --ca-root-cert is an error naming the flag.
 */
export async function startWorkloadIdentity(o: WorkloadIdentityOptions): Promise<WorkloadIdentity> {
  // Loaded here, not at import: node-forge and the CA client are megabytes of heap that a proxy
  // without --ca-address never uses (the sidecar's memory target).
  const { certificatePems, citadelTransport, formatSpiffeId, managedChannelCredentials, WorkloadCertManager } = await import('@meshwork/pki');
  if (!o.caRootCert) throw new Error('--ca-address needs --ca-root-cert (the trust bundle that authenticates citadel and pilot)');
  let roots: string[];
  try {
    roots = certificatePems(readFileSync(o.caRootCert, 'utf8'));
  } catch (err) {
    throw new Error(`--ca-root-cert ${o.caRootCert}: ${(err as Error).message}`);
  }
  if (roots.length === 0) throw new Error(`--ca-root-cert ${o.caRootCert}: no PEM certificate in the file`);
  const spiffeId = formatSpiffeId({ trustDomain: o.trustDomain, namespace: o.namespace, serviceAccount: o.serviceAccount });
  const tokenFile = o.caTokenFile;
  const manager: WorkloadCertManager = new WorkloadCertManager({
    spiffeId,
    roots,
    ...(o.validitySeconds ? { validitySeconds: o.validitySeconds } : {}),
    transport: citadelTransport({ address: o.caAddress, roots: (): readonly string[] => manager.trustBundle(), ...(tokenFile ? { token: () => readFileSync(tokenFile, 'utf8').trim() } : {}) }),
  });
  manager.on('error', (err, retryInMs) => o.log.warn({ err: err.message, retryInMs }, 'workload certificate request failed; retrying'));
  manager.on('rotated', (c) => o.log.info({ serial: c.serialHex, notAfter: c.notAfter.toISOString() }, 'workload certificate issued'));
  // The manager's retry timers do not hold the process open (a serving proxy must be able to
  // exit), and before the first certificate nothing else does: without this, a refused first
  // request left only an unref'd timer and the process exited 0 instead of retrying.
  const holdOpen = setInterval(() => undefined, 60_000);
  try {
    await manager.start();
  } finally {
    clearInterval(holdOpen);
  }
  // Root rotation: citadel publishes the bundle on NATS; peers with either root keep verifying.
  let stopRootsWatch: (() => void) | undefined;
  if (o.nc) {
    stopRootsWatch = await watchTrustBundle(o.nc, (b) => {
      if (b.trustDomain === o.trustDomain) manager.setTrustBundle(b.roots);
    }).catch((err: Error) => {
      o.log.warn({ err: err.message }, 'cannot watch the trust bundle on NATS; keeping the configured roots');
      return undefined;
    });
  }
  return {
    spiffeId,
    manager,
    secrets: workloadSecrets(manager, spiffeId),
    pilotCredentials: managedChannelCredentials(manager).credentials,
    stop: () => {
      stopRootsWatch?.();
      manager.stop();
    },
  };
}
