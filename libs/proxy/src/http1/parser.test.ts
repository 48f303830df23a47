import { describe, expect, it } from 'vitest';
import { Headers } from '../model.js';
import { Http1Error } from './errors.js';
import { Http1Parser, type Http1Handler, type Http1Request, type Http1Response } from './parser.js';
import { chunkHeader, lastChunk, serializeRequestHead, serializeResponseHead } from './serializer.js';

type Msg<H> = { head: H; body: string; trailers?: string[]; ended: boolean };

/** Collects what a parser reports; `pauseAfterEach` pauses after every message as the proxy does. */
function collect<H extends Http1Request | Http1Response>(kind: 'request' | 'response', method = 'GET', pauseAfterEach = false) {
  const msgs: Msg<H>[] = [];
  const handler: Http1Handler<H> = {
    onHead(head) {
      msgs.push({ head, body: '', ended: false });
    },
    onBody(data) {
      msgs[msgs.length - 1].body += data.toString('latin1');
    },
    onEnd(trailers) {
      const m = msgs[msgs.length - 1];
      m.ended = true;
      m.trailers = trailers?.list;
      return pauseAfterEach;
    },
  };
  const parser = new Http1Parser<H>(kind, handler);
  parser.method = method;
  return { parser, msgs };
}

/** Feeds `input` in pieces of `step` bytes (0: all at once), resuming after pauses. */
function feed<H extends Http1Request | Http1Response>(kind: 'request' | 'response', input: string, step = 0, method = 'GET', eof = false) {
  const { parser, msgs } = collect<H>(kind, method, true);
  const bytes = Buffer.from(input, 'latin1');
  let pending = Buffer.alloc(0);
  const size = step === 0 ? bytes.length : step;
  for (let i = 0; i < bytes.length; i += size) {
    pending = Buffer.concat([pending, bytes.subarray(i, i + size)]);
    for (;;) {
      const n = parser.execute(pending);
      pending = pending.subarray(n);
      if (parser.upgraded || pending.length === 0) break;
      parser.resume();
    }
    if (parser.upgraded) {
      pending = Buffer.concat([pending, bytes.subarray(i + size)]);
      break;
    }
  }
  if (eof) parser.finish();
  return { msgs, rest: pending.toString('latin1'), parser };
}

function parseError(kind: 'request' | 'response', input: string): Http1Error {
  try {
    feed(kind, input, 0, 'GET', true);
  } catch (e) {
    expect(e).toBeInstanceOf(Http1Error);
    return e as Http1Error;
  }
  throw new Error(`no error for ${JSON.stringify(input)}`);
}

