/**
 * Incremental HTTP/1.1 parser for request and response heads and body framing (RFC 9112), built
 * for the proxy's hot path: a head is searched for in the bytes as they arrive, turned into a
 * latin1 string once and split there; bodies are handed on as sub-views of the input buffers,
 * never copied. Strict where a lenient parser lets requests be smuggled: no obs-fold, no bare LF,
 * no whitespace before a header colon, no Content-Length together with Transfer-Encoding, no
 * differing Content-Length values, chunked must be the final coding of a request.
 *
 * Hop-by-hop headers (Connection and the names it lists, Keep-Alive, Proxy-Connection, TE,
 * Transfer-Encoding, Upgrade) are not put into `headers`: their meaning is carried in the head's
 * fields (`keepAlive`, `framing`, `upgrade`) and the serializer writes what the next hop needs.
 * `Expect: 100-continue` becomes `expectContinue` (the proxy answers 100 itself, as Envoy does).
 */
import { Headers } from '../model.js';
import type { RequestHead, ResponseHead } from '../model.js';
import { Http1Error } from './errors.js';

/** How a message body is delimited on the wire. */
export type BodyFraming = 'none' | 'length' | 'chunked' | 'close';

/** Parser limits; defaults follow Envoy (60 KiB of headers, 100 headers). */
export interface Http1Limits {
  /** Bytes of a head (request/status line + headers) and, separately, of a trailer section. */
  readonly maxHeadBytes: number;
  readonly maxHeaders: number;
}

export const DEFAULT_HTTP1_LIMITS: Http1Limits = { maxHeadBytes: 60 * 1024, maxHeaders: 100 };

/** A parsed HTTP/1.x request head. `headers` has no Host (it is `authority`) and no hop-by-hop headers. */
export class Http1Request implements RequestHead {
  method = '';
  path = '';
  authority = '';
  scheme: 'http' | 'https' = 'http';
  readonly headers: Headers;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor = 1;
  /** The target was absolute-form (`http://host:port/path`, an explicit-proxy request). */
  absoluteForm = false;
  /** The connection may carry another request after this one. */
  keepAlive = true;
  /** Upgrade protocol asked for (Connection: upgrade + Upgrade), or the CONNECT method's tunnel ('connect'). */
  upgrade: string | undefined = undefined;
  expectContinue = false;
  framing: 'none' | 'length' | 'chunked' = 'none';
  /** Declared Content-Length, or -1. */
  contentLength = -1;
  filterState: Map<string, unknown> | undefined = undefined;

  constructor(list: string[]) {
    this.headers = new Headers(list);
  }
}

/** A parsed HTTP/1.x response head (hop-by-hop headers removed, as for requests). */
export class Http1Response implements ResponseHead {
  status = 0;
  reason = '';
  readonly headers: Headers;
  versionMinor = 1;
  keepAlive = true;
  upgrade: string | undefined = undefined;
  framing: BodyFraming = 'none';
  contentLength = -1;
  /**
   * The head exactly as received when it carried no hop-by-hop header and was HTTP/1.1: a
   * proxy that changes nothing may forward these bytes as they are. Undefined otherwise.
   */
  raw: Buffer | undefined = undefined;

  constructor(list: string[]) {
    this.headers = new Headers(list);
  }
}

/** What the parser reports, in order: onHead, onBody*, onEnd; per message. */
export interface Http1Handler<H> {
  /** A head was parsed. After a CONNECT request or a 101/CONNECT-2xx response no onEnd follows: the parser stops (`upgraded`). */
  onHead(head: H): void;
  onBody(data: Buffer): void;
  /** The message ended (trailers of a chunked body, if any). Return true to pause before the next message. */
  onEnd(trailers: Headers | undefined): boolean | void;
}

