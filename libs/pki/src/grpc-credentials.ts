/**
 * grpc-js serving credentials whose certificate and trust bundle can change under a running server
 * (renewal, root rotation) without a restart: an in-memory certificate provider, and the wiring
 * that keeps one in step with a WorkloadCertManager. Citadel (8060) and pilot (15012) serve with it.
 */
import * as grpc from '@grpc/grpc-js';
import type { WorkloadCertManager } from './cert-manager.js';

/** An in-memory grpc-js certificate provider: the serving chain and the client-checking bundle are replaceable. */
export class MemoryCertificateProvider implements grpc.experimental.CertificateProvider {
  private ca: grpc.experimental.CaCertificateUpdate | null = null;
  private identity: grpc.experimental.IdentityCertificateUpdate | null = null;
  private caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();
  private idListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  /** setCa replaces the trust bundle used to check client certificates. */
  setCa(rootsPem: string): void {
    this.ca = { caCertificate: Buffer.from(rootsPem) };
    for (const l of this.caListeners) l(this.ca);
  }

  /** setIdentity replaces the serving certificate chain and key. */
  setIdentity(certChainPem: string, keyPem: string): void {
    this.identity = { certificate: Buffer.from(certChainPem), privateKey: Buffer.from(keyPem) };
    for (const l of this.idListeners) l(this.identity);
  }

  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    // Deliver later: grpc-js registers its watcher only after adding the listener, so a synchronous
    // first update would be lost and the server would drop every connection.
    queueMicrotask(() => this.ca && this.caListeners.has(l) && l(this.ca));
  }
  removeCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.idListeners.add(l);
    queueMicrotask(() => this.identity && this.idListeners.has(l) && l(this.identity));
  }
  removeIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.idListeners.delete(l);
  }
}

/** managedProvider returns a certificate provider that follows the manager's certificate and trust bundle. */
export function managedProvider(manager: WorkloadCertManager): MemoryCertificateProvider {
  const provider = new MemoryCertificateProvider();
  const serve = (): void => {
    const c = manager.current();
    // The chain without its root: peers have the root in their bundle.
    if (c) provider.setIdentity(c.chainPems.slice(0, -1).join(''), c.keyPem);
  };
  serve();
  provider.setCa(manager.trustBundle().join(''));
  manager.on('rotated', serve);
  manager.on('bundle', (roots) => provider.setCa(roots.join('')));
  return provider;
}

/**
 * managedServerCredentials returns TLS server credentials that serve the manager's current
 * certificate and check client certificates against its trust bundle, following every rotation.
 * The manager must hold a certificate already (await start()). `requireClientCert`: refuse
 * handshakes without a client certificate that chains to the bundle.
 */
export function managedServerCredentials(manager: WorkloadCertManager, opts: { requireClientCert: boolean }): { credentials: grpc.ServerCredentials; provider: MemoryCertificateProvider } {
  const provider = managedProvider(manager);
  return { credentials: grpc.experimental.createCertificateProviderServerCredentials(provider, provider, opts.requireClientCert), provider };
}

/**
 * managedChannelCredentials returns TLS channel credentials for a client (a sidecar dialling
 * pilot's 15012) that present the manager's current certificate and verify the server against its
 * trust bundle; new connections pick up renewals and new roots. The manager must hold a
 * certificate already (await start()).
 */
export function managedChannelCredentials(manager: WorkloadCertManager): { credentials: grpc.ChannelCredentials; provider: MemoryCertificateProvider } {
  const provider = managedProvider(manager);
  return { credentials: grpc.experimental.createCertificateProviderChannelCredentials(provider, provider), provider };
}
