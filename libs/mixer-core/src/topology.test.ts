import { describe, expect, it } from 'vitest';
import { sampleHttpRecord, sampleTcpRecord } from '@meshwork/telemetry/testing';
import { DURATION_BUCKETS_MS } from '@meshwork/telemetry';
import { BUCKET_MS, JOIN_MS, parseGraphQuery, parseHealthThresholds, quantile, TopologyStore } from './topology.js';
import { BadGraphQueryError, BadHealthThresholdsError } from './errors.js';

const T0 = Date.UTC(2026, 10, 26, 3, 0, 0);

function store(now: { t: number }): TopologyStore {
  return new TopologyStore({ now: () => now.t });
}

// No request id: these records are counted alone (the join has its own tests).
const rec = (over: Parameters<typeof sampleHttpRecord>[0] = {}) => sampleHttpRecord({ startTime: T0, durationMs: 10, requestId: undefined, ...over });

describe('TopologyStore', () => {
  it('counts destination reports exactly per edge, with error rate, mTLS share and rate over the window', () => {
    const now = { t: T0 + 5_000 };
    const s = store(now);
    for (let i = 0; i < 90; i++) s.add(rec());
    for (let i = 0; i < 10; i++) s.add(rec({ responseCode: 503, responseFlags: 'UF', securityPolicy: 'none' }));
    // the source side of the same requests: not counted again
    for (let i = 0; i < 100; i++) s.add(rec({ reporter: 'source' }));
    const g = s.graph({ type: 'workload', window: '1m' });
    expect(g.elements.edges).toHaveLength(1);
    const e = g.elements.edges[0].data;
    expect([e.source, e.target, e.protocol, e.requests, e.errors, e.errorRate, e.isMTLS, e.rate]).toEqual(['wl:default/productpage-v1', 'wl:default/reviews-v2', 'http', 100, 10, 0.1, 90, 100 / 60]);
    const reviews = g.elements.nodes.find((n) => n.data.id === 'wl:default/reviews-v2')?.data;
    expect(reviews?.health).toBe('degraded');
    expect(reviews?.traffic).toEqual({ requestsIn: 100, errorsIn: 10, requestsOut: 0, errorsOut: 0 });
  });

  it('health: healthy at or under 0.1 % errors, degraded above, failing at 20 %', () => {
    const now = { t: T0 + 1_000 };
    const cases: [number, string][] = [
      [0, 'healthy'],
      [1, 'healthy'], // 1 in 1000 = 0.1 %
      [2, 'degraded'],
      [200, 'failing'],
    ];
    for (const [errors, health] of cases) {
      const s = store(now);
      for (let i = 0; i < 1000; i++) s.add(rec({ responseCode: i < errors ? 500 : 200 }));
      const n = s.graph({ type: 'workload', window: '1m' }).elements.nodes.find((x) => x.data.workload === 'reviews-v2');
      expect([errors, n?.data.health]).toEqual([errors, health]);
    }
  });

  it('health follows configured thresholds (mixer\'s --graph-degraded-ratio / --graph-failing-ratio)', () => {
    const now = { t: T0 + 1_000 };
    // 5 % errors: degraded with Kiali's defaults, healthy under degraded 0.1, failing under failing 0.05.
    const health = (degraded: string, failing: string): string | undefined => {
      const s = new TopologyStore({ now: () => now.t, health: parseHealthThresholds(degraded, failing) });
      for (let i = 0; i < 100; i++) s.add(rec({ responseCode: i < 5 ? 500 : 200 }));
      return s.graph({ type: 'workload', window: '1m' }).elements.nodes.find((x) => x.data.workload === 'reviews-v2')?.data.health;
    };
    expect([health('0.001', '0.2'), health('0.1', '0.5'), health('0.01', '0.05'), health('0.049', '0.051')]).toEqual(['degraded', 'healthy', 'failing', 'degraded']);
  });

  it('parseHealthThresholds: decimal ratios in 0..1, degraded below failing, else an error naming the flag', () => {
    expect(parseHealthThresholds('0.001', '0.2')).toEqual({ degraded: 0.001, failing: 0.2 });
    expect(parseHealthThresholds('0', '1')).toEqual({ degraded: 0, failing: 1 });
    const cases: [string, string, RegExp][] = [
      ['5%', '0.2', /--graph-degraded-ratio: "5%"/],
      ['', '0.2', /--graph-degraded-ratio: ""/],
      ['0.01', '1.5', /--graph-failing-ratio: "1.5"/],
      ['-0.1', '0.2', /--graph-degraded-ratio: "-0.1"/],
      ['0.2', '0.2', /--graph-degraded-ratio \(0.2\) must be below --graph-failing-ratio \(0.2\)/],
    ];
    for (const [d, f, msg] of cases) {
      let err: unknown;
      try {
        parseHealthThresholds(d, f);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BadHealthThresholdsError);
      expect((err as BadHealthThresholdsError).code).toBe('MESH_ERR_MIXER_BAD_HEALTH_THRESHOLDS');
      expect((err as Error).message).toMatch(msg);
    }
  });

  it('windows: 1m sees only the last minute, 1h sees all; buckets older than an hour are gone', () => {
    const now = { t: T0 };
    const s = store(now);
    s.add(rec({ startTime: T0 - 30 * 60_000 }));
    s.add(rec({ startTime: T0 - 3 * 60_000 }));
    s.add(rec({ startTime: T0 - 20_000 }));
    const count = (w: string) => s.graph({ type: 'workload', window: w }).elements.edges[0]?.data.requests ?? 0;
    expect([count('1m'), count('5m'), count('1h')]).toEqual([1, 2, 3]);
    now.t = T0 + 61 * 60_000;
    expect(count('1h')).toBe(0);
  });

  it('folds the same traffic into app, versionedApp and service graphs', () => {
    const now = { t: T0 + 1_000 };
    const s = store(now);
    s.add(rec());
    s.add(rec({ destination: { workload: 'reviews-v3', namespace: 'default', app: 'reviews', version: 'v3' } }));
    const ids = (type: 'app' | 'versionedApp' | 'service') => s.graph({ type, window: '1m' }).elements.edges.map((e) => [e.data.id, e.data.requests]);
    expect(ids('app')).toEqual([['app:default/productpage->app:default/reviews', 2]]);
    expect(ids('versionedApp')).toEqual([
      ['app:default/productpage/v1->app:default/reviews/v2', 1],
      ['app:default/productpage/v1->app:default/reviews/v3', 1],
    ]);
    expect(ids('service')).toEqual([['svc:default/productpage->svc:default/reviews', 2]]);
  });

  it('counts a source report when no destination proxy saw the request (unknown destination), and TCP connections once', () => {
    const now = { t: T0 + 1_000 };
    const s = store(now);
    s.add(rec({ reporter: 'source', destination: {}, responseCode: 503, responseFlags: 'UH' }));
    s.add(sampleTcpRecord({ startTime: T0, tcpEvent: 'open', reporter: 'destination' }));
    s.add(sampleTcpRecord({ startTime: T0, tcpEvent: 'close', reporter: 'destination', bytesReceived: 100, bytesSent: 50 }));
    const g = s.graph({ type: 'workload', window: '1m' });
    const byTarget = Object.fromEntries(g.elements.edges.map((e) => [e.data.target, e.data]));
    expect(byTarget['svc:default/reviews']).toMatchObject({ requests: 1, errors: 1 });
    expect(byTarget['wl:default/mongodb-v1']).toMatchObject({ protocol: 'tcp', requests: 1, bytes: 150 });
  });

  it('injects the destination service between source and destination when asked (Kiali injectServiceNodes)', () => {
    const now = { t: T0 + 1_000 };
    const s = store(now);
    s.add(rec());
    s.add(rec({ destination: { workload: 'reviews-v3', namespace: 'default', app: 'reviews', version: 'v3' }, responseCode: 500 }));
    const g = s.graph({ type: 'workload', window: '1m', injectServiceNodes: true });
    expect(g.elements.edges.map((e) => [e.data.id, e.data.requests, e.data.errors])).toEqual([
      ['svc:default/reviews->wl:default/reviews-v2', 1, 0],
      ['svc:default/reviews->wl:default/reviews-v3', 1, 1],
      ['wl:default/productpage-v1->svc:default/reviews', 2, 1],
    ]);
    expect(g.elements.nodes.find((n) => n.data.id === 'svc:default/reviews')?.data).toMatchObject({ nodeType: 'service', health: 'failing', traffic: { requestsIn: 2, errorsIn: 1, requestsOut: 2, errorsOut: 1 } });
    expect(parseGraphQuery({ injectServiceNodes: 'true' }).injectServiceNodes).toBe(true);
    expect(() => parseGraphQuery({ injectServiceNodes: 'yes' })).toThrow('injectServiceNodes: "yes" is not true or false');
  });

  it('filters by namespace (edges touching it)', () => {
    const now = { t: T0 + 1_000 };
    const s = store(now);
    s.add(rec());
    s.add(rec({ source: { workload: 'a', namespace: 'other' }, destination: { workload: 'b', namespace: 'other' }, destinationService: { host: 'b.other.svc.cluster.local', name: 'b', namespace: 'other' } }));
    expect(s.graph({ type: 'workload', window: '1m', namespaces: ['other'] }).elements.edges.map((e) => e.data.id)).toEqual(['wl:other/a->wl:other/b']);
  });

  it('snapshot and restore give the same graph', () => {
    const now = { t: T0 + 1_000 };
    const s = store(now);
    for (let i = 0; i < 5; i++) s.add(rec({ startTime: T0 - i * BUCKET_MS }));
    const copy = store(now);
    copy.restore(JSON.parse(JSON.stringify(s.snapshot())));
    expect(copy.graph({ type: 'workload', window: '5m' })).toEqual(s.graph({ type: 'workload', window: '5m' }));
    // records after the restore join the restored edges (a second restore keeps every count)
    for (const x of [s, copy]) x.add(rec({ source: { workload: 'productpage-v1', namespace: 'default', app: 'productpage', version: 'v1' } }));
    const again = store(now);
    again.restore(JSON.parse(JSON.stringify(copy.snapshot())));
    expect(again.graph({ type: 'workload', window: '5m' })).toEqual(s.graph({ type: 'workload', window: '5m' }));
    expect(again.graph({ type: 'workload', window: '5m' }).elements.edges[0].data.requests).toBe(6);
  });
});

