/**
 * A Gateway TLS server's `credentialName` (and each of `credentialNames`) must name a Secret
 * the gateway can read, or its handshakes are refused until the Secret appears (Istio's
 * gateway.SecretAnalyzer, IST0101 "Referenced credentialName not found"). The Secret is looked
 * up in the namespace of the gateway workloads the selector picks (when workloads are known),
 * else in the Gateway's own namespace; a name the gateway's local secret store holds
 * (`secretNames`) counts in any namespace. Only checked when the secrets are known.
 */
import { ReferencedResourceNotFound } from './messages.js';
import { CORE, NETWORKING, type Mesh } from './mesh.js';
import { labelsOf, list, str, type GatewaySpec } from './spec.js';
import type { Analyzer, Path } from './types.js';

/** gatewayNamespaces returns where a Gateway's proxies run: the selected workloads' namespaces, else its own. */
function gatewayNamespaces(mesh: Mesh, selector: Record<string, string> | undefined, own: string): string[] {
  if (mesh.opts.workloadsKnown && selector && Object.keys(selector).length > 0) {
    const found = [...new Set(mesh.workloadsSelectedBy(selector).map((w) => w.namespace))];
    if (found.length > 0) return found;
  }
  return [own];
}

export const gatewayCredentials: Analyzer = {
  id: 'gateway.CredentialNames',
  description: "Checks that each Gateway TLS server's credentialName names a Secret the gateway can read (when secrets are known: Secrets in the input, or a gateway secret directory)",
  messages: [ReferencedResourceNotFound],
  run(mesh, report) {
    if (!mesh.opts.secretsKnown) return;
    const secrets = new Set(mesh.of(CORE, 'Secret').map((s) => `${mesh.nsOf(s)}/${s.metadata.name ?? ''}`));
    const local = new Set(mesh.opts.secretNames);
    for (const gw of mesh.of(NETWORKING, 'Gateway')) {
      const spec = gw.body.spec as GatewaySpec | undefined;
      const namespaces = gatewayNamespaces(mesh, labelsOf(spec?.selector), mesh.nsOf(gw));
      list<NonNullable<GatewaySpec['servers']>[number]>(spec?.servers).forEach((server, i) => {
        const tls = server.tls;
        const refs: { name: string; path: Path }[] = [];
        const single = str(tls?.credentialName);
        if (single) refs.push({ name: single, path: ['spec', 'servers', i, 'tls', 'credentialName'] });
        list<unknown>(tls?.credentialNames).forEach((n, j) => {
          const name = str(n);
          if (name) refs.push({ name, path: ['spec', 'servers', i, 'tls', 'credentialNames', j] });
        });
        for (const ref of refs) {
          if (local.has(ref.name) || namespaces.every((ns) => secrets.has(`${ns}/${ref.name}`))) continue;
          const where = namespaces.filter((ns) => !secrets.has(`${ns}/${ref.name}`)).join(', ');
          report(ReferencedResourceNotFound, gw, ref.path, `Referenced credentialName not found: "${ref.name}" (no Secret "${ref.name}" in namespace ${where}${local.size > 0 ? ' nor in the gateway secret directory' : ''}: the server's TLS handshakes are refused until it exists)`);
        }
      });
    }
  },
};
