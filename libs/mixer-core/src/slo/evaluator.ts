/**
 * Continuous SLO evaluation in mixer: every request record is counted (good or bad) for each
 * ServiceLevelObjective that covers it, in rolling-window counts of fixed size; `evaluate`
 * computes the SLI over the objective's window, the error budget left, the burn rate over each
 * alert window, and which multiwindow alerts fire. Alert changes become events (published on
 * `mesh.events.slo` by the caller) and everything is exported as `mesh_slo_*` gauges.
 *
 * The math is @meshwork/slo's (pure); this file adds the state, the metrics and the events.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { effectiveBurnRateWindows, formatSeconds, sloWindowSeconds } from '@meshwork/api';
import { createHash } from 'node:crypto';
import { combinedErrorRatio, errorBudgetRemaining, evaluateBurnRateAlerts, goodRequestPredicate, resolveSloHost, sliRatio, sloRequestMatcher, WindowedCounts, type BurnRateAlertState, type SloResource, type WindowSnapshot } from '@meshwork/slo';
import type { RequestRecord } from '@meshwork/telemetry';
import { CounterMirror } from '../traces/counter-mirror.js';

/** The state of one objective after an evaluation (what GET /api/slos returns). */
export interface SloStatus {
  readonly name: string;
  readonly namespace: string;
  /** The service FQDN the objective covers. */
  readonly service: string;
  readonly objective: number;
  readonly windowSeconds: number;
  /** Good and total requests counted over the window (this replica's and the shared counts of the others). */
  readonly good: number;
  readonly total: number;
  /** Mixer replicas whose counts are included (1: this one only). */
  readonly replicas: number;
  /** good / total over the window; undefined without requests. */
  readonly sli: number | undefined;
  /** Share of the window's error budget left (1 untouched, negative overspent); undefined without requests. */
  readonly errorBudgetRemaining: number | undefined;
  readonly alerts: readonly BurnRateAlertState[];
}

/** An alert that started or stopped firing (the body of a `mesh.events.slo` message). */
export interface SloAlertEvent {
  readonly type: 'slo_alert_firing' | 'slo_alert_resolved';
  /** Epoch ms of the evaluation that saw the change. */
  readonly time: number;
  readonly slo: { readonly name: string; readonly namespace: string };
  readonly service: string;
  readonly severity: string;
  readonly longWindow: string;
  readonly shortWindow: string;
  readonly burnRate: number;
  readonly longBurnRate: number | undefined;
  readonly shortBurnRate: number | undefined;
  readonly errorBudgetRemaining: number | undefined;
}

interface Tracked {
  readonly slo: SloResource;
  /** A hash of the spec: an objective whose spec is unchanged keeps its counts across reloads, and replicas share counts only for the same spec. */
  readonly specKey: string;
  /** Other replicas' counts of this objective, by replica name (latest shared snapshot). */
  readonly peers: Map<string, WindowedCounts>;
  readonly service: string;
  readonly covers: (r: RequestRecord) => boolean;
  readonly good: (r: RequestRecord) => boolean;
  readonly counts: WindowedCounts;
  firing: Set<string>;
  last?: SloStatus;
  /** Requests counted since the objective was loaded (mirrored into mesh_slo_requests_total at scrape time). */
  goodTotal: number;
  badTotal: number;
  /** Every series this objective has set, per metric, so a removed objective takes all of them away. */
  readonly series: Map<{ remove: (l: Record<string, string>) => void }, Map<string, Record<string, string>>>;
}

/** tidy drops binary noise from exported values (0.999, not 0.9990000000000001). */
const tidy = (n: number): number => Number(n.toPrecision(12));

/** Options of SloEvaluator. */
export interface SloEvaluatorOptions {
  /** Registry for the mesh_slo_* metrics (absent: no metrics). */
  readonly registry?: Registry;
  /** Called with each alert change. */
  readonly onEvent?: (e: SloAlertEvent) => void;
  /** DNS suffix for short hosts (default cluster.local). */
  readonly domainSuffix?: string;
  /** Clock (injected for tests). */
  readonly now?: () => number;
}

const keyOf = (s: SloResource): string => `${s.namespace}/${s.name}`;
const alertKey = (a: BurnRateAlertState): string => `${a.longWindowSeconds}/${a.shortWindowSeconds}`;

/** SloEvaluator counts records against the objectives it is given and evaluates them on demand. */
export class SloEvaluator {
  private readonly tracked = new Map<string, Tracked>();
  /** Objectives by service FQDN, so a record only visits the objectives of its own service. */
  private byService = new Map<string, Tracked[]>();
  private readonly now: () => number;
  private readonly gauges?: {
    sli: Gauge<string>;
    objective: Gauge<string>;
    budget: Gauge<string>;
    burn: Gauge<string>;
    firing: Gauge<string>;
    events: Counter<string>;
  };

