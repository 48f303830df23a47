/**
 * Istio's HTTP metadata exchange (the `istio.metadata_exchange` filter): a sidecar tells the next
 * hop who it is by adding `x-envoy-peer-metadata-id` (its node id) and `x-envoy-peer-metadata`
 * (base64 of a serialized google.protobuf.Struct of its node metadata: WORKLOAD_NAME, NAMESPACE,
 * LABELS, SERVICE_ACCOUNT, …) to outbound requests; the destination sidecar reads and removes them,
 * so its metrics name the source workload, app and version (`source_workload` etc., which mTLS
 * alone cannot tell: the certificate names only the service account). As in Istio, the headers
 * are trusted as sent; the principal comes from the certificate, never from them.
 */
import type { HttpFilterStage, ListenerPlanExt, RequestHead } from '@meshwork/proxy';
import type { PeerInfo } from '@meshwork/telemetry';
import { decodeMessage, encodeMessage } from '@meshwork/xds';

export const PEER_METADATA_HEADER = 'x-envoy-peer-metadata';
export const PEER_METADATA_ID_HEADER = 'x-envoy-peer-metadata-id';

const STRUCT = 'google.protobuf.Struct';
/** The filter state key of the peer an inbound request's metadata named. */
const PEER_STATE = 'istio.metadata_exchange.peer';
/** Node metadata keys sent to peers (Istio sends its whole peer metadata set; these are what telemetry reads). */
const SENT_KEYS = ['NAME', 'NAMESPACE', 'LABELS', 'WORKLOAD_NAME', 'SERVICE_ACCOUNT', 'CLUSTER_ID', 'MESH_ID', 'OWNER', 'INSTANCE_IPS', 'ISTIO_VERSION'];

/** encodePeerMetadata returns the `x-envoy-peer-metadata` value for a node's metadata. */
export function encodePeerMetadata(metadata: Readonly<Record<string, unknown>>): string {
  const picked: Record<string, unknown> = {};
  for (const k of SENT_KEYS) if (metadata[k] !== undefined) picked[k] = metadata[k];
  return Buffer.from(encodeMessage(STRUCT, picked)).toString('base64');
}

/** peerFromMetadata returns the telemetry view of a peer's metadata (workload, namespace, app, version, canonical names). */
export function peerFromMetadata(m: Readonly<Record<string, unknown>>): PeerInfo {
  const labels = (typeof m.LABELS === 'object' && m.LABELS !== null ? m.LABELS : {}) as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const app = str(labels.app) ?? str(labels['app.kubernetes.io/name']);
  const version = str(labels.version) ?? str(labels['app.kubernetes.io/version']);
  const canonicalService = str(labels['service.istio.io/canonical-name']) ?? app ?? str(m.WORKLOAD_NAME);
  const canonicalRevision = str(labels['service.istio.io/canonical-revision']) ?? version;
  const workload = str(m.WORKLOAD_NAME);
  const namespace = str(m.NAMESPACE);
  const cluster = str(m.CLUSTER_ID);
  return {
    ...(workload ? { workload } : {}),
    ...(namespace ? { namespace } : {}),
    ...(app ? { app } : {}),
    ...(version ? { version } : {}),
    ...(canonicalService ? { canonicalService } : {}),
    ...(canonicalRevision ? { canonicalRevision } : {}),
    ...(cluster ? { cluster } : {}),
  };
}

/** decodePeerMetadata returns the peer a header value describes, or undefined when it is not a valid Struct. */
export function decodePeerMetadata(value: string): PeerInfo | undefined {
  try {
    const m = decodeMessage(STRUCT, Buffer.from(value, 'base64'));
    return peerFromMetadata(m);
  } catch {
    return undefined;
  }
}

/** MetadataExchange adds this proxy's metadata to outbound requests and reads the peer's on inbound ones. */
export class MetadataExchange {
  private readonly value: string;
  /** Decoded header values: a fleet sends few distinct ones (bounded: values come from clients). */
  private readonly cache = new Map<string, PeerInfo | undefined>();
  private lastValue: string | undefined;
  private lastPeer: PeerInfo | undefined;

  constructor(
    private readonly nodeId: string,
    metadata: Readonly<Record<string, unknown>>,
  ) {
    this.value = encodePeerMetadata(metadata);
  }

  /** stage returns the HTTP stage for a listener: outbound adds the headers, inbound takes them off the request. */
  stage(listener: ListenerPlanExt): HttpFilterStage {
    if (listener.trafficDirection === 'INBOUND') {
      return {
        name: 'istio.metadata_exchange',
        run: (ctx) => {
          const h = ctx.req.headers;
          const l = h.list;
          // One pass: the first metadata value, and both headers taken off the request.
          let v: string | undefined;
          let w = 0;
          for (let r = 0; r < l.length; r += 2) {
            const n = l[r];
            if (n === PEER_METADATA_HEADER) {
              v ??= l[r + 1];
              continue;
            }
            if (n === PEER_METADATA_ID_HEADER) continue;
            if (w !== r) {
              l[w] = n;
              l[w + 1] = l[r + 1];
            }
            w += 2;
          }
          l.length = w;
          if (v !== undefined) {
            // Kept in the request's filter state, not a WeakMap keyed by the request: a WeakMap
            // entry per request costs several times this whole stage (ephemerons in every scavenge).
            const peer = this.peerFor(v);
            if (peer) ctx.state.set(PEER_STATE, peer);
          }
          return undefined;
        },
      };
    }
    return {
      name: 'istio.metadata_exchange',
      run: (ctx) => {
        const h = ctx.req.headers;
        const l = h.list;
        // As set(id) then set(metadata): earlier values removed, ours appended in that order. An
        // application's request rarely carries either: then one read of the list, no rewrite.
        for (let i = 0; i < l.length; i += 2) {
          if (l[i] === PEER_METADATA_ID_HEADER || l[i] === PEER_METADATA_HEADER) {
            h.remove(PEER_METADATA_ID_HEADER);
            h.remove(PEER_METADATA_HEADER);
            break;
          }
        }
        l.push(PEER_METADATA_ID_HEADER, this.nodeId, PEER_METADATA_HEADER, this.value);
        return undefined;
      },
    };
  }

  /**
   * peerFor returns the peer a metadata header value describes (undefined: not a valid Struct).
   * The last value is compared first: a destination mostly hears from the same few sources, and
   * comparing the ~300-character value is cheaper than hashing it for the cache's Map.
   */
  private peerFor(v: string): PeerInfo | undefined {
    if (v === this.lastValue) return this.lastPeer;
    let peer = this.cache.get(v);
    if (peer === undefined && !this.cache.has(v)) {
      peer = decodePeerMetadata(v);
      if (this.cache.size >= 1000) this.cache.clear();
      this.cache.set(v, peer);
    }
    this.lastValue = v;
    this.lastPeer = peer;
    return peer;
  }

  /** peerOf returns the source a request's metadata named (inbound), or undefined. */
  peerOf(req: RequestHead): PeerInfo | undefined {
    return req.filterState?.get(PEER_STATE) as PeerInfo | undefined;
  }
}
