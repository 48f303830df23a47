import { describe, expect, it } from 'vitest';
import { createClusterLimits } from './limits.js';

const cb = { maxConnections: 2, maxPendingRequests: 1, maxRequests: 3, maxRetries: 0 };

describe('createClusterLimits', () => {
  it.each([
    { resource: 'connections', acquire: 'tryAcquireConnection', release: 'releaseConnection', max: 2 },
    { resource: 'pending', acquire: 'tryAcquirePending', release: 'releasePending', max: 1 },
    { resource: 'requests', acquire: 'tryAcquireRequest', release: 'releaseRequest', max: 3 },
    { resource: 'retries', acquire: 'tryAcquireRetry', release: 'releaseRetry', max: 0 },
  ] as const)('$resource: $max admitted, then overflow until one is released', ({ resource, acquire, release, max }) => {
    const l = createClusterLimits(cb);
    for (let i = 0; i < max; i++) expect(l[acquire]()).toBe(true);
    expect(l.active[resource]).toBe(max);
    expect(l[acquire]()).toBe(false);
    expect(l[acquire]()).toBe(false);
    expect(l.overflows[resource]).toBe(2);
    if (max > 0) {
      l[release]();
      expect(l[acquire]()).toBe(true);
      expect(l[acquire]()).toBe(false);
    }
  });

  it('resources are counted apart', () => {
    const l = createClusterLimits(cb);
    expect(l.tryAcquireRequest() && l.tryAcquireRequest() && l.tryAcquireRequest()).toBe(true);
    expect(l.tryAcquireConnection()).toBe(true);
    expect(l.active).toEqual({ requests: 3, pending: 0, connections: 1, retries: 0 });
  });

  it('a release without an acquire does not make room beyond the threshold', () => {
    const l = createClusterLimits(cb);
    l.releaseConnection();
    l.releaseConnection();
    expect(l.active.connections).toBe(0);
    expect([l.tryAcquireConnection(), l.tryAcquireConnection(), l.tryAcquireConnection()]).toEqual([true, true, false]);
  });
});
