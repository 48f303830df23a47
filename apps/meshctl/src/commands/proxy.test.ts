import { describe, expect, it } from 'vitest';
import { syncState } from './proxy.js';

describe('syncState', () => {
  it.each([
    [undefined, 'NOT SENT'],
    [{}, 'NOT SENT'],
    [{ sent: 'v2', acked: 'v2' }, 'SYNCED'],
    [{ sent: 'v2', acked: 'v1' }, 'STALE'],
    [{ sent: 'v2', acked: 'v1', nacked: 'v2', error: 'bad' }, 'NACKED'],
    [{ sent: 'v3', acked: 'v1', nacked: 'v2' }, 'STALE'],
  ])('%j → %s', (t, want) => expect(syncState(t)).toBe(want));
});

describe('proxy-config secret', () => {
  it('reads the SecretsConfigDump from a proxy admin port and prints serial, validity and identity', async () => {
    const { createServer } = await import('node:http');
    const { createRootCa, generateKeyPair, issueSvid } = await import('@meshwork/pki');
    const { runProxyConfig } = await import('./proxy.js');
    const ca = createRootCa({ trustDomain: 'cluster.local' });
    const svid = issueSvid(ca, { publicKey: generateKeyPair().publicKey, spiffeId: 'spiffe://cluster.local/ns/default/sa/reviews', ttlMs: 3_600_000 });
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    // Envoy's /config_dump?resource=dynamic_active_secrets shape.
    const configs = [
      { name: 'default', secret: { name: 'default', tlsCertificate: { certificateChain: { inlineBytes: b64(svid.certPem) }, privateKey: { inlineBytes: b64('[redacted]') } } } },
      { name: 'ROOTCA', secret: { name: 'ROOTCA', validationContext: { trustedCa: { inlineBytes: b64(ca.rootPem) } } } },
    ];
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ configs }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s), env: {} };
    try {
      expect(await runProxyConfig({ type: 'secret', proxy: `127.0.0.1:${port}`, output: 'text' }, io as never)).toBe(0);
      expect(seen).toEqual(['/config_dump?resource=dynamic_active_secrets']);
      const text = out.join('');
      expect(text.split('\n')[0]).toMatch(/^RESOURCE NAME\s+TYPE\s+STATUS\s+VALID CERT\s+SERIAL NUMBER\s+NOT AFTER\s+NOT BEFORE\s+IDENTITY$/);
      expect(text).toMatch(new RegExp(`default\\s+Cert Chain\\s+ACTIVE\\s+true\\s+${svid.serialHex.toLowerCase()}\\s+${svid.notAfter.toISOString()}.*spiffe://cluster.local/ns/default/sa/reviews`));
      expect(text).toMatch(/ROOTCA\s+CA\s+ACTIVE\s+true/);
      out.length = 0;
      expect(await runProxyConfig({ type: 'secret', proxy: `http://127.0.0.1:${port}/`, output: 'json' }, io as never)).toBe(0);
      expect(JSON.parse(out.join(''))).toMatchObject([{ name: 'default', type: 'Cert Chain', validCert: true, serialNumber: svid.serialHex.toLowerCase(), identity: 'spiffe://cluster.local/ns/default/sa/reviews' }, { name: 'ROOTCA', type: 'CA' }]);
    } finally {
      server.close();
    }
    // A proxy that is not there: a clear error, exit 1.
    expect(await runProxyConfig({ type: 'secret', proxy: `127.0.0.1:${port}`, output: 'text' }, io as never)).toBe(1);
    expect(err.join('')).toContain('cannot read secrets from the proxy admin');
  });
});