const enum S {
  Head,
  Length,
  ChunkSize,
  ChunkExt,
  ChunkSizeLf,
  ChunkData,
  ChunkDataCr,
  ChunkDataLf,
  Trailers,
  Close,
  /** After a 101 / successful CONNECT: the bytes are no longer HTTP. */
  Upgraded,
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

// RFC 9110 5.6.2 tchar.
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TOKEN[c] = 1;
for (let c = 65; c <= 90; c++) TOKEN[c] = 1;
for (let c = 97; c <= 122; c++) TOKEN[c] = 1;

const HEX = new Int8Array(256).fill(-1);
for (let c = 48; c <= 57; c++) HEX[c] = c - 48;
for (let c = 65; c <= 70; c++) HEX[c] = c - 55;
for (let c = 97; c <= 102; c++) HEX[c] = c - 87;

function bad(message: string): never {
  throw new Http1Error(400, message);
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN[c] === 0) return false;
  }
  return true;
}

/** Facts about hop-by-hop headers gathered while the header lines are read. */
interface HeadFacts {
  host: string | undefined;
  hostCount: number;
  contentLength: number;
  te: string | undefined;
  connection: string | undefined;
  upgrade: string | undefined;
  expect: string | undefined;
  hop: boolean;
}

/**
 * Reads header lines of `s` from `pos` (lines end with CRLF, the last one without) into `list`
 * with lower-case names. Returns the facts about framing headers; those are left out of `list`.
 */
function readFields(s: string, pos: number, list: string[], maxHeaders: number, f: HeadFacts, trailers: boolean): void {
  const n = s.length;
  let count = 0;
  while (pos < n) {
    let eol = s.indexOf('\n', pos);
    if (eol === -1) eol = n + 1;
    else if (s.charCodeAt(eol - 1) !== 13) bad('bare LF in header section');
    const end = eol - 1; // exclusive end of the line's content (before CR)
    const c0 = s.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) bad('obsolete line folding in header section');
    const colon = s.indexOf(':', pos);
    if (colon === -1 || colon >= end || colon === pos) bad('header line without a name and colon');
    for (let i = pos; i < colon; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128 || TOKEN[c] === 0) bad(c === 32 || c === 9 ? 'whitespace before header colon' : 'invalid character in header name');
    }
    if (++count > maxHeaders) throw new Http1Error(431, `more than ${maxHeaders} header fields`);
    let vs = colon + 1;
    let ve = end;
    while (vs < ve && (s.charCodeAt(vs) === 32 || s.charCodeAt(vs) === 9)) vs++;
    while (ve > vs && (s.charCodeAt(ve - 1) === 32 || s.charCodeAt(ve - 1) === 9)) ve--;
    const value = s.slice(vs, ve);
    if (value.indexOf('\r') !== -1 || value.indexOf('\0') !== -1) bad('invalid character in header value');
    const name = s.slice(pos, colon).toLowerCase();
    pos = eol + 1;
    switch (name) {
      case 'host':
        if (trailers) continue;
        f.host = value;
        f.hostCount++;
        continue;
      case 'content-length': {
        if (trailers) continue;
        const cl = parseLength(value);
        if (f.contentLength !== -1) {
          if (cl !== f.contentLength) bad('conflicting Content-Length values');
          continue; // same value repeated: keep one
        }
        f.contentLength = cl;
        break;
      }
      case 'transfer-encoding':
        f.hop = true;
        if (trailers) continue;
        f.te = f.te === undefined ? value : `${f.te}, ${value}`;
        continue;
      case 'connection':
        f.hop = true;
        f.connection = f.connection === undefined ? value : `${f.connection}, ${value}`;
        continue;
      case 'upgrade':
        f.hop = true;
        f.upgrade = value;
        continue;
      case 'expect':
        f.expect = value;
        break;
      case 'keep-alive':
      case 'proxy-connection':
      case 'te':
        f.hop = true;
        continue;
      case 'trailer':
        // Announces trailer names; kept (end to end) but the head is no longer verbatim-forwardable.
        f.hop = true;
        break;
    }
    list.push(name, value);
  }
}

