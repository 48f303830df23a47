/**
 * A DestinationRule whose client TLS mode contradicts the PeerAuthentication in force at
 * the server (Istio's retired MTLSPolicyConflict, IST0113): `DISABLE` (plain text) towards
 * workloads that require mTLS (`STRICT`), or `ISTIO_MUTUAL` towards workloads whose mTLS
 * is `DISABLE`d. Either way every request is refused.
 *
 * The server's mode follows pilot's precedence: a workload PeerAuthentication (port level,
 * then its own mode), then the namespace's, then the mesh-wide one in the root namespace;
 * `UNSET` defers to the next level; the default is PERMISSIVE. Among several policies at
 * one level the oldest applies.
 */
import { clusterServiceOf, formatSelector, hostCoveredBy, isWildcard, selects } from './hosts.js';
import { MTLSPolicyConflict } from './messages.js';
import { NETWORKING, SECURITY, type Mesh, type ServicePort } from './mesh.js';
import { labelsOf, list, str, type ClientTLS, type DestinationRuleSpec, type Labels, type PeerAuthenticationSpec, type TrafficPolicy } from './spec.js';
import type { Analyzer, Path } from './types.js';
import type { MeshResource } from '../validate.js';

export const mtlsConflicts: Analyzer = {
  id: 'security.MTLSPolicyConflicts',
  description: 'Finds DestinationRules whose TLS mode (DISABLE / ISTIO_MUTUAL) contradicts the PeerAuthentication mode (STRICT / DISABLE) of the workloads they send to',
  messages: [MTLSPolicyConflict],
  run(mesh, report) {
    const pas = mesh.of(SECURITY, 'PeerAuthentication');
    if (pas.length === 0) return;
    for (const dr of mesh.of(NETWORKING, 'DestinationRule')) {
      const spec = dr.body.spec as DestinationRuleSpec | undefined;
      const host = str(spec?.host);
      if (!host) continue;
      const fqdn = mesh.fqdn(host, mesh.nsOf(dr));
      const servers = serversOf(mesh, fqdn);
      if (servers.length === 0) continue;
      for (const s of tlsSettings(spec)) {
        for (const server of servers) {
          const selector = server.selector || s.subsetLabels ? { ...(server.selector ?? {}), ...(s.subsetLabels ?? {}) } : undefined;
          const hit = serverModes(mesh, pas, server.namespace, selector, targetPortOf(server.ports, s.port)).find(
            (m) => (s.mode === 'DISABLE' && m.mode === 'STRICT') || (s.mode === 'ISTIO_MUTUAL' && m.mode === 'DISABLE'),
          );
          if (!hit) continue;
          const who = hit.policy ? `PeerAuthentication ${mesh.nsOf(hit.policy)}/${hit.policy.metadata.name}` : 'the mesh default';
          const where = server.namespace === undefined ? 'every workload of the mesh' : `its workloads in namespace ${server.namespace}${selector ? ` (${formatSelector(selector)})` : ''}`;
          const [needs, effect] = s.mode === 'DISABLE'
            ? ['requires mTLS (STRICT)', 'the plain-text requests this rule sends are refused']
            : ['disables mTLS (DISABLE)', 'the mTLS connections this rule opens fail'];
          report(MTLSPolicyConflict, dr, s.path, `DestinationRule sets TLS mode ${s.mode} for ${fqdn}${s.port ? ` port ${s.port}` : ''}, but ${who} ${needs} for ${where}: ${effect}`);
          break;
        }
      }
    }
  },
};

interface TlsSetting {
  readonly mode: string;
  readonly path: Path;
  readonly port?: number;
  readonly subsetLabels?: Labels;
}

// tlsSettings lists every DISABLE / ISTIO_MUTUAL client TLS mode in a rule with its path.
function tlsSettings(spec: DestinationRuleSpec | undefined): TlsSetting[] {
  const out: TlsSetting[] = [];
  const fromPolicy = (tp: TrafficPolicy | undefined, base: Path, subsetLabels?: Labels) => {
    const push = (tls: ClientTLS | undefined, path: Path, port?: number) => {
      const mode = str(tls?.mode);
      if (mode === 'DISABLE' || mode === 'ISTIO_MUTUAL') out.push({ mode, path: [...path, 'tls', 'mode'], port, subsetLabels });
    };
    push(tp?.tls, [...base, 'trafficPolicy']);
    list<NonNullable<TrafficPolicy['portLevelSettings']>[number]>(tp?.portLevelSettings).forEach((pl, j) => {
      push(pl?.tls, [...base, 'trafficPolicy', 'portLevelSettings', j], pl?.port?.number);
    });
  };
  fromPolicy(spec?.trafficPolicy, ['spec']);
  list<NonNullable<DestinationRuleSpec['subsets']>[number]>(spec?.subsets).forEach((s, k) => {
    fromPolicy(s?.trafficPolicy, ['spec', 'subsets', k], labelsOf(s?.labels));
  });
  return out;
}

