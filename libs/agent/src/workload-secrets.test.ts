import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRootCa, issueSvid, parseCsr, WorkloadCertManager, type CertificateAuthority, type CertificateTransport } from '@meshwork/pki';
import { tlsMaterial } from '@meshwork/proxy';
import { workloadSecrets } from './workload-secrets.js';

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';

/** citadel's signing step in process (the gRPC path is e2e-tested elsewhere). */
function caTransport(ca: CertificateAuthority): CertificateTransport {
  return { createCertificate: async (req) => [...issueSvid(ca, { publicKey: parseCsr(req.csrPem).publicKey, spiffeId: parseCsr(req.csrPem).uris[0] as string, ttlMs: 3_600_000 }).chainPems] };
}

describe('workloadSecrets', () => {
  it('serves the manager certificate as `default` and its bundle as `ROOTCA`, following rotations and root changes', async () => {
    const ca = createRootCa({ trustDomain: 'cluster.local' });
    const m = new WorkloadCertManager({ spiffeId: ID, transport: caTransport(ca), roots: [ca.rootPem] });
    await m.start();
    const secrets = workloadSecrets(m, ID);
    const changes: string[] = [];
    secrets.onChange((n) => changes.push(n));

    const first = secrets.get('default');
    if (first?.kind !== 'certificate') throw new Error('no default secret');
    expect(first.identity).toBe(ID);
    expect(first.serialHex).toBe(m.current()?.serialHex);
    // The chain sent to peers leaves the self-signed root out.
    const leaf = new X509Certificate(first.certChainPem);
    expect(leaf.subjectAltName).toBe(`URI:${ID}`);
    expect(first.certChainPem).not.toContain(ca.rootPem.trim().split('\n')[1]);
    const mat = tlsMaterial(secrets, { certificate: 'default', validation: 'ROOTCA' });
    expect(mat).toMatchObject({ ok: true, ca: ca.rootPem });

    await m.renewNow();
    const second = secrets.get('default');
    expect(second?.kind === 'certificate' && second.serialHex).toBe(m.current()?.serialHex);
    expect(second).not.toEqual(first);

    const other = createRootCa({ trustDomain: 'cluster.local' });
    m.setTrustBundle([ca.rootPem, other.rootPem]);
    const roots = secrets.get('ROOTCA');
    expect(roots?.kind === 'validation' && roots.trustedCaPem).toBe(ca.rootPem + other.rootPem);
    expect(changes).toEqual(['default', 'ROOTCA']);
    m.stop();
  });
});