/** Content-Length value: 1*DIGIT, also as `n, n` (a repeated value folded into one line). */
function parseLength(v: string): number {
  let out = -1;
  for (const part of v.indexOf(',') === -1 ? [v] : v.split(',')) {
    const p = part.trim();
    if (p.length === 0 || p.length > 15) bad('invalid Content-Length');
    let n = 0;
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i) - 48;
      if (c < 0 || c > 9) bad('invalid Content-Length');
      n = n * 10 + c;
    }
    if (out !== -1 && out !== n) bad('conflicting Content-Length values');
    out = n;
  }
  return out;
}

/** Splits a Connection header into lower-case tokens. */
function connectionTokens(v: string): string[] {
  const out: string[] = [];
  for (const t of v.split(',')) {
    const x = t.trim().toLowerCase();
    if (x.length > 0) out.push(x);
  }
  return out;
}

/** Applies Connection semantics: keep-alive per version, Upgrade, and removal of the names it lists. */
function applyConnection(f: HeadFacts, versionMinor: number, headers: Headers): { keepAlive: boolean; upgrade: boolean } {
  let close = false;
  let keep = false;
  let upgrade = false;
  if (f.connection !== undefined) {
    for (const t of connectionTokens(f.connection)) {
      if (t === 'close') close = true;
      else if (t === 'keep-alive') keep = true;
      else if (t === 'upgrade') upgrade = true;
      else if (t !== 'host') headers.remove(t); // RFC 9110 7.6.1: the named fields are hop-by-hop
    }
  }
  return { keepAlive: !close && (versionMinor === 1 || keep), upgrade };
}

/** Returns the transfer codings listed, lower-case, in order. */
function codings(te: string): string[] {
  const out: string[] = [];
  for (const t of te.split(',')) {
    const x = t.trim().toLowerCase();
    if (x.length > 0) out.push(x);
  }
  return out;
}

function newFacts(): HeadFacts {
  return { host: undefined, hostCount: 0, contentLength: -1, te: undefined, connection: undefined, upgrade: undefined, expect: undefined, hop: false };
}

