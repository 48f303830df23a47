/**
 * Calls from one Bookinfo service to another with node:http: straight to the service, or through
 * an explicit HTTP proxy (the sidecar's outbound port) with the request line in absolute form
 * (`GET http://reviews:9080/reviews/0 HTTP/1.1`), which is what HTTP_PROXY means to curl and to
 * Python's requests. Node's fetch ignores HTTP_PROXY on Node 20, hence node:http.
 */
import * as http from 'node:http';
import { UpstreamError } from './errors.js';

/** An answer from another service: status and body text. */
export interface UpstreamResponse {
  readonly status: number;
  readonly body: string;
}

/** The one call the services make: GET `url` with `headers`, answered within `timeoutMs` or rejected with UpstreamError. */
export interface UpstreamClient {
  get(url: string, headers: Record<string, string>, timeoutMs: number): Promise<UpstreamResponse>;
  close(): void;
}

/** Answers larger than this are cut off: every Bookinfo answer is a few hundred bytes. */
const MAX_BODY = 1 << 20;

/**
 * bypassesProxy tells whether a call to `hostname` goes direct under a NO_PROXY list, read as curl
 * and Python's requests read it: `*` matches every host, `example.com` and `.example.com` match
 * that domain and its subdomains, an IP matches itself. Ports in entries are ignored.
 */
export function bypassesProxy(hostname: string, noProxy: readonly string[]): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  for (const raw of noProxy) {
    const entry = raw.trim().toLowerCase().replace(/:\d+$/, '').replace(/^\*?\./, '');
    if (entry === '') continue;
    if (entry === '*' || host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/**
 * httpUpstream returns the client that sends calls to `proxy` (an http:// URL) when given, except
 * to hosts `noProxy` lists, else directly to the URL's host. Connections are kept alive, as the
 * sample's HTTP libraries do.
 */
export function httpUpstream(proxy?: string, noProxy: readonly string[] = []): UpstreamClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let via: URL | undefined;
  if (proxy) {
    via = new URL(proxy);
    if (via.protocol !== 'http:') throw new UpstreamError(`proxy ${proxy}: only http:// proxies are supported`, false);
  }
  return {
    get(url, headers, timeoutMs) {
      const target = new URL(url);
      const opts: http.RequestOptions = via && !bypassesProxy(target.hostname, noProxy)
        ? { host: via.hostname, port: Number(via.port || 80), path: target.href, method: 'GET', agent, headers: { ...headers, host: target.host } }
        : { host: target.hostname, port: Number(target.port || 80), path: `${target.pathname}${target.search}`, method: 'GET', agent, headers: { ...headers, host: target.host } };
      return new Promise<UpstreamResponse>((resolve, reject) => {
        let done = false;
        let current: http.ClientRequest | undefined;
        const finish = (err: UpstreamError | undefined, res?: UpstreamResponse): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(res as UpstreamResponse);
        };
        // One deadline for the whole exchange: Python requests' and JAX-RS's timeouts both fire
        // when no answer has come in time, which for these small answers is the same thing.
        const timer = setTimeout(() => {
          finish(new UpstreamError(`GET ${url}: no answer within ${timeoutMs} ms`, true));
          current?.destroy();
        }, timeoutMs);
        const send = (retried: boolean): void => {
          const req = http.request(opts, (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              size += c.length;
              if (size <= MAX_BODY) chunks.push(c);
            });
            res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', (e) => finish(new UpstreamError(`GET ${url}: ${e.message}`, false, { cause: e })));
          });
          current = req;
          req.on('error', (e: NodeJS.ErrnoException) => {
            // A kept-alive connection the other side closed just as we reused it: the GET never
            // reached it, so send it once more on a new connection (Node's documented pattern).
            if (!retried && !done && req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) send(true);
            else finish(new UpstreamError(`GET ${url}: ${e.message}`, false, { cause: e }));
          });
          req.end();
        };
        send(false);
      });
    },
    close() {
      agent.destroy();
    },
  };
}
