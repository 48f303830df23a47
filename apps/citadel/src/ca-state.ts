/**
 * The CA's durable state: the signing CA (self-signed root, or a plugged-in intermediate) and the trust
 * bundle. A restart reloads the same root, so no workload loses trust. Root rotation adds a new root,
 * keeps the old one in the bundle for an overlap window, and signs with the new one from then on.
 */
import { X509Certificate } from 'node:crypto';
import {
  CaStateError,
  createRootCa,
  crossCertify,
  loadCertificateAuthority,
  privateKeyFromPem,
  privateKeyToPem,
  type CaMaterial,
  type CertificateAuthority,
  type KeyAlgorithm,
} from '@meshwork/pki';
import type { KeyStore } from './key-store.js';

/** A root in the trust bundle; `removeAfter` is set on a root that is being rotated out. */
export interface TrustAnchor {
  readonly pem: string;
  readonly removeAfter?: string;
}

export const FILES = { rootCert: 'root-cert.pem', rootKey: 'root-key.pem', bundle: 'trust-bundle.json', crossCert: 'cross-cert.pem' } as const;

export interface CaStateOptions {
  readonly trustDomain: string;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly rootTtlMs: number;
  /** Istio-style plugged-in CA; when set citadel signs as this intermediate and cannot rotate the root. */
  readonly plugged?: CaMaterial;
  readonly now?: () => Date;
}

/** CaState holds the signing CA and trust bundle and persists every change to the key store first. */
/**
 * withCross returns the self-signed root CA with its chain set to [cross, root] while the cross
 * certificate is valid and its issuer is still trusted, else to [root] alone.
 */
function withCross(ca: CertificateAuthority, crossPem: string, anchors: readonly TrustAnchor[], now: Date): CertificateAuthority {
  const base = { ...ca, chainPems: [ca.rootPem] };
  if (crossPem.trim() === '') return base;
  const cross = new X509Certificate(crossPem);
  if (Date.parse(cross.validTo) <= now.getTime() || !cross.publicKey.equals(new X509Certificate(ca.rootPem).publicKey)) return base;
  const issuerTrusted = anchors.some((a) => a.pem !== ca.rootPem && cross.checkIssued(new X509Certificate(a.pem)) && cross.verify(new X509Certificate(a.pem).publicKey));
  return issuerTrusted ? { ...ca, chainPems: [crossPem, ca.rootPem] } : base;
}

export class CaState {
  private listeners: Array<(roots: string[]) => void> = [];

  private constructor(
    private readonly store: KeyStore,
    private readonly opts: CaStateOptions,
    private ca: CertificateAuthority,
    private anchors: TrustAnchor[],
  ) {}

  /** open returns the CA state from the store, creating a self-signed root on first start. */
  static async open(store: KeyStore, opts: CaStateOptions): Promise<CaState> {
    const now = opts.now ?? (() => new Date());
    if (opts.plugged) {
      const ca = loadCertificateAuthority(opts.plugged);
      // root-cert.pem in the state directory is where users and local tools find the root.
      await store.write(FILES.rootCert, ca.rootPem);
      return new CaState(store, opts, ca, [{ pem: ca.rootPem }]);
    }
    const keyPem = await store.read(FILES.rootKey);
    if (keyPem === undefined) {
      const ca = createRootCa({ trustDomain: opts.trustDomain, keyAlgorithm: opts.keyAlgorithm, ttlMs: opts.rootTtlMs, now: now() });
      const anchors = [{ pem: ca.rootPem }];
      await store.write(FILES.bundle, JSON.stringify({ anchors }, null, 2));
      await store.write(FILES.rootKey, privateKeyToPem(ca.key));
      await store.write(FILES.rootCert, ca.rootPem);
      return new CaState(store, opts, ca, anchors);
    }
    const key = privateKeyFromPem(keyPem);
    const bundleText = await store.read(FILES.bundle);
    const anchors: TrustAnchor[] = bundleText ? (JSON.parse(bundleText) as { anchors: TrustAnchor[] }).anchors : [];
    const certPem = await store.read(FILES.rootCert);
    // The current root is the one whose key we hold: a crash in the middle of a rotation may have
    // updated the bundle and the key but not yet root-cert.pem.
    const candidates = [...(certPem ? [certPem] : []), ...anchors.map((a) => a.pem)];
    const current = candidates.find((p) => new X509Certificate(p).checkPrivateKey(key));
    if (!current) throw new CaStateError(`${store.description}: ${FILES.rootKey} matches no root certificate`);
    if (!anchors.some((a) => a.pem === current)) anchors.unshift({ pem: current });
    if (current !== certPem) await store.write(FILES.rootCert, current);
    const ca = withCross(loadCertificateAuthority({ certPem: current, key, rootPem: current }), (await store.read(FILES.crossCert)) ?? '', anchors, now());
    return new CaState(store, opts, ca, anchors);
  }

