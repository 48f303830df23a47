/**
 * Host-name rules shared by Istio resources (pilot's ValidateWildcardDomain and
 * Kubernetes' DNS-1123 rules).
 */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Istio's own label check accepts upper case (hosts are matched case-insensitively).
const ISTIO_LABEL = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** checkDns1123Label returns why `s` is not a DNS-1123 label (Kubernetes namespace/Service names). */
export function checkDns1123Label(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 63) return `"${s}" must be no more than 63 characters`;
  if (!DNS1123_LABEL.test(s)) {
    return `"${s}" must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`;
  }
  return undefined;
}

/** checkDns1123Subdomain returns why `s` is not a DNS-1123 subdomain (Kubernetes object names). */
export function checkDns1123Subdomain(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > 253) return `"${s}" must be no more than 253 characters`;
  if (!DNS1123_SUBDOMAIN.test(s)) {
    return `"${s}" must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`;
  }
  return undefined;
}

/**
 * checkWildcardHost returns why `host` is not a valid FQDN or wildcard domain
 * (`*`, `*.example.com`, `reviews`, `reviews.default.svc.cluster.local`), or undefined.
 */
export function checkWildcardHost(host: string): string | undefined {
  if (host.length === 0) return 'host must not be empty';
  if (host.length > 255) return `host "${host}" must be no more than 255 characters`;
  if (host === '*') return undefined;
  let rest = host;
  if (rest.startsWith('*.')) rest = rest.slice(2);
  else if (rest.startsWith('*')) {
    // Istio also accepts a `*` prefix glued to the first label (`*bar.com`).
    rest = rest.slice(1);
  }
  // A trailing dot (absolute FQDN) is not accepted by Istio.
  const labels = rest.split('.');
  for (const label of labels) {
    if (label.length === 0) return `host "${host}" has an empty label`;
    if (label.length > 63) return `host "${host}" has a label longer than 63 characters`;
    if (!ISTIO_LABEL.test(label)) {
      return `host "${host}" is not a valid domain: labels must consist of alphanumeric characters or '-' and must start and end with an alphanumeric character (a wildcard "*" is allowed only as the first label)`;
    }
  }
  return undefined;
}

/** checkFqdn is checkWildcardHost without wildcards. */
export function checkFqdn(host: string): string | undefined {
  if (host.includes('*')) return `host "${host}" must not contain a wildcard`;
  return checkWildcardHost(host);
}
