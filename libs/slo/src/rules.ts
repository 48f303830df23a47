/**
 * Prometheus recording and alerting rules equivalent to what mixer evaluates, over Istio's
 * standard metrics (`istio_requests_total`, `istio_request_duration_milliseconds`), so a
 * deployment that already runs Prometheus can alert without mixer. The shape follows the SRE
 * workbook's multiwindow, multi-burn-rate alerts: one error-ratio recording rule per window
 * used, and one alert per window pair that fires when both windows burn faster than the pair's
 * rate.
 *
 * Where Prometheus cannot say what mixer says, the rules are as close as the metrics allow and
 * renderPrometheusRules returns a warning: Istio's metrics have no path, method or port label
 * (an SLO `match` covers the whole service in the rules), and latency is read from the
 * histogram's largest bucket at or under the threshold (mixer uses each request's duration).
 */
import { stringify } from 'yaml';
import { effectiveBurnRateWindows, formatSeconds, sloWindowSeconds, type ServiceLevelObjectiveSpec } from '@meshwork/api';
import { errorBudget } from './budget.js';
import { DEFAULT_ERROR_CODES, latencyThresholdMs } from './sli.js';
import { resolveSloHost } from './match.js';

/** An objective as mixer and meshctl handle it: the resource's name, namespace and validated spec. */
export interface SloResource {
  readonly name: string;
  readonly namespace: string;
  readonly spec: ServiceLevelObjectiveSpec;
}

/** `istio_request_duration_milliseconds` buckets (Istio's defaults; libs/telemetry uses the same). */
export const ISTIO_DURATION_BUCKETS_MS: readonly number[] = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

/** Names of the recorded series. */
export const SLO_ERROR_RATIO_RECORD = 'meshwork_slo:sli_error:ratio_rate';
export const SLO_OBJECTIVE_RECORD = 'meshwork_slo:objective:ratio';
export const SLO_BUDGET_REMAINING_RECORD = 'meshwork_slo:error_budget_remaining:ratio';
/** Name of the burn-rate alert (one rule per window pair, told apart by labels). */
export const SLO_ALERT_NAME = 'MeshworkSLOErrorBudgetBurn';

/** Options of renderPrometheusRules. */
export interface RenderRulesOptions {
  /** Kubernetes DNS suffix for short hosts (default `cluster.local`). */
  readonly domainSuffix?: string;
}

/** A rendered rule file and what it could not express. */
export interface RenderedRules {
  /** The rule file (Prometheus `groups:` YAML), one group per objective. */
  readonly yaml: string;
  /** The groups as objects (what `yaml` serialises). */
  readonly groups: readonly RuleGroup[];
  /** `<namespace>/<name>: <what differs from mixer>` */
  readonly warnings: readonly string[];
}

/** One Prometheus rule group. */
export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly Record<string, unknown>[];
}

