/**
 * The catalogue of every kind Meshwork understands, looked up by apiVersion + kind.
 */
import type { KindDef, UnsupportedKind } from './schema/kind.js';
import { NETWORKING_KINDS } from './schema/networking.js';
import { SECURITY_KINDS } from './schema/security.js';
import { TELEMETRY_KINDS } from './schema/telemetry.js';
import { GATEWAY_API_KINDS } from './schema/gateway-api.js';
import { CORE_KINDS } from './schema/core.js';
import { MESHWORK_KINDS } from './schema/meshwork.js';

export type { KindDef, UnsupportedKind } from './schema/kind.js';

/** Every supported kind. */
export const ALL_KINDS: readonly KindDef[] = [
  ...NETWORKING_KINDS,
  ...SECURITY_KINDS,
  ...TELEMETRY_KINDS,
  ...GATEWAY_API_KINDS,
  ...CORE_KINDS,
  ...MESHWORK_KINDS,
];

/** Istio kinds that are out of scope, with the reason `validate` prints. */
export const UNSUPPORTED_KINDS: readonly UnsupportedKind[] = [
  { group: 'networking.istio.io', kind: 'EnvoyFilter', reason: 'EnvoyFilter is not supported by Meshwork: its proxy is not Envoy, so raw Envoy filter patches have no meaning' },
  { group: 'extensions.istio.io', kind: 'WasmPlugin', reason: 'WasmPlugin is not supported by Meshwork: the proxy does not run Wasm extensions' },
  { group: 'networking.istio.io', kind: 'ProxyConfig', reason: 'ProxyConfig is not supported by Meshwork: proxy settings come from the sidecar\'s own flags (see docs/sidecar.md)' },
];

const byGroupKind = new Map<string, KindDef>();
for (const k of ALL_KINDS) byGroupKind.set(`${k.group}/${k.kind}`, k);
const unsupported = new Map<string, UnsupportedKind>();
for (const k of UNSUPPORTED_KINDS) unsupported.set(`${k.group}/${k.kind}`, k);

/** splitApiVersion turns `networking.istio.io/v1` into `{group, version}` (`v1` → core group). */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** findKind returns the definition for a group and kind, or undefined. */
export function findKind(group: string, kind: string): KindDef | undefined {
  return byGroupKind.get(`${group}/${kind}`);
}

/** findUnsupported returns why a known-but-unsupported kind is refused, or undefined. */
export function findUnsupported(group: string, kind: string): UnsupportedKind | undefined {
  return unsupported.get(`${group}/${kind}`);
}

/** findKindByName resolves what a user types (`vs`, `virtualservice`, `VirtualService`, `virtualservices.networking.istio.io`). */
export function findKindByName(name: string): KindDef | undefined {
  const n = name.toLowerCase();
  const [base, ...groupParts] = n.split('.');
  const group = groupParts.join('.');
  for (const k of ALL_KINDS) {
    if (group && k.group !== group) continue;
    if (k.kind.toLowerCase() === base || k.plural === base || k.singular === base || k.shortNames?.includes(base)) return k;
  }
  return undefined;
}

/** apiVersionOf returns `group/version` for a kind's preferred version. */
export function apiVersionOf(k: KindDef, version = k.versions[0]): string {
  return k.group ? `${k.group}/${version}` : version;
}
