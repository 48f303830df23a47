/**
 * HTTP/1.1 serializer: heads are built as one latin1 string (one socket write, no Buffer
 * juggling), the framing headers written from the framing the next hop needs, since the parser
 * dropped the hop-by-hop ones it received.
 */
import type { Headers, RequestHead } from '../model.js';
import type { BodyFraming } from './parser.js';

const REASONS: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  417: 'Expectation Failed',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** reasonPhrase returns the standard reason phrase of a status, or '' (the phrase is optional). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? '';
}

function fields(h: Headers): string {
  const l = h.list;
  let s = '';
  for (let i = 0; i < l.length; i += 2) s += l[i] + ': ' + l[i + 1] + '\r\n';
  return s;
}

/**
 * serializeRequestHead returns the request head for an HTTP/1.1 upstream in origin form, ending
 * with the empty line: Host from `authority`, the headers, then what framing and upgrade need
 * (`transfer-encoding: chunked`; `connection: upgrade` + `upgrade`; `connection: close`).
 */
export function serializeRequestHead(req: RequestHead, framing: 'none' | 'length' | 'chunked', upgrade?: string, close?: boolean): string {
  let s = req.method + ' ' + req.path + ' HTTP/1.1\r\nhost: ' + req.authority + '\r\n' + fields(req.headers);
  if (framing === 'chunked') s += 'transfer-encoding: chunked\r\n';
  if (upgrade !== undefined) s += 'connection: upgrade\r\nupgrade: ' + upgrade + '\r\n';
  else if (close === true) s += 'connection: close\r\n';
  return s + '\r\n';
}

/**
 * serializeResponseHead returns a response head for a downstream HTTP/1.x client ending with
 * the empty line. `framing` is how the body is sent on this hop ('close' writes no length);
 * `keepAlive` false adds `connection: close`; an HTTP/1.0 client that keeps the connection gets
 * `connection: keep-alive` (its default is close).
 */
export function serializeResponseHead(status: number, reason: string, headers: Headers, framing: BodyFraming, keepAlive: boolean, clientMinor = 1, upgrade?: string): string {
  let s = 'HTTP/1.1 ' + status + ' ' + (reason === '' ? reasonPhrase(status) : reason) + '\r\n' + fields(headers);
  if (framing === 'chunked') s += 'transfer-encoding: chunked\r\n';
  if (upgrade !== undefined) s += 'connection: upgrade\r\nupgrade: ' + upgrade + '\r\n';
  else if (!keepAlive) s += 'connection: close\r\n';
  else if (clientMinor === 0) s += 'connection: keep-alive\r\n';
  return s + '\r\n';
}

/** chunkHeader returns the size line that precedes `n` bytes of chunked data. */
export function chunkHeader(n: number): string {
  return n.toString(16) + '\r\n';
}

/** lastChunk returns the zero-size chunk, the trailers and the final empty line of a chunked body. */
export function lastChunk(trailers?: Headers): string {
  return trailers === undefined ? '0\r\n\r\n' : '0\r\n' + fields(trailers) + '\r\n';
}
