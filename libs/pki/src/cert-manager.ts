/**
 * The workload certificate manager used by sidecar, gateway and pilot (Istio's SecretManager role):
 * it generates a key in memory (never written anywhere), sends a CSR to citadel through an injected
 * transport, holds the current certificate chain and trust bundle, renews at half-life with jitter,
 * retries with exponential backoff while citadel is unreachable (the still-valid certificate keeps
 * being served), and tells listeners when the certificate or the bundle changes.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { verifyChain } from './chain.js';
import { createCsr } from './csr.js';
import { IssuanceError } from './errors.js';
import { generateKeyPair, privateKeyToPem, type KeyAlgorithm } from './keys.js';
import { parseSpiffeId } from './spiffe.js';

/** What the manager sends: a CSR and, for renewal over mTLS, the credentials it currently holds. */
export interface CertificateRequest {
  readonly csrPem: string;
  /** Requested lifetime in seconds; 0 leaves it to the CA. */
  readonly validitySeconds: number;
  /** The current key and chain (absent on the first request). */
  readonly current?: { readonly keyPem: string; readonly chainPems: readonly string[] };
}

/** The way to citadel (gRPC in production, an in-process fake in unit tests). */
export interface CertificateTransport {
  /** createCertificate returns the signed chain, leaf first and root last, or rejects. */
  createCertificate(req: CertificateRequest): Promise<string[]>;
}

/** Timers, injected so tests control time. */
export interface ManagerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: ManagerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, Math.min(ms, 2 ** 31 - 1));
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface CertManagerOptions {
  readonly spiffeId: string;
  /** DNS SANs to ask for besides the SPIFFE ID (control-plane servers such as pilot's 15012). */
  readonly dnsNames?: readonly string[];
  readonly transport: CertificateTransport;
  readonly keyAlgorithm?: KeyAlgorithm;
  /** Requested lifetime in seconds (0 = CA default, 24 h for citadel). */
  readonly validitySeconds?: number;
  /** Trust bundle known up front (e.g. root-cert.pem); otherwise the first chain's root is adopted. */
  readonly roots?: readonly string[];
  /** Fraction of the lifetime after which to renew (Istio's SECRET_GRACE_PERIOD_RATIO, 0.5). */
  readonly renewAt?: number;
  /** Up to this fraction of the lifetime is taken off the renewal time at random, so a fleet does not renew in step. */
  readonly jitter?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly clock?: ManagerClock;
  readonly random?: () => number;
}

/** The credentials a workload serves with. */
export interface WorkloadCredentials {
  readonly privateKey: KeyObject;
  /** PEM of the private key for TLS APIs; kept in memory only. */
  readonly keyPem: string;
  /** Leaf first, root last, as citadel returned it. */
  readonly chainPems: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialHex: string;
}

/** Events a manager emits. */
export interface CertManagerEvents {
  /** A new certificate replaced the previous one (or is the first one). */
  rotated: (current: WorkloadCredentials, previous: WorkloadCredentials | undefined) => void;
  /** The trust bundle changed. */
  bundle: (roots: readonly string[]) => void;
  /** An issuance attempt failed; the manager retries after `retryInMs`. */
  error: (err: Error, retryInMs: number) => void;
}