describe('TopologyStore: joining the two reports of a request', () => {
  const productpage = { workload: 'productpage-v1', namespace: 'default', app: 'productpage', version: 'v1' };
  const reviews = { workload: 'reviews-v2', namespace: 'default', app: 'reviews', version: 'v2' };
  const svc = { host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default' };
  // what our sidecars report without mTLS: the source does not know the destination workload, the destination does not know the source
  const srcReport = (id: string, over = {}) => rec({ requestId: id, reporter: 'source', source: productpage, destination: {}, destinationService: svc, securityPolicy: 'unknown', ...over });
  const dstReport = (id: string, over = {}) => rec({ requestId: id, reporter: 'destination', source: {}, destination: reviews, destinationService: {}, securityPolicy: 'none', ...over });
  const edges = (s: TopologyStore) => s.graph({ type: 'workload', window: '1m' }).elements.edges.map((e) => [e.data.id, e.data.requests, e.data.errors]);

  it('joins by request id into one edge source workload → destination workload, whichever report comes first', () => {
    const now = { t: T0 + 1_000 };
    const s = store(now);
    s.add(srcReport('a'));
    s.add(dstReport('a'));
    s.add(dstReport('b', { responseCode: 500 }));
    s.add(srcReport('b'));
    expect(edges(s)).toEqual([['wl:default/productpage-v1->wl:default/reviews-v2', 2, 1]]);
    const g = s.graph({ type: 'service', window: '1m' });
    expect(g.elements.edges.map((e) => e.data.id)).toEqual(['svc:default/productpage->svc:default/reviews']);
  });

  it('counts an unjoined report after JOIN_MS: the destination\'s always, the source\'s only when no destination proxy saw it', () => {
    const now = { t: T0 + 1_000 };
    const s = store(now);
    s.add(dstReport('only-dst'));
    s.add(srcReport('only-src', { responseCode: 503, responseFlags: 'UH' }));
    s.add(srcReport('src-knows-dst', { destination: reviews }));
    expect(edges(s)).toEqual([]);
    now.t += JOIN_MS;
    expect(edges(s)).toEqual([
      ['unknown->wl:default/reviews-v2', 1, 0],
      ['wl:default/productpage-v1->svc:default/reviews', 1, 1],
    ]);
  });

  it('settles reports that waited JOIN_MS on a later add, not only on a graph query, also after a restore', () => {
    const now = { t: T0 + 1_000 };
    const s = store(now);
    const waiting = (x: TopologyStore) => (x.snapshot().pending ?? []).map((p) => p.r.requestId);
    s.add(dstReport('a'));
    now.t += JOIN_MS - 1;
    s.add(dstReport('b'));
    expect(waiting(s)).toEqual(['a', 'b']);
    now.t += 1;
    s.add(dstReport('c'));
    expect(waiting(s)).toEqual(['b', 'c']);
    const copy = store(now);
    copy.restore(JSON.parse(JSON.stringify(s.snapshot())));
    now.t += JOIN_MS;
    copy.add(dstReport('d'));
    expect(waiting(copy)).toEqual(['d']);
  });

  it('keeps waiting reports in the snapshot', () => {
    const now = { t: T0 + 1_000 };
    const s = store(now);
    s.add(srcReport('x'));
    const copy = store(now);
    copy.restore(JSON.parse(JSON.stringify(s.snapshot())));
    copy.add(dstReport('x'));
    expect(edges(copy)).toEqual([['wl:default/productpage-v1->wl:default/reviews-v2', 1, 0]]);
  });

  it('a second attempt of the same request (a retry) counts without waiting', () => {
    const now = { t: T0 + 1_000 };
    const s = store(now);
    s.add(dstReport('r', { responseCode: 503 }));
    s.add(dstReport('r'));
    s.add(srcReport('r'));
    expect(edges(s)).toEqual([
      ['unknown->wl:default/reviews-v2', 1, 0],
      ['wl:default/productpage-v1->wl:default/reviews-v2', 1, 1],
    ]);
  });
});

describe('quantile', () => {
  it('interpolates inside the bucket like histogram_quantile', () => {
    const counts = new Array<number>(DURATION_BUCKETS_MS.length + 1).fill(0);
    counts[3] = 100; // (5, 10]
    expect(quantile(0.5, counts, DURATION_BUCKETS_MS)).toBe(7.5);
    expect(quantile(0.99, counts, DURATION_BUCKETS_MS)).toBeCloseTo(9.95);
  });
});

describe('parseGraphQuery', () => {
  it('reads type, window and namespaces, with Kiali-like defaults', () => {
    expect(parseGraphQuery({})).toEqual({ type: 'workload', window: '5m', namespaces: [] });
    expect(parseGraphQuery({ type: 'versionedApp', window: '1h', namespace: 'a, b' })).toEqual({ type: 'versionedApp', window: '1h', namespaces: ['a', 'b'] });
  });
  it.each([
    [{ type: 'pods' }, 'type: "pods" is not one of'],
    [{ window: '2d' }, 'window: "2d" is not one of'],
  ])('rejects %j', (q, msg) => {
    expect(() => parseGraphQuery(q)).toThrow(BadGraphQueryError);
    expect(() => parseGraphQuery(q)).toThrow(msg);
  });
});
