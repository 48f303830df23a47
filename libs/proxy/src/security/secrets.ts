/**
 * Secrets the engine's TLS contexts are built from (Envoy's SDS, served in memory): the agent
 * pushes the workload certificate as `default` and the trust bundle as `ROOTCA` (Istio's SDS
 * resource names); listeners and clusters name the secrets they use and build TLS contexts from
 * whatever the provider holds when a connection starts, so a rotation reaches new connections
 * without touching live ones.
 */

/** Istio's SDS name of the workload certificate (key + SVID chain). */
export const WORKLOAD_CERT_SECRET = 'default';
/** Istio's SDS name of the trust bundle. */
export const ROOT_CA_SECRET = 'ROOTCA';

/** An Envoy `tls_certificate` secret: a certificate chain (leaf first) and its private key. */
export interface CertificateSecret {
  readonly kind: 'certificate';
  readonly certChainPem: string;
  readonly keyPem: string;
  /** For /config_dump and `meshctl proxy-config secret`: serial (hex), SPIFFE identity, validity. */
  readonly serialHex?: string;
  readonly identity?: string;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

/** An Envoy `validation_context` secret: the CA certificates a peer must chain to. */
export interface ValidationSecret {
  readonly kind: 'validation';
  readonly trustedCaPem: string;
}

export type Secret = CertificateSecret | ValidationSecret;

/** SecretProvider is the engine's view of SDS: the current secret by name, and change events. */
export interface SecretProvider {
  /** The secret in force, or undefined while it is not (yet) known. */
  get(name: string): Secret | undefined;
  /** Calls `listener(name)` after a secret is added, replaced or removed; returns the unsubscribe function. */
  onChange(listener: (name: string) => void): () => void;
  /** Every secret by name (admin: /config_dump SecretsConfigDump). */
  all(): ReadonlyMap<string, Secret>;
}

/** MemorySecretProvider holds secrets pushed by their owner (the agent's certificate manager, a test). */
export class MemorySecretProvider implements SecretProvider {
  private readonly secrets = new Map<string, Secret>();
  private readonly listeners = new Set<(name: string) => void>();
  /** Bumped on every change: a cheap key for caches of TLS contexts built from these secrets. */
  version = 0;

  get(name: string): Secret | undefined {
    return this.secrets.get(name);
  }

  all(): ReadonlyMap<string, Secret> {
    return this.secrets;
  }

  /** set replaces a secret and tells the subscribers. */
  set(name: string, secret: Secret): void {
    this.secrets.set(name, secret);
    this.changed(name);
  }

  /** delete removes a secret and tells the subscribers. */
  delete(name: string): void {
    if (this.secrets.delete(name)) this.changed(name);
  }

  onChange(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(name: string): void {
    this.version++;
    for (const l of this.listeners) l(name);
  }
}

/** The `node:tls` options a pair of secret names resolves to, or why it cannot be built yet. */
export type TlsMaterial = { readonly ok: true; readonly cert?: string; readonly key?: string; readonly ca?: string } | { readonly ok: false; readonly error: string };

/**
 * tlsMaterial returns the certificate/key and CA bundle named by a TLS context (an SDS name for
 * each), for `tls.createSecureContext`. A name that is set but unknown or of the wrong kind is an
 * error naming it (Envoy keeps such a listener or cluster warming until the secret arrives).
 */
export function tlsMaterial(provider: SecretProvider | undefined, names: { readonly certificate?: string; readonly validation?: string }): TlsMaterial {
  let cert: string | undefined;
  let key: string | undefined;
  let ca: string | undefined;
  if (names.certificate !== undefined) {
    const s = provider?.get(names.certificate);
    if (s?.kind !== 'certificate') return { ok: false, error: `secret "${names.certificate}": no certificate available` };
    cert = s.certChainPem;
    key = s.keyPem;
  }
  if (names.validation !== undefined) {
    const s = provider?.get(names.validation);
    if (s?.kind !== 'validation') return { ok: false, error: `secret "${names.validation}": no validation context (trust bundle) available` };
    ca = s.trustedCaPem;
  }
  return { ok: true, ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}), ...(ca !== undefined ? { ca } : {}) };
}