/** Parses a request head (without the final CRLFCRLF) into an Http1Request. */
export function parseRequestHead(s: string, limits: Http1Limits = DEFAULT_HTTP1_LIMITS): Http1Request {
  let eol = s.indexOf('\n');
  if (eol === -1) eol = s.length + 1;
  else if (s.charCodeAt(eol - 1) !== 13) bad('bare LF after request line');
  const line = s.slice(0, eol - 1);
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 === -1 || line.indexOf(' ', sp2 + 1) !== -1) bad('malformed request line');
  const method = line.slice(0, sp1);
  if (!isToken(method)) bad('invalid method');
  const target = line.slice(sp1 + 1, sp2);
  if (target.length === 0) bad('empty request target');
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 32 || c === 127) bad('invalid character in request target');
  }
  const version = line.slice(sp2 + 1);
  let minor: number;
  if (version === 'HTTP/1.1') minor = 1;
  else if (version === 'HTTP/1.0') minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) throw new Http1Error(505, `HTTP version ${version} not supported`);
  else bad('malformed HTTP version');

  const req = new Http1Request([]);
  req.method = method;
  req.versionMinor = minor;
  const f = newFacts();
  readFields(s, eol + 1, req.headers.list, limits.maxHeaders, f, false);
  if (f.hostCount > 1) bad('more than one Host header');

  const c0 = target.charCodeAt(0);
  if (c0 === 47 /* / */) {
    req.path = target;
  } else if (method === 'CONNECT') {
    // authority-form (RFC 9112 3.2.3): host:port
    if (target.indexOf('/') !== -1 || target.indexOf('@') !== -1 || target.lastIndexOf(':') <= 0) bad('CONNECT target must be host:port');
    req.authority = target;
    req.upgrade = 'connect';
  } else if (target === '*') {
    if (method !== 'OPTIONS') bad('asterisk-form target is for OPTIONS only');
    req.path = '*';
  } else {
    const lower = target.length > 8 ? target.slice(0, 8).toLowerCase() : target.toLowerCase();
    let start: number;
    if (lower.startsWith('http://')) start = 7;
    else if (lower.startsWith('https://')) {
      start = 8;
      req.scheme = 'https';
    } else bad('invalid request target');
    let pe = start;
    while (pe < target.length) {
      const c = target.charCodeAt(pe);
      if (c === 47 || c === 63 || c === 35) break; // / ? #
      pe++;
    }
    const authority = target.slice(start, pe);
    if (authority.length === 0 || authority.indexOf('@') !== -1) bad('invalid authority in absolute-form target');
    req.authority = authority;
    const rest = target.slice(pe);
    req.path = rest.length === 0 ? '/' : rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
    req.absoluteForm = true;
  }
  if (req.authority === '') {
    // RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400.
    if (f.host === undefined) {
      if (minor === 1) bad('missing Host header');
    } else req.authority = f.host;
  }
  if (req.authority !== '' && !validAuthority(req.authority)) bad('invalid Host');

  const conn = applyConnection(f, minor, req.headers);
  req.keepAlive = conn.keepAlive;
  if (conn.upgrade && f.upgrade !== undefined && req.upgrade === undefined) req.upgrade = f.upgrade;

  if (f.te !== undefined) {
    if (minor === 0) bad('Transfer-Encoding in an HTTP/1.0 request');
    if (f.contentLength !== -1) bad('both Content-Length and Transfer-Encoding');
    const cs = codings(f.te);
    if (cs.length === 0) bad('empty Transfer-Encoding');
    if (cs[cs.length - 1] !== 'chunked') bad('request body not chunked-encoded last');
    if (cs.length !== 1) throw new Http1Error(501, `transfer coding ${cs[0]} not implemented`);
    req.framing = 'chunked';
  } else if (f.contentLength > 0) {
    req.framing = 'length';
    req.contentLength = f.contentLength;
  } else if (f.contentLength === 0) {
    req.contentLength = 0;
  }
  if (f.expect !== undefined && f.expect.toLowerCase() === '100-continue') {
    req.expectContinue = minor === 1;
    req.headers.remove('expect');
  }
  return req;
}

function validAuthority(a: string): boolean {
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c <= 32 || c === 127 || c === 47 || c === 64 || c === 63 || c === 35 || c === 92) return false;
  }
  return true;
}

/**
 * Parses a response head (without the final CRLFCRLF). `method` is the request's (HEAD and
 * CONNECT change the framing, RFC 9112 6.3). `raw`, the head's bytes, is kept as `raw` when the head is
 * fit to be forwarded verbatim.
 */
