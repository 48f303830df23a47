/** @meshwork/xds — Envoy xDS v3 protocol layer (see docs/architecture.md). This file is the library's only public door. */
export * from './errors.js';
export { ENVOY_PROTO_FILES, envoyRoot, lookupMessage, protoIncludeDirs, serviceProtoTypes } from './protos.js';
export * from './resources.js';
export * from './sotw.js';
export * from './delta.js';
export * from './snapshot.js';
export * from './wire.js';
export * from './ads-server.js';
export * from './ads-client.js';
