/**
 * The ADS gRPC service (`envoy.service.discovery.v3.AggregatedDiscoveryService`) as a grpc-js
 * service definition whose (de)serializers are protobufjs types from envoyRoot(). Responses are
 * encoded from already-encoded resources (PackedAny), so a resource shared by many proxies is
 * encoded once and only copied into each frame.
 */
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { envoyRoot } from './protos.js';
import { decodeMessage, encodeMessage, type PackedAny, type ResourceObject } from './resources.js';

export const ADS_SERVICE_NAME = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
const PKG = 'envoy.service.discovery.v3';

/** A DiscoveryResponse ready for the wire. */
export interface WireSotwResponse {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly PackedAny[];
  /**
   * Server side only: every field but the nonce, already encoded (encodeSotwBody). Proxies with
   * the same subscription to the same snapshot type share it; only the nonce is appended per
   * stream (protobuf fields may come in any order).
   */
  readonly body?: Buffer;
}

/** A DeltaDiscoveryResponse ready for the wire. */
export interface WireDeltaResponse {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly { readonly name: string; readonly version: string; readonly resource: PackedAny }[];
  readonly removedResources: readonly string[];
  /** Server side only: every field but the nonce, already encoded (encodeDeltaBody), shared by streams sent the same changes. */
  readonly body?: Buffer;
}

function type(name: string): protobuf.Type {
  return envoyRoot().lookupType(`${PKG}.${name}`);
}

function toBuffer(u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** DiscoveryResponse.nonce and DeltaDiscoveryResponse.nonce are both field 5, length-delimited. */
const NONCE_TAG = (5 << 3) | 2;

/** encodeSotwBody returns a DiscoveryResponse without its nonce, to share across streams (see WireSotwResponse.body). */
export function encodeSotwBody(versionInfo: string, typeUrl: string, resources: readonly PackedAny[]): Buffer {
  return toBuffer(type('DiscoveryResponse').encode({ versionInfo, typeUrl, resources: resources.map(anyOf) }).finish());
}

/** encodeDeltaBody returns a DeltaDiscoveryResponse without its nonce, to share across streams (see WireDeltaResponse.body). */
export function encodeDeltaBody(r: Omit<WireDeltaResponse, 'nonce' | 'body'>): Buffer {
  return toBuffer(type('DeltaDiscoveryResponse').encode({ ...r, resources: r.resources.map((x) => ({ name: x.name, version: x.version, resource: anyOf(x.resource) })) }).finish());
}

const framed = new WeakMap<Buffer, Map<string, Buffer>>();
/**
 * `body` followed by the nonce field (protobuf fields may come in any order). Nonces count per
 * stream, so streams with the same history send a body with the same nonce: that message is
 * built once and shared instead of copied per stream.
 */
function withNonce(body: Buffer, nonce: string): Buffer {
  let byNonce = framed.get(body);
  if (!byNonce) framed.set(body, (byNonce = new Map()));
  let msg = byNonce.get(nonce);
  if (!msg) {
    msg = Buffer.concat([body, toBuffer(protobuf.Writer.create().uint32(NONCE_TAG).string(nonce).finish())]);
    if (byNonce.size < 8) byNonce.set(nonce, msg);
  }
  return msg;
}

const anyOf = (a: PackedAny): { type_url: string; value: Uint8Array } => ({ type_url: a.typeUrl, value: a.value });

/** Serializers for the four messages, in the object forms used by this library. */
export const codec = {
  encodeSotwRequest: (req: ResourceObject): Buffer => toBuffer(encodeMessage(`${PKG}.DiscoveryRequest`, req)),
  decodeSotwRequest: (b: Buffer): ResourceObject => decodeMessage(`${PKG}.DiscoveryRequest`, b),
  encodeDeltaRequest: (req: ResourceObject): Buffer => toBuffer(encodeMessage(`${PKG}.DeltaDiscoveryRequest`, req)),
  decodeDeltaRequest: (b: Buffer): ResourceObject => decodeMessage(`${PKG}.DeltaDiscoveryRequest`, b),
  // Plain objects straight into protobufjs's encoder: no per-proxy re-validation of resources.
  encodeSotwResponse: (r: WireSotwResponse): Buffer =>
    r.body ? withNonce(r.body, r.nonce) : toBuffer(type('DiscoveryResponse').encode({ ...r, resources: r.resources.map(anyOf) }).finish()),
  decodeSotwResponse: (b: Buffer): WireSotwResponse => {
    const m = type('DiscoveryResponse').decode(b) as unknown as { versionInfo: string; typeUrl: string; nonce: string; resources: { type_url: string; value: Uint8Array }[] };
    return { versionInfo: m.versionInfo, typeUrl: m.typeUrl, nonce: m.nonce, resources: m.resources.map((a) => ({ typeUrl: a.type_url, value: a.value })) };
  },
  encodeDeltaResponse: (r: WireDeltaResponse): Buffer =>
    r.body ? withNonce(r.body, r.nonce) : toBuffer(type('DeltaDiscoveryResponse').encode({ ...r, resources: r.resources.map((x) => ({ name: x.name, version: x.version, resource: anyOf(x.resource) })) }).finish()),
  decodeDeltaResponse: (b: Buffer): WireDeltaResponse => {
    const m = type('DeltaDiscoveryResponse').decode(b) as unknown as {
      systemVersionInfo: string;
      typeUrl: string;
      nonce: string;
      resources: { name: string; version: string; resource?: { type_url: string; value: Uint8Array } }[];
      removedResources: string[];
    };
    return {
      systemVersionInfo: m.systemVersionInfo,
      typeUrl: m.typeUrl,
      nonce: m.nonce,
      resources: m.resources.map((x) => ({ name: x.name, version: x.version, resource: { typeUrl: x.resource?.type_url ?? '', value: x.resource?.value ?? new Uint8Array() } })),
      removedResources: m.removedResources,
    };
  },
};

/** adsServiceDefinition returns the grpc-js definition of the ADS service (both methods, bidi streaming). */
export function adsServiceDefinition(): grpc.ServiceDefinition {
  return {
    streamAggregatedResources: {
      path: `/${ADS_SERVICE_NAME}/StreamAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: codec.encodeSotwRequest,
      requestDeserialize: codec.decodeSotwRequest,
      responseSerialize: codec.encodeSotwResponse,
      responseDeserialize: codec.decodeSotwResponse,
    },
    deltaAggregatedResources: {
      path: `/${ADS_SERVICE_NAME}/DeltaAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: codec.encodeDeltaRequest,
      requestDeserialize: codec.decodeDeltaRequest,
      responseSerialize: codec.encodeDeltaResponse,
      responseDeserialize: codec.decodeDeltaResponse,
    },
  } as grpc.ServiceDefinition;
}