export function parseResponseHead(s: string, method: string, limits: Http1Limits = DEFAULT_HTTP1_LIMITS, raw?: Buffer): Http1Response {
  let eol = s.indexOf('\n');
  if (eol === -1) eol = s.length + 1;
  else if (s.charCodeAt(eol - 1) !== 13) bad('bare LF after status line');
  const line = s.slice(0, eol - 1);
  // HTTP/1.x SP 3DIGIT SP reason (the reason may be empty, the second space is sometimes missing)
  if (line.length < 12 || !line.startsWith('HTTP/1.') || line.charCodeAt(8) !== 32) bad('malformed status line');
  const vm = line.charCodeAt(7) - 48;
  if (vm !== 0 && vm !== 1) bad('unsupported HTTP version in status line');
  const d0 = line.charCodeAt(9) - 48;
  const d1 = line.charCodeAt(10) - 48;
  const d2 = line.charCodeAt(11) - 48;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) bad('invalid status code');
  if (line.length > 12 && line.charCodeAt(12) !== 32) bad('malformed status line');
  const res = new Http1Response([]);
  res.status = d0 * 100 + d1 * 10 + d2;
  res.reason = line.length > 13 ? line.slice(13) : '';
  res.versionMinor = vm;
  const f = newFacts();
  readFields(s, eol + 1, res.headers.list, limits.maxHeaders, f, false);
  if (f.host !== undefined) res.headers.list.push('host', f.host); // not special in a response
  const conn = applyConnection(f, vm, res.headers);
  res.keepAlive = conn.keepAlive;
  const status = res.status;
  if (status === 101) {
    res.upgrade = f.upgrade ?? '';
    res.framing = 'none';
  } else if (method === 'CONNECT' && status >= 200 && status < 300) {
    res.upgrade = 'connect';
    res.framing = 'none';
  } else if (method === 'HEAD' || status < 200 || status === 204 || status === 304) {
    res.framing = 'none';
    if (f.contentLength !== -1) res.contentLength = f.contentLength;
  } else if (f.te !== undefined) {
    const cs = codings(f.te);
    // RFC 9112 6.3: Transfer-Encoding overrides Content-Length, which is then dropped.
    if (f.contentLength !== -1) res.headers.remove('content-length');
    if (cs.length === 1 && cs[0] === 'chunked') res.framing = 'chunked';
    else {
      if (cs.length > 0 && cs[cs.length - 1] === 'chunked') bad(`transfer coding ${cs[0]} not supported`);
      res.framing = 'close';
      res.keepAlive = false;
    }
  } else if (f.contentLength !== -1) {
    res.framing = f.contentLength === 0 ? 'none' : 'length';
    res.contentLength = f.contentLength;
  } else {
    res.framing = 'close';
    res.keepAlive = false;
  }
  if (!f.hop && vm === 1) res.raw = raw;
  return res;
}

/**
 * The incremental parser. Feed bytes with `execute` (returns how many it consumed: fewer than
 * given when a handler paused it, or after an upgrade); `finish` at end of input completes a
 * body delimited by close. Errors are thrown as Http1Error.
 */
export class Http1Parser<H extends Http1Request | Http1Response = Http1Request | Http1Response> {
  private state = S.Head;
  private remaining = 0;
  private paused = false;
  private headBuf: Buffer | null = null;
  private headLen = 0;
  private extLen = 0;
  private sawDigit = false;
  /** Response parsing: the method of the request being answered. */
  method = 'GET';
  /** Bytes of messages parsed so far (telemetry). */
  bodyBytes = 0;

  constructor(
    private readonly kind: 'request' | 'response',
    private readonly handler: Http1Handler<H>,
    private readonly limits: Http1Limits = DEFAULT_HTTP1_LIMITS,
  ) {}

  /** True between messages (nothing of a next message read yet). */
  get idle(): boolean {
    return this.state === S.Head && this.headLen === 0;
  }

  get upgraded(): boolean {
    return this.state === S.Upgraded;
  }

  /** Lets a paused parser go on; feed it the bytes it did not consume. */
  resume(): void {
    this.paused = false;
  }

  /** Forgets any partial message (a response parser reused for the next upstream connection). */
  reset(method = 'GET'): void {
    this.state = S.Head;
    this.paused = false;
    this.headBuf = null;
    this.headLen = 0;
    this.method = method;
    this.bodyBytes = 0;
  }