  /** signer returns the CA that signs new certificates now. */
  get signer(): CertificateAuthority {
    return this.ca;
  }

  /** plugged says whether the signing CA is a plugged-in intermediate (no root rotation then). */
  get plugged(): boolean {
    return this.opts.plugged !== undefined;
  }

  /** roots returns the trust bundle: every root a workload must trust now, the signing root first. */
  roots(): string[] {
    const current = this.ca.rootPem;
    return [current, ...this.anchors.map((a) => a.pem).filter((p) => p !== current)];
  }

  /** anchors returns the bundle entries with their removal times (for the admin API). */
  trustAnchors(): readonly TrustAnchor[] {
    return this.anchors;
  }

  /** onRootsChanged registers a listener called with the new bundle after every change. */
  onRootsChanged(fn: (roots: string[]) => void): void {
    this.listeners.push(fn);
  }

  /**
   * rotateRoot returns the new root after creating it, making it the signer and keeping every other
   * root in the bundle until `now + overlapMs`. Refused for a plugged-in CA (its owner rotates it).
   */
  async rotateRoot(overlapMs: number): Promise<{ rootPem: string; removeAfter: string }> {
    if (this.plugged) throw new CaStateError('the root of a plugged-in CA is rotated by replacing the cacerts files, not by citadel');
    const now = (this.opts.now ?? (() => new Date()))();
    const next = createRootCa({ trustDomain: this.opts.trustDomain, keyAlgorithm: this.ca.keyAlgorithm, ttlMs: this.opts.rootTtlMs, now });
    // The old root vouches for the new one until the overlap ends, so a workload that has not yet
    // received the new bundle still accepts certificates chained [leaf, cross] to the new root.
    const cross = crossCertify(next, this.ca, { ttlMs: overlapMs, now });
    const removeAfter = new Date(now.getTime() + overlapMs).toISOString();
    const anchors: TrustAnchor[] = [{ pem: next.rootPem }, ...this.anchors.map((a) => ({ pem: a.pem, removeAfter: a.removeAfter ?? removeAfter }))];
    // Bundle first: if we crash now the new root is already trusted everywhere before anything chains to it.
    await this.store.write(FILES.bundle, JSON.stringify({ anchors }, null, 2));
    await this.store.write(FILES.crossCert, cross);
    await this.store.write(FILES.rootKey, privateKeyToPem(next.key));
    await this.store.write(FILES.rootCert, next.rootPem);
    this.ca = withCross(next, cross, anchors, now);
    this.anchors = anchors;
    this.emit();
    return { rootPem: next.rootPem, removeAfter };
  }

  /** prune removes roots whose overlap window has ended; returns whether the bundle changed. */
  async prune(): Promise<boolean> {
    const now = (this.opts.now ?? (() => new Date()))().getTime();
    const kept = this.anchors.filter((a) => a.removeAfter === undefined || Date.parse(a.removeAfter) > now);
    if (kept.length === this.anchors.length) return false;
    await this.store.write(FILES.bundle, JSON.stringify({ anchors: kept }, null, 2));
    this.anchors = kept;
    const ca = withCross(this.ca, '', kept, new Date(now));
    if (ca.chainPems.length !== this.ca.chainPems.length) await this.store.write(FILES.crossCert, '');
    this.ca = ca;
    this.emit();
    return true;
  }

  /** crossCertificate returns the cross certificate in use during a rotation overlap, if any. */
  get crossCertificate(): string | undefined {
    return this.ca.chainPems.length > 1 && !this.plugged ? this.ca.chainPems[0] : undefined;
  }

  private emit(): void {
    const roots = this.roots();
    for (const fn of this.listeners) fn(roots);
  }
}
