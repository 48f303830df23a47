// A cheap simulated proxy for benchmarks: one ADS stream (SotW, or Delta with `delta: true`)
// that ACKs every response with its version and nonce and keeps only the names of the clusters
// it holds. Responses are scanned straight from the protobuf wire format (no protobufjs decode,
// no copies of resources), so the benchmark measures pilot, not the decoding cost of a thousand
// simulated proxies in one process. Cluster names are read from each Cluster message itself
// (field 1), so a name counts only when pilot really sent that cluster.
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition, codec } from '@meshwork/xds';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const utf8 = new TextDecoder();

// Protobuf wire format: varints, tags, and the length-delimited fields we need.
function varint(buf, pos) {
  let v = 0;
  let mul = 1;
  for (;;) {
    const b = buf[pos++];
    v += (b & 0x7f) * mul;
    if (b < 0x80) return [v, pos];
    mul *= 128;
  }
}

/** Calls `onField(field, start, end)` for every length-delimited field of the message in buf[start, end). */
function scan(buf, start, end, onField) {
  let pos = start;
  while (pos < end) {
    let tag;
    [tag, pos] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    switch (tag & 7) {
      case 0:
        [, pos] = varint(buf, pos);
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        let len;
        [len, pos] = varint(buf, pos);
        onField(field, pos, pos + len);
        pos += len;
        break;
      }
      default:
        throw new Error(`wire type ${tag & 7} at ${pos}`);
    }
  }
}

const str = (buf, s, e) => utf8.decode(buf.subarray(s, e));

/** The `name` (field 1) of the message in an Any's value (Any: type_url 1, value 2). */
function anyMessageName(buf, s, e) {
  let name = '';
  scan(buf, s, e, (f, vs, ve) => {
    if (f === 2) scan(buf, vs, ve, (g, ns, ne) => { if (g === 1 && name === '') name = str(buf, ns, ne); });
  });
  return name;
}

/** DiscoveryResponse: version_info 1, resources 2 (Any), type_url 4, nonce 5. Cluster names only for CDS. */
function decodeSotw(buf) {
  const r = { versionInfo: '', typeUrl: '', nonce: '', anys: [] };
  scan(buf, 0, buf.length, (f, s, e) => {
    if (f === 1) r.versionInfo = str(buf, s, e);
    else if (f === 2) r.anys.push([s, e]);
    else if (f === 4) r.typeUrl = str(buf, s, e);
    else if (f === 5) r.nonce = str(buf, s, e);
  });
  r.names = r.typeUrl === CDS ? r.anys.map(([s, e]) => anyMessageName(buf, s, e)) : [];
  r.count = r.anys.length;
  delete r.anys;
  return r;
}

/** DeltaDiscoveryResponse: system_version_info 1, resources 2 (Resource: resource Any 2), type_url 4, nonce 5, removed_resources 6. */
function decodeDelta(buf) {
  const r = { systemVersionInfo: '', typeUrl: '', nonce: '', spans: [], removed: [] };
  scan(buf, 0, buf.length, (f, s, e) => {
    if (f === 1) r.systemVersionInfo = str(buf, s, e);
    else if (f === 2) r.spans.push([s, e]);
    else if (f === 4) r.typeUrl = str(buf, s, e);
    else if (f === 5) r.nonce = str(buf, s, e);
    else if (f === 6) r.removed.push(str(buf, s, e));
  });
  r.names = [];
  if (r.typeUrl === CDS) {
    for (const [s, e] of r.spans) scan(buf, s, e, (f, as, ae) => { if (f === 2) r.names.push(anyMessageName(buf, as, ae)); });
  }
  r.count = r.spans.length;
  delete r.spans;
  return r;
}

const def = adsServiceDefinition();
const Client = grpc.makeGenericClientConstructor(
  {
    streamAggregatedResources: { ...def.streamAggregatedResources, requestSerialize: codec.encodeSotwRequest, responseDeserialize: decodeSotw },
    deltaAggregatedResources: { ...def.deltaAggregatedResources, requestSerialize: codec.encodeDeltaRequest, responseDeserialize: decodeDelta },
  },
  'AggregatedDiscoveryService',
);

/**
 * ackClient opens one stream subscribing to `types` (wildcard for CDS/LDS, as Envoy does) and
 * keeps the set of cluster names it holds; `channel` lets several clients share a connection.
 */
export function ackClient(target, node, types, { delta = false, channelOptions = {} } = {}) {
  const client = new Client(target, grpc.credentials.createInsecure(), channelOptions);
  const state = { clusters: new Set(), responses: 0, bytes: 0, close: () => { call.end(); client.close(); } };
  const call = delta ? client.deltaAggregatedResources() : client.streamAggregatedResources();
  call.on('data', (r) => {
    state.responses++;
    if (delta) {
      if (r.typeUrl === CDS) {
        for (const n of r.removed) state.clusters.delete(n);
        for (const n of r.names) state.clusters.add(n);
      }
      call.write({ typeUrl: r.typeUrl, responseNonce: r.nonce });
    } else {
      if (r.typeUrl === CDS) state.clusters = new Set(r.names);
      call.write({ versionInfo: r.versionInfo, responseNonce: r.nonce, typeUrl: r.typeUrl, resourceNames: [] });
    }
  });
  call.on('error', () => undefined);
  types.forEach((t, i) => call.write({ ...(i === 0 ? { node } : {}), typeUrl: t, ...(delta ? {} : { resourceNames: [] }) }));
  return state;
}
