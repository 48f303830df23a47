/**
 * Upstream TLS origination (Envoy's UpstreamTlsContext on a cluster's transport socket): the TLS
 * client side of Istio's auto mTLS / ISTIO_MUTUAL and of DestinationRule SIMPLE / MUTUAL.
 *
 * A TlsOrigination belongs to one compiled cluster. It decides which endpoints are dialled with
 * TLS (all of them, or with Istio's `tlsMode: istio` transport socket match only those whose EDS
 * metadata says so), builds `node:tls` connections with the cluster's SNI and ALPN, presents the
 * client certificate, verifies the server's chain against the cluster's trust source and then its
 * SANs, and counts Envoy's `cluster.<name>.ssl.*` statistics.
 *
 * Secrets are read when a connection starts: the SecureContextCache builds a context from what
 * the SecretProvider (SDS) or the files hold and drops it when a secret changes, so a rotated
 * certificate is used by the next connection while live ones keep theirs.
 */
import { readFileSync, statSync } from 'node:fs';
import { Socket, type OnReadOpts } from 'node:net';
import { connect as tlsConnect, createSecureContext, rootCertificates, type ConnectionOptions, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import type { Endpoint, UpstreamTls } from '../model.js';
import { parseSubjectAltName, peerIdentitiesOf } from '../security/downstream-tls.js';
import { tlsMaterial, type SecretProvider } from '../security/secrets.js';

/** What a connection carries, which decides its ALPN list (Istio's istio.alpn filter for HTTP). */
export type TlsUse = 'http1' | 'h2' | 'tcp';

/** Envoy's per-cluster TLS statistics (`cluster.<name>.ssl.<stat>`), as counters. */
export interface SslStats {
  /** `ssl.handshake`: handshakes completed (verification passed). */
  handshake: number;
  /** `ssl.connection_error`: handshakes that failed, whatever the reason (verification failures included). */
  connection_error: number;
  /** `ssl.fail_verify_error`: the server chain did not verify against the trust source. */
  fail_verify_error: number;
  /** `ssl.fail_verify_san`: the chain verified but no SAN matched `subjectAltNames`. */
  fail_verify_san: number;
  /** `ssl.session_reused`: handshakes that resumed an earlier session. */
  session_reused: number;
}

/** newSslStats returns zeroed counters. */
export function newSslStats(): SslStats {
  return { handshake: 0, connection_error: 0, fail_verify_error: 0, fail_verify_san: 0, session_reused: 0 };
}

/**
 * Istio's ALPN override for HTTP over in-mesh mTLS (istio/proxy's `istio.alpn` filter, which the
 * sidecar's outbound HTTP chains carry): the upstream protocol picks the list, so that the server
 * sidecar sees `istio-http/1.1` / `istio-h2` and selects `http/1.1` / `h2` from its own list.
 */
const ISTIO_HTTP_ALPN: Readonly<Record<'http1' | 'h2', readonly string[]>> = {
  http1: ['istio-http/1.1', 'istio', 'http/1.1'],
  h2: ['istio-h2', 'istio', 'h2'],
};

/** Istio SDS names for files read by the agent (`file-cert:<cert>~<key>`, `file-root:<ca>`). */
const FILE_CERT = 'file-cert:';
const FILE_ROOT = 'file-root:';
/** How often a file-based context checks whether its files changed (Envoy watches them). */
const FILE_RECHECK_MS = 5_000;

interface Sources {
  readonly certSds?: string;
  readonly keySds?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly caSds?: string;
  readonly caFile?: string;
  /** Trust the platform's CA bundle (`file-root:system`). */
  readonly systemRoots?: boolean;
}

/** sourcesOf resolves a cluster's TLS names to SDS secrets or files. */
function sourcesOf(tls: UpstreamTls): Sources {
  const out: { -readonly [K in keyof Sources]: Sources[K] } = {};
  const c = tls.certificate;
  if (c?.sdsName?.startsWith(FILE_CERT)) {
    const [cert, key] = c.sdsName.slice(FILE_CERT.length).split('~');
    out.certFile = cert;
    out.keyFile = key;
  } else if (c?.sdsName !== undefined) out.certSds = c.sdsName;
  else if (c?.certFile !== undefined || c?.keyFile !== undefined) {
    out.certFile = c.certFile;
    out.keyFile = c.keyFile;
  }
  const v = tls.validation;
  if (v?.sdsName?.startsWith(FILE_ROOT)) {
    const f = v.sdsName.slice(FILE_ROOT.length);
    if (f === 'system') out.systemRoots = true;
    else out.caFile = f;
  } else if (v?.sdsName !== undefined) out.caSds = v.sdsName;
  // `caCertificates: system` is Istio's name for the platform's bundle.
  else if (v?.caFile === 'system') out.systemRoots = true;
  else if (v?.caFile !== undefined) out.caFile = v.caFile;
  return out;
}

function sourcesKey(s: Sources): string {
  return [s.certSds, s.certFile, s.keyFile, s.caSds, s.caFile, s.systemRoots ? 'system' : ''].map((x) => x ?? '').join('|');
}

interface CachedContext {
  readonly ctx: SecureContext;
  readonly files: readonly { readonly path: string; readonly mtimeMs: number }[];
  checkedAt: number;
}

/**
 * SecureContextCache holds one `tls.SecureContext` per set of secret names / files, shared by
 * every cluster that names them (all ISTIO_MUTUAL clusters share `default` + `ROOTCA`). A change
 * of any SDS secret drops the SDS-built contexts (rotations are rare; rebuilding costs one
 * context); file-based ones are rebuilt when a file's mtime changed.
 */
export class SecureContextCache {
  private readonly entries = new Map<string, CachedContext>();
  private readonly unsubscribe: (() => void) | undefined;

  constructor(
    readonly secrets: SecretProvider | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.unsubscribe = secrets?.onChange(() => {
      for (const [k, e] of this.entries) if (e.files.length === 0 || k.startsWith('sds')) this.entries.delete(k);
    });
  }

  /** get returns the context for a cluster's TLS settings, or an Error naming what is missing. */
  get(tls: UpstreamTls): SecureContext | Error {
    const src = sourcesOf(tls);
    const usesSds = src.certSds !== undefined || src.caSds !== undefined;
    const key = (usesSds ? 'sds|' : 'file|') + sourcesKey(src);
    const hit = this.entries.get(key);
    if (hit !== undefined && (hit.files.length === 0 || this.filesUnchanged(hit))) return hit.ctx;
    const built = this.build(src);
    if (built instanceof Error) return built;
    this.entries.set(key, built);
    return built.ctx;
  }

  /** Stops listening to secret changes. */
  close(): void {
    this.unsubscribe?.();
    this.entries.clear();
  }

  private filesUnchanged(e: CachedContext): boolean {
    const now = this.now();
    if (now - e.checkedAt < FILE_RECHECK_MS) return true;
    e.checkedAt = now;
    try {
      return e.files.every((f) => statSync(f.path).mtimeMs === f.mtimeMs);
    } catch {
      return false;
    }
  }

  private build(src: Sources): CachedContext | Error {
    const m = tlsMaterial(this.secrets, { ...(src.certSds !== undefined ? { certificate: src.certSds } : {}), ...(src.caSds !== undefined ? { validation: src.caSds } : {}) });
    if (!m.ok) return new Error(m.error);
    const files: { path: string; mtimeMs: number }[] = [];
    const read = (path: string): string => {
      files.push({ path, mtimeMs: statSync(path).mtimeMs });
      return readFileSync(path, 'utf8');
    };
    try {
      let cert = m.cert;
      let key = m.key;
      let ca: string | string[] | undefined = m.ca;
      if (src.certFile !== undefined || src.keyFile !== undefined) {
        if (src.certFile === undefined || src.keyFile === undefined) return new Error('client certificate: both a certificate chain and a private key file are needed');
        cert = read(src.certFile);
        key = read(src.keyFile);
      }
      if (src.caFile !== undefined) ca = read(src.caFile);
      if (src.systemRoots) ca = [...rootCertificates];
      const ctx = createSecureContext({ ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}), ...(ca !== undefined ? { ca } : {}) });
      return { ctx, files, checkedAt: this.now() };
    } catch (err) {
      return new Error(`TLS context: ${(err as Error).message}`);
    }
  }
}

