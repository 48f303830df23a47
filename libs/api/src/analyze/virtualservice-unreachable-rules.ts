/**
 * Rules a VirtualService can never use (Istio's VirtualServiceUnreachableRule and
 * VirtualServiceIneffectiveMatch). Pilot tries rules in order and takes the first match,
 * so a rule after a catch-all is dead, and a match that an earlier match already covers
 * never fires. Istio detects duplicates and some prefix overlaps; this analyzer decides
 * "match A covers match B" field by field (prefix, exact, headers, query parameters,
 * port, source labels, gateways, ...), and treats `uri: {prefix: /}` as no condition.
 */
import { hostCoveredBy } from './hosts.js';
import { VirtualServiceIneffectiveMatch, VirtualServiceUnreachableRule } from './messages.js';
import { NETWORKING } from './mesh.js';
import { list, type HTTPMatchRequest, type L4Match, type StringMatchV, type VirtualServiceSpec } from './spec.js';
import type { Analyzer } from './types.js';
import { ruleName } from './vs-walk.js';

export const virtualServiceUnreachableRules: Analyzer = {
  id: 'virtualservice.UnreachableRules',
  description: 'Finds VirtualService rules that follow a catch-all rule, and matches already covered by an earlier rule',
  messages: [VirtualServiceUnreachableRule, VirtualServiceIneffectiveMatch],
  run(mesh, report) {
    for (const vs of mesh.of(NETWORKING, 'VirtualService')) {
      const spec = vs.body.spec as VirtualServiceSpec | undefined;
      for (const section of ['http', 'tcp', 'tls'] as const) {
        const covers = section === 'http' ? httpCovers : l4Covers;
        for (const f of findUnreachable(list<{ name?: string; match?: unknown[] }>(spec?.[section]), covers as Covers)) {
          if (f.match === undefined) report(VirtualServiceUnreachableRule, vs, ['spec', section, f.rule], f.reason);
          else report(VirtualServiceIneffectiveMatch, vs, ['spec', section, f.rule, 'match', f.match], f.reason);
        }
      }
    }
  },
};

type Covers = (earlier: Record<string, unknown>, later: Record<string, unknown>) => boolean;

/** One unreachable rule (no `match`) or ineffective match, with the reason in words. */
export interface UnreachableFinding {
  readonly rule: number;
  readonly match?: number;
  readonly reason: string;
}

/** findUnreachable returns the dead rules and matches of one route list (http, tcp or tls). */
export function findUnreachable(rules: readonly { name?: string; match?: unknown[] }[], covers: Covers): UnreachableFinding[] {
  const out: UnreachableFinding[] = [];
  const seen: { rule: number; match: number; m: Record<string, unknown> }[] = [];
  let catchAll: { rule: number; why: string } | undefined;
  rules.forEach((rule, i) => {
    const rn = ruleName(rule, i);
    if (catchAll) {
      out.push({ rule: i, reason: `VirtualService rule ${rn} not used: rule ${ruleName(rules[catchAll.rule], catchAll.rule)} before it ${catchAll.why}` });
      return;
    }
    const matches = list<Record<string, unknown>>(rule?.match);
    if (matches.length === 0) {
      catchAll = { rule: i, why: 'has no match, so it takes every request' };
      return;
    }
    let dead = 0;
    matches.forEach((m, j) => {
      if (typeof m !== 'object' || m === null) return;
      const prior = seen.find((s) => covers(s.m, m));
      if (prior) {
        dead++;
        const same = covers(m, prior.m);
        out.push({
          rule: i,
          match: j,
          reason: `VirtualService rule ${rn} match ${ruleName(m as { name?: string }, j)} is not used (${same ? 'duplicate of' : 'covered by'} match ${ruleName(rules[prior.rule].match?.[prior.match] as { name?: string }, prior.match)} in rule ${ruleName(rules[prior.rule], prior.rule)})`,
        });
      }
    });
    if (dead === matches.length) {
      out.push({ rule: i, reason: `VirtualService rule ${rn} not used: every match is covered by earlier rules` });
    }
    matches.forEach((m, j) => {
      if (typeof m !== 'object' || m === null) return;
      seen.push({ rule: i, match: j, m });
      if (!catchAll && covers(m, {})) catchAll = { rule: i, why: `matches every request (its match ${ruleName(m as { name?: string }, j)} has no condition that restricts it)` };
    });
  });
  return out;
}

// Fields that do not restrict which requests match.
const HTTP_NEUTRAL = new Set(['name', 'statPrefix', 'ignoreUriCase']);

/**
 * httpCovers reports whether every request that `b` matches is also matched by `a`
 * (both HTTPMatchRequests). Unknown fields are compared for equality, which errs
 * towards "not covered" and so never reports a live rule as dead.
 */