/** Workloads behind a host: a namespace (undefined: the whole mesh), a selector when known, ports. */
interface Server {
  readonly namespace?: string;
  readonly selector?: Labels;
  readonly ports: readonly ServicePort[];
}

// serversOf returns where the traffic for `fqdn` lands inside the mesh. External hosts have
// no sidecar behind them, so PeerAuthentication does not apply and they yield nothing.
function serversOf(mesh: Mesh, fqdn: string): Server[] {
  // Only services with workloads behind a selector are served by sidecars: a Service without
  // a selector (manual endpoints) or a ServiceEntry without workloadSelector is outside the mesh.
  const defined = isWildcard(fqdn) ? mesh.servicesMatching(fqdn) : mesh.serviceHosts.filter((s) => s.host === fqdn);
  if (defined.length > 0) return defined.filter((s) => s.selector !== undefined).map((s) => ({ namespace: s.namespace, selector: s.selector, ports: s.ports }));
  const svc = clusterServiceOf(fqdn, mesh.opts.domainSuffix);
  if (svc) return [{ namespace: svc.namespace, ports: [] }];
  if (isWildcard(fqdn)) {
    const sample = `x.y.svc.${mesh.opts.domainSuffix}`;
    if (hostCoveredBy(sample, fqdn)) return [{ ports: [] }];
    const ns = clusterServiceOf(`x${fqdn.slice(1)}`, mesh.opts.domainSuffix);
    if (ns && fqdn.startsWith('*.')) return [{ namespace: ns.namespace, ports: [] }];
  }
  return [];
}

function targetPortOf(ports: readonly ServicePort[], port: number | undefined): number | undefined {
  if (port === undefined) return undefined;
  return ports.find((p) => p.number === port)?.targetPort ?? port;
}

interface Mode {
  readonly mode: string;
  readonly policy?: MeshResource;
}

// serverModes returns the effective PeerAuthentication mode of each workload behind a server:
// the known workloads it selects, or, when none are listed, a stand-in with the selector's labels.
function serverModes(mesh: Mesh, pas: readonly MeshResource[], namespace: string | undefined, selector: Labels | undefined, port: number | undefined): Mode[] {
  const root = mesh.opts.meshRootNamespace;
  const byAge = [...pas].sort((a, b) => String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')) || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  const specOf = (p: MeshResource) => p.body.spec as PeerAuthenticationSpec | undefined;
  const hasSelector = (p: MeshResource) => Object.keys(labelsOf(specOf(p)?.selector?.matchLabels) ?? {}).length > 0;
  const meshWide = byAge.find((p) => mesh.nsOf(p) === root && !hasSelector(p));
  const resolve = (labels: Labels | undefined): Mode => {
    if (namespace !== undefined) {
      const wl = labels ? byAge.find((p) => mesh.nsOf(p) === namespace && hasSelector(p) && selects(labelsOf(specOf(p)?.selector?.matchLabels), labels)) : undefined;
      if (wl) {
        const portMode = port !== undefined ? str(specOf(wl)?.portLevelMtls?.[String(port)]?.mode) : undefined;
        const mode = portMode && portMode !== 'UNSET' ? portMode : str(specOf(wl)?.mtls?.mode);
        if (mode && mode !== 'UNSET') return { mode, policy: wl };
      }
      const nsWide = byAge.find((p) => mesh.nsOf(p) === namespace && !hasSelector(p));
      const nsMode = nsWide ? str(specOf(nsWide)?.mtls?.mode) : undefined;
      if (nsWide && nsMode && nsMode !== 'UNSET') return { mode: nsMode, policy: nsWide };
    }
    const mode = meshWide ? str(specOf(meshWide)?.mtls?.mode) : undefined;
    if (meshWide && mode && mode !== 'UNSET') return { mode, policy: meshWide };
    return { mode: 'PERMISSIVE' };
  };
  if (namespace !== undefined && selector && mesh.opts.workloadsKnown) {
    const wls = mesh.workloadsSelectedBy(selector, namespace);
    if (wls.length > 0) return wls.map((w) => resolve(w.labels));
  }
  if (namespace === undefined) {
    // A rule for the whole mesh meets every namespace's policy; report the first conflict.
    const namespaces = new Set(pas.map((p) => mesh.nsOf(p)));
    return [resolve(undefined), ...[...namespaces].map((n) => serverModes(mesh, pas, n, undefined, port)).flat()];
  }
  return [resolve(selector)];
}