/** Why the last handshake of a socket failed (Envoy's %UPSTREAM_TRANSPORT_FAILURE_REASON%). */
const failureReasons = new WeakMap<Socket, string>();

/** Sockets whose handshake completed (a kept-alive socket handed out again is one). */
const established = new WeakSet<Socket>();

/** The verified server's identities per TLS socket (its URI SANs: the destination's SPIFFE ID). */
const peers = new WeakMap<Socket, readonly string[]>();

/**
 * upstreamPeerIdentities returns the identities of the server a TLS connection verified (URI SANs,
 * else DNS SANs), for the source side's `destination_principal`; undefined for plaintext.
 */
export function upstreamPeerIdentities(s: Socket): readonly string[] | undefined {
  return peers.get(s);
}

/** transportFailureReason returns why a TLS connection to an upstream failed, or undefined. */
export function transportFailureReason(s: Socket): string | undefined {
  return failureReasons.get(s);
}

/**
 * sanMatches reports whether a certificate SAN satisfies an exact matcher as Envoy applies it:
 * the value must be equal, except that a wildcard DNS SAN (`*.example.com`) covers one label.
 */
function sanMatches(type: string, value: string, wanted: string): boolean {
  if (value === wanted) return true;
  if (type !== 'DNS' || !value.startsWith('*.')) return false;
  const dot = wanted.indexOf('.');
  return dot > 0 && wanted.slice(dot).toLowerCase() === value.slice(1).toLowerCase();
}