/** WorkloadCertManager keeps one workload's certificate fresh. */
export class WorkloadCertManager {
  private creds: WorkloadCredentials | undefined;
  private roots: string[];
  private timer: unknown;
  private failures = 0;
  private stopped = false;
  private inFlight: Promise<void> | undefined;
  private readonly listeners: { [K in keyof CertManagerEvents]: Array<CertManagerEvents[K]> } = { rotated: [], bundle: [], error: [] };
  private readonly clock: ManagerClock;
  private readonly random: () => number;
  private firstWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];

  constructor(private readonly opts: CertManagerOptions) {
    parseSpiffeId(opts.spiffeId);
    this.clock = opts.clock ?? realClock;
    this.random = opts.random ?? Math.random;
    this.roots = [...(opts.roots ?? [])];
  }

  /** on registers a listener. */
  on<K extends keyof CertManagerEvents>(event: K, fn: CertManagerEvents[K]): this {
    this.listeners[event].push(fn);
    return this;
  }

  /** start requests the first certificate, retrying with backoff; resolves once one is held (rejects only if stopped first). */
  start(): Promise<void> {
    if (this.creds) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.firstWaiters.push({ resolve, reject }));
    if (!this.inFlight && this.timer === undefined) void this.attempt();
    return p;
  }

  /** current returns the credentials being served, or undefined before the first issuance. */
  current(): WorkloadCredentials | undefined {
    return this.creds;
  }

  /** trustBundle returns the roots peers are verified against. */
  trustBundle(): readonly string[] {
    return this.roots;
  }

  /** setTrustBundle replaces the roots (from the NATS trust-bundle watch). */
  setTrustBundle(roots: readonly string[]): void {
    if (roots.length === 0 || (roots.length === this.roots.length && roots.every((r, i) => r === this.roots[i]))) return;
    this.roots = [...roots];
    for (const fn of this.listeners.bundle) fn(this.roots);
  }

  /** renewNow requests a new certificate at once (e.g. after root rotation); resolves when done or failed. */
  async renewNow(): Promise<void> {
    // A request already under way may predate the reason for renewing: let it finish, then ask again.
    if (this.inFlight) await this.inFlight;
    this.clearTimer();
    return this.attempt();
  }

  /** stop cancels timers; the current credentials stay readable. */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
    for (const w of this.firstWaiters) w.reject(new IssuanceError('certificate manager stopped before the first certificate was issued'));
    this.firstWaiters = [];
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.clearTimer();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.attempt();
    }, Math.max(0, ms));
  }

  private attempt(): Promise<void> {
    const run = this.issue().finally(() => (this.inFlight = undefined));
    this.inFlight = run;
    return run;
  }

  private async issue(): Promise<void> {
    if (this.stopped) return;
    // A fresh key for every certificate: a leaked key stops mattering at the next rotation.
    const key = generateKeyPair(this.opts.keyAlgorithm ?? 'ECDSA_P256');
    const csrPem = createCsr({ privateKey: key.privateKey, uris: [this.opts.spiffeId], dnsNames: this.opts.dnsNames });
    const previous = this.creds;
    let next: WorkloadCredentials;
    try {
      const chain = await this.opts.transport.createCertificate({
        csrPem,
        validitySeconds: this.opts.validitySeconds ?? 0,
        current: previous ? { keyPem: previous.keyPem, chainPems: previous.chainPems } : undefined,
      });
      next = this.check(chain, key.privateKey);
    } catch (e) {
      if (this.stopped) return;
      this.failures++;
      const base = this.opts.initialBackoffMs ?? 1000;
      const cap = this.opts.maxBackoffMs ?? 60_000;
      const exp = Math.min(cap, base * 2 ** (this.failures - 1));
      // Half fixed, half random: spreads a fleet's retries without ever retrying at once.
      let wait = exp / 2 + (exp / 2) * this.random();
      // Never wait past the expiry of what we hold if an earlier try could still save it.
      if (previous) wait = Math.min(wait, Math.max(base, previous.notAfter.getTime() - this.clock.now() - base));
      const err = e instanceof Error ? e : new Error(String(e));
      for (const fn of this.listeners.error) fn(err, wait);
      this.schedule(wait);
      return;
    }
    this.failures = 0;
    this.creds = next;
    for (const fn of this.listeners.rotated) fn(next, previous);
    for (const w of this.firstWaiters) w.resolve();
    this.firstWaiters = [];
    // Lifetime counted from receipt, not notBefore: the CA backdates notBefore for clock skew, which
    // would otherwise pull the renewal of short-lived certificates into the past.
    const received = this.clock.now();
    const life = next.notAfter.getTime() - received;
    const fraction = (this.opts.renewAt ?? 0.5) - (this.opts.jitter ?? 0.05) * this.random();
    this.schedule(life * fraction);
  }

  /** check returns the credentials of a chain after making sure it is ours, for our key, and trusted. */
  private check(chain: readonly string[], key: KeyObject): WorkloadCredentials {
    if (chain.length === 0) throw new IssuanceError('CA returned an empty certificate chain');
    const leaf = new X509Certificate(chain[0]);
    if (!leaf.checkPrivateKey(key)) throw new IssuanceError('CA returned a certificate for a different key');
    if (this.roots.length === 0) {
      // Bootstrap without a configured bundle: adopt the root the chain ends with.
      this.setTrustBundle([chain[chain.length - 1]]);
    }
    const v = verifyChain(chain, this.roots, new Date(this.clock.now()));
    if (v.spiffeId !== this.opts.spiffeId) throw new IssuanceError(`CA returned a certificate for ${v.spiffeId ?? '(no single URI SAN)'}, not ${this.opts.spiffeId}`);
    return { privateKey: key, keyPem: privateKeyToPem(key), chainPems: [...chain], notBefore: v.leaf.notBefore, notAfter: v.leaf.notAfter, serialHex: v.leaf.serialHex };
  }
}
