/**
 * Test support for @meshwork/telemetry users (`@meshwork/telemetry/testing`): sample request
 * records shaped like Bookinfo traffic, and a seeded random source for sampling tests. Never
 * imported by index.ts.
 */
import type { RequestRecord } from './request-record.js';

/** sampleHttpRecord returns a destination-side record of productpage → reviews-v2 over mTLS, with overrides. */
export function sampleHttpRecord(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    reporter: 'destination',
    protocol: 'http',
    startTime: Date.UTC(2026, 10, 26, 1, 2, 3, 456),
    source: { workload: 'productpage-v1', namespace: 'default', principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage', app: 'productpage', version: 'v1', canonicalService: 'productpage', canonicalRevision: 'v1', cluster: 'Kubernetes' },
    destination: { workload: 'reviews-v2', namespace: 'default', principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews', app: 'reviews', version: 'v2', canonicalService: 'reviews', canonicalRevision: 'v2', cluster: 'Kubernetes' },
    destinationService: { host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default' },
    method: 'GET',
    path: '/reviews/0',
    authority: 'reviews:9080',
    httpProtocol: 'HTTP/1.1',
    userAgent: 'python-requests/2.31',
    requestId: '5c3e2f5a-0d3c-4b8e-9d1a-6f1b2c3d4e5f',
    responseCode: 200,
    responseFlags: '-',
    responseCodeDetails: 'via_upstream',
    securityPolicy: 'mutual_tls',
    durationMs: 7.4,
    upstreamServiceTimeMs: 5,
    bytesReceived: 0,
    bytesSent: 295,
    upstreamCluster: 'inbound|9080||',
    upstreamHost: '10.1.2.3:9080',
    upstreamLocalAddress: '127.0.0.6:45123',
    downstreamLocalAddress: '10.1.2.3:9080',
    downstreamRemoteAddress: '10.1.2.9:51234',
    requestedServerName: 'outbound_.9080_.v2_.reviews.default.svc.cluster.local',
    routeName: 'default',
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    ...over,
  };
}

/** sampleTcpRecord returns a source-side TCP connection event of ratings-v2 → mongodb, with overrides. */
export function sampleTcpRecord(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    reporter: 'source',
    protocol: 'tcp',
    tcpEvent: 'open',
    startTime: Date.UTC(2026, 10, 26, 1, 2, 3, 0),
    source: { workload: 'ratings-v2', namespace: 'default', app: 'ratings', version: 'v2', canonicalService: 'ratings', canonicalRevision: 'v2', cluster: 'Kubernetes' },
    destination: { workload: 'mongodb-v1', namespace: 'default', principal: 'spiffe://cluster.local/ns/default/sa/default', app: 'mongodb', version: 'v1', canonicalService: 'mongodb', canonicalRevision: 'v1', cluster: 'Kubernetes' },
    destinationService: { host: 'mongodb.default.svc.cluster.local', name: 'mongodb', namespace: 'default' },
    responseCode: 0,
    responseFlags: '-',
    securityPolicy: 'unknown',
    durationMs: 0,
    bytesReceived: 0,
    bytesSent: 0,
    upstreamCluster: 'outbound|27017||mongodb.default.svc.cluster.local',
    upstreamHost: '10.1.2.7:27017',
    ...over,
  };
}

/** seededRandom returns a deterministic uniform [0,1) source (mulberry32), for sampling tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
