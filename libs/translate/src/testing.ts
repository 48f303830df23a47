/**
 * Test support for libs/translate and its users (apps/pilot tests): a compact YAML
 * description of a mesh (services with their workloads, Istio configs, a proxy) turned into
 * a snapshot and a proxy. Shared fakes live here, never in index.ts.
 */
import { parse as parseYaml, stringify } from 'yaml';
import { validateText, type Endpoint, type MeshConfig, type MeshServicePort, type ProxyNode, type Service } from '@meshwork/api';
import { DEFAULT_MESH_CONFIG } from '@meshwork/api';
import { parseNode } from './node.js';
import { buildSnapshot, type MeshSnapshot } from './snapshot.js';
import type { SimulatedRequest } from './simulate.js';

/** A workload behind a service in a test case. */
export interface CaseWorkload {
  address: string;
  labels?: Record<string, string>;
  serviceAccount?: string;
  /** `region/zone/subzone`. */
  locality?: string;
  healthy?: boolean;
  weight?: number;
  tlsMode?: 'istio' | 'disabled';
  /** Only these port names (default: every port of the service). */
  ports?: string[];
}

/** A service in a test case; everything but `host` and `ports` has a Kubernetes-like default. */
export interface CaseService {
  host: string;
  namespace?: string;
  name?: string;
  ports: MeshServicePort[];
  addresses?: string[];
  resolution?: Service['resolution'];
  location?: Service['location'];
  exportTo?: string[];
  /** Default `{app: <name>}` for MESH_INTERNAL services. */
  selector?: Record<string, string> | null;
  labels?: Record<string, string>;
  workloads?: CaseWorkload[];
}

/** One expectation run through the simulator. */
export interface CaseSimulation {
  name?: string;
  request: SimulatedRequest;
  /** Expected cluster, or `error` code (MESH_ERR_SIM_*), or directResponse status / redirect presence. */
  cluster?: string;
  error?: string;
  status?: number;
  redirect?: boolean;
}

/** A translation test case as written in testdata/<case>/input.yaml. */
export interface TranslationCase {
  description?: string;
  proxy: { id: string; labels?: Record<string, string>; metadata?: Record<string, unknown>; locality?: { region?: string; zone?: string; subZone?: string } };
  /** Requested listener names (proxyless gRPC). */
  listenerNames?: string[];
  meshConfig?: Partial<MeshConfig>;
  services?: CaseService[];
  configs?: Record<string, unknown>[];
  simulate?: CaseSimulation[];
}

/** A loaded case: the inputs of translation. */
export interface LoadedCase {
  readonly raw: TranslationCase;
  readonly proxy: ProxyNode;
  readonly snapshot: MeshSnapshot;
  readonly listenerNames: readonly string[];
}

function parseLocality(s: string | undefined): Endpoint['locality'] {
  if (!s) return undefined;
  const [region, zone, subzone] = s.split('/');
  return { ...(region ? { region } : {}), ...(zone ? { zone } : {}), ...(subzone ? { subzone } : {}) };
}

/** caseServices returns the Services and Endpoints a case's `services` describe. */
export function caseServices(list: readonly CaseService[], domainSuffix = 'cluster.local'): { services: Service[]; endpoints: Endpoint[] } {
  const services: Service[] = [];
  const endpoints: Endpoint[] = [];
  for (const c of list) {
    const k8s = c.host.endsWith(`.svc.${domainSuffix}`);
    const namespace = c.namespace ?? (k8s ? c.host.split('.')[1] : 'default');
    const name = c.name ?? c.host.split('.')[0];
    const location = c.location ?? 'MESH_INTERNAL';
    const selector = c.selector === null ? undefined : (c.selector ?? (location === 'MESH_INTERNAL' ? { app: name } : undefined));
    services.push({
      hostname: c.host,
      namespace,
      name,
      ports: c.ports,
      addresses: c.addresses ?? [],
      resolution: c.resolution ?? 'STATIC',
      location,
      exportTo: c.exportTo ?? ['*'],
      ...(selector ? { selector } : {}),
      labels: c.labels ?? {},
      source: k8s ? 'kubernetes' : 'serviceentry',
    });
    for (const w of c.workloads ?? []) {
      for (const p of c.ports) {
        if (w.ports && !w.ports.includes(p.name)) continue;
        const locality = parseLocality(w.locality);
        endpoints.push({
          hostname: c.host,
          namespace,
          servicePortName: p.name,
          address: w.address,
          port: p.targetPort ?? p.port,
          labels: { ...(selector ?? {}), ...(w.labels ?? {}) },
          ...(w.serviceAccount ? { serviceAccount: w.serviceAccount } : {}),
          ...(locality ? { locality } : {}),
          ...(w.weight ? { weight: w.weight } : {}),
          healthy: w.healthy ?? true,
          tlsMode: w.tlsMode ?? (location === 'MESH_INTERNAL' ? 'istio' : 'disabled'),
        });
      }
    }
  }
  return { services, endpoints };
}

/** loadCase parses a case's YAML text, validates its configs with libs/api and builds the snapshot and proxy; throws on invalid configs. */
export function loadCase(text: string): LoadedCase {
  const raw = parseYaml(text) as TranslationCase;
  const meshConfig: MeshConfig = { ...DEFAULT_MESH_CONFIG, ...(raw.meshConfig ?? {}) };
  const { services, endpoints } = caseServices(raw.services ?? [], meshConfig.domainSuffix);
  const configs = (raw.configs ?? []).length > 0 ? validateText((raw.configs ?? []).map((c) => stringify(c)).join('---\n')) : { resources: [], diagnostics: [] };
  if (configs.diagnostics.length > 0) throw new Error(`invalid configs in case: ${configs.diagnostics.map((d) => `${d.path ?? ''} ${d.reason}`).join('; ')}`);
  const snapshot = buildSnapshot({ configs: configs.resources, services, endpoints, meshConfig });
  const proxy = parseNode({ id: raw.proxy.id, metadata: { ...(raw.proxy.labels ? { LABELS: raw.proxy.labels } : {}), ...(raw.proxy.metadata ?? {}) }, ...(raw.proxy.locality ? { locality: raw.proxy.locality } : {}) });
  return { raw, proxy, snapshot, listenerNames: raw.listenerNames ?? [] };
}
