import { describe, expect, it } from 'vitest';
import { effectiveTimeoutMs, grpcMessage, grpcTimeoutMs, isGrpc } from './grpc.js';

describe('gRPC over HTTP/2 helpers', () => {
  it('recognises gRPC content types', () => {
    expect(['application/grpc', 'application/grpc+proto', 'application/grpc;charset=utf-8'].map(isGrpc)).toEqual([true, true, true]);
    expect(['application/json', 'application/grpc-web', undefined].map(isGrpc)).toEqual([false, false, false]);
  });

  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3000],
    ['250m', 250],
    ['1500u', 1.5],
    ['2000000n', 2],
    ['123456789S', undefined], // more than 8 digits
    ['10s', undefined], // unit is case-sensitive
    ['', undefined],
  ])('parses grpc-timeout %j as %j ms', (v, ms) => {
    expect(grpcTimeoutMs(v)).toBe(ms);
  });

  it('lets grpc-timeout replace the route timeout only when the route honours it, capped by the maximum', () => {
    expect(effectiveTimeoutMs(0, 500, undefined)).toBe(0);
    expect(effectiveTimeoutMs(0, 500, 0)).toBe(500);
    expect(effectiveTimeoutMs(15_000, 500, 200)).toBe(200);
    expect(effectiveTimeoutMs(15_000, undefined, 0)).toBe(15_000);
    expect(effectiveTimeoutMs(undefined, 0, 0)).toBe(1);
  });

  it('percent-encodes grpc-message', () => {
    expect(grpcMessage('no such thing: 100%')).toBe('no such thing%3A 100%25');
  });
});
