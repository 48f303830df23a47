/**
 * The limits mixer's rate-limit service enforces, from the same RateLimit resources the sidecars
 * are configured from (libs/translate/src/ratelimit.ts builds their descriptors): every rule of a
 * `mode: GLOBAL` RateLimit is one limit, found by the descriptor's first entry
 * `rule=<namespace>/<name>/<rule>` in the domain `meshwork`. The resources come from a
 * ConfigSource (NATS KV `mesh-config`, a YAML directory, Kubernetes), behind the small
 * LimitSource interface so tests can hand in a fixed table.
 */
import type { MeshResource, RateLimitSpec } from '@meshwork/api';
import type { ConfigSource } from '@meshwork/registry';
import { isRateLimit, RATELIMIT_DOMAIN, RULE_DESCRIPTOR_KEY, ruleId } from '@meshwork/translate';
import type { RlsEntry, RlsUnit } from './rls-proto.js';

/** One enforced limit. */
export interface RuleLimit {
  /** `<namespace>/<name>/<rule>`. */
  readonly name: string;
  readonly requestsPerUnit: number;
  readonly unit: RlsUnit;
}

/** Where the service looks limits up; `limitFor` is called on every descriptor, so it only looks up. */
export interface LimitSource {
  /** The limit of a descriptor in a domain, or undefined when none applies (the descriptor is then OK, uncounted). */
  limitFor(domain: string, entries: readonly RlsEntry[]): RuleLimit | undefined;
}

/** limitTable returns the limits of the GLOBAL RateLimit resources among `resources`, by rule id. */
export function limitTable(resources: readonly MeshResource[]): Map<string, RuleLimit> {
  const out = new Map<string, RuleLimit>();
  for (const r of resources) {
    if (!isRateLimit(r)) continue;
    const spec = (r.body as { spec?: RateLimitSpec }).spec;
    if (!spec || (spec.mode ?? 'LOCAL') !== 'GLOBAL') continue;
    const ns = r.metadata.namespace ?? 'default';
    for (const rule of spec.rules ?? []) {
      const name = ruleId(ns, r.metadata.name ?? '', rule.name);
      out.set(name, { name, requestsPerUnit: rule.limit.requestsPerUnit, unit: rule.limit.unit });
    }
  }
  return out;
}

/** StaticLimits serves a fixed list of resources (tests, one-shot loads). */
export class StaticLimits implements LimitSource {
  private readonly table: Map<string, RuleLimit>;

  constructor(resources: readonly MeshResource[]) {
    this.table = limitTable(resources);
  }

  limitFor(domain: string, entries: readonly RlsEntry[]): RuleLimit | undefined {
    return lookup(this.table, domain, entries);
  }
}

function lookup(table: ReadonlyMap<string, RuleLimit>, domain: string, entries: readonly RlsEntry[]): RuleLimit | undefined {
  if (domain !== RATELIMIT_DOMAIN || entries.length === 0 || entries[0].key !== RULE_DESCRIPTOR_KEY) return undefined;
  return table.get(entries[0].value);
}

/**
 * ConfigSourceLimits follows a ConfigSource: the table is rebuilt on the first lookup after a
 * change event, so a burst of changes costs one rebuild and lookups stay map reads.
 */
export class ConfigSourceLimits implements LimitSource {
  private table: Map<string, RuleLimit> | undefined;
  private readonly unwatch: () => void;

  constructor(private readonly source: ConfigSource) {
    this.unwatch = source.watch(() => {
      this.table = undefined;
    });
  }

  limitFor(domain: string, entries: readonly RlsEntry[]): RuleLimit | undefined {
    if (!this.table) this.table = limitTable(this.source.list());
    return lookup(this.table, domain, entries);
  }

  /** How many limits are configured now (for logs and readiness). */
  size(): number {
    if (!this.table) this.table = limitTable(this.source.list());
    return this.table.size;
  }

  /** Stops following the source (the source itself is closed by its owner). */
  close(): void {
    this.unwatch();
  }
}
