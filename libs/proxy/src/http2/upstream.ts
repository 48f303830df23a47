/**
 * Upstream attempts for the HTTP/2 transport: over HTTP/2 (one multiplexed session per endpoint,
 * re-made when it goes away) for clusters with HTTP/2 protocol options — gRPC and HTTP2 ports —
 * and over HTTP/1.1 keep-alive otherwise. Each attempt resolves when response headers arrive or
 * it fails, classified for the retry loop: connect-failure (UF), reset (UC; REFUSED_STREAM noted),
 * or a response.
 *
 * Upstream TLS: an endpoint the cluster dials with TLS (the cluster manager's origination, or
 * `AttemptOptions.tls`) gets an `https` session whose socket comes from the origination (SNI,
 * ALPN `istio-h2`/`h2`, client certificate, server verification); sessions and HTTP/1.1 agents are
 * keyed by the TLS settings too, so TLS and plaintext never share a connection. A failed
 * handshake is a connect failure.
 */
import * as http from 'node:http';
import type * as Http2 from 'node:http2';
import { createRequire } from 'node:module';
import type { Duplex, Readable } from 'node:stream';
import { Headers, type Endpoint, type RequestHead, type ResponseHead } from '../model.js';
import type { AttemptEnd } from '../pipeline/forward.js';
import { endpointOrigination, type TlsOrigination } from '../upstream/tls-origination.js';
import type { BodyBuffer, BodySink } from './body-buffer.js';

// node:http2 is loaded on the first HTTP/2 connection or cluster: an HTTP/1.1-only proxy does not carry it (docs/proxy.md, RSS).
let http2Module: typeof Http2 | undefined;
function h2(): typeof Http2 {
  http2Module ??= createRequire(import.meta.url)('node:http2') as typeof Http2;
  return http2Module;
}

/** An upstream response whose headers arrived: its head, body stream and (HTTP/2) trailers. */
export interface UpstreamResponse {
  readonly head: ResponseHead;
  readonly body: Readable;
  /** Resolves with the trailers (HTTP/2) or undefined when the body ends without them. */
  readonly trailers: Promise<Http2.IncomingHttpHeaders | undefined>;
  /** Stop it (a retried or abandoned response). */
  abort(): void;
}

/** Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2) and that never cross a proxy. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings']);

/** outgoingHeaders returns the request as HTTP/2 headers (pseudo-headers first). */
export function outgoingHeaders(req: RequestHead): Http2.OutgoingHttpHeaders {
  const h: Http2.OutgoingHttpHeaders = { ':method': req.method, ':path': req.path, ':authority': req.authority, ':scheme': req.scheme };
  const l = req.headers.list;
  for (let i = 0; i < l.length; i += 2) {
    const n = l[i];
    if (HOP_BY_HOP.has(n) || (n === 'te' && l[i + 1] !== 'trailers')) continue;
    const prev = h[n];
    h[n] = prev === undefined ? l[i + 1] : Array.isArray(prev) ? [...prev, l[i + 1]] : [String(prev), l[i + 1]];
  }
  return h;
}

/** responseHead converts incoming response headers (HTTP/1.1 or HTTP/2) to a ResponseHead without pseudo or hop-by-hop headers. */
export function responseHead(status: number, headers: http.IncomingHttpHeaders | Http2.IncomingHttpHeaders): ResponseHead {
  const list: string[] = [];
  for (const [n, v] of Object.entries(headers)) {
    if (n.startsWith(':') || HOP_BY_HOP.has(n) || v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) list.push(n, x);
    else list.push(n, String(v));
  }
  return { status, headers: new Headers(list) };
}

export interface AttemptOptions {
  readonly connectTimeoutMs: number;
  readonly http2: boolean;
  /**
   * The cluster's TLS origination for this endpoint; when absent, the one the cluster manager
   * recorded for the endpoint (undefined: plaintext).
   */
  readonly tls?: TlsOrigination;
}

