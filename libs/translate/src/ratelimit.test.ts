import { describe, expect, test } from 'vitest';
import { RE2JS } from 're2js';
import { pathRegex, rateLimitServiceCluster, ruleId } from './ratelimit.js';

// The `:path` regex a rule's `paths` become must mean what AuthorizationPolicy paths mean
// (exact, `prefix*`, `*suffix`, `*`), whatever query string the request carries.
describe('pathRegex', () => {
  const matches = (paths: string[], path: string): boolean => RE2JS.compile(pathRegex(paths)).matches(path);
  test.each([
    [['/login'], '/login', true],
    [['/login'], '/login?next=/x', true],
    [['/login'], '/login/x', false],
    [['/login'], '/loginx', false],
    [['/api/*'], '/api/', true],
    [['/api/*'], '/api/v1/items?x=1', true],
    [['/api/*'], '/apix', false],
    [['*.json'], '/a/b.json', true],
    [['*.json'], '/a.json?x=1', true],
    [['*.json'], '/a.jsonx', false],
    [['*.json'], '/a?x.json', false],
    [['*'], '/anything?at=all', true],
    [['/a+b(c)'], '/a+b(c)', true],
    [['/a+b(c)'], '/aab(c)', false],
    [['/x', '/y/*'], '/y/z', true],
    [['/x', '/y/*'], '/z', false],
  ])('%j ~ %s → %s', (paths, path, want) => {
    expect(matches(paths, path)).toBe(want);
  });
});

describe('names', () => {
  test('rule ids and the rate-limit service cluster', () => {
    expect(ruleId('shop', 'api', 'per-user')).toBe('shop/api/per-user');
    expect(rateLimitServiceCluster('istio-system', 'cluster.local')).toBe('outbound|8081||mixer.istio-system.svc.cluster.local');
  });
});