  constructor(private readonly opts: SloEvaluatorOptions = {}) {
    this.now = opts.now ?? Date.now;
    const registers = opts.registry ? [opts.registry] : undefined;
    if (registers) {
      const base = ['slo_name', 'slo_namespace', 'service'];
      this.gauges = {
        sli: new Gauge({ name: 'mesh_slo_sli_ratio', help: 'SLI over the objective window: good / total requests (absent without requests).', labelNames: base, registers }),
        objective: new Gauge({ name: 'mesh_slo_objective_ratio', help: 'The objective as a ratio (99.9% is 0.999).', labelNames: base, registers }),
        budget: new Gauge({ name: 'mesh_slo_error_budget_remaining_ratio', help: 'Share of the window error budget left: 1 untouched, 0 spent, negative overspent.', labelNames: base, registers }),
        burn: new Gauge({ name: 'mesh_slo_burn_rate', help: 'Error ratio over the window divided by the error budget (1 spends the budget exactly over the SLO window).', labelNames: [...base, 'window'], registers }),
        firing: new Gauge({ name: 'mesh_slo_alert_firing', help: '1 while a multiwindow burn-rate alert fires.', labelNames: [...base, 'long_window', 'short_window', 'severity'], registers }),
        events: new Counter({
          name: 'mesh_slo_requests_total',
          help: 'Requests counted towards an objective, by result (good, bad).',
          labelNames: [...base, 'result'],
          registers,
          // Plain numbers on the record path; the counter catches up when scraped.
          collect: () => this.mirrorRequests(),
        }),
      };
    }
  }

  /**
   * setObjectives replaces the objectives evaluated. One whose spec is unchanged keeps its
   * counts; a new or changed one starts from zero; a removed one loses its metrics.
   */
  setObjectives(slos: readonly SloResource[]): void {
    const next = new Map<string, Tracked>();
    for (const slo of slos) {
      const key = keyOf(slo);
      const specKey = createHash('sha256').update(JSON.stringify(slo.spec)).digest('hex').slice(0, 16);
      const old = this.tracked.get(key);
      if (old && old.specKey === specKey) {
        next.set(key, old);
        continue;
      }
      if (old) this.dropMetrics(old);
      next.set(key, {
        slo,
        specKey,
        service: resolveSloHost(slo.spec.host, slo.namespace, this.opts.domainSuffix),
        covers: sloRequestMatcher(slo.spec, slo.namespace, this.opts.domainSuffix),
        good: goodRequestPredicate(slo.spec.sli),
        counts: new WindowedCounts(),
        peers: new Map(),
        firing: new Set(),
        series: new Map(),
        goodTotal: 0,
        badTotal: 0,
      });
    }
    for (const [key, old] of this.tracked) if (!next.has(key)) this.dropMetrics(old);
    this.tracked.clear();
    for (const [k, v] of next) this.tracked.set(k, v);
    this.byService = new Map();
    for (const t of this.tracked.values()) {
      const list = this.byService.get(t.service) ?? [];
      list.push(t);
      this.byService.set(t.service, list);
    }
  }

  /** snapshots returns this replica's counts per objective (`namespace/name`), with the spec hash they belong to. */
  snapshots(): { key: string; specKey: string; counts: WindowSnapshot }[] {
    return [...this.tracked.entries()].map(([key, t]) => ({ key, specKey: t.specKey, counts: t.counts.snapshot() }));
  }

  /** restore adds counts saved by this replica before a restart (ignored when the objective or its spec changed). */
  restore(key: string, specKey: string, counts: WindowSnapshot): boolean {
    const t = this.tracked.get(key);
    return t !== undefined && t.specKey === specKey && t.counts.merge(counts);
  }

  /** setPeer records another replica's latest counts of an objective (undefined: forget them). */
  setPeer(key: string, replica: string, specKey: string, counts: WindowSnapshot | undefined): void {
    const t = this.tracked.get(key);
    if (!t) return;
    if (!counts || specKey !== t.specKey) {
      t.peers.delete(replica);
      return;
    }
    const c = new WindowedCounts();
    if (c.merge(counts)) t.peers.set(replica, c);
  }

  /** Objectives evaluated, by `namespace/name`. */
  get objectives(): string[] {
    return [...this.tracked.keys()].sort();
  }

  /** record counts request records (the RecordFeed listener shape); TCP records are not requests and are skipped. */
  record(records: readonly RequestRecord[]): void {
    for (const r of records) {
      if (r.protocol === 'tcp') continue;
      const list = this.byService.get(r.destinationService.host ?? '');
      if (!list) continue;
      for (const t of list) {
        if (!t.covers(r)) continue;
        const good = t.good(r);
        t.counts.add(r.startTime + r.durationMs, good ? 1 : 0, 1);
        if (good) t.goodTotal++;
        else t.badTotal++;
      }
    }
  }