// RFC 9113 §7: the REFUSED_STREAM error code (node:http2's NGHTTP2_REFUSED_STREAM), without loading node:http2 for it.
const REFUSED_STREAM = 0x7;

/** UpstreamClients holds the HTTP/2 sessions and the HTTP/1.1 agent of one proxy. */
export class UpstreamClients {
  private readonly sessions = new Map<string, Http2.ClientHttp2Session>();
  private readonly agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 });
  /** HTTP/1.1 keep-alive agents for TLS upstreams, one per TLS settings (their sockets come from the origination). */
  private readonly tlsAgents = new Map<string, { agent: http.Agent; tls: TlsOrigination }>();

  /** attempt sends one request to `endpoint`, streaming `body`; `signal` abandons it. */
  attempt(endpoint: Endpoint, req: RequestHead, body: BodyBuffer, signal: AbortSignal, o: AttemptOptions): Promise<AttemptEnd<UpstreamResponse>> {
    const tls = o.tls ?? endpointOrigination(endpoint);
    return o.http2 ? this.attemptH2(endpoint, req, body, signal, o, tls) : this.attemptH1(endpoint, req, body, signal, o, tls);
  }

  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
    this.agent.destroy();
    for (const a of this.tlsAgents.values()) a.agent.destroy();
    this.tlsAgents.clear();
  }

  /** The HTTP/1.1 agent for a TLS origination: plain http over the origination's TLS sockets, kept alive. */
  private tlsAgent(tls: TlsOrigination): http.Agent {
    // Keyed by the TLS settings, not the object: a configuration update that keeps them keeps the
    // agent's kept-alive connections; new ones are made (and counted) by the newest origination.
    let a = this.tlsAgents.get(tls.key);
    if (!a) {
      const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64 }) as http.Agent & { createConnection(o: { host?: string; port?: number }, cb?: unknown): Duplex };
      const entry = { agent, tls };
      agent.createConnection = (o) => entry.tls.connect(o.host ?? 'localhost', Number(o.port), 'http1');
      this.tlsAgents.set(tls.key, (a = entry));
    }
    a.tls = tls;
    return a.agent;
  }

  private session(endpoint: Endpoint, connectTimeoutMs: number, tls: TlsOrigination | undefined): Promise<Http2.ClientHttp2Session> {
    const key = tls ? `${endpoint.address}:${endpoint.port}|${tls.key}` : `${endpoint.address}:${endpoint.port}`;
    const have = this.sessions.get(key);
    if (have && !have.closed && !have.destroyed) return have.connecting ? onceConnected(have, connectTimeoutMs) : Promise.resolve(have);
    const unavailable = tls?.unavailable();
    if (unavailable) return Promise.reject(unavailable);
    const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
    const s = tls
      ? h2().connect(`https://${host}:${endpoint.port}`, { createConnection: () => tls.connect(endpoint.address, endpoint.port, 'h2') })
      : h2().connect(`http://${host}:${endpoint.port}`);
    this.sessions.set(key, s);
    const forget = (): void => {
      if (this.sessions.get(key) === s) this.sessions.delete(key);
    };
    s.on('close', forget);
    s.on('goaway', forget);
    s.on('error', forget);
    return onceConnected(s, connectTimeoutMs);
  }

  private async attemptH2(endpoint: Endpoint, req: RequestHead, body: BodyBuffer, signal: AbortSignal, o: AttemptOptions, tls: TlsOrigination | undefined): Promise<AttemptEnd<UpstreamResponse>> {
    let session: Http2.ClientHttp2Session;
    try {
      session = await this.session(endpoint, o.connectTimeoutMs, tls);
    } catch {
      return { result: { kind: 'connect-failure' } };
    }
    if (signal.aborted) return { result: { kind: 'reset' } };
    let stream: Http2.ClientHttp2Stream;
    try {
      stream = session.request(outgoingHeaders(req), { endStream: false });
    } catch {
      // The session went away between connecting and this request.
      body.detach();
      return { result: { kind: 'reset' } };
    }
    return new Promise((resolve) => {
      let settled = false;
      const done = (end: AttemptEnd<UpstreamResponse>): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (end.result.kind !== 'response') body.detach();
        resolve(end);
      };
      const onAbort = (): void => {
        stream.close(h2().constants.NGHTTP2_CANCEL);
        done({ result: { kind: 'reset' } });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const trailers = new Promise<Http2.IncomingHttpHeaders | undefined>((r) => {
        stream.once('trailers', (t) => r(t));
        stream.once('close', () => r(undefined));
      });
      stream.once('response', (headers) => {
        const status = Number(headers[':status']);
        const gs = headers['grpc-status'];
        done({
          result: { kind: 'response', status, ...(gs !== undefined ? { grpcStatus: Number(gs) } : {}) },
          response: { head: responseHead(status, headers), body: stream, trailers, abort: () => stream.close(h2().constants.NGHTTP2_CANCEL) },
        });
      });
      // `on`, not `once`: a stream can fail after its headers too, and an unhandled 'error' would crash the proxy.
      stream.on('error', () => done({ result: { kind: 'reset', refusedStream: stream.rstCode === REFUSED_STREAM } }));
      stream.once('close', () => done({ result: { kind: 'reset', refusedStream: stream.rstCode === REFUSED_STREAM } }));
      const sink: BodySink = { write: (c) => stream.write(c), end: () => stream.end(), onDrain: (fn) => stream.once('drain', fn) };
      if (!body.attach(sink)) done({ result: { kind: 'reset' } });
    });
  }

  private attemptH1(endpoint: Endpoint, req: RequestHead, body: BodyBuffer, signal: AbortSignal, o: AttemptOptions, tls: TlsOrigination | undefined): Promise<AttemptEnd<UpstreamResponse>> {
    return new Promise((resolve) => {
      let settled = false;
      let connected = false;
      const headers: http.OutgoingHttpHeaders = { host: req.authority };
      const l = req.headers.list;
      for (let i = 0; i < l.length; i += 2) {
        if (l[i] === 'te') continue;
        const prev = headers[l[i]];
        headers[l[i]] = prev === undefined ? l[i + 1] : Array.isArray(prev) ? [...prev, l[i + 1]] : [String(prev), l[i + 1]];
      }
      const cr = http.request({ host: endpoint.address, port: endpoint.port, method: req.method, path: req.path, headers, agent: tls ? this.tlsAgent(tls) : this.agent, timeout: o.connectTimeoutMs });
      const done = (end: AttemptEnd<UpstreamResponse>): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (end.result.kind !== 'response') body.detach();
        resolve(end);
      };
      const onAbort = (): void => {
        cr.destroy();
        done({ result: { kind: 'reset' } });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      cr.on('socket', (s) => {
        // A TLS socket is connected once its handshake (and the server's verification) is done.
        if (tls) {
          if (tls.established(s)) connected = true;
          else s.once('secureConnect', () => (connected = true));
        } else if (!s.connecting) connected = true;
        else s.once('connect', () => (connected = true));
      });
      cr.once('timeout', () => {
        if (!connected) cr.destroy(new Error('connect timeout'));
      });
      cr.once('response', (res) => {
        done({
          result: { kind: 'response', status: res.statusCode ?? 502 },
          response: { head: responseHead(res.statusCode ?? 502, res.headers), body: res, trailers: new Promise((r) => res.once('end', () => r(undefined))), abort: () => res.destroy() },
        });
      });
      cr.on('error', () => done({ result: connected ? { kind: 'reset' } : { kind: 'connect-failure' } }));
      const sink: BodySink = { write: (c) => cr.write(c), end: () => cr.end(), onDrain: (fn) => cr.once('drain', fn) };
      if (!body.attach(sink)) done({ result: { kind: 'reset' } });
    });
  }
}

function onceConnected(s: Http2.ClientHttp2Session, timeoutMs: number): Promise<Http2.ClientHttp2Session> {
  if (!s.connecting) return Promise.resolve(s);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('connect timeout'));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
