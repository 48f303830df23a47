import { RE2JS } from 're2js';

/**
 * checkRe2 returns why `pattern` is not a valid RE2 regular expression (the dialect
 * Envoy and Istio use: no lookaround, no backreferences), or undefined when it is.
 */
export function checkRe2(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (err) {
    return `invalid RE2 regex "${pattern}": ${(err as Error).message}`;
  }
}
