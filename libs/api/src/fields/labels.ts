import { checkDns1123Subdomain } from './host.js';

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** checkLabelKey returns why `key` is not a Kubernetes qualified name (`app`, `app.kubernetes.io/name`). */
export function checkLabelKey(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return `label key "${key}" may contain at most one "/"`;
  const name = parts.length === 2 ? parts[1] : parts[0];
  if (parts.length === 2) {
    const prefixErr = checkDns1123Subdomain(parts[0]);
    if (prefixErr) return `label key "${key}" has an invalid prefix: ${prefixErr}`;
  }
  if (name.length === 0) return `label key "${key}" has an empty name`;
  if (name.length > 63) return `label key "${key}" name part must be no more than 63 characters`;
  if (!NAME.test(name)) {
    return `label key "${key}" must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
  }
  return undefined;
}

/** checkLabelValue returns why `value` is not a Kubernetes label value. */
export function checkLabelValue(value: string): string | undefined {
  if (value.length === 0) return undefined;
  if (value.length > 63) return `label value "${value}" must be no more than 63 characters`;
  if (!NAME.test(value)) {
    return `label value "${value}" must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
  }
  return undefined;
}
