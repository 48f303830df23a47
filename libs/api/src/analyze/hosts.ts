/**
 * Host names, export scopes and label selectors as pilot interprets them; the shared
 * vocabulary of the analyzers.
 */

/** isWildcard reports whether a host starts with `*` (`*`, `*.example.com`, `*bar.com`). */
export function isWildcard(host: string): boolean {
  return host.startsWith('*');
}

/**
 * toFqdn returns the fully qualified form of a host written in `namespace`: a short name
 * (no dot) becomes `<name>.<namespace>.svc.<domainSuffix>`, as pilot's
 * ResolveShortnameToFQDN does; names with a dot, wildcards and IPs are kept as written.
 * Hosts are case-insensitive, so the result is lower case.
 */
export function toFqdn(host: string, namespace: string, domainSuffix: string): string {
  const h = host.toLowerCase();
  if (h === '' || isWildcard(h) || h.includes('.') || h.includes(':')) return h;
  return `${h}.${namespace}.svc.${domainSuffix}`;
}

/**
 * clusterServiceOf returns the Service name and namespace a cluster-local FQDN
 * (`<name>.<ns>.svc.<domainSuffix>`) denotes, or undefined for any other host.
 */
export function clusterServiceOf(fqdn: string, domainSuffix: string): { name: string; namespace: string } | undefined {
  const suffix = `.svc.${domainSuffix}`;
  if (isWildcard(fqdn) || !fqdn.endsWith(suffix)) return undefined;
  const parts = fqdn.slice(0, -suffix.length).split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { name: parts[0], namespace: parts[1] };
}

/**
 * hostsOverlap reports whether two (possibly wildcard) hosts share at least one name,
 * Istio's host.Name.Matches: `*.com` overlaps `foo.com`, `*` overlaps everything,
 * `*.foo.com` does not overlap `foo.com`.
 */
export function hostsOverlap(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const xw = isWildcard(x);
  const yw = isWildcard(y);
  if (xw && yw) return x.length < y.length ? y.slice(1).endsWith(x.slice(1)) : x.slice(1).endsWith(y.slice(1));
  if (xw) return y.endsWith(x.slice(1));
  if (yw) return x.endsWith(y.slice(1));
  return x === y;
}

/** hostCoveredBy reports whether every name `host` stands for is also named by `pattern` (Istio's SubsetOf). */
export function hostCoveredBy(host: string, pattern: string): boolean {
  const h = host.toLowerCase();
  const p = pattern.toLowerCase();
  const hw = isWildcard(h);
  const pw = isWildcard(p);
  if (hw && pw) return h.length >= p.length && h.slice(1).endsWith(p.slice(1));
  if (hw) return false;
  if (pw) return h.endsWith(p.slice(1));
  return h === p;
}

/**
 * The namespaces a resource is visible in, from its `exportTo` list: `*` (or an empty
 * list, the mesh default) is everywhere, `.` its own namespace, `~` nowhere.
 */
export interface ExportScope {
  readonly all: boolean;
  readonly namespaces: ReadonlySet<string>;
}

/** exportScope returns where a resource of `namespace` with this `exportTo` is visible. */
export function exportScope(exportTo: readonly string[] | undefined, namespace: string): ExportScope {
  if (!exportTo || exportTo.length === 0 || exportTo.includes('*')) return { all: true, namespaces: new Set() };
  const namespaces = new Set<string>();
  for (const e of exportTo) {
    if (e === '.') namespaces.add(namespace);
    else if (e !== '~') namespaces.add(e);
  }
  return { all: false, namespaces };
}

/** exportScopeFromAnnotation reads a Service's `networking.istio.io/exportTo` annotation (comma-separated). */
export function exportScopeFromAnnotation(value: string | undefined, namespace: string): ExportScope {
  if (value === undefined || value.trim() === '') return { all: true, namespaces: new Set() };
  return exportScope(value.split(',').map((s) => s.trim()).filter((s) => s !== ''), namespace);
}

/** visibleIn reports whether a scope includes `namespace`. */
export function visibleIn(scope: ExportScope, namespace: string): boolean {
  return scope.all || scope.namespaces.has(namespace);
}

/** scopesIntersect reports whether some namespace sees both scopes. */
export function scopesIntersect(a: ExportScope, b: ExportScope): boolean {
  if (a.all) return b.all || b.namespaces.size > 0;
  if (b.all) return a.namespaces.size > 0;
  for (const n of a.namespaces) if (b.namespaces.has(n)) return true;
  return false;
}

/**
 * selects reports whether a `matchLabels`-style selector selects a workload with these
 * labels (every key present with the same value); an empty selector selects everything,
 * as Kubernetes' labels.SelectorFromSet does.
 */
export function selects(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** formatSelector renders a selector as Kubernetes does (`app=reviews,version=v1`, keys sorted). */
export function formatSelector(selector: Readonly<Record<string, string>> | undefined): string {
  if (!selector) return '';
  return Object.keys(selector).sort().map((k) => `${k}=${selector[k]}`).join(',');
}

/**
 * namespacePatternMatches is AuthorizationPolicy's namespace match: exact, `*`, a `*`
 * prefix (suffix match) or a `*` suffix (prefix match).
 */
export function namespacePatternMatches(pattern: string, namespace: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) return namespace.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return namespace.startsWith(pattern.slice(0, -1));
  return pattern === namespace;
}
