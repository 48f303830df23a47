import { describe, expect, it } from 'vitest';
import { Headers, type HashPolicy, type RequestHead } from '../model.js';
import { hashString } from './hash.js';
import { cookieValue, hashRequest } from './request-hash.js';

function req(path: string, headers: string[] = []): RequestHead {
  return { method: 'GET', path, authority: 'reviews:9080', scheme: 'http', headers: new Headers(headers) };
}

const from = { remoteAddress: '10.1.2.3', remotePort: 40000 };
const rot = (h: number) => ((h << 1) | (h >>> 31)) >>> 0;

describe('hashRequest', () => {
  const user = hashString('jason');
  const ip = hashString('10.1.2.3');
  const cases: { name: string; policies: HashPolicy[]; req: RequestHead; want: number | undefined }[] = [
    { name: 'no policies: no hash', policies: [], req: req('/'), want: undefined },
    { name: 'header present', policies: [{ kind: 'header', name: 'x-user' }], req: req('/', ['x-user', 'jason']), want: user },
    { name: 'header absent: no hash', policies: [{ kind: 'header', name: 'x-user' }], req: req('/'), want: undefined },
    { name: 'authority pseudo-header', policies: [{ kind: 'header', name: ':authority' }], req: req('/'), want: hashString('reviews:9080') },
    { name: 'source ip', policies: [{ kind: 'source-ip' }], req: req('/'), want: ip },
    { name: 'query parameter', policies: [{ kind: 'query', name: 'u' }], req: req('/p?a=1&u=jason#f'), want: user },
    { name: 'query parameter without value', policies: [{ kind: 'query', name: 'u' }], req: req('/p?u'), want: hashString('') },
    { name: 'query absent', policies: [{ kind: 'query', name: 'u' }], req: req('/p?a=1'), want: undefined },
    { name: 'cookie (quoted)', policies: [{ kind: 'cookie', name: 'sid' }], req: req('/', ['cookie', 'a=b; sid="jason"']), want: user },
    { name: 'cookie absent, no ttl: no hash', policies: [{ kind: 'cookie', name: 'sid' }], req: req('/', ['cookie', 'a=b']), want: undefined },
    {
      name: 'two policies combine (rotate then xor)',
      policies: [{ kind: 'header', name: 'x-user' }, { kind: 'source-ip' }],
      req: req('/', ['x-user', 'jason']),
      want: (rot(user) ^ ip) >>> 0,
    },
    {
      name: 'terminal stops once a hash exists',
      policies: [{ kind: 'header', name: 'x-user', terminal: true }, { kind: 'source-ip' }],
      req: req('/', ['x-user', 'jason']),
      want: user,
    },
    {
      name: 'terminal without a hash falls through',
      policies: [{ kind: 'header', name: 'x-user', terminal: true }, { kind: 'source-ip' }],
      req: req('/'),
      want: ip,
    },
    {
      name: 'terminal applies to the accumulated hash (Envoy)',
      policies: [{ kind: 'source-ip' }, { kind: 'header', name: 'x-user', terminal: true }, { kind: 'query', name: 'u' }],
      req: req('/?u=x'),
      want: ip,
    },
  ];
  it.each(cases)('$name', ({ policies, req: r, want }) => {
    expect(hashRequest(policies, r, from).hash).toBe(want);
  });

  it('repeated header values hash the same in any order', () => {
    const p: HashPolicy[] = [{ kind: 'header', name: 'x-k' }];
    const a = hashRequest(p, req('/', ['x-k', 'one', 'x-k', 'two']), from).hash;
    const b = hashRequest(p, req('/', ['x-k', 'two', 'x-k', 'one']), from).hash;
    expect(a).toBe(b);
    expect(a).not.toBe(hashString('one'));
  });

  it('a cookie policy with a ttl generates the cookie, and the client sending it back hashes the same', () => {
    const p: HashPolicy[] = [{ kind: 'cookie', name: 'sid', ttlMs: 3_600_000, path: '/' }];
    const first = hashRequest(p, req('/'), from);
    expect(first.setCookie).toMatch(/^sid="[0-9a-f]{16}"; Max-Age=3600; Path=\/; HttpOnly$/);
    const value = /"([0-9a-f]+)"/.exec(first.setCookie!)![1];
    const again = hashRequest(p, req('/', ['cookie', `sid="${value}"`]), from);
    expect(again.setCookie).toBeUndefined();
    expect(again.hash).toBe(first.hash);
    // Another client gets another cookie.
    expect(hashRequest(p, req('/'), { remoteAddress: '10.9.9.9', remotePort: 1 }).setCookie).not.toBe(first.setCookie);
  });

  it('a ttl of 0 generates a session cookie (no Max-Age)', () => {
    const r = hashRequest([{ kind: 'cookie', name: 'sid', ttlMs: 0 }], req('/'), from);
    expect(r.setCookie).toMatch(/^sid="[0-9a-f]{16}"; HttpOnly$/);
  });

  it('cookieValue reads across several Cookie headers', () => {
    expect(cookieValue(req('/', ['cookie', 'a=1', 'cookie', 'b=2; c = 3 ']), 'c')).toBe('3');
    expect(cookieValue(req('/', ['cookie', 'ab=1']), 'a')).toBeUndefined();
  });
});
