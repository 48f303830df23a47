/**
 * Envoy's `x-forwarded-client-cert` (XFCC) handling of the HTTP connection manager
 * (`forward_client_cert_details` + `set_current_client_cert_details`): what the application
 * behind the proxy learns about the mTLS client, and the removal of an XFCC header a client made
 * up. Istio's inbound chains use APPEND_FORWARD with Subject, URI and DNS; its gateways
 * SANITIZE_SET by default.
 */
import type { DownstreamInfo, HttpFilterStage } from '../model.js';

/** Envoy's ForwardClientCertDetails. */
export type ForwardClientCertDetails = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';

/** Envoy's SetCurrentClientCertDetails: which client certificate fields go into a new XFCC element (Hash and By always do). */
export interface SetClientCertDetails {
  readonly subject?: boolean;
  readonly cert?: boolean;
  readonly chain?: boolean;
  readonly dns?: boolean;
  readonly uri?: boolean;
}

/** What the handshake tells about the client certificate, beyond the identities policy reads. */
export interface ClientCertFacts {
  /** SHA-256 of the client certificate's DER, lower-case hex. */
  readonly hash: string;
  /** The subject in RFC 2253 form (`CN=a,O=b`), empty when it has none (SPIFFE SVIDs). */
  readonly subject: string;
  readonly uris: readonly string[];
  readonly dns: readonly string[];
  /** The client certificate PEM and the chain (leaf first), for the Cert and Chain fields. */
  readonly certPem?: string;
  readonly chainPem?: string;
  /** The URI SAN of the proxy's own certificate on this connection (By). */
  readonly localUri?: string;
}

// Keyed by the DownstreamInfo.tls object the listener manager hands to every exchange of a connection;
// read lazily (most chains never ask), then kept.
const FACTS = new WeakMap<object, ClientCertFacts | (() => ClientCertFacts | undefined)>();

/** recordClientCert attaches the client certificate facts (or how to read them when first asked) to a connection's TLS info, after the handshake. */
export function recordClientCert(tls: object, facts: ClientCertFacts | (() => ClientCertFacts | undefined)): void {
  FACTS.set(tls, facts);
}

/** clientCertOf returns the client certificate facts of a connection, or undefined when it is not mTLS (no client certificate). */
export function clientCertOf(down: DownstreamInfo): ClientCertFacts | undefined {
  const tls = down.tls;
  if (!tls) return undefined;
  const f = FACTS.get(tls);
  if (typeof f !== 'function') return f;
  const facts = f();
  if (facts) FACTS.set(tls, facts);
  else FACTS.delete(tls);
  return facts;
}

const XFCC = 'x-forwarded-client-cert';

/** xfccElement returns the XFCC element Envoy appends for a client certificate (fields in Envoy's order: By, Hash, Cert, Chain, Subject, URI, DNS). */
export function xfccElement(f: ClientCertFacts, set: SetClientCertDetails): string {
  const parts: string[] = [];
  if (f.localUri) parts.push(`By=${f.localUri}`);
  parts.push(`Hash=${f.hash}`);
  if (set.cert && f.certPem) parts.push(`Cert="${encodeURIComponent(f.certPem)}"`);
  if (set.chain && f.chainPem) parts.push(`Chain="${encodeURIComponent(f.chainPem)}"`);
  if (set.subject) parts.push(`Subject="${f.subject.replace(/"/g, '\\"')}"`);
  if (set.uri) for (const u of f.uris) parts.push(`URI=${u}`);
  if (set.dns) for (const d of f.dns) parts.push(`DNS=${d}`);
  return parts.join(';');
}

/**
 * xfccStage returns the stage that applies `forward_client_cert_details` to a request before the
 * chain's filters (Envoy mutates the header when the request arrives): SANITIZE removes it;
 * ALWAYS_FORWARD_ONLY keeps it; the others keep, extend or replace it for an mTLS client and
 * remove it for anyone else, so a plaintext client cannot hand the application a made-up identity.
 */
export function xfccStage(mode: ForwardClientCertDetails, set: SetClientCertDetails): HttpFilterStage | undefined {
  if (mode === 'ALWAYS_FORWARD_ONLY') return undefined;
  return {
    name: 'envoy.http_connection_manager.xfcc',
    run({ req, down }) {
      const h = req.headers;
      const facts = mode === 'SANITIZE' ? undefined : clientCertOf(down);
      if (!facts) {
        h.remove(XFCC);
        return undefined;
      }
      if (mode === 'FORWARD_ONLY') return undefined;
      const el = xfccElement(facts, set);
      const prev = mode === 'APPEND_FORWARD' ? h.getAll(XFCC).join(',') : '';
      h.set(XFCC, prev ? `${prev},${el}` : el);
      return undefined;
    },
  };
}
