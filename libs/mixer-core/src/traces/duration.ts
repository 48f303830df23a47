/** Go-syntax durations for query parameters (`250ms`, `1.5s`, `1h30m`), in nanoseconds. */
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const DURATION = /^((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g;

/** parseDuration returns nanoseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let ns = 0;
  for (const m of text.matchAll(PART)) ns += Number(m[1]) * UNIT_NS[m[2]];
  return ns;
}