/** SanMismatch is the checkServerIdentity error when no SAN matched. */
class SanMismatch extends Error {
  readonly code = 'ERR_TLS_CERT_SAN_MISMATCH';
}

/** TlsOrigination is one cluster's upstream TLS: which endpoints use it, and how to dial them. */
export class TlsOrigination {
  /** Identity of the TLS settings, part of pool and session keys so TLS and plaintext never share a connection. */
  readonly key: string;
  private readonly verify: boolean;
  private readonly checkIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
  private readonly istioAlpn: boolean;
  /**
   * The last TLS session per upstream address, for resumption (Envoy's `max_session_keys`, default
   * 1). A session belongs to the context it was made with: after a rotation the next connection
   * makes a full handshake with the new certificate.
   */
  private readonly sessions = new Map<string, { readonly ctx: SecureContext; session: Buffer }>();

  constructor(
    readonly tls: UpstreamTls,
    private readonly contexts: SecureContextCache,
    readonly stats: SslStats = newSslStats(),
  ) {
    this.key = `tls|${tls.sni ?? ''}|${tls.alpn.join(',')}|${sourcesKey(sourcesOf(tls))}|${tls.subjectAltNames.join(',')}`;
    // Envoy verifies the chain only with a validation context; without one (insecureSkipVerify, or
    // SIMPLE without caCertificates from our translator) any server certificate is accepted.
    // SANs without a trust source: Envoy refuses such a config as insecure; here the chain is
    // verified against the platform's roots, as Istio's VERIFY_CERTIFICATE_AT_CLIENT does.
    this.verify = tls.validation !== undefined || tls.subjectAltNames.length > 0;
    // The cluster's ALPN list is Istio's in-mesh one ("istio" in it): HTTP gets istio.alpn's override.
    this.istioAlpn = tls.alpn.includes('istio');
    const sans = tls.subjectAltNames;
    this.checkIdentity = (_host, cert) => {
      // Envoy checks SANs only when the cluster lists some; it never checks the hostname by itself.
      if (sans.length === 0) return undefined;
      const have = parseSubjectAltName(cert.subjectaltname);
      for (const [type, value] of have) for (const w of sans) if (sanMatches(type, value, w)) return undefined;
      return new SanMismatch(`server certificate SANs [${have.map(([t, v]) => `${t}:${v}`).join(', ')}] match none of [${sans.join(', ')}]`);
    };
  }

  /** appliesTo reports whether an endpoint is dialled with TLS (auto mTLS: only `tlsMode: istio` endpoints). */
  appliesTo(e: Pick<Endpoint, 'meta'> | undefined): boolean {
    return !this.tls.onlyIstioEndpoints || e?.meta?.tlsMode === 'istio';
  }

  /** alpnFor returns the ALPN list a connection for `use` offers. */
  alpnFor(use: TlsUse): readonly string[] {
    if (use !== 'tcp' && this.istioAlpn) return ISTIO_HTTP_ALPN[use];
    // An HTTP/2 cluster must negotiate h2 (Istio sets h2 on HTTP/2 clusters' TLS contexts).
    if (use === 'h2' && !this.tls.alpn.includes('h2')) return [...this.tls.alpn, 'h2'];
    return this.tls.alpn;
  }

  /**
   * unavailable returns why no TLS connection can be made right now (a secret or file missing),
   * counted as a connection error; undefined when one can. For callers that must not be handed
   * a socket that fails at once (an HTTP/2 session).
   */
  unavailable(): Error | undefined {
    const ctx = this.contexts.get(this.tls);
    if (!(ctx instanceof Error)) return undefined;
    this.stats.connection_error++;
    return ctx;
  }

