import { describe, expect, it } from 'vitest';
import { Headers, type ExchangeRecord, type ListenerPlanExt, type RequestHead } from '@meshwork/proxy';
import type { SpanRecord } from '@meshwork/telemetry';
import { ProxyTracing } from './proxy-tracing.js';

const outbound = { name: 'virtualOutbound', trafficDirection: 'OUTBOUND' } as ListenerPlanExt;
const inbound = { name: 'virtualInbound', trafficDirection: 'INBOUND' } as ListenerPlanExt;
const down = { remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 15001 };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

function req(headers: string[] = []): RequestHead {
  return { method: 'GET', path: '/reviews/1', authority: 'reviews:9080', scheme: 'http', headers: new Headers(['x-request-id', 'rid-1', ...headers]) };
}
function record(r: RequestHead, status = 200): ExchangeRecord {
  return { request: r, downstream: down, protocol: 'HTTP/1.1', grpc: false, status, flags: [], cluster: 'outbound|9080||reviews', attempts: 1, requestBodyBytes: 0, responseBodyBytes: 10, startTime: Date.now() - 5, durationMs: 5 };
}
function tracing(samplingPercent: number): { t: ProxyTracing; spans: SpanRecord[] } {
  const spans: SpanRecord[] = [];
  const t = new ProxyTracing({ identity: { nodeId: 'sidecar~127.0.0.1~productpage-1.default~default.svc.cluster.local', namespace: 'default' }, samplingPercent, onSpans: (s) => void spans.push(...s), random: () => 0.5 });
  return { t, spans };
}

describe('ProxyTracing', () => {
  it('continues a sampled W3C trace: a client span child of the incoming one, propagated in W3C and B3', async () => {
    const { t, spans } = tracing(0);
    const r = req(['traceparent', `00-${TRACE}-${PARENT}-01`]);
    expect(await t.stage(outbound).run({ req: r, down, state: new Map() })).toBeUndefined();
    const tp = r.headers.get('traceparent') ?? '';
    expect(tp).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    const mySpan = tp.split('-')[2];
    expect(mySpan).not.toBe(PARENT);
    expect(r.headers.get('x-b3-traceid')).toBe(TRACE);
    expect(r.headers.get('x-b3-spanid')).toBe(mySpan);
    t.end(record(r, 503));
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ traceId: TRACE, spanId: mySpan, parentSpanId: PARENT, kind: 'client', name: 'reviews:9080/*', error: true });
    expect(spans[0].attributes).toMatchObject({ 'guid:x-request-id': 'rid-1', 'http.status_code': 503, upstream_cluster: 'outbound|9080||reviews' });
  });

  it('continues a B3 trace on an inbound listener as a server span', async () => {
    const { t, spans } = tracing(0);
    const r = req(['x-b3-traceid', TRACE, 'x-b3-spanid', PARENT, 'x-b3-sampled', '1']);
    await t.stage(inbound).run({ req: r, down, state: new Map() });
    t.end(record(r));
    expect(spans[0]).toMatchObject({ traceId: TRACE, parentSpanId: PARENT, kind: 'server', error: false });
  });

  it('samples new traces at the configured percentage and carries a not-sampled decision onward', async () => {
    const never = tracing(0);
    const r = req();
    await never.t.stage(outbound).run({ req: r, down, state: new Map() });
    never.t.end(record(r));
    expect(never.spans).toEqual([]);
    expect(r.headers.get('traceparent')).toMatch(/-00$/);
    const always = tracing(100);
    const r2 = req();
    await always.t.stage(outbound).run({ req: r2, down, state: new Map() });
    always.t.end(record(r2));
    expect(always.spans).toHaveLength(1);
    expect(always.spans[0].parentSpanId).toBeUndefined();
  });
});
