/**
 * The few fields of each kind that the analyzers read, as Istio/Kubernetes name them.
 * Analyzers see validated resources but deliberately do not depend on the schema types:
 * these narrow views are read defensively (`list`, `str`), so a schema that is looser
 * than expected cannot crash analysis.
 */

export type Labels = Record<string, string>;

export interface PortSelector { number?: number }
export interface Destination { host?: string; subset?: string; port?: PortSelector }
export interface RouteDestination { destination?: Destination; weight?: number }
export interface StringMatchV { exact?: string; prefix?: string; regex?: string }
export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatchV;
  scheme?: StringMatchV;
  method?: StringMatchV;
  authority?: StringMatchV;
  headers?: Record<string, StringMatchV>;
  queryParams?: Record<string, StringMatchV>;
  withoutHeaders?: Record<string, StringMatchV>;
  port?: number;
  sourceLabels?: Labels;
  gateways?: string[];
  ignoreUriCase?: boolean;
  sourceNamespace?: string;
  statPrefix?: string;
}
export interface L4Match { port?: number; gateways?: string[]; sourceLabels?: Labels; sourceNamespace?: string; destinationSubnets?: string[]; sniHosts?: string[] }
export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: RouteDestination[];
  redirect?: unknown;
  directResponse?: unknown;
  delegate?: { name?: string; namespace?: string };
  mirror?: Destination;
  mirrors?: { destination?: Destination }[];
}
export interface L4Route { match?: L4Match[]; route?: RouteDestination[] }
export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  http?: HTTPRoute[];
  tcp?: L4Route[];
  tls?: L4Route[];
  exportTo?: string[];
}

export interface ClientTLS { mode?: string }
export interface TrafficPolicy { tls?: ClientTLS; portLevelSettings?: { port?: PortSelector; tls?: ClientTLS }[] }
export interface DestinationRuleSpec {
  host?: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: { name?: string; labels?: Labels; trafficPolicy?: TrafficPolicy }[];
  exportTo?: string[];
  workloadSelector?: { matchLabels?: Labels };
}

export interface GatewayServer { port?: { number?: number; protocol?: string; name?: string }; bind?: string; hosts?: string[]; tls?: { mode?: string; credentialName?: string; credentialNames?: string[] } }
export interface GatewaySpec { selector?: Labels; servers?: GatewayServer[] }

export interface ServicePortSE { number?: number; protocol?: string; name?: string; targetPort?: number }
export interface ServiceEntrySpec {
  hosts?: string[];
  addresses?: string[];
  ports?: ServicePortSE[];
  location?: string;
  resolution?: string;
  workloadSelector?: { labels?: Labels };
  exportTo?: string[];
}

export interface WorkloadEntrySpec { labels?: Labels; address?: string }
export interface WorkloadGroupSpec { metadata?: { labels?: Labels } }

export interface K8sServicePort { name?: string; port?: number; targetPort?: number | string; protocol?: string; appProtocol?: string }
export interface K8sServiceSpec { selector?: Labels; ports?: K8sServicePort[]; type?: string }

export interface PeerAuthenticationSpec { selector?: { matchLabels?: Labels }; mtls?: { mode?: string }; portLevelMtls?: Record<string, { mode?: string }> }

export interface AuthzSource { principals?: string[]; notPrincipals?: string[]; namespaces?: string[]; notNamespaces?: string[] }
export interface AuthorizationPolicySpec { selector?: { matchLabels?: Labels }; rules?: { from?: { source?: AuthzSource }[] }[] }

export interface SidecarSpec { workloadSelector?: { labels?: Labels } }

export interface K8sGatewaySpec { listeners?: { hostname?: string }[] }

/** list returns `v` when it is an array, else an empty one. */
export function list<T>(v: T[] | undefined | unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

/** str returns `v` when it is a non-empty string. */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** labelsOf returns `v` when it is a string map, else undefined. */
export function labelsOf(v: unknown): Labels | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: Labels = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}
