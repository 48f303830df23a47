/**
 * Who is on the other end of an ADS stream. On the plaintext port (15010) a proxy is who its node
 * id and metadata say; on the mTLS port (15012) its certificate, verified against the mesh trust
 * bundle by the TLS handshake, must agree with that: Istio's checkConnectionIdentity — the
 * SPIFFE identity's namespace must be the proxy's namespace and, when the node names one, its
 * service account must match. A mismatch refuses the stream with PERMISSION_DENIED.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { ProxyNode } from '@meshwork/api';
import { certificateInfo, parseSpiffeId, type WorkloadIdentity } from '@meshwork/pki';
import { AdsRefusedError, type AuthContext } from '@meshwork/xds';

/** peerSpiffeIds returns the SPIFFE URI SANs of the stream's verified client certificate ([] without TLS or certificate). */
export function peerSpiffeIds(auth: AuthContext): string[] {
  const raw = auth.sslPeerCertificate?.raw;
  if (!raw || raw.length === 0) return [];
  return certificateInfo(raw).uris.filter((u) => u.startsWith('spiffe://'));
}

/**
 * authorizeProxy returns the identity that vouches for `proxy` on a TLS stream, or throws
 * AdsRefusedError: UNAUTHENTICATED without a workload certificate, PERMISSION_DENIED when no
 * identity of the trust domain matches the proxy's namespace and service account.
 */
export function authorizeProxy(proxy: ProxyNode, auth: AuthContext, trustDomain: string): WorkloadIdentity {
  const ids = peerSpiffeIds(auth);
  if (ids.length === 0) throw new AdsRefusedError(grpcStatus.UNAUTHENTICATED, `proxy ${proxy.id}: no SPIFFE workload certificate presented on the mTLS xDS port`);
  for (const raw of ids) {
    let id: WorkloadIdentity;
    try {
      id = parseSpiffeId(raw);
    } catch {
      continue;
    }
    if (id.trustDomain !== trustDomain) continue;
    if (id.namespace !== proxy.namespace) continue;
    if (proxy.serviceAccount !== undefined && id.serviceAccount !== proxy.serviceAccount) continue;
    return id;
  }
  const want = `namespace ${proxy.namespace}${proxy.serviceAccount !== undefined ? `, service account ${proxy.serviceAccount}` : ''}, trust domain ${trustDomain}`;
  throw new AdsRefusedError(grpcStatus.PERMISSION_DENIED, `proxy ${proxy.id}: certificate identity ${ids.join(', ')} does not match the node (${want})`);
}