/** num prints a ratio without binary noise (0.001, not 0.0009999999999998899). */
function num(n: number): string {
  return String(Number(n.toPrecision(12)));
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** codesRegex returns the `response_code` regex of the error codes (classes as `5..`), plus `0` for no response. */
function codesRegex(codes: readonly (string | number)[]): string {
  const parts = codes.map((c) => String(c).replace(/^([1-5])xx$/, '$1..'));
  if (!parts.includes('0')) parts.push('0');
  return parts.join('|');
}

/** latencyBucket returns the largest Istio bucket at or under the threshold (the smallest bucket when the threshold is below all). */
function latencyBucket(thresholdMs: number): number {
  let le = ISTIO_DURATION_BUCKETS_MS[0];
  for (const b of ISTIO_DURATION_BUCKETS_MS) if (b <= thresholdMs) le = b;
  return le;
}

/**
 * errorRatioExpr returns the PromQL error ratio of an objective over a window (`5m`, `30d`):
 * bad requests over all requests of the service as the chosen reporter saw them.
 */
export function errorRatioExpr(slo: SloResource, window: string, opts: RenderRulesOptions = {}): string {
  const host = resolveSloHost(slo.spec.host, slo.namespace, opts.domainSuffix);
  const sel = `reporter="${slo.spec.reporter === 'SOURCE' ? 'source' : 'destination'}",destination_service="${escapeLabel(host)}"`;
  if (slo.spec.sli.latency) {
    const le = latencyBucket(latencyThresholdMs(slo.spec.sli.latency.threshold));
    return `1 - (sum(rate(istio_request_duration_milliseconds_bucket{${sel},le="${le}"}[${window}])) / sum(rate(istio_request_duration_milliseconds_count{${sel}}[${window}])))`;
  }
  const codes = slo.spec.sli.availability?.errorCodes ?? DEFAULT_ERROR_CODES;
  return `(sum(rate(istio_requests_total{${sel},response_code=~"${codesRegex(codes)}"}[${window}])) or vector(0)) / sum(rate(istio_requests_total{${sel}}[${window}]))`;
}

function warningsOf(slo: SloResource): string[] {
  const out: string[] = [];
  const id = `${slo.namespace}/${slo.name}`;
  if ((slo.spec.match ?? []).length > 0) {
    out.push(`${id}: match (uri, method, port) is not expressible over Istio's metrics (no such labels); the rules cover every request to the service, mixer evaluates the match exactly`);
  }
  if (slo.spec.sli.latency) {
    const t = latencyThresholdMs(slo.spec.sli.latency.threshold);
    const le = latencyBucket(t);
    if (le !== t) out.push(`${id}: latency threshold ${slo.spec.sli.latency.threshold} is not an istio_request_duration_milliseconds bucket; the rules use le="${le}" (stricter), mixer uses each request's duration`);
  }
  return out;
}

/** ruleGroupOf returns one objective's group: error-ratio, objective and budget recording rules, then its burn-rate alerts. */
export function ruleGroupOf(slo: SloResource, opts: RenderRulesOptions = {}): RuleGroup {
  const spec = slo.spec;
  const labels = { slo_name: slo.name, slo_namespace: slo.namespace, service: resolveSloHost(spec.host, slo.namespace, opts.domainSuffix) };
  const sel = `{slo_name="${escapeLabel(slo.name)}",slo_namespace="${escapeLabel(slo.namespace)}"}`;
  const alerts = effectiveBurnRateWindows(spec);
  const sloWindow = formatSeconds(sloWindowSeconds(spec));
  const windows = new Map<number, string>();
  for (const w of alerts) {
    windows.set(w.shortWindowSeconds, formatSeconds(w.shortWindowSeconds));
    windows.set(w.longWindowSeconds, formatSeconds(w.longWindowSeconds));
  }
  windows.set(sloWindowSeconds(spec), sloWindow);
  const budget = num(errorBudget(spec.objective));
  const rules: Record<string, unknown>[] = [...windows.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, w]) => ({ record: `${SLO_ERROR_RATIO_RECORD}${w}`, expr: errorRatioExpr(slo, w, opts), labels }));
  rules.push({ record: SLO_OBJECTIVE_RECORD, expr: `vector(${num(spec.objective / 100)})`, labels });
  rules.push({ record: SLO_BUDGET_REMAINING_RECORD, expr: `1 - ${SLO_ERROR_RATIO_RECORD}${sloWindow}${sel} / ${budget}`, labels });
  for (const a of alerts) {
    const long = formatSeconds(a.longWindowSeconds);
    const short = formatSeconds(a.shortWindowSeconds);
    const threshold = `(${num(a.burnRate)} * ${budget})`;
    rules.push({
      alert: SLO_ALERT_NAME,
      expr: `${SLO_ERROR_RATIO_RECORD}${long}${sel} > ${threshold} and ${SLO_ERROR_RATIO_RECORD}${short}${sel} > ${threshold}`,
      labels: { ...labels, severity: a.severity.toLowerCase(), long_window: long, short_window: short, burn_rate: num(a.burnRate) },
      annotations: {
        summary: `SLO ${slo.namespace}/${slo.name} is burning its error budget ${num(a.burnRate)}x too fast`,
        description: `The error ratio of ${labels.service} over the last ${long} and ${short} is above ${num(a.burnRate)} x ${budget} (objective ${num(spec.objective)}% over ${sloWindow}).`,
      },
    });
  }
  return { name: `meshwork-slo-${slo.namespace}-${slo.name}`, rules };
}

/**
 * renderPrometheusRules returns a Prometheus rule file for the objectives (one group each, in
 * namespace/name order) and the warnings where the rules are coarser than mixer's evaluation.
 */
export function renderPrometheusRules(slos: readonly SloResource[], opts: RenderRulesOptions = {}): RenderedRules {
  const sorted = [...slos].sort((a, b) => (a.namespace === b.namespace ? a.name.localeCompare(b.name) : a.namespace.localeCompare(b.namespace)));
  const groups = sorted.map((s) => ruleGroupOf(s, opts));
  return { yaml: stringify({ groups }, { lineWidth: 0 }), groups, warnings: sorted.flatMap(warningsOf) };
}
