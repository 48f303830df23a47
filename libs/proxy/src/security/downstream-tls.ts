/**
 * Downstream TLS termination (Envoy's DownstreamTlsContext on a filter chain; Istio's inbound
 * mTLS): builds the server side of TLS from the chain's certificate and validation sources (SDS
 * names resolved through the SecretProvider, or files), requests and verifies the client
 * certificate against the trust bundle, and returns the decrypted socket with what policy needs
 * from the handshake: SNI, the negotiated ALPN and the peer's identities (URI SANs).
 *
 * Contexts are cached per source and dropped when a secret they were built from changes, so a
 * rotation reaches new connections while live ones keep the context they were accepted with.
 */
import { randomBytes, randomFillSync, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import type { FilterChainTls } from '../config/listeners.js';
import { ProxyError } from '../errors.js';
import { recordClientCert, type ClientCertFacts } from './downstream-tls-xfcc.js';
import { tlsMaterial, type SecretProvider } from './secrets.js';

/** A downstream TLS context that cannot be built (a secret not yet pushed, an unreadable file, bad PEM). */
export class DownstreamTlsError extends ProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_PROXY_DOWNSTREAM_TLS', message, options);
  }
}

/**
 * Why a TLS connection was refused, named after Envoy's listener `ssl.*` stats:
 * `fail_verify_no_cert` (a required client certificate was not sent), `fail_verify_error` (it does
 * not chain to the trust bundle, or expired), `fail_verify_san` (no SAN matched), `connection_error`
 * (the handshake failed otherwise), `no_certificate` (the context cannot be built: Envoy keeps such a
 * listener warming; the engine refuses the connection).
 */
export type TlsRefusal = 'fail_verify_no_cert' | 'fail_verify_error' | 'fail_verify_san' | 'connection_error' | 'no_certificate';

/** What the handshake tells policy and telemetry (DownstreamInfo.tls). */
export interface PeerTlsInfo {
  readonly sni?: string;
  /** The client certificate's URI SANs (SPIFFE IDs); else its DNS SANs; else its subject. Empty without a client certificate. */
  readonly peerIdentities: readonly string[];
  readonly alpn?: string;
}

/** The outcome of accepting one TLS connection. */
export type TlsAcceptResult = { readonly ok: true; readonly socket: TLSSocket; readonly peer: PeerTlsInfo } | { readonly ok: false; readonly reason: TlsRefusal; readonly error: string };

export interface DownstreamTlsOptions {
  readonly secrets?: SecretProvider;
  /** Reads certificate files (Envoy `tls_certificates` / `trusted_ca` by filename); default readFileSync. */
  readonly readFile?: (path: string) => string;
  /** A handshake not finished by then is refused (`connection_error`). Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** How often a file-based context looks at its files' mtimes; default 5 s. */
  readonly fileCheckMs?: number;
}

/** One cached context: node TLS servers (never listening) that run the handshake for its connections. */
interface Entry {
  readonly names: ReadonlySet<string>;
  readonly options: ConstructorParameters<typeof TlsServer>[0];
  /** match_subject_alt_names: the client certificate must carry one of them (exact). */
  readonly sans: ReadonlySet<string>;
  /** Certificate files it was read from with their mtimes, and when they were last looked at. */
  readonly files: readonly (readonly [string, number])[];
  checkedAt: number;
  /** With the chain's ALPN list, and without it (a client offering none of them: Envoy then negotiates no protocol). */
  withAlpn?: TlsServer;
  withoutAlpn?: TlsServer;
}

/** A pending handshake's continuation. */
type Waiter = (r: TlsAcceptResult) => void;

/** What getPeerCertificate returns when the peer sent no certificate. */
const NO_PEER_CERT: ReturnType<TLSSocket['getPeerCertificate']> = Object.freeze({}) as ReturnType<TLSSocket['getPeerCertificate']>;

const NO_CERT_CODES = new Set(['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE']);

/** How often a file-based context looks at its files' mtimes (Envoy watches them; a rotated file reaches new connections). */
const FILE_CHECK_MS = 5_000;

