/**
 * Caller authentication for certificate requests: a bearer token (Meshwork join token, or Kubernetes
 * service-account token via TokenReview) or, for renewal, the caller's current certificate presented
 * over mutual TLS and verified against the trust bundle. Each returns the caller's SPIFFE ID.
 */
import { X509Certificate } from 'node:crypto';
import { AuthenticationError, ChainVerificationError, parseSpiffeId, verifyChain } from '@meshwork/pki';
import type { CaState } from './ca-state.js';
import type { JoinTokens } from './join-token.js';

/** What a request carried. */
export interface Credentials {
  /** Value after `Bearer ` in the authorization metadata. */
  readonly bearer?: string;
  /** DER of the TLS client certificate, when one was presented. */
  readonly peerCertDer?: Buffer;
}

export type AuthMethod = 'join-token' | 'kubernetes' | 'mtls';

/** The authenticated caller. */
export interface Caller {
  readonly spiffeId: string;
  readonly method: AuthMethod;
}

export interface AuthenticatorDeps {
  readonly trustDomain: string;
  readonly state: CaState;
  readonly joinTokens: JoinTokens;
  /** TokenReview client; absent when no Kubernetes API is configured. */
  readonly kubernetes?: (token: string) => Promise<string>;
}

/** authenticator returns the function that authenticates a request's credentials or throws AuthenticationError. */
export function authenticator(deps: AuthenticatorDeps): (creds: Credentials) => Promise<Caller> {
  return async (creds) => {
    if (creds.bearer !== undefined) {
      if (deps.joinTokens.isJoinToken(creds.bearer)) return { spiffeId: await deps.joinTokens.verify(creds.bearer), method: 'join-token' };
      if (deps.kubernetes) return { spiffeId: await deps.kubernetes(creds.bearer), method: 'kubernetes' };
      throw new AuthenticationError('bearer token is not a Meshwork join token and no Kubernetes API is configured to review it');
    }
    if (creds.peerCertDer) {
      let spiffeId: string | undefined;
      try {
        const leaf = new X509Certificate(creds.peerCertDer);
        // Intermediates of a plugged-in CA are not sent by grpc-js clients; we know them.
        spiffeId = verifyChain([leaf.toString(), ...deps.state.signer.chainPems.slice(0, -1)], deps.state.roots()).spiffeId;
      } catch (e) {
        throw new AuthenticationError(`client certificate rejected: ${e instanceof ChainVerificationError ? e.message : (e as Error).message}`, { cause: e });
      }
      if (!spiffeId) throw new AuthenticationError('client certificate has no single URI SAN (not a workload certificate)');
      try {
        if (parseSpiffeId(spiffeId).trustDomain !== deps.trustDomain) throw new Error(`trust domain is not ${deps.trustDomain}`);
      } catch (e) {
        throw new AuthenticationError(`client certificate identity ${spiffeId} rejected: ${(e as Error).message}`, { cause: e });
      }
      return { spiffeId, method: 'mtls' };
    }
    throw new AuthenticationError('no credentials: send `authorization: Bearer <token>` metadata or a workload certificate over mTLS');
  };
}
