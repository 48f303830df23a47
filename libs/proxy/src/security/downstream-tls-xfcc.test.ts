/** x-forwarded-client-cert per forward_client_cert_details mode, for an mTLS client and a plaintext one (Envoy's table). */
import { describe, expect, it } from 'vitest';
import { Headers, type DownstreamInfo, type RequestHead } from '../model.js';
import { recordClientCert, xfccElement, xfccStage, type ClientCertFacts, type ForwardClientCertDetails } from './downstream-tls-xfcc.js';

const facts: ClientCertFacts = { hash: 'ab12', subject: 'CN=client,O=mesh', uris: ['spiffe://td/ns/a/sa/b'], dns: ['b.a.svc'], certPem: '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n', localUri: 'spiffe://td/ns/s/sa/server' };
const base = { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2 };

function mtlsDown(): DownstreamInfo {
  const tls = { peerIdentities: ['spiffe://td/ns/a/sa/b'] };
  recordClientCert(tls, facts);
  return { ...base, tls };
}

function run(mode: ForwardClientCertDetails, down: DownstreamInfo, incoming?: string): string | undefined {
  const req: RequestHead = { method: 'GET', path: '/', authority: 'x', scheme: 'http', headers: new Headers(incoming === undefined ? [] : ['x-forwarded-client-cert', incoming]) };
  void xfccStage(mode, { subject: true, uri: true, dns: true })?.run({ req, down, state: new Map() });
  return req.headers.get('x-forwarded-client-cert');
}

const el = 'By=spiffe://td/ns/s/sa/server;Hash=ab12;Subject="CN=client,O=mesh";URI=spiffe://td/ns/a/sa/b;DNS=b.a.svc';

describe('x-forwarded-client-cert', () => {
  const cases: [ForwardClientCertDetails, 'mtls' | 'plain', string | undefined, string | undefined][] = [
    ['SANITIZE', 'mtls', 'By=x', undefined],
    ['SANITIZE', 'plain', 'By=x', undefined],
    ['FORWARD_ONLY', 'mtls', 'By=x', 'By=x'],
    ['FORWARD_ONLY', 'plain', 'By=x', undefined],
    ['APPEND_FORWARD', 'mtls', 'By=x', `By=x,${el}`],
    ['APPEND_FORWARD', 'mtls', undefined, el],
    ['APPEND_FORWARD', 'plain', 'By=x', undefined],
    ['SANITIZE_SET', 'mtls', 'By=x', el],
    ['SANITIZE_SET', 'plain', 'By=x', undefined],
    ['ALWAYS_FORWARD_ONLY', 'plain', 'By=x', 'By=x'],
  ];
  for (const [mode, conn, incoming, want] of cases) {
    it(`${mode}, ${conn}, incoming ${incoming ?? 'none'} → ${want ?? 'removed'}`, () => {
      expect(run(mode, conn === 'mtls' ? mtlsDown() : { ...base }, incoming)).toBe(want);
    });
  }

  it('a TLS connection without a client certificate is not mTLS', () => {
    expect(run('APPEND_FORWARD', { ...base, tls: { peerIdentities: [], sni: 'x' } }, 'By=x')).toBeUndefined();
  });

  it('Cert and Chain are URL-encoded PEM, quoted', () => {
    expect(xfccElement(facts, { cert: true })).toBe(`By=spiffe://td/ns/s/sa/server;Hash=ab12;Cert="${encodeURIComponent(facts.certPem ?? '')}"`);
  });
});
