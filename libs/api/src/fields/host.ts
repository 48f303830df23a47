/**
 * Host-name rules shared by Istio resources (pilot's ValidateWildcardDomain and
 * Kubernetes' DNS-1123 rules).
 */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
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

// Istio's own DNS label rule (labels.IsDNS1123Label) accepts upper case, unlike
// Kubernetes': hosts, subsets and gateway names are matched case-insensitively.
/** Regex source of one Istio DNS label (no anchors), for composing larger patterns. */
export const ISTIO_LABEL_PATTERN = '[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?';
const LABEL = ISTIO_LABEL_PATTERN;
const LABEL_RE = new RegExp(`^${LABEL}$`);
// The first label of a wildcard domain: `*`, `*foo`, `*-foo` or a plain label (IsWildcardDNS1123Label).
const WILDCARD_LABEL_RE = new RegExp(`^(?:\\*|(?:\\*|\\*-)?${LABEL})$`);

/** isIstioDnsLabel reports whether `s` is a DNS-1123 label in Istio's (case-insensitive) sense. */
export function isIstioDnsLabel(s: string): boolean {
  return s.length <= 63 && LABEL_RE.test(s);
}

function domainPreconditions(name: string): string | undefined {
  if (name.length > 255) return `domain name "${name}" is too long (at most 255 characters)`;
  if (name.length === 0) return 'domain name must not be empty';
  return undefined;
}

/** isGoInt reports whether `s` parses with Go's strconv.Atoi (optional sign, decimal digits, int64 range). */
export function isGoInt(s: string): boolean {
  if (!/^[+-]?\d+$/.test(s)) return false;
  const n = BigInt(s);
  return n >= -(2n ** 63n) && n < 2n ** 63n;
}

// Istio's ValidateDNS1123Labels: the top-level domain may not be all digits, every label
// must be a DNS label, and a trailing dot (`istio.io.`) is allowed.
function checkDnsLabels(rest: string, whole: string): string | undefined {
  const labels = rest.split('.');
  const tld = labels[labels.length - 1];
  if (isGoInt(tld)) return `domain name "${whole}" is invalid: top-level domain "${tld}" cannot be all-numeric`;
  for (let i = 0; i < labels.length; i++) {
    if (i === labels.length - 1 && labels[i] === '') return undefined;
    if (!isIstioDnsLabel(labels[i])) return `domain name "${whole}" is invalid: label "${labels[i]}" is not a valid DNS label`;
  }
  return undefined;
}

/**
 * checkWildcardHost returns why `host` is not a host Istio accepts (ValidateWildcardDomain):
 * an FQDN, a short name, `*`, or a first label starting with `*` (`*.example.com`, `*-foo.com`).
 */
export function checkWildcardHost(host: string): string | undefined {
  const pre = domainPreconditions(host);
  if (pre) return pre;
  const dot = host.indexOf('.');
  const first = dot < 0 ? host : host.slice(0, dot);
  if (first.length > 63 || !WILDCARD_LABEL_RE.test(first)) {
    return `domain name "${host}" is invalid: label "${first}" is not a valid DNS label (a wildcard may only start the first label)`;
  }
  return dot < 0 ? undefined : checkDnsLabels(host.slice(dot + 1), host);
}

/** checkFqdn returns why `host` is not a domain name without wildcards (Istio's ValidateFQDN; short names pass). */
export function checkFqdn(host: string): string | undefined {
  return domainPreconditions(host) ?? checkDnsLabels(host, host);
}
