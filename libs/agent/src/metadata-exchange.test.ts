import { describe, expect, it } from 'vitest';
import { Headers, type HttpFilterContext, type ListenerPlanExt, type RequestHead } from '@meshwork/proxy';
import { decodePeerMetadata, encodePeerMetadata, MetadataExchange, PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER } from './metadata-exchange.js';

const META = { NAME: 'productpage-v1-7d9f', NAMESPACE: 'default', WORKLOAD_NAME: 'productpage-v1', SERVICE_ACCOUNT: 'bookinfo-productpage', LABELS: { app: 'productpage', version: 'v1' }, UNRELATED: 'kept home' };

/** A filter context as the transports make it: its state is the request's filter state. */
function ctx(headers: string[] = []): HttpFilterContext {
  const req = { method: 'GET', path: '/', authority: 'reviews:9080', headers: new Headers(headers) } as unknown as RequestHead;
  return { req, down: { remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2 }, state: (req.filterState = new Map()) };
}
const listener = (direction: 'INBOUND' | 'OUTBOUND'): ListenerPlanExt => ({ trafficDirection: direction }) as unknown as ListenerPlanExt;

describe('metadata exchange', () => {
  it('round-trips node metadata through the header as a protobuf Struct, sending only peer metadata keys', () => {
    const v = encodePeerMetadata(META);
    expect(Buffer.from(v, 'base64').toString('latin1')).not.toContain('kept home');
    expect(decodePeerMetadata(v)).toEqual({ workload: 'productpage-v1', namespace: 'default', app: 'productpage', version: 'v1', canonicalService: 'productpage', canonicalRevision: 'v1' });
    expect(decodePeerMetadata('not base64 protobuf!!')).toBeUndefined();
  });

  it('outbound adds the id and metadata headers; inbound takes them off the request and remembers the peer', () => {
    const src = new MetadataExchange('sidecar~127.0.0.1~productpage-v1-7d9f.default~default.svc.cluster.local', META);
    const out = ctx(['x-envoy-peer-metadata', 'forged-by-the-app']);
    src.stage(listener('OUTBOUND')).run(out);
    expect(out.req.headers.getAll(PEER_METADATA_HEADER)).toEqual([encodePeerMetadata(META)]);
    expect(out.req.headers.get(PEER_METADATA_ID_HEADER)).toBe('sidecar~127.0.0.1~productpage-v1-7d9f.default~default.svc.cluster.local');

    const dst = new MetadataExchange('sidecar~127.0.0.1~reviews-v1-1.default~default.svc.cluster.local', { NAMESPACE: 'default' });
    const inbound = ctx([...out.req.headers.list, 'user-agent', 'curl']);
    dst.stage(listener('INBOUND')).run(inbound);
    expect(inbound.req.headers.list).toEqual(['user-agent', 'curl']);
    expect(dst.peerOf(inbound.req)).toMatchObject({ workload: 'productpage-v1', app: 'productpage', version: 'v1' });
    // The same header value decodes to the same object (the metrics cache keys on identity).
    const again = ctx([PEER_METADATA_HEADER, encodePeerMetadata(META)]);
    dst.stage(listener('INBOUND')).run(again);
    expect(dst.peerOf(again.req)).toBe(dst.peerOf(inbound.req));
    // A request without the headers has no peer.
    const plain = ctx();
    dst.stage(listener('INBOUND')).run(plain);
    expect(dst.peerOf(plain.req)).toBeUndefined();
  });

  it.each([
    ['no exchange headers', ['user-agent', 'curl']],
    ['the metadata sent by the application', ['x-envoy-peer-metadata', 'forged', 'user-agent', 'curl']],
    ['both, repeated, in the other order', ['x-envoy-peer-metadata', 'a', 'x-envoy-peer-metadata-id', 'b', 'accept', '*/*', 'x-envoy-peer-metadata-id', 'c']],
  ])('outbound leaves the list as set(id) then set(metadata) would: %s', (_name, headers) => {
    const mx = new MetadataExchange('sidecar~1', META);
    const got = ctx(headers);
    mx.stage(listener('OUTBOUND')).run(got);
    const want = new Headers([...headers]);
    want.set(PEER_METADATA_ID_HEADER, 'sidecar~1');
    want.set(PEER_METADATA_HEADER, encodePeerMetadata(META));
    expect(got.req.headers.list).toEqual(want.list);
  });

  it('inbound takes every exchange header off in one pass, reading the first metadata value; values alternate without mixing peers', () => {
    const dst = new MetadataExchange('sidecar~2', { NAMESPACE: 'default' });
    const stage = dst.stage(listener('INBOUND'));
    const other = encodePeerMetadata({ ...META, WORKLOAD_NAME: 'reviews-v1', LABELS: { app: 'reviews', version: 'v1' } });
    const mine = encodePeerMetadata(META);
    const cases: [string[], string | undefined][] = [
      [['a', '1', PEER_METADATA_ID_HEADER, 'x', PEER_METADATA_HEADER, mine, 'b', '2', PEER_METADATA_HEADER, other], 'productpage-v1'],
      [[PEER_METADATA_HEADER, other, 'a', '1', PEER_METADATA_ID_HEADER, 'x', 'b', '2'], 'reviews-v1'],
      [[PEER_METADATA_HEADER, mine, 'a', '1', 'b', '2'], 'productpage-v1'],
      [[PEER_METADATA_HEADER, 'not a struct', 'a', '1', 'b', '2'], undefined],
      [['a', '1', 'b', '2'], undefined],
    ];
    for (const [headers, workload] of [...cases, ...cases]) {
      const c = ctx([...headers]);
      stage.run(c);
      const rest = headers.filter((_, i) => i % 2 === 0 && headers[i] !== PEER_METADATA_HEADER && headers[i] !== PEER_METADATA_ID_HEADER).flatMap((n) => [n, headers[headers.indexOf(n) + 1]]);
      expect(c.req.headers.list).toEqual(rest);
      expect(dst.peerOf(c.req)?.workload).toBe(workload);
    }
  });
});

