// A cheap simulated proxy for benchmarks: an ADS (SotW) stream that ACKs every response and
// reads only cluster names (field 1 of each Cluster, read straight from the wire), so the
// benchmark measures pilot, not the decoding cost of a thousand simulated proxies.
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition } from '@meshwork/xds';

const Client = grpc.makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

// First length-delimited field 1 of a message (how protobufjs writes `name`), or ''.
function nameOf(bytes) {
  if (bytes[0] !== 0x0a) return '';
  let len = 0;
  let shift = 0;
  let i = 1;
  for (;;) {
    const b = bytes[i++];
    len |= (b & 0x7f) << shift;
    if (b < 0x80) break;
    shift += 7;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + i, len).toString('utf8');
}

/** ackClient opens one stream subscribing to `types` (wildcard) and keeps the CDS names it last got. */
export function ackClient(target, node, types) {
  const client = new Client(target, grpc.credentials.createInsecure());
  const call = client.streamAggregatedResources();
  const state = { clusters: new Set(), responses: 0, close: () => { call.end(); client.close(); } };
  call.on('data', (r) => {
    state.responses++;
    if (r.typeUrl === CDS) state.clusters = new Set(r.resources.map((a) => nameOf(a.value)));
    call.write({ versionInfo: r.versionInfo, responseNonce: r.nonce, typeUrl: r.typeUrl, resourceNames: [] });
  });
  call.on('error', () => undefined);
  types.forEach((t, i) => call.write({ ...(i === 0 ? { node } : {}), typeUrl: t, resourceNames: [] }));
  return state;
}