  execute(buf: Buffer): number {
    const len = buf.length;
    let off = 0;
    while (off < len && !this.paused) {
      switch (this.state) {
        case S.Head:
          off = this.head(buf, off);
          break;
        case S.Length: {
          const avail = len - off;
          if (avail <= this.remaining) {
            this.remaining -= avail;
            this.bodyBytes += avail;
            this.handler.onBody(off === 0 ? buf : buf.subarray(off));
            off = len;
          } else {
            const end = off + this.remaining;
            this.bodyBytes += this.remaining;
            this.remaining = 0;
            this.handler.onBody(buf.subarray(off, end));
            off = end;
          }
          if (this.remaining === 0) this.complete(undefined);
          break;
        }
        case S.ChunkSize: {
          const c = buf[off];
          const h = HEX[c];
          if (h !== -1) {
            if (this.remaining > 0x7fffffffff) bad('chunk size too large');
            this.remaining = this.remaining * 16 + h;
            this.sawDigit = true;
            off++;
          } else if (!this.sawDigit) bad('invalid chunk size');
          else if (c === 13) {
            this.state = S.ChunkSizeLf;
            off++;
          } else if (c === 59 /* ; */) {
            this.state = S.ChunkExt;
            this.extLen = 0;
            off++;
          } else bad('invalid chunk size line');
          break;
        }
        case S.ChunkExt: {
          const cr = buf.indexOf(13, off);
          const stop = cr === -1 ? len : cr;
          this.extLen += stop - off;
          if (this.extLen > 4096) bad('chunk extension too long');
          for (let i = off; i < stop; i++) if (buf[i] === 10 || buf[i] === 0) bad('invalid chunk extension');
          off = stop;
          if (cr !== -1) {
            this.state = S.ChunkSizeLf;
            off++;
          }
          break;
        }
        case S.ChunkSizeLf:
          if (buf[off++] !== 10) bad('chunk size line not ended by CRLF');
          if (this.remaining === 0) {
            this.state = S.Trailers;
            this.headLen = 0;
            this.headBuf = null;
          } else this.state = S.ChunkData;
          this.sawDigit = false;
          break;
        case S.ChunkData: {
          const avail = len - off;
          const n = avail < this.remaining ? avail : this.remaining;
          this.remaining -= n;
          this.bodyBytes += n;
          this.handler.onBody(off === 0 && n === len ? buf : buf.subarray(off, off + n));
          off += n;
          if (this.remaining === 0) this.state = S.ChunkDataCr;
          break;
        }
        case S.ChunkDataCr:
          if (buf[off++] !== 13) bad('chunk data not followed by CRLF');
          this.state = S.ChunkDataLf;
          break;
        case S.ChunkDataLf:
          if (buf[off++] !== 10) bad('chunk data not followed by CRLF');
          this.state = S.ChunkSize;
          break;
        case S.Trailers:
          off = this.trailers(buf, off);
          break;
        case S.Close:
          this.bodyBytes += len - off;
          this.handler.onBody(off === 0 ? buf : buf.subarray(off));
          off = len;
          break;
        case S.Upgraded:
          return off;
      }
    }
    return off;
  }

  /** End of input. Completes a close-delimited body; throws if a message was cut short. */
  finish(): void {
    if (this.state === S.Close) {
      this.complete(undefined);
      return;
    }
    if (this.state === S.Upgraded || (this.state === S.Head && this.headLen === 0)) return;
    bad('connection closed in the middle of a message');
  }

  /** Appends buf[off..] to the pending head bytes, growing the buffer by doubling. */
  private append(buf: Buffer, off: number, max: number): void {
    const n = buf.length - off;
    const need = this.headLen + n;
    if (this.headBuf === null || this.headBuf.length < need) {
      const nb = Buffer.allocUnsafe(Math.min(Math.max(need, this.headLen * 2, 256), max + 4));
      if (this.headBuf !== null) this.headBuf.copy(nb, 0, 0, this.headLen);
      this.headBuf = nb;
    }
    buf.copy(this.headBuf, this.headLen, off, Math.min(buf.length, off + this.headBuf.length - this.headLen));
    this.headLen = Math.min(need, this.headBuf.length);
  }

