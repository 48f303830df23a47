import { describe, expect, test } from 'vitest';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from './resources.js';
import { newSotwStream, sotwOnPush, sotwOnRequest, type SotwRequest, type SotwStreamState } from './sotw.js';

const C = CLUSTER_TYPE;
const E = ENDPOINT_TYPE;

/** Runs a script of requests/pushes; returns what was answered at each step ('-' for nothing). */
type Step = { req: SotwRequest; current?: string } | { push: string; typeUrl: string };
function run(steps: Step[]): { out: string[]; state: SotwStreamState } {
  let state = newSotwStream();
  const out: string[] = [];
  for (const s of steps) {
    const r = 'req' in s ? sotwOnRequest(state, s.req, s.current) : sotwOnPush(state, s.typeUrl, s.push);
    state = r.state;
    const ev = 'event' in r ? `${(r as { event: { kind: string } }).event.kind}:` : 'push:';
    out.push(ev + (r.respond ? `${r.respond.version}@${r.respond.nonce}${r.respond.wildcard ? '*' : `[${r.respond.names.join(',')}]`}` : '-'));
  }
  return { out, state };
}

describe('SotW reducer', () => {
  test.each<[string, Step[], string[]]>([
    ['first CDS request is wildcard and answered', [{ req: { typeUrl: C }, current: 'v1' }], ['subscribe:v1@1*']],
    ['first request before any snapshot waits; the push answers', [{ req: { typeUrl: C } }, { push: 'v1', typeUrl: C }], ['subscribe:-', 'push:v1@1*']],
    ['ACK records, answers nothing', [{ req: { typeUrl: C }, current: 'v1' }, { req: { typeUrl: C, versionInfo: 'v1', responseNonce: '1' }, current: 'v1' }], ['subscribe:v1@1*', 'ack:-']],
    [
      'NACK records and does not resend the rejected version, even when pushed again',
      [
        { req: { typeUrl: C }, current: 'v1' },
        { req: { typeUrl: C, versionInfo: '', responseNonce: '1', errorDetail: { code: 3, message: 'bad cluster' } }, current: 'v1' },
        { push: 'v1', typeUrl: C },
        { push: 'v2', typeUrl: C },
      ],
      ['subscribe:v1@1*', 'nack:-', 'push:-', 'push:v2@2*'],
    ],
    [
      'stale nonce is ignored (neither ACK nor NACK)',
      [
        { req: { typeUrl: C }, current: 'v1' },
        { push: 'v2', typeUrl: C },
        { req: { typeUrl: C, versionInfo: 'v1', responseNonce: '1', errorDetail: { message: 'late' } }, current: 'v2' },
        { req: { typeUrl: C, versionInfo: 'v2', responseNonce: '2' }, current: 'v2' },
      ],
      ['subscribe:v1@1*', 'push:v2@2*', 'stale:-', 'ack:-'],
    ],
    [
      'EDS subscription change in an ACK gets the current version for the new names',
      [
        { req: { typeUrl: E, resourceNames: ['a'] }, current: 'v1' },
        { req: { typeUrl: E, resourceNames: ['b', 'a'], versionInfo: 'v1', responseNonce: '1' }, current: 'v1' },
      ],
      ['subscribe:v1@1[a]', 'ack:v1@2[a,b]'],
    ],
    ['pushing the version already sent sends nothing', [{ req: { typeUrl: C }, current: 'v1' }, { push: 'v1', typeUrl: C }], ['subscribe:v1@1*', 'push:-']],
    ['a push for a type never requested sends nothing', [{ push: 'v1', typeUrl: E }], ['push:-']],
    ['"*" is an explicit wildcard for any type', [{ req: { typeUrl: E, resourceNames: ['*'] }, current: 'v1' }], ['subscribe:v1@1*']],
    ['a nonce from another server (reconnect) is a fresh subscription', [{ req: { typeUrl: C, versionInfo: 'v0', responseNonce: '77' }, current: 'v1' }], ['subscribe:v1@1*']],
  ])('%s', (_name, steps, want) => {
    expect(run(steps).out).toEqual(want);
  });

  test('counters and last NACK error are kept per type', () => {
    const { state } = run([
      { req: { typeUrl: C }, current: 'v1' },
      { req: { typeUrl: C, responseNonce: '1', errorDetail: { message: 'boom' } }, current: 'v1' },
      { push: 'v2', typeUrl: C },
      { req: { typeUrl: C, versionInfo: 'v2', responseNonce: '2' }, current: 'v2' },
    ]);
    expect(state.types[C]).toMatchObject({ sentVersion: 'v2', ackedVersion: 'v2', nackedVersion: 'v1', lastError: 'boom', pushes: 2, acks: 1, nacks: 1 });
  });
});