  /**
   * connect dials `host:port` with TLS. The socket emits `secureConnect` once the server is
   * verified; a handshake or verification failure destroys it with the error (a connect failure,
   * UF). Missing secrets fail the same way, asynchronously, so callers have one failure path.
   */
  connect(host: string, port: number, use: TlsUse, extra?: { readonly onread?: OnReadOpts }): TLSSocket | Socket {
    const ctx = this.contexts.get(this.tls);
    if (ctx instanceof Error) {
      const s = new Socket();
      this.stats.connection_error++;
      failureReasons.set(s, `TLS_error: ${ctx.message}`);
      process.nextTick(() => s.destroy(ctx));
      return s;
    }
    const where = host + ':' + port;
    const cached = this.sessions.get(where);
    // tls.connect takes net's `onread` (a single read buffer), which its typings leave out.
    const opts: ConnectionOptions & { onread?: OnReadOpts } = {
      host,
      port,
      ...(this.tls.sni ? { servername: this.tls.sni } : {}),
      ALPNProtocols: this.alpnFor(use) as string[],
      secureContext: ctx,
      rejectUnauthorized: this.verify,
      checkServerIdentity: this.checkIdentity,
      ...(extra?.onread !== undefined ? { onread: extra.onread } : {}),
      // TCP proxying keeps each direction open until that side ends (as its plaintext sockets do).
      ...(use === 'tcp' ? { allowHalfOpen: true } : {}),
      ...(cached !== undefined && cached.ctx === ctx ? { session: cached.session } : {}),
    };
    const s = tlsConnect(opts);
    // Only a session whose handshake passed verification may be resumed (a resumption skips the
    // SAN check); TLS 1.2 hands it over before the handshake ends, so it waits for secureConnect.
    let pending: Buffer | undefined;
    s.on('session', (session: Buffer) => {
      if (established.has(s)) this.keepSession(where, ctx, session);
      else pending = session;
    });
    s.once('secureConnect', () => {
      if (pending !== undefined) this.keepSession(where, ctx, pending);
      pending = undefined;
    });
    this.track(s);
    return s;
  }

  /** established reports whether a socket this origination made has completed its handshake. */
  established(s: Socket): boolean {
    return established.has(s);
  }

  private keepSession(where: string, ctx: SecureContext, session: Buffer): void {
    const e = this.sessions.get(where);
    if (e !== undefined && e.ctx === ctx) e.session = session;
    else this.sessions.set(where, { ctx, session });
  }

  private track(s: TLSSocket): void {
    let tcpUp = false;
    let secure = false;
    s.once('connect', () => (tcpUp = true));
    s.once('secureConnect', () => {
      secure = true;
      established.add(s);
      peers.set(s, peerIdentitiesOf(s.getPeerCertificate()));
      this.stats.handshake++;
      if (s.isSessionReused()) this.stats.session_reused++;
    });
    s.once('error', (err: Error & { code?: string }) => {
      // A refused or timed-out TCP connection is not a TLS failure.
      if (secure || !tcpUp) return;
      this.stats.connection_error++;
      if (err instanceof SanMismatch) this.stats.fail_verify_san++;
      else if (this.verify && isVerifyError(err.code)) this.stats.fail_verify_error++;
      failureReasons.set(s, `TLS_error: ${err.code ?? 'handshake'}: ${err.message}`);
    });
  }
}

/** OpenSSL X.509 verification error codes as Node reports them (tls.TLSSocket authorizationError). */
function isVerifyError(code: string | undefined): boolean {
  return code !== undefined && /^(UNABLE_TO_|CERT_|SELF_SIGNED|DEPTH_ZERO|INVALID_CA|PATH_LENGTH|INVALID_PURPOSE|CERT_UNTRUSTED|CERT_REJECTED|HOSTNAME_MISMATCH|ERR_TLS_CERT)/.test(code);
}

/**
 * Per-endpoint origination for transports that are handed an Endpoint but not its cluster (the
 * HTTP/2 transport's attempts): the cluster manager records here which origination dials which
 * endpoint. Endpoint objects belong to one cluster's endpoint set (Istio gives every cluster its
 * own EDS name), so the mapping is unambiguous.
 */
const byEndpoint = new WeakMap<Endpoint, TlsOrigination>();

/** setEndpointOrigination records (or, with undefined, clears) how an endpoint is dialled. */
export function setEndpointOrigination(e: Endpoint, o: TlsOrigination | undefined): void {
  if (o === undefined) byEndpoint.delete(e);
  else byEndpoint.set(e, o);
}

/** endpointOrigination returns the TLS origination of an endpoint, undefined for plaintext. */
export function endpointOrigination(e: Endpoint): TlsOrigination | undefined {
  return byEndpoint.get(e);
}