export function httpCovers(a: HTTPMatchRequest & Record<string, unknown>, b: HTTPMatchRequest & Record<string, unknown>): boolean {
  for (const [key, av] of Object.entries(a)) {
    if (av === undefined || HTTP_NEUTRAL.has(key)) continue;
    const bv = b[key];
    switch (key) {
      case 'uri': {
        const au = av as StringMatchV;
        if (isSlashPrefix(au) || isMatchAll(au)) continue;
        const ai = a.ignoreUriCase === true;
        const bi = b.ignoreUriCase === true;
        // A case-insensitive later match accepts paths a case-sensitive earlier one refuses.
        if (bi && !ai) return false;
        if (!stringCovers(au, bv as StringMatchV | undefined, ai)) return false;
        break;
      }
      case 'scheme':
      case 'method':
      case 'authority':
        if (isMatchAll(av as StringMatchV)) continue;
        if (!stringCovers(av as StringMatchV, bv as StringMatchV | undefined, false)) return false;
        break;
      case 'headers':
      case 'queryParams':
        if (!mapCovers(av as Record<string, StringMatchV>, bv as Record<string, StringMatchV> | undefined, key === 'headers')) return false;
        break;
      case 'withoutHeaders':
        // `a` refuses requests carrying these headers; `b` must refuse them too.
        if (!mapEqualSubset(av as Record<string, StringMatchV>, bv as Record<string, StringMatchV> | undefined)) return false;
        break;
      default:
        if (!sharedFieldCovers(key, av, bv)) return false;
    }
  }
  return true;
}

/**
 * sharedFieldCovers compares the match fields HTTP and L4 matches have in common
 * (sourceLabels, gateways); any other field must be equal to cover.
 */
function sharedFieldCovers(key: string, av: unknown, bv: unknown): boolean {
  if (key === 'sourceLabels') return labelsSubset(av as Record<string, string>, bv as Record<string, string> | undefined);
  if (key === 'gateways') return gatewaysCover(av as string[], bv as string[] | undefined);
  return JSON.stringify(av) === JSON.stringify(bv);
}

/** l4Covers is httpCovers for TCP/TLS matches (L4MatchAttributes, TLSMatchAttributes). */
export function l4Covers(a: L4Match & Record<string, unknown>, b: L4Match & Record<string, unknown>): boolean {
  for (const [key, av] of Object.entries(a)) {
    if (av === undefined) continue;
    const bv = b[key];
    switch (key) {
      case 'sniHosts': {
        const bs = list<string>(bv);
        if (bs.length === 0 || !bs.every((h) => list<string>(av).some((p) => hostCoveredBy(h, p)))) return false;
        break;
      }
      case 'destinationSubnets': {
        const bs = list<string>(bv);
        if (bs.length === 0 || !bs.every((s) => list<string>(av).includes(s))) return false;
        break;
      }
      default:
        if (!sharedFieldCovers(key, av, bv)) return false;
    }
  }
  return true;
}

function isSlashPrefix(m: StringMatchV | undefined): boolean {
  return !!m && m.prefix === '/' && m.exact === undefined && m.regex === undefined;
}

function isMatchAll(m: StringMatchV | undefined): boolean {
  if (!m) return true;
  if (m.exact === undefined && m.prefix === undefined && m.regex === undefined) return true;
  return m.regex === '.*' || m.prefix === '';
}

// stringCovers: does StringMatch `a` accept every string StringMatch `b` accepts?
function stringCovers(a: StringMatchV, b: StringMatchV | undefined, ignoreCase: boolean): boolean {
  if (!b) return false;
  const low = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  if (a.prefix !== undefined) {
    if (b.prefix !== undefined) return low(b.prefix).startsWith(low(a.prefix));
    if (b.exact !== undefined) return low(b.exact).startsWith(low(a.prefix));
    return false;
  }
  if (a.exact !== undefined) return b.exact !== undefined && low(b.exact) === low(a.exact);
  if (a.regex !== undefined) return b.regex !== undefined && b.regex === a.regex;
  return true;
}

// mapCovers: every condition of `a` (header or query parameter) is implied by `b`'s
// condition on the same key. An empty condition `{}` only requires presence.
function mapCovers(a: Record<string, StringMatchV>, b: Record<string, StringMatchV> | undefined, caseInsensitiveKeys: boolean): boolean {
  const norm = (k: string) => (caseInsensitiveKeys ? k.toLowerCase() : k);
  const bm = new Map(Object.entries(b ?? {}).map(([k, v]) => [norm(k), v]));
  for (const [k, av] of Object.entries(a ?? {})) {
    if (!bm.has(norm(k))) return false;
    const bv = bm.get(norm(k));
    if (isPresence(av)) continue;
    if (isPresence(bv) || !stringCovers(av, bv, false)) return false;
  }
  return true;
}

function isPresence(m: StringMatchV | undefined): boolean {
  return !m || (m.exact === undefined && m.prefix === undefined && m.regex === undefined);
}

function mapEqualSubset(a: Record<string, StringMatchV>, b: Record<string, StringMatchV> | undefined): boolean {
  const bm = new Map(Object.entries(b ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return Object.entries(a ?? {}).every(([k, v]) => bm.has(k.toLowerCase()) && JSON.stringify(bm.get(k.toLowerCase())) === JSON.stringify(v));
}

function labelsSubset(a: Record<string, string>, b: Record<string, string> | undefined): boolean {
  return Object.entries(a ?? {}).every(([k, v]) => b?.[k] === v);
}

// An earlier match limited to some gateways covers a later one limited to a subset of them.
function gatewaysCover(a: string[], b: string[] | undefined): boolean {
  const al = list<string>(a);
  if (al.length === 0) return true;
  const bl = list<string>(b);
  return bl.length > 0 && bl.every((g) => al.includes(g));
}
