import { describe, expect, test } from 'vitest';
import { deltaOnPush, deltaOnRequest, newDeltaStream, type DeltaCurrent, type DeltaRequest, type DeltaStreamState } from './delta.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from './resources.js';

const C = CLUSTER_TYPE;
const E = ENDPOINT_TYPE;
const cur = (version: string, resources: Record<string, string>): DeltaCurrent => ({ version, resources });

type Step = { req: DeltaRequest; current?: DeltaCurrent } | { push: DeltaCurrent; typeUrl: string };
function run(steps: Step[]): { out: string[]; state: DeltaStreamState } {
  let state = newDeltaStream();
  const out: string[] = [];
  for (const s of steps) {
    const r = 'req' in s ? deltaOnRequest(state, s.req, s.current) : deltaOnPush(state, s.typeUrl, s.push);
    state = r.state;
    const ev = 'events' in r ? `${(r.events as { kind: string }[]).map((e) => e.kind).join('+')}:` : 'push:';
    const resp = r.respond;
    out.push(ev + (resp ? `${resp.nonce} +[${resp.resources.map((x) => `${x.name}=${x.version}`).join(',')}] -[${resp.removed.join(',')}]` : '-'));
  }
  return { out, state };
}

describe('Delta reducer', () => {
  test.each<[string, Step[], string[]]>([
    ['wildcard CDS gets everything', [{ req: { typeUrl: C }, current: cur('v1', { a: '1', b: '1' }) }], ['subscribe:1 +[a=1,b=1] -[]']],
    [
      'initial_resource_versions: only what differs is sent, what is gone is removed',
      [{ req: { typeUrl: C, initialResourceVersions: { a: '1', b: '1', gone: '1' } }, current: cur('v2', { a: '1', b: '2' }) }],
      ['subscribe:1 +[b=2] -[gone]'],
    ],
    [
      'push sends only changed resources and removals',
      [
        { req: { typeUrl: C }, current: cur('v1', { a: '1', b: '1' }) },
        { req: { typeUrl: C, responseNonce: '1' }, current: cur('v1', { a: '1', b: '1' }) },
        { push: cur('v2', { a: '1', c: '1' }), typeUrl: C },
        { push: cur('v2', { a: '1', c: '1' }), typeUrl: C },
      ],
      ['subscribe:1 +[a=1,b=1] -[]', 'ack:-', 'push:2 +[c=1] -[b]', 'push:-'],
    ],
    [
      'subscribe and unsubscribe by name',
      [
        { req: { typeUrl: E, resourceNamesSubscribe: ['a'] }, current: cur('v1', { a: '1', b: '1' }) },
        { req: { typeUrl: E, resourceNamesSubscribe: ['b'], responseNonce: '1' }, current: cur('v1', { a: '1', b: '1' }) },
        { req: { typeUrl: E, resourceNamesUnsubscribe: ['a'], responseNonce: '2' }, current: cur('v1', { a: '1', b: '1' }) },
        { push: cur('v2', { a: '2', b: '1' }), typeUrl: E },
        { req: { typeUrl: E, resourceNamesSubscribe: ['a'] }, current: cur('v2', { a: '2', b: '1' }) },
      ],
      ['subscribe:1 +[a=1] -[]', 'ack+subscribe:2 +[b=1] -[]', 'ack:-', 'push:-', 'subscribe:3 +[a=2] -[]'],
    ],
    [
      'NACK is recorded and the rejected resources are not resent; a newer version is',
      [
        { req: { typeUrl: C }, current: cur('v1', { a: '1' }) },
        { req: { typeUrl: C, responseNonce: '1', errorDetail: { message: 'bad a' } }, current: cur('v1', { a: '1' }) },
        { push: cur('v1', { a: '1' }), typeUrl: C },
        { push: cur('v2', { a: '2' }), typeUrl: C },
      ],
      ['subscribe:1 +[a=1] -[]', 'nack:-', 'push:-', 'push:2 +[a=2] -[]'],
    ],
    [
      'stale nonce is ignored',
      [
        { req: { typeUrl: C }, current: cur('v1', { a: '1' }) },
        { push: cur('v2', { a: '2' }), typeUrl: C },
        { req: { typeUrl: C, responseNonce: '1', errorDetail: { message: 'late' } }, current: cur('v2', { a: '2' }) },
      ],
      ['subscribe:1 +[a=1] -[]', 'push:2 +[a=2] -[]', 'stale:-'],
    ],
    [
      'subscribing again to a name already held resends it',
      [
        { req: { typeUrl: E, resourceNamesSubscribe: ['a'] }, current: cur('v1', { a: '1' }) },
        { req: { typeUrl: E, resourceNamesSubscribe: ['a'], responseNonce: '1' }, current: cur('v1', { a: '1' }) },
      ],
      ['subscribe:1 +[a=1] -[]', 'ack+subscribe:2 +[a=1] -[]'],
    ],
    ['a subscribed name that does not exist is not sent', [{ req: { typeUrl: E, resourceNamesSubscribe: ['x'] }, current: cur('v1', { a: '1' }) }], ['subscribe:1 +[] -[]']],
  ])('%s', (_name, steps, want) => {
    expect(run(steps).out).toEqual(want);
  });

  test('ACK/NACK bookkeeping per type', () => {
    const { state } = run([
      { req: { typeUrl: C }, current: cur('v1', { a: '1' }) },
      { req: { typeUrl: C, responseNonce: '1', errorDetail: { message: 'boom' } } },
      { push: cur('v2', { a: '2' }), typeUrl: C },
      { req: { typeUrl: C, responseNonce: '2' } },
    ]);
    expect(state.types[C]).toMatchObject({ sentVersion: 'v2', ackedVersion: 'v2', nackedVersion: 'v1', lastError: 'boom', pushes: 2, acks: 1, nacks: 1, known: { a: '2' } });
  });
  test('wildcard streams holding the same resources share one computed change list', () => {
    const v1 = cur('v1', { a: '1', b: '1', c: '1' });
    const v2 = cur('v2', { a: '1', b: '2', d: '1' });
    const stream = (initial?: Record<string, string>) => {
      let st = deltaOnRequest(newDeltaStream(), { typeUrl: C, ...(initial ? { initialResourceVersions: initial } : {}) }, v1).state;
      st = deltaOnRequest(st, { typeUrl: C, responseNonce: '1' }, v1).state;
      return deltaOnPush(st, C, v2);
    };
    const [x, y] = [stream(), stream()];
    expect(x.respond?.resources).toEqual([{ name: 'b', version: '2' }, { name: 'd', version: '1' }]);
    expect(x.respond?.removed).toEqual(['c']);
    expect(y.respond?.resources).toBe(x.respond?.resources);
    // A stream that started from its own initial versions takes the per-stream path first, and gets the same answer.
    const z = stream({ a: '1', b: '1', c: '1' });
    expect(z.respond?.resources).toEqual(x.respond?.resources);
    expect(z.respond?.removed).toEqual(x.respond?.removed);
    // Afterwards every stream holds exactly v2: the next push is shared again.
    const v3 = cur('v3', { a: '3', b: '2', d: '1' });
    const nx = deltaOnPush(x.state, C, v3);
    const nz = deltaOnPush(z.state, C, v3);
    expect(nx.respond?.resources).toEqual([{ name: 'a', version: '3' }]);
    expect(nz.respond?.resources).toBe(nx.respond?.resources);
  });

  test('an unsubscribe leaves the shared path: the stream is diffed on its own', () => {
    const v1 = cur('v1', { a: '1', b: '1' });
    let st = deltaOnRequest(newDeltaStream(), { typeUrl: C }, v1).state;
    st = deltaOnRequest(st, { typeUrl: C, responseNonce: '1', resourceNamesSubscribe: [], resourceNamesUnsubscribe: ['*'] }, v1).state;
    st = deltaOnRequest(st, { typeUrl: C, resourceNamesSubscribe: ['a'] }, v1).state;
    const r = deltaOnPush(st, C, cur('v2', { a: '2', b: '2' }));
    expect(r.respond?.resources).toEqual([{ name: 'a', version: '2' }]);
  });
});
