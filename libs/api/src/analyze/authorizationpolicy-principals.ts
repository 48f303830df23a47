/**
 * AuthorizationPolicy principals that can never match a workload of this mesh.
 *
 * - `<td>/ns/<ns>/sa/<sa>` with a trust domain that is neither the mesh's, one of its
 *   aliases, nor `cluster.local` (which pilot reads as "the local trust domain"): pilot keeps
 *   it as written and only logs a warning (trustdomain.Bundle.ReplaceTrustDomainAliases).
 *   A `*` trust domain, or a `*`-pattern matching ours, is fine.
 * - `spiffe://...`: principals are written without the scheme; pilot adds `spiffe://`
 *   itself, so the value never matches.
 *
 * Both `source.principals`/`notPrincipals` and `when` conditions on `source.principal`
 * are checked.
 */
import { ForeignTrustDomainPrincipal, SpiffePrefixedPrincipal } from './messages.js';
import { SECURITY, type Mesh } from './mesh.js';
import { list, str, type AuthorizationPolicySpec, type AuthzSource } from './spec.js';
import type { Analyzer, Path } from './types.js';

export const authorizationPolicyPrincipals: Analyzer = {
  id: 'authorizationpolicy.Principals',
  description: 'Finds AuthorizationPolicy principals outside the mesh trust domain (and its aliases) or written with a spiffe:// prefix',
  messages: [ForeignTrustDomainPrincipal, SpiffePrefixedPrincipal],
  run(mesh, report) {
    for (const ap of mesh.of(SECURITY, 'AuthorizationPolicy')) {
      const spec = ap.body.spec as AuthorizationPolicySpec | undefined;
      const check = (principal: unknown, path: Path) => {
        const p = str(principal);
        if (!p) return;
        const problem = principalProblem(mesh, p);
        if (problem) report(problem.msg, ap, path, problem.reason);
      };
      list<Record<string, unknown>>(spec?.rules).forEach((rule, i) => {
        list<{ source?: AuthzSource }>(rule?.from).forEach((from, j) => {
          for (const field of ['principals', 'notPrincipals'] as const) {
            list<string>(from?.source?.[field]).forEach((p, k) => check(p, ['spec', 'rules', i, 'from', j, 'source', field, k]));
          }
        });
        list<{ key?: string; values?: string[]; notValues?: string[] }>(rule?.when).forEach((cond, w) => {
          if (cond?.key !== 'source.principal') return;
          for (const field of ['values', 'notValues'] as const) {
            list<string>(cond[field]).forEach((p, k) => check(p, ['spec', 'rules', i, 'when', w, field, k]));
          }
        });
      });
    }
  },
};

/** principalProblem returns why a principal can never match a workload of this mesh, or undefined. */
export function principalProblem(mesh: Mesh, principal: string): { msg: typeof ForeignTrustDomainPrincipal; reason: string } | undefined {
  if (principal.toLowerCase().startsWith('spiffe://')) {
    return {
      msg: SpiffePrefixedPrincipal,
      reason: `principal ${JSON.stringify(principal)} starts with spiffe://; write it as <trust-domain>/ns/<namespace>/sa/<service-account> (pilot adds the scheme), or it never matches`,
    };
  }
  const parts = principal.split('/');
  if (parts.length !== 5) return undefined; // not of the SPIFFE form, so no trust domain is enforced
  const td = parts[0];
  if (td === '*') return undefined;
  const ours = [mesh.opts.trustDomain, ...mesh.opts.trustDomainAliases, 'cluster.local'];
  if (ours.some((t) => tdMatches(td, t))) return undefined;
  const aliases = mesh.opts.trustDomainAliases.length > 0 ? ` or its aliases (${mesh.opts.trustDomainAliases.join(', ')})` : '';
  return {
    msg: ForeignTrustDomainPrincipal,
    reason: `principal ${JSON.stringify(principal)} is in trust domain "${td}", not this mesh's "${mesh.opts.trustDomain}"${aliases}: no workload of this mesh has that identity`,
  };
}

// tdMatches compares a principal's trust domain, possibly with a leading or trailing `*`, to ours.
function tdMatches(pattern: string, td: string): boolean {
  if (pattern.startsWith('*')) return td.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return td.startsWith(pattern.slice(0, -1));
  return pattern === td;
}
