import { describe, expect, test } from 'vitest';
import { requestPort, resolveSloHost, sloRequestMatcher, type SloRequest } from './match.js';

const req = (over: Partial<SloRequest> = {}): SloRequest => ({
  reporter: 'destination',
  destinationService: { host: 'productpage.bookinfo.svc.cluster.local' },
  method: 'GET',
  path: '/api/v1/products?x=1',
  authority: 'productpage:9080',
  upstreamCluster: 'inbound|9080||',
  ...over,
});

describe('which requests an objective covers', () => {
  test('short hosts resolve in the SLO namespace; FQDNs stay', () => {
    expect(resolveSloHost('reviews', 'bookinfo')).toBe('reviews.bookinfo.svc.cluster.local');
    expect(resolveSloHost('api.example.com', 'bookinfo')).toBe('api.example.com');
    expect(resolveSloHost('reviews', 'bookinfo', 'mesh.local')).toBe('reviews.bookinfo.svc.mesh.local');
  });

  test('port from the cluster name, else the authority', () => {
    expect(requestPort(req())).toBe(9080);
    expect(requestPort(req({ upstreamCluster: 'outbound|8080||x.y.svc.cluster.local' }))).toBe(8080);
    expect(requestPort(req({ upstreamCluster: undefined, authority: 'a:81' }))).toBe(81);
    expect(requestPort(req({ upstreamCluster: undefined, authority: 'a' }))).toBeUndefined();
  });

  const docsExample = sloRequestMatcher(
    { host: 'productpage', match: [{ uri: { prefix: '/api/' }, method: { exact: 'GET' }, port: 9080 }], reporter: 'SOURCE', sli: { latency: { threshold: '300ms' } }, objective: 99 },
    'bookinfo',
  );
  test.each([
    ['the docs example request', req({ reporter: 'source' }), true],
    ['the destination view', req(), false],
    ['another method', req({ reporter: 'source', method: 'POST' }), false],
    ['another path', req({ reporter: 'source', path: '/static/x' }), false],
    ['another port', req({ reporter: 'source', upstreamCluster: 'outbound|9081||productpage.bookinfo.svc.cluster.local' }), false],
    ['another service', req({ reporter: 'source', destinationService: { host: 'reviews.bookinfo.svc.cluster.local' } }), false],
  ])('%s → %s', (_n, r, want) => {
    expect(docsExample(r)).toBe(want);
  });

  test('regex is a full RE2 match on the path without query; entries are ORed', () => {
    const m = sloRequestMatcher({ host: 'productpage', match: [{ uri: { regex: '/api/v[0-9]+/products' } }, { method: { exact: 'DELETE' } }], sli: { availability: {} }, objective: 99 }, 'bookinfo');
    expect(m(req())).toBe(true);
    expect(m(req({ path: '/api/v1/products/1' }))).toBe(false);
    expect(m(req({ path: '/x', method: 'DELETE' }))).toBe(true);
  });
});
