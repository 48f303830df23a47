/**
 * Modules only some configurations need, loaded on first use so that a proxy without them does
 * not carry them (docs/proxy.md, hot path decisions: RSS): grpc-js for the rate-limit and ext_authz
 * clients, and @meshwork/xds's service-proto loader for their messages.
 */
import { createRequire } from 'node:module';
import type * as Grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';

const requireCjs = createRequire(import.meta.url);
let grpcModule: typeof Grpc | undefined;

/** grpcJs returns @grpc/grpc-js, loaded synchronously (CommonJS) the first time. */
export function grpcJs(): typeof Grpc {
  grpcModule ??= requireCjs('@grpc/grpc-js') as typeof Grpc;
  return grpcModule;
}

/** serviceTypes resolves with message types of a shipped gRPC service proto (@meshwork/xds's serviceProtoTypes, imported on first use). */
export async function serviceTypes(file: string, names: readonly string[]): Promise<protobuf.Type[]> {
  const { serviceProtoTypes } = await import('@meshwork/xds');
  return serviceProtoTypes(file, names);
}

let joseModule: Promise<typeof import('jose')> | undefined;

/** jose resolves with the jose package, imported (ESM) the first time a JWT is checked: ~10 MB a proxy without RequestAuthentication does not carry. */
export function jose(): Promise<typeof import('jose')> {
  joseModule ??= import('jose');
  return joseModule;
}
