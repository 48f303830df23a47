/**
 * The same resource (group, kind, namespace, name) given more than once. `kubectl apply`
 * and `meshctl apply` keep the last definition, so the analysis does too and reports the
 * replaced ones, which would otherwise produce confusing conflicts (two "different"
 * VirtualServices called reviews, say).
 */
import { splitApiVersion } from '../registry.js';
import type { MeshResource } from '../validate.js';
import { DuplicateResource } from './messages.js';
import type { Analyzer } from './types.js';

/** keyOf returns the identity of a resource: API group, kind, namespace and name. */
function keyOf(r: MeshResource, defaultNamespace: string): string {
  const ns = r.def?.namespaced === false ? '' : (r.metadata.namespace ?? defaultNamespace);
  return `${splitApiVersion(r.apiVersion).group}/${r.kind}/${ns}/${r.metadata.name ?? ''}`;
}

/**
 * dedupeResources returns the resources that survive "last definition wins", and for each
 * replaced one the definition that replaced it.
 */
export function dedupeResources(resources: readonly MeshResource[], defaultNamespace = 'default'): { kept: MeshResource[]; replaced: { resource: MeshResource; by: MeshResource }[] } {
  const last = new Map<string, MeshResource>();
  for (const r of resources) last.set(keyOf(r, defaultNamespace), r);
  const kept: MeshResource[] = [];
  const replaced: { resource: MeshResource; by: MeshResource }[] = [];
  for (const r of resources) {
    const winner = last.get(keyOf(r, defaultNamespace)) as MeshResource;
    if (winner === r) kept.push(r);
    else replaced.push({ resource: r, by: winner });
  }
  return { kept, replaced };
}

export const duplicateResources: Analyzer = {
  id: 'input.DuplicateResources',
  description: 'Reports resources defined more than once in the input; the last definition is the one analyzed',
  messages: [DuplicateResource],
  run(mesh, report) {
    for (const { resource, by } of mesh.replaced) {
      const pos = by.source?.locate([]);
      const where = pos?.file ? ` at ${pos.file}${pos.line ? `:${pos.line}` : ''}` : '';
      report(DuplicateResource, resource, [], `this definition is replaced by a later one${where}, as kubectl apply would replace it; only the last definition is analyzed`);
    }
  },
};