const requests: { name: string; input: string; expect: (m: Msg<Http1Request>[]) => void }[] = [
  {
    name: 'origin-form GET with Host',
    input: 'GET /a/b?x=1 HTTP/1.1\r\nHost: reviews:9080\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n',
    expect: ([m]) => {
      expect(m.head.method).toBe('GET');
      expect(m.head.path).toBe('/a/b?x=1');
      expect(m.head.authority).toBe('reviews:9080');
      expect(m.head.headers.list).toEqual(['user-agent', 't', 'accept', '*/*']);
      expect(m.head.keepAlive).toBe(true);
      expect(m.head.framing).toBe('none');
      expect(m.ended).toBe(true);
    },
  },
  {
    name: 'absolute-form target (explicit proxy) overrides Host',
    input: 'GET http://Reviews:9080/r/1?q HTTP/1.1\r\nHost: other\r\nProxy-Connection: keep-alive\r\n\r\n',
    expect: ([m]) => {
      expect(m.head.absoluteForm).toBe(true);
      expect(m.head.authority).toBe('Reviews:9080');
      expect(m.head.path).toBe('/r/1?q');
      expect(m.head.headers.list).toEqual([]);
    },
  },
  {
    name: 'absolute-form without a path gets /',
    input: 'GET http://ratings HTTP/1.1\r\n\r\n',
    expect: ([m]) => {
      expect(m.head.authority).toBe('ratings');
      expect(m.head.path).toBe('/');
    },
  },
  {
    name: 'absolute-form with only a query',
    input: 'GET https://h:1?x=y HTTP/1.1\r\n\r\n',
    expect: ([m]) => {
      expect(m.head.scheme).toBe('https');
      expect(m.head.path).toBe('/?x=y');
    },
  },
  {
    name: 'Content-Length body',
    input: 'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world',
    expect: ([m]) => {
      expect(m.head.framing).toBe('length');
      expect(m.head.contentLength).toBe(11);
      expect(m.head.headers.get('content-length')).toBe('11');
      expect(m.body).toBe('hello world');
      expect(m.ended).toBe(true);
    },
  },
  {
    name: 'repeated identical Content-Length is folded',
    input: 'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok',
    expect: ([m]) => {
      expect(m.head.headers.getAll('content-length')).toEqual(['2']);
      expect(m.body).toBe('ok');
    },
  },
  {
    name: 'chunked body with extensions and trailers',
    input: 'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\nGrpc-Status: 0\r\n\r\n',
    expect: ([m]) => {
      expect(m.head.framing).toBe('chunked');
      expect(m.head.headers.list).toEqual([]);
      expect(m.body).toBe('hello world');
      expect(m.trailers).toEqual(['x-checksum', 'abc', 'grpc-status', '0']);
    },
  },
  {
    name: 'chunked body without trailers, upper-case hex',
    input: 'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n',
    expect: ([m]) => {
      expect(m.body).toBe('0123456789');
      expect(m.trailers).toBeUndefined();
      expect(m.ended).toBe(true);
    },
  },
  {
    name: 'pipelined requests are reported in order',
    input: 'GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
    expect: (ms) => {
      expect(ms.map((m) => m.head.path)).toEqual(['/1', '/2', '/3']);
      expect(ms[1].body).toBe('abc');
      expect(ms[2].head.keepAlive).toBe(false);
    },
  },
  {
    name: 'HTTP/1.0 closes by default, keeps with Connection: keep-alive',
    input: 'GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5\r\n\r\n',
    expect: ([a, b]) => {
      expect(a.head.versionMinor).toBe(0);
      expect(a.head.authority).toBe('');
      expect(a.head.keepAlive).toBe(false);
      expect(b.head.keepAlive).toBe(true);
      expect(b.head.headers.list).toEqual([]);
    },
  },
  {
    name: 'Connection names more hop-by-hop headers',
    input: 'GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Hop, close\r\nX-Hop: 1\r\nX-End: 2\r\n\r\n',
    expect: ([m]) => {
      expect(m.head.keepAlive).toBe(false);
      expect(m.head.headers.list).toEqual(['x-end', '2']);
    },
  },
  {
    name: 'Expect: 100-continue is taken out and flagged',
    input: 'PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx',
    expect: ([m]) => {
      expect(m.head.expectContinue).toBe(true);
      expect(m.head.headers.has('expect')).toBe(false);
    },
  },
  {
    name: 'WebSocket upgrade request',
    input: 'GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n',
    expect: ([m]) => {
      expect(m.head.upgrade).toBe('websocket');
      expect(m.head.headers.list).toEqual(['sec-websocket-key', 'k']);
      expect(m.ended).toBe(true);
    },
  },
  {
    name: 'Upgrade header without Connection: upgrade is ignored',
    input: 'GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n',
    expect: ([m]) => expect(m.head.upgrade).toBeUndefined(),
  },
  {
    name: 'CONNECT authority-form stops the parser',
    input: 'CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n\u0001binary',
    expect: ([m]) => {
      expect(m.head.upgrade).toBe('connect');
      expect(m.head.authority).toBe('db:5432');
      expect(m.ended).toBe(false);
    },
  },
  {
    name: 'leading empty lines are ignored; OWS trimmed; empty value kept',
    input: '\r\n\r\nGET / HTTP/1.1\r\nHost:   h  \r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n',
    expect: ([m]) => {
      expect(m.head.authority).toBe('h');
      expect(m.head.headers.list).toEqual(['x-empty', '', 'x-tab', 'v']);
    },
  },
  {
    name: 'OPTIONS *',
    input: 'OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n',
    expect: ([m]) => expect(m.head.path).toBe('*'),
  },
  {
    name: 'obs-text in a value survives (latin1)',
    input: 'GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\u00e9\r\n\r\n',
    expect: ([m]) => expect(m.head.headers.get('x-name')).toBe('caf\u00e9'),
  },
];