  private readonly requestsMirror = new CounterMirror();

  /** mirrorRequests raises mesh_slo_requests_total to each objective's plain counts. */
  private mirrorRequests(): void {
    const g = this.gauges;
    if (!g) return;
    for (const t of this.tracked.values()) {
      this.requestsMirror.set(g.events, () => t.goodTotal, this.track(t, g.events, { ...this.labels(t), result: 'good' }));
      this.requestsMirror.set(g.events, () => t.badTotal, this.track(t, g.events, { ...this.labels(t), result: 'bad' }));
    }
  }

  /** track notes a series of an objective and returns its labels. */
  private track(t: Tracked, metric: { remove: (l: Record<string, string>) => void }, labels: Record<string, string>): Record<string, string> {
    const key = JSON.stringify(labels);
    let m = t.series.get(metric);
    if (!m) t.series.set(metric, (m = new Map()));
    if (!m.has(key)) m.set(key, labels);
    return labels;
  }

  private labels(t: Tracked): Record<string, string> {
    return { slo_name: t.slo.name, slo_namespace: t.slo.namespace, service: t.service };
  }

  /** evaluate computes every objective's status at `now`, updates the metrics and reports alert changes. */
  evaluate(now = this.now()): SloStatus[] {
    const out: SloStatus[] = [];
    for (const t of [...this.tracked.values()].sort((a, b) => keyOf(a.slo).localeCompare(keyOf(b.slo)))) {
      const spec = t.slo.spec;
      const windowSeconds = sloWindowSeconds(spec);
      const all = [t.counts, ...t.peers.values()];
      let good = 0;
      let total = 0;
      for (const c of all) {
        const o = c.over(now, windowSeconds);
        good += o.good;
        total += o.total;
      }
      const sli = sliRatio(good, total);
      const budget = sli === undefined ? undefined : errorBudgetRemaining(sli, spec.objective);
      const alerts = evaluateBurnRateAlerts(effectiveBurnRateWindows(spec), spec.objective, (s) => combinedErrorRatio(all, now, s));
      const status: SloStatus = { name: t.slo.name, namespace: t.slo.namespace, service: t.service, objective: spec.objective, windowSeconds, good, total, replicas: all.length, sli, errorBudgetRemaining: budget, alerts };
      this.export(t, status);
      const firing = new Set(alerts.filter((a) => a.firing).map(alertKey));
      for (const a of alerts) {
        const was = t.firing.has(alertKey(a));
        if (a.firing === was) continue;
        this.opts.onEvent?.({
          type: a.firing ? 'slo_alert_firing' : 'slo_alert_resolved',
          time: now,
          slo: { name: t.slo.name, namespace: t.slo.namespace },
          service: t.service,
          severity: a.severity,
          longWindow: formatSeconds(a.longWindowSeconds),
          shortWindow: formatSeconds(a.shortWindowSeconds),
          burnRate: a.burnRate,
          longBurnRate: a.longBurnRate,
          shortBurnRate: a.shortBurnRate,
          errorBudgetRemaining: budget,
        });
      }
      t.firing = firing;
      t.last = status;
      out.push(status);
    }
    return out;
  }

  /** status returns the result of the last evaluation of each objective. */
  status(): SloStatus[] {
    return [...this.tracked.values()].flatMap((t) => (t.last ? [t.last] : [])).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  private export(t: Tracked, s: SloStatus): void {
    const g = this.gauges;
    if (!g) return;
    const l = this.labels(t);
    const set = (metric: Gauge<string>, labels: Record<string, string>, v: number | undefined): void => {
      if (v === undefined) metric.remove(labels);
      else metric.set(this.track(t, metric, labels), tidy(v));
    };
    set(g.objective, l, s.objective / 100);
    set(g.sli, l, s.sli);
    set(g.budget, l, s.errorBudgetRemaining);
    const burns = new Map<string, number | undefined>();
    for (const a of s.alerts) {
      burns.set(formatSeconds(a.longWindowSeconds), a.longBurnRate);
      burns.set(formatSeconds(a.shortWindowSeconds), a.shortBurnRate);
      set(g.firing, { ...l, long_window: formatSeconds(a.longWindowSeconds), short_window: formatSeconds(a.shortWindowSeconds), severity: a.severity.toLowerCase() }, a.firing ? 1 : 0);
    }
    for (const [window, rate] of burns) set(g.burn, { ...l, window }, rate);
  }

  private dropMetrics(t: Tracked): void {
    for (const [metric, series] of t.series) {
      for (const labels of series.values()) {
        metric.remove(labels);
        if (metric === this.gauges?.events) this.requestsMirror.forget(this.gauges.events, labels);
      }
    }
    t.series.clear();
  }
}
