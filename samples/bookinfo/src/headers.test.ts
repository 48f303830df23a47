import { describe, expect, it } from 'vitest';
import { forwardHeaders, PROPAGATED_HEADERS } from './headers.js';

describe('forwardHeaders', () => {
  it('copies every tracing and application header Istio lists, and nothing else', () => {
    const incoming: Record<string, string> = { host: 'productpage:9080', accept: 'text/html', 'content-length': '0', 'x-forwarded-for': '1.2.3.4' };
    for (const h of PROPAGATED_HEADERS) incoming[h] = `value-of-${h}`;
    const out = forwardHeaders(incoming);
    expect(Object.keys(out).sort()).toEqual([...PROPAGATED_HEADERS].sort());
    expect(out.traceparent).toBe('value-of-traceparent');
    expect(out['x-b3-traceid']).toBe('value-of-x-b3-traceid');
    expect(out['end-user']).toBe('value-of-end-user');
  });

  it.each([
    ['reviews passes the incoming end-user on', {}, { 'end-user': 'jason' }, 'jason'],
    ['productpage takes the user from its session only', { fromSession: true, endUser: 'jason' }, { 'end-user': 'mallory' }, 'jason'],
    ['productpage without a session sends no end-user even if the client sent one', { fromSession: true }, { 'end-user': 'jason' }, undefined],
  ])('%s', (_name, opts, incoming, want) => {
    expect(forwardHeaders(incoming, opts)['end-user']).toBe(want);
  });

  it('joins repeated headers into one value', () => {
    expect(forwardHeaders({ cookie: ['a=1', 'b=2'] as unknown as string, tracestate: ['k=v', 'l=w'] as unknown as string })).toEqual({ cookie: 'a=1; b=2', tracestate: 'k=v, l=w' });
  });
});