function mtimeOf(f: string): number {
  try {
    return statSync(f).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * rawOf returns the accepted socket a server TLS socket wraps. node's tls.Server reports
 * handshakes with its own TLSSocket objects; `_parent` (set since node 0.11 on every wrapped
 * socket) is the only link back, and the peer address cannot serve once the socket is destroyed.
 */
function rawOf(s: TLSSocket): Socket | undefined {
  return (s as TLSSocket & { _parent?: Socket })._parent;
}

/** The SecureContext hook behind TLS session tickets (node's native context object; not in node's public API). */
interface TicketKeyHook {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}

/**
 * renewTicketsOnResumption makes a TLS server send a fresh session ticket after every resumed
 * handshake, as HAProxy does. Node's built-in ticket callback accepts a ticket without asking
 * OpenSSL to renew it, and in TLS 1.3 OpenSSL then sends no NewSessionTicket after
 * a resumption: a client that uses each ticket once (OpenSSL's own, e.g. wrk) has nothing left to
 * resume with and makes a full handshake (certificate, ECDSA signature) every other connection
 * (strace: 42% of the gateway's ServerHello flights resumed, 100% of HAProxy's, same client).
 * Same keys as node's default (random per server, 16-byte name, HMAC-SHA256 and AES-128-CBC keys);
 * returning 2 for a ticket of ours asks OpenSSL to renew it. A node without the hook keeps its default.
 */
export function renewTicketsOnResumption(server: TlsServer): void {
  const ctx = (server as TlsServer & { _sharedCreds?: { context?: TicketKeyHook } })._sharedCreds?.context;
  if (typeof ctx?.enableTicketKeyCallback !== 'function') return;
  const name = randomBytes(16);
  const hmacKey = randomBytes(16);
  const aesKey = randomBytes(16);
  // node copies the name and IV out of these before the callback returns: one array each, the IV refilled per ticket.
  const iv = Buffer.alloc(16);
  const sealing = [1, hmacKey, aesKey, name, iv];
  const renew = [2, hmacKey, aesKey];
  const notOurs = [0, hmacKey, aesKey];
  ctx.onticketkeycallback = (ticketName, _iv, encrypt) => {
    if (encrypt) {
      randomFillSync(iv);
      return sealing;
    }
    return ticketName.equals(name) ? renew : notOurs;
  };
  ctx.enableTicketKeyCallback();
}

/**
 * parseSubjectAltName returns the entries of node's `subjectaltname` string (`URI:spiffe://…,
 * DNS:a.b`; values with a comma or quote come JSON-quoted) as [type, value] pairs.
 */
export function parseSubjectAltName(san: string | undefined): [string, string][] {
  const out: [string, string][] = [];
  if (!san) return out;
  const re = /\s*([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(san)) !== null && m[0] !== '') {
    let v = m[2];
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v) as string;
      } catch {
        // keep the raw text: a malformed quote cannot name anyone anyway
      }
    }
    out.push([m[1].trim(), v]);
  }
  return out;
}

/** peerIdentitiesOf returns the identities Envoy uses as a peer's principal: URI SANs, else DNS SANs, else the subject. */
export function peerIdentitiesOf(cert: { subjectaltname?: string; subject?: Record<string, unknown> } | undefined): string[] {
  if (!cert || Object.keys(cert).length === 0) return [];
  const sans = parseSubjectAltName(cert.subjectaltname);
  const uris = sans.filter(([t]) => t === 'URI').map(([, v]) => v);
  if (uris.length > 0) return uris;
  const dns = sans.filter(([t]) => t === 'DNS').map(([, v]) => v);
  if (dns.length > 0) return dns;
  const subject = cert.subject ? Object.entries(cert.subject).map(([k, v]) => `${k}=${String(v)}`).join(',') : '';
  return subject ? [subject] : [];
}

/** clientCertFacts reads what x-forwarded-client-cert may carry about a verified client certificate. */
function clientCertFacts(s: TLSSocket): ClientCertFacts | undefined {
  const x = s.getPeerX509Certificate();
  if (!x) return undefined;
  const sans = parseSubjectAltName(x.subjectAltName);
  // Envoy prints names in RFC 2253 order: the most specific RDN first.
  const subject = x.subject ? x.subject.split('\n').filter((l) => l !== '').reverse().join(',') : '';
  const chain: string[] = [x.toString()];
  for (let c = s.getPeerCertificate(true); c.issuerCertificate && c.issuerCertificate !== c && chain.length < 10; c = c.issuerCertificate) chain.push(new X509Certificate(c.issuerCertificate.raw).toString());
  const local = parseSubjectAltName((s.getCertificate() as { subjectaltname?: string } | null)?.subjectaltname).find(([t]) => t === 'URI')?.[1];
  return {
    hash: x.fingerprint256.replace(/:/g, '').toLowerCase(),
    subject,
    uris: sans.filter(([t]) => t === 'URI').map(([, v]) => v),
    dns: sans.filter(([t]) => t === 'DNS').map(([, v]) => v),
    certPem: chain[0],
    chainPem: chain.join(''),
    ...(local ? { localUri: local } : {}),
  };
}

