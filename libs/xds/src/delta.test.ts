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
});
