/**
 * Meshwork join tokens: short JWTs (HS256, key in the state directory) that let a workload off
 * Kubernetes prove one namespace + service account to citadel. `meshctl join-token create` asks the
 * admin API for one; the workload presents it as `authorization: Bearer <token>`.
 */
import { randomBytes, randomUUID, webcrypto } from 'node:crypto';
import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { AuthenticationError, formatSpiffeId, parseSpiffeId } from '@meshwork/pki';
import type { KeyStore } from './key-store.js';

export const JOIN_TOKEN_ISSUER = 'meshwork-citadel';
const KEY_FILE = 'join-token-key';

/** Issues and verifies join tokens for one trust domain. */
export interface JoinTokens {
  /** issue returns a token bound to ns/sa that expires after ttlMs. */
  issue(namespace: string, serviceAccount: string, ttlMs: number): Promise<{ token: string; spiffeId: string; expiresAt: Date }>;
  /** verify returns the SPIFFE ID the token is bound to, or throws AuthenticationError. */
  verify(token: string): Promise<string>;
  /** isJoinToken says whether a bearer token claims to be one of ours (without trusting it). */
  isJoinToken(token: string): boolean;
}

/** joinTokens returns the join-token service, creating its signing key in the store on first use. */
export async function joinTokens(store: KeyStore, trustDomain: string): Promise<JoinTokens> {
  let keyB64 = await store.read(KEY_FILE);
  if (keyB64 === undefined) {
    keyB64 = randomBytes(32).toString('base64');
    await store.write(KEY_FILE, keyB64);
  }
  // Imported once: handing jose raw bytes makes it import a WebCrypto key on every sign/verify,
  // which cost more than the HMAC itself on the issuance path (bench:citadel profile).
  const key = await webcrypto.subtle.importKey('raw', Buffer.from(keyB64.trim(), 'base64'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  const audience = `meshwork-join:${trustDomain}`;
  return {
    async issue(namespace, serviceAccount, ttlMs) {
      const spiffeId = formatSpiffeId({ trustDomain, namespace, serviceAccount });
      const now = Math.floor(Date.now() / 1000);
      const exp = now + Math.max(1, Math.floor(ttlMs / 1000));
      const token = await new SignJWT({ ns: namespace, sa: serviceAccount })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(JOIN_TOKEN_ISSUER)
        .setAudience(audience)
        .setSubject(spiffeId)
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(key);
      return { token, spiffeId, expiresAt: new Date(exp * 1000) };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, { issuer: JOIN_TOKEN_ISSUER, audience, algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
        const id = parseSpiffeId(String(payload.sub));
        if (id.trustDomain !== trustDomain || id.namespace !== payload.ns || id.serviceAccount !== payload.sa) throw new Error('token binding is inconsistent');
        return String(payload.sub);
      } catch (e) {
        const why = e instanceof joseErrors.JWTExpired ? 'join token expired' : e instanceof joseErrors.JWSSignatureVerificationFailed ? 'join token signature is invalid' : `join token rejected: ${(e as Error).message}`;
        throw new AuthenticationError(why, { cause: e });
      }
    },
    isJoinToken(token) {
      try {
        return decodeJwt(token).iss === JOIN_TOKEN_ISSUER;
      } catch {
        return false;
      }
    },
  };
}
