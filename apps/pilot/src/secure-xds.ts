/**
 * Pilot's mTLS xDS port (Istio 15012): pilot asks citadel for its own certificate (SPIFFE ID of
 * its namespace/service account plus DNS SANs, so proxies can check the name they dial), serves the
 * same ADS service with it, and requires every proxy to present a certificate that chains to the
 * mesh trust bundle. Renewals and new roots (mesh.ca.roots over NATS) take effect without a restart.
 */
import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { watchTrustBundle } from '@meshwork/bus';
import { certificatePems, citadelTransport, formatSpiffeId, managedServerCredentials, WorkloadCertManager } from '@meshwork/pki';
import { listenAds, type AdsServer, type ListeningAds } from '@meshwork/xds';

export interface SecureXdsOptions {
  readonly ads: AdsServer;
  readonly host: string;
  readonly port: number;
  readonly caAddress: string;
  readonly caRootCert: string;
  readonly caTokenFile?: string;
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly dnsNames: readonly string[];
  readonly nc?: NatsConnection;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/** A running mTLS xDS listener and the certificate manager behind it. */
export interface SecureXds {
  readonly manager: WorkloadCertManager;
  /** Resolves once the first certificate is held and the port is bound. */
  readonly listening: Promise<ListeningAds>;
  close(): Promise<void>;
}

/** readRoots returns the PEM certificates of a trust-bundle file, or throws naming the file. */
function readRoots(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`--ca-root-cert ${path}: ${(err as Error).message}`);
  }
  const roots = certificatePems(text);
  if (roots.length === 0) throw new Error(`--ca-root-cert ${path}: no PEM certificate in the file`);
  return roots;
}

/**
 * startSecureXds validates the settings at once (bad files fail startup), then requests the
 * certificate in the background — retrying with backoff while citadel is unreachable — and binds
 * the port when the first one arrives.
 */
export function startSecureXds(o: SecureXdsOptions): SecureXds {
  const roots = readRoots(o.caRootCert);
  const tokenFile = o.caTokenFile;
  const manager: WorkloadCertManager = new WorkloadCertManager({
    spiffeId: formatSpiffeId({ trustDomain: o.trustDomain, namespace: o.namespace, serviceAccount: o.serviceAccount }),
    dnsNames: o.dnsNames,
    roots,
    transport: citadelTransport({
      address: o.caAddress,
      roots: (): readonly string[] => manager.trustBundle(),
      ...(tokenFile ? { token: () => readFileSync(tokenFile, 'utf8').trim() } : {}),
    }),
  });
  manager.on('error', (err, retryInMs) => o.log.warn({ err: err.message, retryInMs }, 'pilot certificate request failed; retrying'));
  manager.on('rotated', (c) => o.log.info({ serial: c.serialHex, notAfter: c.notAfter.toISOString() }, 'pilot serving certificate issued'));
  let stopWatch: (() => void) | undefined;
  let server: ListeningAds | undefined;
  const listening = (async () => {
    if (o.nc) stopWatch = await watchTrustBundle(o.nc, (b) => b.trustDomain === o.trustDomain && manager.setTrustBundle(b.roots));
    await manager.start();
    const { credentials } = managedServerCredentials(manager, { requireClientCert: true });
    server = await listenAds(o.ads, { host: o.host, port: o.port, credentials });
    return server;
  })();
  return {
    manager,
    listening,
    close: async () => {
      manager.stop();
      stopWatch?.();
      await server?.close();
    },
  };
}
