/**
 * The gRPC server of `envoy.service.ratelimit.v3.RateLimitService` (port 8081 in mixer): decodes
 * the request, asks RateLimitService, and maps errors to gRPC statuses in this one place
 * (STYLE.md 11): a counter backend failure is UNAVAILABLE, a malformed request INVALID_ARGUMENT.
 */
import * as grpc from '@grpc/grpc-js';
import { CounterBackendError, InvalidRateLimitRequestError, RateLimitStartError } from './errors.js';
import { rlsServiceDefinition, type RlsRequest, type RlsResponse } from './rls-proto.js';
import type { RateLimitService } from './service.js';

/** A listening rate-limit server. */
export interface RateLimitServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Stops accepting calls, lets calls in flight finish (at most `graceMs`, default 2 s), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** Options of startRateLimitServer. */
export interface RateLimitServerOptions {
  readonly service: RateLimitService;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Called with each failed call's error (logs, metrics). */
  readonly onError?: (err: Error) => void;
}

/** grpcStatusOf returns the gRPC status a service error becomes. */
export function grpcStatusOf(err: unknown): grpc.status {
  if (err instanceof InvalidRateLimitRequestError) return grpc.status.INVALID_ARGUMENT;
  if (err instanceof CounterBackendError) return grpc.status.UNAVAILABLE;
  return grpc.status.INTERNAL;
}

/** startRateLimitServer binds the RateLimitService on host:port (plaintext, as Envoy's default cluster to it) and resolves once it listens. */
export async function startRateLimitServer(opts: RateLimitServerOptions): Promise<RateLimitServer> {
  const server = new grpc.Server();
  server.addService(rlsServiceDefinition(), {
    ShouldRateLimit: (call: grpc.ServerUnaryCall<RlsRequest, RlsResponse>, callback: grpc.sendUnaryData<RlsResponse>) => {
      opts.service.shouldRateLimit(call.request).then(
        (r) => callback(null, r),
        (err: Error) => {
          opts.onError?.(err);
          callback({ code: grpcStatusOf(err), details: err.message });
        },
      );
    },
  });
  const host = opts.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (err) reject(new RateLimitStartError(`cannot listen for the rate-limit service on ${host}:${opts.port}: ${/EADDRINUSE|address already in use/i.test(err.message) ? 'address already in use' : err.message}`, { cause: err }));
      else resolve(p);
    });
  });
  return {
    port,
    close: (graceMs = 2000) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}
