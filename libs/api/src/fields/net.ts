import ipaddr from 'ipaddr.js';

/** checkIp returns why `s` is not an IPv4 or IPv6 address. */
export function checkIp(s: string): string | undefined {
  return ipaddr.isValid(s) && !s.includes('/') && isCanonicalEnough(s) ? undefined : `"${s}" is not a valid IP address`;
}

// ipaddr.js accepts legacy forms such as "0x7f.1" or "127.1"; Go's net.ParseIP does not.
function isCanonicalEnough(s: string): boolean {
  if (s.includes(':')) return true;
  return /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s);
}

/** checkCidr returns why `s` is not a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
export function checkCidr(s: string): string | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return `"${s}" is not a valid CIDR block: missing "/<prefix length>"`;
  const ip = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (checkIp(ip)) return `"${s}" is not a valid CIDR block: "${ip}" is not an IP address`;
  const max = ip.includes(':') ? 128 : 32;
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) {
    return `"${s}" is not a valid CIDR block: prefix length must be 0..${max}`;
  }
  return undefined;
}

/** checkIpOrCidr accepts a plain address (a /32 or /128) or a CIDR block, as AuthorizationPolicy ipBlocks do. */
export function checkIpOrCidr(s: string): string | undefined {
  return s.includes('/') ? checkCidr(s) : checkIp(s);
}
