import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { IstioMetrics, requestLabels, tcpLabels } from './istio-metrics.js';
import { sampleHttpRecord, sampleTcpRecord } from './testing.js';

/** series returns the exposition lines of one metric name (exact name, any labels). */
function lines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
}

describe('label mapping', () => {
  const full = sampleHttpRecord();
  const cases: { name: string; record: ReturnType<typeof sampleHttpRecord>; expect: Record<string, string> }[] = [
    {
      name: 'fully known mTLS request',
      record: full,
      expect: {
        reporter: 'destination',
        source_workload: 'productpage-v1',
        source_canonical_service: 'productpage',
        source_canonical_revision: 'v1',
        source_workload_namespace: 'default',
        source_principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
        source_app: 'productpage',
        source_version: 'v1',
        source_cluster: 'Kubernetes',
        destination_workload: 'reviews-v2',
        destination_workload_namespace: 'default',
        destination_principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
        destination_app: 'reviews',
        destination_version: 'v2',
        destination_service: 'reviews.default.svc.cluster.local',
        destination_canonical_service: 'reviews',
        destination_canonical_revision: 'v2',
        destination_service_name: 'reviews',
        destination_service_namespace: 'default',
        destination_cluster: 'Kubernetes',
        request_protocol: 'http',
        response_code: '200',
        grpc_response_status: '',
        response_flags: '-',
        connection_security_policy: 'mutual_tls',
      },
    },
    {
      name: 'unknown peers: unknown everywhere, canonical revision latest',
      record: sampleHttpRecord({ reporter: 'source', source: {}, destination: { workload: '' }, destinationService: {}, securityPolicy: 'unknown' }),
      expect: {
        reporter: 'source',
        source_workload: 'unknown',
        source_canonical_service: 'unknown',
        source_canonical_revision: 'latest',
        source_workload_namespace: 'unknown',
        source_principal: 'unknown',
        source_app: 'unknown',
        source_version: 'unknown',
        source_cluster: 'unknown',
        destination_workload: 'unknown',
        destination_workload_namespace: 'unknown',
        destination_principal: 'unknown',
        destination_app: 'unknown',
        destination_version: 'unknown',
        destination_service: 'unknown',
        destination_canonical_service: 'unknown',
        destination_canonical_revision: 'latest',
        destination_service_name: 'unknown',
        destination_service_namespace: 'unknown',
        destination_cluster: 'unknown',
        request_protocol: 'http',
        response_code: '200',
        grpc_response_status: '',
        response_flags: '-',
        connection_security_policy: 'unknown',
      },
    },
    {
      name: 'external host: service name falls back to the host',
      record: sampleHttpRecord({ destinationService: { host: 'httpbin.org' } }),
      expect: { destination_service: 'httpbin.org', destination_service_name: 'httpbin.org', destination_service_namespace: 'unknown' },
    },
    {
      name: 'gRPC with status, flags joined',
      record: sampleHttpRecord({ protocol: 'grpc', grpcStatus: 14, responseCode: 200, responseFlags: 'URX,UF' }),
      expect: { request_protocol: 'grpc', response_code: '200', grpc_response_status: '14', response_flags: 'URX,UF' },
    },
    {
      name: 'grpc status on an http request is ignored; empty flags print as -',
      record: sampleHttpRecord({ grpcStatus: 2, responseCode: 0, responseFlags: '' }),
      expect: { grpc_response_status: '', response_code: '0', response_flags: '-' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const labels = requestLabels(c.record);
      expect(labels).toMatchObject(c.expect);
      expect(Object.keys(labels)).toHaveLength(25);
    });
  }

  it('TCP labels have no response code or gRPC status', () => {
    const l = tcpLabels(sampleTcpRecord());
    expect(l).not.toHaveProperty('response_code');
    expect(l).not.toHaveProperty('grpc_response_status');
    expect(l).toMatchObject({ request_protocol: 'tcp', response_flags: '-', connection_security_policy: 'unknown', destination_service_name: 'mongodb' });
    expect(Object.keys(l)).toHaveLength(23);
  });
});