describe('request parser', () => {
  for (const t of requests) {
    it(t.name, () => {
      const whole = feed<Http1Request>('request', t.input);
      t.expect(whole.msgs);
      // The same bytes split at every position must parse the same.
      for (const step of [1, 2, 3, 7]) t.expect(feed<Http1Request>('request', t.input, step).msgs);
      for (let cut = 1; cut < t.input.length; cut++) {
        const { parser, msgs } = collect<Http1Request>('request', 'GET', false);
        let rest = Buffer.from(t.input.slice(0, cut), 'latin1');
        rest = rest.subarray(parser.execute(rest));
        if (!parser.upgraded) parser.execute(Buffer.concat([rest, Buffer.from(t.input.slice(cut), 'latin1')]));
        t.expect(msgs);
      }
    });
  }

  const malformed: [string, string, number][] = [
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n', 400],
    ['whitespace before colon', 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', 400],
    ['bare LF line end', 'GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n', 400],
    ['bare CR in value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n', 400],
    ['NUL in value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\u0000b\r\n\r\n', 400],
    ['missing Host in 1.1', 'GET / HTTP/1.1\r\nX: y\r\n\r\n', 400],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@h\r\n\r\n', 400],
    ['CL and TE together', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['conflicting CL', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400],
    ['conflicting CL in one line', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd', 400],
    ['negative CL', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n', 400],
    ['CL with sign', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\na', 400],
    ['TE not ending in chunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['TE gzip, chunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501],
    ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['bad chunk size', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
    ['chunk size with space', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n', 400],
    ['chunk data not followed by CRLF', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n', 400],
    ['chunk size overflow', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n', 400],
    ['HTTP/2.0 version', 'GET / HTTP/2.0\r\nHost: h\r\n\r\n', 505],
    ['garbage version', 'GET / HTTX/1.1\r\nHost: h\r\n\r\n', 400],
    ['two spaces in request line', 'GET  / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['control char in target', 'GET /a\u0001 HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['relative target', 'GET a/b HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['absolute target with userinfo', 'GET http://u:p@h/ HTTP/1.1\r\n\r\n', 400],
    ['invalid method', 'G(T / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['header without colon', 'GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n', 400],
    ['empty header name', 'GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n', 400],
    ['asterisk with GET', 'GET * HTTP/1.1\r\nHost: h\r\n\r\n', 400],
    ['truncated body at EOF', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab', 400],
    ['head too large', `GET / HTTP/1.1\r\nHost: h\r\nX: ${'a'.repeat(61 * 1024)}\r\n\r\n`, 431],
    ['too many headers', `GET / HTTP/1.1\r\nHost: h\r\n${'X: 1\r\n'.repeat(101)}\r\n`, 431],
  ];
  for (const [name, input, status] of malformed) {
    it(`rejects ${name} with ${status}`, () => {
      expect(parseError('request', input).status).toBe(status);
      // and when fed byte by byte
      let err: unknown;
      try {
        feed('request', input, 1, 'GET', true);
      } catch (e) {
        err = e;
      }
      expect((err as Http1Error).status).toBe(status);
    });
  }

  it('rejects a head that never ends once it passes the limit, without waiting for more', () => {
    const { parser } = collect('request');
    expect(() => {
      for (let i = 0; i < 70; i++) parser.execute(Buffer.from(`X-${i}: ${'v'.repeat(1000)}\r\n`));
    }).toThrow(Http1Error);
  });

  it('pauses after each message so pipelined requests wait', () => {
    const { parser, msgs } = collect<Http1Request>('request', 'GET', true);
    const buf = Buffer.from('GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n');
    const n = parser.execute(buf);
    expect(msgs.map((m) => m.head.path)).toEqual(['/1']);
    parser.resume();
    expect(parser.execute(buf.subarray(n))).toBe(buf.length - n);
    expect(msgs.map((m) => m.head.path)).toEqual(['/1', '/2']);
  });
});

describe('response parser', () => {
  const cases: { name: string; input: string; method?: string; eof?: boolean; expect: (m: Msg<Http1Response>[], rest: string) => void }[] = [
    {
      name: 'Content-Length response, clean head kept raw',
      input: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nhi',
      expect: ([m]) => {
        expect(m.head.status).toBe(200);
        expect(m.head.reason).toBe('OK');
        expect(m.head.framing).toBe('length');
        expect(m.head.raw?.toString()).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\n');
        expect(m.body).toBe('hi');
      },
    },
    {
      name: 'hop-by-hop headers make the head not raw',
      input: 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n',
      expect: ([m]) => {
        expect(m.head.raw).toBeUndefined();
        expect(m.head.headers.list).toEqual(['content-length', '0']);
        expect(m.ended).toBe(true);
      },
    },
    {
      name: 'chunked response with trailers (gRPC-like)',
      input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 0\r\n\r\n',
      expect: ([m]) => {
        expect(m.head.framing).toBe('chunked');
        expect(m.body).toBe('abc');
        expect(m.trailers).toEqual(['grpc-status', '0']);
      },
    },
    {
      name: 'TE overrides Content-Length',
      input: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n',
      expect: ([m]) => {
        expect(m.head.headers.has('content-length')).toBe(false);
        expect(m.body).toBe('x');
      },
    },
    {
      name: 'until-close body',
      input: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this until EOF',
      eof: true,
      expect: ([m]) => {
        expect(m.head.framing).toBe('close');
        expect(m.head.keepAlive).toBe(false);
        expect(m.body).toBe('all of this until EOF');
        expect(m.ended).toBe(true);
      },
    },
    {
      name: 'HEAD response has no body despite Content-Length',
      method: 'HEAD',
      input: 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
      expect: ([a, b]) => {
        expect(a.head.framing).toBe('none');
        expect(a.head.headers.get('content-length')).toBe('1234');
        expect(a.ended).toBe(true);
        expect(b.head.status).toBe(204);
      },
    },
    {
      name: '204 and 304 have no body',
      input: 'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n',
      expect: ([a, b]) => {
        expect(a.ended && b.ended).toBe(true);
        expect(b.body).toBe('');
      },
    },
    {
      name: '100 Continue then the final response',
      input: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n',
      expect: ([a, b]) => {
        expect(a.head.status).toBe(100);
        expect(a.ended).toBe(false);
        expect(b.head.status).toBe(201);
        expect(b.ended).toBe(true);
      },
    },
    {
      name: '101 stops parsing; the rest is tunnel bytes',
      input: 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\u0081\u0002hi',
      expect: ([m], rest) => {
        expect(m.head.upgrade).toBe('websocket');
        expect(rest).toBe('\u0081\u0002hi');
      },
    },
    {
      name: 'status line without reason',
      input: 'HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n',
      expect: ([m]) => {
        expect(m.head.status).toBe(404);
        expect(m.head.reason).toBe('');
      },
    },
    {
      name: 'HTTP/1.0 response without length closes',
      input: 'HTTP/1.0 200 OK\r\n\r\nbody',
      eof: true,
      expect: ([m]) => {
        expect(m.head.keepAlive).toBe(false);
        expect(m.head.raw).toBeUndefined();
        expect(m.body).toBe('body');
      },
    },
  ];
  for (const t of cases) {
    it(t.name, () => {
      for (const step of [0, 1, 2, 5]) {
        const { msgs, rest } = feed<Http1Response>('response', t.input, step, t.method, t.eof);
        t.expect(msgs, rest);
      }
    });
  }

  const malformed: [string, string][] = [
    ['bad status code', 'HTTP/1.1 2x0 OK\r\n\r\n'],
    ['status 600', 'HTTP/1.1 600 X\r\n\r\n'],
    ['not HTTP', 'ICY 200 OK\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: 1\r\n\tmore\r\nContent-Length: 0\r\n\r\n'],
    ['conflicting CL', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['cut short', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'],
  ];
  for (const [name, input] of malformed) {
    it(`rejects ${name}`, () => {
      expect(parseError('response', input).status).toBe(400);
    });
  }
});

describe('serializer', () => {
  it('writes an origin-form request head with Host first and the framing it needs', () => {
    const { msgs } = feed<Http1Request>('request', 'POST http://h:1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n0\r\n\r\n');
    expect(serializeRequestHead(msgs[0].head, 'chunked')).toBe('POST /x HTTP/1.1\r\nhost: h:1\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n');
    expect(serializeRequestHead(msgs[0].head, 'none', 'websocket')).toBe('POST /x HTTP/1.1\r\nhost: h:1\r\nx-a: 1\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
  });

  it('writes response heads for 1.1 and 1.0 clients', () => {
    const h = new Headers(['content-type', 'text/plain']);
    expect(serializeResponseHead(200, '', h, 'chunked', true)).toBe('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n');
    expect(serializeResponseHead(404, 'Nope', h, 'close', false, 0)).toBe('HTTP/1.1 404 Nope\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n');
    expect(serializeResponseHead(200, '', h, 'length', true, 0)).toBe('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: keep-alive\r\n\r\n');
  });

  it('round-trips a chunked body through the parser', () => {
    const body = chunkHeader(3) + 'abc\r\n' + chunkHeader(16) + 'x'.repeat(16) + '\r\n' + lastChunk(new Headers(['grpc-status', '0']));
    const { msgs } = feed<Http1Response>('response', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + body, 1);
    expect(msgs[0].body).toBe('abc' + 'x'.repeat(16));
    expect(msgs[0].trailers).toEqual(['grpc-status', '0']);
  });
});
