/**
 * AuthorizationPolicy sources naming a namespace that does not exist (Istio's
 * auth.AuthorizationPoliciesAnalyzer, namespace part): such a rule never matches, which
 * for an ALLOW policy silently denies the intended callers. A namespace exists when a
 * Namespace object or any resource in it is in the input; the mesh root namespace always
 * does. `*`, `prefix*` and `*suffix` patterns match as pilot matches them.
 */
import { namespacePatternMatches } from './hosts.js';
import { ReferencedResourceNotFound } from './messages.js';
import { SECURITY } from './mesh.js';
import { list, str, type AuthorizationPolicySpec, type AuthzSource } from './spec.js';
import type { Analyzer } from './types.js';

export const authorizationPolicyNamespaces: Analyzer = {
  id: 'authorizationpolicy.Namespaces',
  description: 'Checks that namespaces named in AuthorizationPolicy sources (namespaces, notNamespaces) exist',
  messages: [ReferencedResourceNotFound],
  run(mesh, report) {
    const known = [...mesh.namespaces];
    for (const ap of mesh.of(SECURITY, 'AuthorizationPolicy')) {
      const spec = ap.body.spec as AuthorizationPolicySpec | undefined;
      list<NonNullable<AuthorizationPolicySpec['rules']>[number]>(spec?.rules).forEach((rule, i) => {
        list<{ source?: AuthzSource }>(rule?.from).forEach((from, j) => {
          for (const field of ['namespaces', 'notNamespaces'] as const) {
            list<string>(from?.source?.[field]).forEach((ns, k) => {
              if (!str(ns) || known.some((n) => namespacePatternMatches(ns, n))) return;
              report(ReferencedResourceNotFound, ap, ['spec', 'rules', i, 'from', j, 'source', field, k], `Referenced namespace not found: ${JSON.stringify(ns)} (no Namespace object or resource in the input is in it)`);
            });
          }
        });
      });
    }
  },
};