  private head(buf: Buffer, off: number): number {
    const max = this.limits.maxHeadBytes;
    if (this.headLen === 0) {
      // RFC 9112 2.2: ignore empty lines before a request line.
      if (this.kind === 'request') {
        while (off < buf.length && (buf[off] === 13 || buf[off] === 10)) off++;
        if (off === buf.length) return off;
      }
      const end = buf.indexOf(CRLFCRLF, off);
      if (end !== -1 && end - off <= max) {
        this.onHeadBytes(buf, off, end);
        return end + 4;
      }
      if (end !== -1 || buf.length - off > max) throw new Http1Error(431, 'head larger than the limit');
      this.append(buf, off, max);
      return buf.length;
    }
    const prev = this.headLen;
    const from = prev > 3 ? prev - 3 : 0;
    this.append(buf, off, max);
    const hb = this.headBuf as Buffer;
    const end = hb.subarray(0, this.headLen).indexOf(CRLFCRLF, from);
    if (end === -1) {
      if (this.headLen > max) throw new Http1Error(431, 'head larger than the limit');
      return buf.length;
    }
    if (end > max) throw new Http1Error(431, 'head larger than the limit');
    const consumed = end + 4 - prev;
    this.headBuf = null;
    this.headLen = 0;
    this.onHeadBytes(hb, 0, end);
    return off + consumed;
  }

  private onHeadBytes(buf: Buffer, start: number, end: number): void {
    const s = buf.toString('latin1', start, end);
    this.bodyBytes = 0;
    if (this.kind === 'request') {
      const req = parseRequestHead(s, this.limits);
      if (req.upgrade === 'connect') {
        this.state = S.Upgraded;
        this.handler.onHead(req as H);
        return;
      }
      this.startBody(req.framing, req.contentLength);
      this.handler.onHead(req as H);
    } else {
      const res = parseResponseHead(s, this.method, this.limits, buf.subarray(start, end + 4));
      if (res.status < 200 && res.status !== 101) {
        // 1xx: informational, the final response follows.
        this.handler.onHead(res as H);
        return;
      }
      if (res.upgrade !== undefined) {
        this.state = S.Upgraded;
        this.handler.onHead(res as H);
        return;
      }
      this.startBody(res.framing, res.contentLength);
      this.handler.onHead(res as H);
    }
    if (this.state === S.Head) this.complete(undefined);
  }

  private startBody(framing: BodyFraming, length: number): void {
    switch (framing) {
      case 'none':
        this.state = S.Head;
        break;
      case 'length':
        this.state = S.Length;
        this.remaining = length;
        break;
      case 'chunked':
        this.state = S.ChunkSize;
        this.remaining = 0;
        this.sawDigit = false;
        break;
      case 'close':
        this.state = S.Close;
        break;
    }
  }

  private trailers(buf: Buffer, off: number): number {
    // The trailer section ends with an empty line; it is just CRLF when there are no trailers.
    if (this.headLen === 0 && buf.length - off >= 2 && buf[off] === 13 && buf[off + 1] === 10) {
      this.complete(undefined);
      return off + 2;
    }
    const prev = this.headLen;
    this.append(buf, off, this.limits.maxHeadBytes);
    const hb = (this.headBuf as Buffer).subarray(0, this.headLen);
    if (hb.length >= 2 && hb[0] === 13 && hb[1] === 10) {
      this.headBuf = null;
      this.headLen = 0;
      this.complete(undefined);
      return off + 2 - prev;
    }
    const end = hb.indexOf(CRLFCRLF, prev > 3 ? prev - 3 : 0);
    if (end === -1) {
      if (this.headLen > this.limits.maxHeadBytes) throw new Http1Error(431, 'trailer section larger than the limit');
      return buf.length;
    }
    const list: string[] = [];
    readFields(hb.toString('latin1', 0, end), 0, list, this.limits.maxHeaders, newFacts(), true);
    this.headBuf = null;
    this.headLen = 0;
    this.complete(list.length > 0 ? new Headers(list) : undefined);
    return off + end + 4 - prev;
  }

  private complete(trailers: Headers | undefined): void {
    this.state = S.Head;
    if (this.handler.onEnd(trailers) === true) this.paused = true;
  }
}