/** DownstreamTls terminates TLS for filter chains; one per listener manager. */
export class DownstreamTls {
  private readonly cache = new Map<string, Entry>();
  /** The cache key of each chain's TLS settings (compiled config is immutable): made once per chain, not per connection. */
  private readonly keys = new WeakMap<FilterChainTls, string>();
  /** Pending handshakes by the accepted socket. */
  private readonly waiters = new WeakMap<Socket, Waiter>();
  private readonly unsubscribe: (() => void) | undefined;

  constructor(private readonly opts: DownstreamTlsOptions = {}) {
    // A changed secret invalidates the contexts built from it; connections accepted with them keep them.
    this.unsubscribe = opts.secrets?.onChange((name) => {
      for (const [k, e] of this.cache) if (e.names.has(name)) this.cache.delete(k);
    });
  }

  /** close stops following secret changes. */
  close(): void {
    this.unsubscribe?.();
    this.cache.clear();
  }

  /**
   * accept runs the server handshake of `tls` on an accepted socket whose first bytes (`first`,
   * already read to inspect the ClientHello) are replayed into TLS. `offeredAlpn`: the client's
   * ALPN list from the ClientHello, to negotiate none rather than fail when nothing overlaps.
   */
  accept(socket: Socket, first: Buffer, tls: FilterChainTls, offeredAlpn: readonly string[]): Promise<TlsAcceptResult> {
    let entry: Entry;
    try {
      entry = this.entry(tls);
    } catch (err) {
      return Promise.resolve({ ok: false, reason: 'no_certificate', error: (err as Error).message });
    }
    const useAlpn = tls.alpn.length > 0 && tls.alpn.some((a) => offeredAlpn.includes(a));
    let server = useAlpn ? entry.withAlpn : entry.withoutAlpn;
    if (!server) {
      server = this.server(useAlpn ? entry.options : { ...entry.options, ALPNProtocols: undefined }, entry.sans);
      if (useAlpn) entry.withAlpn = server;
      else entry.withoutAlpn = server;
    }
    const srv = server;
    return new Promise((resolve) => {
      this.waiters.set(socket, resolve);
      // A connection that goes away before node reports on it must not leave the caller waiting.
      // Deferred: node reports a refused certificate (tlsClientError) from the same close, and that reason wins.
      socket.once('close', () => setImmediate(() => this.settle(socket, { ok: false, reason: 'connection_error', error: 'connection closed during the handshake' })));
      // node reads what is buffered on the raw socket into TLS before reading the socket itself.
      socket.unshift(first);
      srv.emit('connection', socket);
    });
  }

  /** entry returns the cached context of a chain's TLS sources, building it when absent (throws DownstreamTlsError). */
  private entry(tls: FilterChainTls): Entry {
    let key = this.keys.get(tls);
    if (key === undefined) {
      key = JSON.stringify([tls.certificateSds, tls.validationSds, tls.certificateFiles, tls.caFile, tls.certificateProvider, tls.validationProvider, tls.requireClientCertificate, tls.alpn, tls.minVersion, tls.maxVersion, tls.cipherSuites]);
      this.keys.set(tls, key);
    }
    const hit = this.cache.get(key);
    if (hit && !this.filesChanged(hit)) return hit;
    if (tls.certificateProvider !== undefined || tls.validationProvider !== undefined) throw new DownstreamTlsError('certificate provider instances (proxyless gRPC) are not served by the engine');
    const m = tlsMaterial(this.opts.secrets, { ...(tls.certificateSds !== undefined ? { certificate: tls.certificateSds } : {}), ...(tls.validationSds !== undefined ? { validation: tls.validationSds } : {}) });
    if (!m.ok) throw new DownstreamTlsError(m.error);
    const read = this.opts.readFile ?? ((f: string) => readFileSync(f, 'utf8'));
    const file = (f: string): string => {
      try {
        return read(f);
      } catch (err) {
        throw new DownstreamTlsError(`cannot read ${f}: ${(err as Error).message}`, { cause: err });
      }
    };
    const cert = m.cert ?? (tls.certificateFiles?.certFile !== undefined ? file(tls.certificateFiles.certFile) : undefined);
    const keyPem = m.key ?? (tls.certificateFiles?.keyFile !== undefined ? file(tls.certificateFiles.keyFile) : undefined);
    const ca = m.ca ?? (tls.caFile !== undefined ? file(tls.caFile) : undefined);
    if (cert === undefined || keyPem === undefined) throw new DownstreamTlsError('no certificate and key');
    // Envoy asks for a client certificate whenever there is a validation context, and requires one only with require_client_certificate.
    const requestCert = ca !== undefined || tls.requireClientCertificate;
    if (tls.requireClientCertificate && ca === undefined) throw new DownstreamTlsError('require_client_certificate without a validation context');
    const options: ConstructorParameters<typeof TlsServer>[0] = {
      cert,
      key: keyPem,
      ...(ca !== undefined ? { ca } : {}),
      requestCert,
      rejectUnauthorized: tls.requireClientCertificate,
      ...(tls.alpn.length > 0 ? { ALPNProtocols: [...tls.alpn] } : {}),
      ...(tls.minVersion ? { minVersion: tls.minVersion } : {}),
      ...(tls.maxVersion ? { maxVersion: tls.maxVersion } : {}),
      ...(tls.cipherSuites ? { ciphers: tls.cipherSuites.join(':') } : {}),
      handshakeTimeout: this.opts.handshakeTimeoutMs ?? 10_000,
    };
    // Build once now so bad PEM is reported here, not on the handshake.
    try {
      this.server(options, new Set());
    } catch (err) {
      throw new DownstreamTlsError(`cannot build the TLS context: ${(err as Error).message}`, { cause: err });
    }
    const names = new Set<string>([tls.certificateSds, tls.validationSds].filter((n): n is string => n !== undefined));
    const paths = [tls.certificateFiles?.certFile, tls.certificateFiles?.keyFile, tls.caFile].filter((f): f is string => f !== undefined);
    const e: Entry = { names, options, sans: new Set(tls.subjectAltNames), files: paths.map((f) => [f, mtimeOf(f)] as const), checkedAt: Date.now() };
    this.cache.set(key, e);
    return e;
  }

