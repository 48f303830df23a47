/**
 * productpage's session: the signed-in user in a cookie signed with HMAC-SHA256, the role Flask's
 * signed `session` cookie plays in Istio's productpage. A cookie whose signature does not match is
 * ignored (no user), so a client cannot make itself "jason" by editing the cookie.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Name of the session cookie (Flask's). */
export const SESSION_COOKIE = 'session';

/** Encodes and checks session cookies with one key. */
export class SessionCodec {
  private readonly key: Buffer;

  /** A codec signing with `secret`, or with a random key when none is given (sessions then end with the process). */
  constructor(secret?: string) {
    this.key = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
  }

  /** encode returns the cookie value that holds `user`. */
  encode(user: string): string {
    const payload = Buffer.from(JSON.stringify({ user }), 'utf8').toString('base64url');
    return `${payload}.${this.sign(payload)}`;
  }

  /** userOf returns the signed-in user the Cookie header carries, or undefined (none, or a bad signature). */
  userOf(cookieHeader: string | undefined): string | undefined {
    const value = cookieValue(cookieHeader, SESSION_COOKIE);
    if (!value) return undefined;
    const dot = value.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const payload = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1), 'base64url');
    const want = Buffer.from(this.sign(payload), 'base64url');
    if (given.length !== want.length || !timingSafeEqual(given, want)) return undefined;
    try {
      const parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { user?: unknown };
      return typeof parsed.user === 'string' && parsed.user !== '' ? parsed.user : undefined;
    } catch {
      return undefined;
    }
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}

/** cookieValue returns the value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
