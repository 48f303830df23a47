import { X509Certificate } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { createRootCa, generateKeyPair, issueCertificate } from '@meshwork/pki';
import { parseNode } from '@meshwork/translate';
import { AdsRefusedError, type AuthContext } from '@meshwork/xds';
import { authorizeProxy, peerSpiffeIds } from './identity.js';

const ca = createRootCa({ trustDomain: 'cluster.local' });
/** tls returns the AuthContext grpc-js reports for a TLS stream whose client presented a certificate with these SANs. */
function tls(sans: { uris?: string[]; dnsNames?: string[] }): AuthContext {
  const cert = issueCertificate(ca, { publicKey: generateKeyPair('ECDSA_P256').publicKey, uris: sans.uris, dnsNames: sans.dnsNames, ttlMs: 3_600_000 });
  return { transportSecurityType: 'ssl', sslPeerCertificate: { raw: new X509Certificate(cert.certPem).raw } as never };
}
const node = (ns: string, sa?: string): ReturnType<typeof parseNode> => parseNode({ id: `sidecar~10.0.0.1~reviews-v1-abc.${ns}~${ns}.svc.cluster.local`, metadata: sa ? { SERVICE_ACCOUNT: sa } : {} });
function refusal(f: () => unknown): { code: number; message: string } {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AdsRefusedError);
    return { code: (e as AdsRefusedError).grpcCode, message: (e as Error).message };
  }
  throw new Error('expected a refusal');
}

describe('xDS peer identity (mTLS port)', () => {
  it('accepts a certificate whose SPIFFE namespace and service account match the node', () => {
    const id = authorizeProxy(node('default', 'bookinfo-reviews'), tls({ uris: ['spiffe://cluster.local/ns/default/sa/bookinfo-reviews'] }), 'cluster.local');
    expect(id).toEqual({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'bookinfo-reviews' });
    // No SERVICE_ACCOUNT in the node metadata: the namespace decides (Istio's checkConnectionIdentity).
    expect(authorizeProxy(node('default'), tls({ uris: ['spiffe://cluster.local/ns/default/sa/any'] }), 'cluster.local').serviceAccount).toBe('any');
  });

  it('refuses another namespace, another service account or another trust domain with PERMISSION_DENIED', () => {
    for (const [n, uri] of [
      [node('default'), 'spiffe://cluster.local/ns/prod/sa/reviews'],
      [node('default', 'reviews'), 'spiffe://cluster.local/ns/default/sa/ratings'],
      [node('default'), 'spiffe://other.domain/ns/default/sa/reviews'],
    ] as const) {
      const r = refusal(() => authorizeProxy(n, tls({ uris: [uri] }), 'cluster.local'));
      expect(r.code).toBe(status.PERMISSION_DENIED);
      expect(r.message).toContain(uri);
      expect(r.message).toContain('namespace default');
    }
  });

  it('refuses a certificate with no SPIFFE ID (e.g. DNS names only) or no certificate with UNAUTHENTICATED', () => {
    expect(refusal(() => authorizeProxy(node('default'), tls({ dnsNames: ['pilot.istio-system.svc'] }), 'cluster.local')).code).toBe(status.UNAUTHENTICATED);
    expect(refusal(() => authorizeProxy(node('default'), { transportSecurityType: 'ssl' }, 'cluster.local')).code).toBe(status.UNAUTHENTICATED);
    expect(peerSpiffeIds({})).toEqual([]);
  });
});
