import { describe, expect, it } from 'vitest';
import { cookieValue, SessionCodec } from './session.js';

describe('SessionCodec', () => {
  const codec = new SessionCodec('secret');

  it('reads back the user it encoded, among other cookies', () => {
    expect(codec.userOf(`theme=dark; session=${codec.encode('jason')}; x=1`)).toBe('jason');
  });

  it.each([
    ['no cookie header', undefined],
    ['no session cookie', 'theme=dark'],
    ['an unsigned value', `session=${Buffer.from('{"user":"jason"}').toString('base64url')}`],
    ['a payload edited after signing', `session=${Buffer.from('{"user":"admin"}').toString('base64url')}.${codec.encode('jason').split('.')[1]}`],
    ['a cookie signed with another key', `session=${new SessionCodec('other').encode('jason')}`],
    ['an empty user', `session=${codec.encode('')}`],
  ])('gives no user for %s', (_name, header) => {
    expect(codec.userOf(header)).toBeUndefined();
  });

  it('cookieValue finds a cookie by exact name', () => {
    expect(cookieValue('mysession=1; session=2', 'session')).toBe('2');
    expect(cookieValue('a=1', 'session')).toBeUndefined();
  });
});
