/**
 * The sidecar's SDS, in memory (Istio's pilot-agent serves the same over a Unix socket): the
 * workload certificate manager's key and SVID chain become the `default` secret and its trust
 * bundle the `ROOTCA` secret, replaced on every rotation and every root change. The engine builds
 * TLS contexts from them per new connection, so a renewal never touches live connections.
 */
import { MemorySecretProvider, ROOT_CA_SECRET, WORKLOAD_CERT_SECRET } from '@meshwork/proxy';

/** What the sidecar's certificate manager offers (WorkloadCertManager from @meshwork/pki fits). */
export interface WorkloadCertSource {
  current(): { readonly keyPem: string; readonly chainPems: readonly string[]; readonly serialHex: string; readonly notBefore: Date; readonly notAfter: Date } | undefined;
  trustBundle(): readonly string[];
  on(event: 'rotated', fn: () => void): unknown;
  on(event: 'bundle', fn: () => void): unknown;
}

/**
 * workloadSecrets returns a secret provider kept in step with a certificate source: `default` is
 * the key and chain (leaf first; the root is left out of what is sent to peers, as Istio's SDS
 * does), `ROOTCA` the trust bundle. `identity` is the SPIFFE ID, shown by /config_dump.
 */
export function workloadSecrets(source: WorkloadCertSource, identity: string): MemorySecretProvider {
  const secrets = new MemorySecretProvider();
  const publishCert = (): void => {
    const c = source.current();
    if (!c) return;
    // The chain without its self-signed root: the peer has the root in its own bundle.
    const chain = c.chainPems.length > 1 ? c.chainPems.slice(0, -1) : c.chainPems;
    secrets.set(WORKLOAD_CERT_SECRET, { kind: 'certificate', certChainPem: chain.join(''), keyPem: c.keyPem, serialHex: c.serialHex, identity, notBefore: c.notBefore, notAfter: c.notAfter });
  };
  const publishRoots = (): void => {
    const roots = source.trustBundle();
    if (roots.length > 0) secrets.set(ROOT_CA_SECRET, { kind: 'validation', trustedCaPem: roots.join('') });
  };
  publishRoots();
  publishCert();
  source.on('rotated', publishCert);
  source.on('bundle', publishRoots);
  return secrets;
}