  /** server makes a never-listening node TLS server that runs handshakes for sockets handed to it. */
  private server(options: ConstructorParameters<typeof TlsServer>[0], sans: ReadonlySet<string>): TlsServer {
    const server = new TlsServer(options);
    renewTicketsOnResumption(server);
    // A context that asks for no client certificate cannot have received one: no certificate object to build per connection.
    const asksCert = options?.requestCert === true;
    const settle = (s: TLSSocket, r: TlsAcceptResult): void => {
      const raw = rawOf(s);
      if (raw) this.settle(raw, r);
      else if (r.ok) r.socket.destroy(); // nobody to hand it to
    };
    server.on('secureConnection', (s: TLSSocket) => {
      const cert = asksCert ? s.getPeerCertificate() : NO_PEER_CERT;
      const peerIdentities = peerIdentitiesOf(cert);
      // Without require_client_certificate node does not refuse a presented certificate that fails verification; Envoy does.
      if (Object.keys(cert).length > 0 && !s.authorized) {
        s.destroy();
        return settle(s, { ok: false, reason: 'fail_verify_error', error: String(s.authorizationError ?? 'certificate verification failed') });
      }
      if (sans.size > 0 && !parseSubjectAltName(cert.subjectaltname).some(([, v]) => sans.has(v))) {
        s.destroy();
        return settle(s, { ok: false, reason: 'fail_verify_san', error: 'no subject alt name matched' });
      }
      const servername = (s as TLSSocket & { servername?: string | false }).servername;
      const peer: PeerTlsInfo = { ...(servername ? { sni: servername.toLowerCase() } : {}), peerIdentities, ...(s.alpnProtocol ? { alpn: s.alpnProtocol } : {}) };
      if (Object.keys(cert).length > 0) recordClientCert(peer, () => clientCertFacts(s));
      settle(s, { ok: true, socket: s, peer });
    });
    server.on('tlsClientError', (err: Error & { code?: string }, s: TLSSocket) => {
      s.destroy();
      const authz = s.authorizationError as unknown;
      const reason: TlsRefusal = NO_CERT_CODES.has(err.code ?? '') ? 'fail_verify_no_cert' : authz ? 'fail_verify_error' : 'connection_error';
      settle(s, { ok: false, reason, error: authz ? String(authz) : err.message });
    });
    return server;
  }

  /** filesChanged tells whether a file-based context's files changed on disk (looked at no more than every 5 s, as the upstream side does). */
  private filesChanged(e: Entry): boolean {
    if (e.files.length === 0) return false;
    const now = Date.now();
    if (now - e.checkedAt < (this.opts.fileCheckMs ?? FILE_CHECK_MS)) return false;
    e.checkedAt = now;
    return e.files.some(([f, m]) => mtimeOf(f) !== m);
  }

  private settle(raw: Socket, r: TlsAcceptResult): void {
    const w = this.waiters.get(raw);
    if (!w) return;
    this.waiters.delete(raw);
    w(r);
  }
}