describe('IstioMetrics exposition', () => {
  it('exposes the eight metrics with Istio names, help and type', async () => {
    const registry = new Registry();
    new IstioMetrics({ registry });
    const text = await registry.metrics();
    for (const [name, type] of [
      ['istio_requests_total', 'counter'],
      ['istio_request_duration_milliseconds', 'histogram'],
      ['istio_request_bytes', 'histogram'],
      ['istio_response_bytes', 'histogram'],
      ['istio_tcp_sent_bytes_total', 'counter'],
      ['istio_tcp_received_bytes_total', 'counter'],
      ['istio_tcp_connections_opened_total', 'counter'],
      ['istio_tcp_connections_closed_total', 'counter'],
    ]) {
      expect(text).toContain(`# TYPE ${name} ${type}\n`);
      expect(text).toMatch(new RegExp(`# HELP ${name} \\S`));
    }
  });

  it('counts requests per label tuple and fills Istio buckets cumulatively', async () => {
    const registry = new Registry();
    const m = new IstioMetrics({ registry });
    m.recordRequest(sampleHttpRecord({ durationMs: 3, bytesSent: 295 }));
    m.recordRequest(sampleHttpRecord({ durationMs: 30, bytesSent: 5 }));
    // Same labels through different objects: same series.
    m.recordRequest(sampleHttpRecord({ durationMs: 0.2, bytesSent: 0, source: { ...sampleHttpRecord().source } }));
    m.recordRequest(sampleHttpRecord({ responseCode: 503, responseFlags: 'UH', durationMs: 1, bytesSent: 19 }));
    expect(m.seriesCount).toBe(2);
    const text = await registry.metrics();

    const total = lines(text, 'istio_requests_total');
    expect(total).toHaveLength(2);
    expect(total[0]).toBe(
      'istio_requests_total{reporter="destination",source_workload="productpage-v1",source_canonical_service="productpage",source_canonical_revision="v1",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/bookinfo-productpage",source_app="productpage",source_version="v1",source_cluster="Kubernetes",destination_workload="reviews-v2",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",destination_app="reviews",destination_version="v2",destination_service="reviews.default.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision="v2",destination_service_name="reviews",destination_service_namespace="default",destination_cluster="Kubernetes",request_protocol="http",response_code="200",grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"} 3',
    );
    expect(total[1]).toMatch(/response_code="503",grpc_response_status="",response_flags="UH",.*\} 1$/);

    const ok = lines(text, 'istio_request_duration_milliseconds_bucket').filter((l) => l.includes('response_code="200"'));
    const pairs = ok.map((l) => [/le="([^"]+)"/.exec(l)?.[1], Number(l.split(' ').pop())] as const);
    const byLe = Object.fromEntries(pairs);
    expect(pairs.map((p) => p[0])).toEqual(['0.5', '1', '5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', '30000', '60000', '300000', '600000', '1800000', '3600000', '+Inf']);
    expect(byLe).toMatchObject({ '0.5': 1, '1': 1, '5': 2, '25': 2, '50': 3, '+Inf': 3 });
    expect(lines(text, 'istio_request_duration_milliseconds_sum').find((l) => l.includes('"200"'))).toMatch(/ 33\.2$/);
    expect(lines(text, 'istio_request_duration_milliseconds_count').find((l) => l.includes('"200"'))).toMatch(/ 3$/);

    const resp = lines(text, 'istio_response_bytes_bucket').filter((l) => l.includes('response_code="200"'));
    const respPairs = resp.map((l) => [/le="([^"]+)"/.exec(l)?.[1], Number(l.split(' ').pop())] as const);
    const respLe = Object.fromEntries(respPairs);
    expect(respPairs.map((p) => p[0])).toEqual(['1', '10', '100', '1000', '10000', '100000', '1000000', '10000000', '100000000', '1000000000', '+Inf']);
    expect(respLe).toMatchObject({ '1': 1, '10': 2, '100': 2, '1000': 3 });
    expect(lines(text, 'istio_request_bytes_count')).toHaveLength(2);
  });

  it('does not let a non-finite duration poison the histogram sum', async () => {
    const registry = new Registry();
    const m = new IstioMetrics({ registry });
    m.recordRequest(sampleHttpRecord({ durationMs: Number.NaN }));
    m.recordRequest(sampleHttpRecord({ durationMs: 4 }));
    const text = await registry.metrics();
    expect(lines(text, 'istio_request_duration_milliseconds_sum')[0]).toMatch(/ 4$/);
    expect(lines(text, 'istio_requests_total')[0]).toMatch(/ 2$/);
  });

  it('applies TCP connection events', async () => {
    const registry = new Registry();
    const m = new IstioMetrics({ registry });
    m.record(sampleTcpRecord({ tcpEvent: 'open' }));
    m.record(sampleTcpRecord({ tcpEvent: 'report', bytesReceived: 100, bytesSent: 2000 }));
    m.record(sampleTcpRecord({ tcpEvent: 'close', bytesReceived: 5, bytesSent: 50 }));
    m.record(sampleTcpRecord({ tcpEvent: 'open' }));
    const text = await registry.metrics();
    const value = (name: string) => {
      const l = lines(text, name);
      expect(l).toHaveLength(1);
      expect(l[0]).toContain('request_protocol="tcp",response_flags="-",connection_security_policy="unknown"}');
      expect(l[0]).not.toContain('response_code');
      return Number(l[0].split(' ').pop());
    };
    expect(value('istio_tcp_connections_opened_total')).toBe(2);
    expect(value('istio_tcp_connections_closed_total')).toBe(1);
    expect(value('istio_tcp_received_bytes_total')).toBe(105);
    expect(value('istio_tcp_sent_bytes_total')).toBe(2050);
    expect(lines(text, 'istio_requests_total')).toHaveLength(0);
  });

  it('spellings that give the same labels share one series (no duplicate series in the exposition)', async () => {
    const registry = new Registry();
    const m = new IstioMetrics({ registry });
    m.recordRequest(sampleHttpRecord({ responseFlags: '-', source: { workload: 'a', version: '' } }));
    m.recordRequest(sampleHttpRecord({ responseFlags: '', source: { workload: 'a' } }));
    m.recordRequest(sampleHttpRecord({ responseFlags: '-', source: { workload: 'a', canonicalRevision: 'latest' } }));
    expect(m.seriesCount).toBe(1);
    expect(lines(await registry.metrics(), 'istio_requests_total')[0]).toMatch(/source_canonical_revision="latest".*response_flags="-".* 3$/);
    m.reset();
    expect(m.seriesCount).toBe(0);
    expect(lines(await registry.metrics(), 'istio_requests_total')).toEqual([]);
  });

  it('records each request in its own tuple when consecutive requests to one destination differ in any label', async () => {
    const registry = new Registry();
    const m = new IstioMetrics({ registry });
    const base = sampleHttpRecord();
    const dest = base.destination;
    // One destination object throughout (as a proxy passes it); every other field varies in turn.
    const variants = [
      {},
      { responseCode: 503 },
      { responseFlags: 'UF' },
      { destinationService: { ...base.destinationService, name: 'reviews-canary' } },
      { destinationService: { ...base.destinationService, namespace: 'other' } },
      { securityPolicy: 'unknown' as const },
      { reporter: 'source' as const },
      { source: { ...base.source, workload: 'other-v1' } },
      { protocol: 'grpc' as const, grpcStatus: 14 },
      { protocol: 'grpc' as const, grpcStatus: 0 },
    ];
    for (let round = 0; round < 3; round++) for (const v of variants) m.recordRequest({ ...base, destination: dest, destinationService: { ...base.destinationService }, ...v });
    expect(m.seriesCount).toBe(variants.length);
    const text = await registry.metrics();
    const counts = lines(text, 'istio_requests_total').map((l) => Number(l.split(' ').pop()));
    expect(counts).toEqual(variants.map(() => 3));
    expect(lines(text, 'istio_requests_total').filter((l) => l.includes('response_code="503"') && l.includes('response_flags="-"'))).toHaveLength(1);
    m.reset();
    m.recordRequest(base);
    expect(m.seriesCount).toBe(1);
  });

  it('stops adding series at maxSeries and counts what it refused', () => {
    const m = new IstioMetrics({ registry: new Registry(), maxSeries: 3 });
    for (let code = 200; code < 210; code++) m.recordRequest(sampleHttpRecord({ responseCode: code }));
    m.recordRequest(sampleHttpRecord({ responseCode: 200 }));
    expect(m.seriesCount).toBe(3);
    expect(m.overflowed).toBe(7);
  });

  it('works with prom-client JSON export and merged registries', async () => {
    const registry = new Registry();
    const m = new IstioMetrics({ registry });
    m.recordRequest(sampleHttpRecord());
    const json = await registry.getMetricsAsJSON();
    const total = json.find((x) => x.name === 'istio_requests_total');
    expect(total?.values).toEqual([{ labels: requestLabels(sampleHttpRecord()), value: 1 }]);
    const app = new Registry();
    const merged = Registry.merge([registry, app]);
    expect(await merged.metrics()).toContain('istio_requests_total{reporter="destination"');
  });
});
