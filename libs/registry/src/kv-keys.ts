/**
 * NATS KV key encoding of resource identities: `<group>.<kind>.<namespace>.<name>`.
 *
 * A KV key is a NATS subject (tokens split by `.`; allowed characters `-/_=.A-Za-z0-9`), so
 * the dots inside an API group (`networking.istio.io`) or a DNS-subdomain name
 * (`api.example.com`) would add tokens. They become `_`, which Kubernetes group names,
 * namespaces and DNS names can never contain, so the mapping is reversible; the core group
 * is `core` and a cluster-scoped resource's namespace `_`. Every resource is then exactly
 * four tokens and `networking_istio_io.VirtualService.>` watches one kind.
 */
import type { ResourceKey } from './types.js';

const CLUSTER_SCOPED = '_';
const CORE_GROUP = 'core';

/** kvKeyOf returns the KV key of a resource. */
export function kvKeyOf(k: ResourceKey): string {
  return [k.group === '' ? CORE_GROUP : dots(k.group), k.kind, k.namespace === '' ? CLUSTER_SCOPED : k.namespace, dots(k.name)].join('.');
}

/** resourceKeyOf decodes a KV key, or returns undefined when it is not one of ours. */
export function resourceKeyOf(kvKey: string): ResourceKey | undefined {
  const t = kvKey.split('.');
  if (t.length !== 4 || t.some((x) => x === '')) return undefined;
  const [g, kind, ns, name] = t;
  return { group: g === CORE_GROUP ? '' : undots(g), kind, namespace: ns === CLUSTER_SCOPED ? '' : ns, name: undots(name) };
}

/** kvKindFilter returns the KV key filter of one kind (or every key). */
export function kvKindFilter(group?: string, kind?: string): string {
  if (group === undefined || kind === undefined) return '>';
  return `${group === '' ? CORE_GROUP : dots(group)}.${kind}.>`;
}

function dots(s: string): string {
  return s.replace(/\./g, '_');
}
function undots(s: string): string {
  return s.replace(/_/g, '.');
}
