import { describe, expect, it } from 'vitest';
import { SpiffeIdError } from './errors.js';
import { formatSpiffeId, parseSpiffeId, trustDomainId } from './spiffe.js';

describe('SPIFFE IDs', () => {
  it('round-trips an Istio workload identity', () => {
    const id = { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'bookinfo-productpage' };
    expect(formatSpiffeId(id)).toBe('spiffe://cluster.local/ns/default/sa/bookinfo-productpage');
    expect(parseSpiffeId(formatSpiffeId(id))).toEqual(id);
    expect(trustDomainId('example.org')).toBe('spiffe://example.org');
  });

  it.each([
    ['http://cluster.local/ns/a/sa/b', 'must start with spiffe://'],
    ['spiffe://Cluster.local/ns/a/sa/b', 'trust domain'],
    ['spiffe:///ns/a/sa/b', 'trust domain'],
    ['spiffe://cluster.local/ns/a/sa/b/extra', 'not a workload identity'],
    ['spiffe://cluster.local/ns/a', 'not a workload identity'],
    ['spiffe://cluster.local/sa/b/ns/a', 'not a workload identity'],
    ['spiffe://cluster.local/ns/../sa/b', 'namespace'],
    ['spiffe://cluster.local/ns/a/sa/b?x=1', 'query or fragment'],
    ['spiffe://cluster.local/ns//sa/b', 'namespace'],
    ['spiffe://td/ns/a b/sa/c', 'namespace'],
  ])('refuses %s', (uri, reason) => {
    expect(() => parseSpiffeId(uri)).toThrow(SpiffeIdError);
    expect(() => parseSpiffeId(uri)).toThrow(reason);
  });
});
