/**
 * `meshctl slo`: ServiceLevelObjective tools.
 *
 * - `meshctl slo rules -f slo.yaml`: the Prometheus recording and alerting rules equivalent to
 *   what mixer evaluates (one group per objective); warnings where Prometheus can only
 *   approximate go to stderr. Check them with `promtool check rules`.
 * - `meshctl slo status`: each objective's SLI, error budget left and firing alerts, from
 *   mixer's `GET /api/slos`.
 */
import type { Command } from 'commander';
import { formatSeconds } from '@meshwork/api';
import { renderPrometheusRules, type SloResource } from '@meshwork/slo';
import { EXIT, type CliIO } from '../io.js';
import { render, textLines, type OutputFormat } from '../output.js';
import { resolveMixer } from '../pilot-client.js';
import { loadInputs } from './load.js';

/** Options of `meshctl slo rules`. */
export interface SloRulesOptions {
  readonly filename: readonly string[];
  readonly namespace: string;
  readonly domainSuffix: string;
}

/** runSloRules prints the rule file for every ServiceLevelObjective in the inputs: 0 printed, 1 invalid input or none found. */
export async function runSloRules(opts: SloRulesOptions, io: CliIO): Promise<number> {
  const loaded = await loadInputs(opts.filename, io, opts.namespace);
  const errors = loaded.diagnostics.filter((d) => d.severity === 'Error');
  if (errors.length > 0) {
    io.stderr(textLines(loaded.diagnostics));
    io.stderr(`\n${errors.length} error(s): no rules written\n`);
    return EXIT.findings;
  }
  const slos: SloResource[] = loaded.resources
    .filter((r) => r.kind === 'ServiceLevelObjective')
    .map((r) => ({ name: r.metadata.name ?? '', namespace: r.metadata.namespace ?? opts.namespace, spec: (r.body as { spec: SloResource['spec'] }).spec }));
  if (slos.length === 0) {
    io.stderr('no ServiceLevelObjective found in the input\n');
    return EXIT.findings;
  }
  const out = renderPrometheusRules(slos, { domainSuffix: opts.domainSuffix });
  for (const w of out.warnings) io.stderr(`warning: ${w}\n`);
  io.stdout(out.yaml);
  return EXIT.ok;
}

/** Options of `meshctl slo status`. */
export interface SloStatusOptions {
  readonly mixer?: string;
  readonly output: OutputFormat;
}

interface SloStatusJson {
  name: string;
  namespace: string;
  service: string;
  objective: number;
  windowSeconds: number;
  total: number;
  sli?: number;
  errorBudgetRemaining?: number;
  alerts: { longWindowSeconds: number; shortWindowSeconds: number; burnRate: number; severity: string; longBurnRate?: number; firing: boolean }[];
}

const pct = (v: number | undefined, digits = 3): string => (v === undefined ? '-' : `${(v * 100).toFixed(digits)}%`);

/** runSloStatus prints each objective's state as mixer last evaluated it. */
export async function runSloStatus(opts: SloStatusOptions, io: CliIO): Promise<number> {
  const base = await resolveMixer(opts.mixer, io.env ?? {});
  let slos: SloStatusJson[];
  try {
    const res = await fetch(`${base}/api/slos`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    slos = ((await res.json()) as { slos: SloStatusJson[] }).slos;
  } catch (err) {
    io.stderr(`cannot read SLOs from mixer at ${base}: ${(err as Error).message}\n`);
    return EXIT.findings;
  }
  if (opts.output !== 'text') {
    io.stdout(render(opts.output, { slos }));
    return EXIT.ok;
  }
  const rows = [['NAMESPACE', 'NAME', 'SERVICE', 'OBJECTIVE', 'WINDOW', 'REQUESTS', 'SLI', 'BUDGET LEFT', 'FIRING']];
  for (const s of slos) {
    const firing = s.alerts.filter((a) => a.firing).map((a) => `${formatSeconds(a.longWindowSeconds)}/${formatSeconds(a.shortWindowSeconds)}@${a.burnRate}x(${a.severity})`);
    rows.push([s.namespace, s.name, s.service, `${s.objective}%`, formatSeconds(s.windowSeconds), String(s.total), pct(s.sli), pct(s.errorBudgetRemaining, 1), firing.join(',') || '-']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  io.stdout(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n');
  return EXIT.ok;
}

/** registerSloCommands adds `meshctl slo rules` and `meshctl slo status`; `setCode` receives the exit code. */
export function registerSloCommands(program: Command, io: CliIO, setCode: (code: number) => void): void {
  const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];
  const slo = program.command('slo').description('ServiceLevelObjective tools: Prometheus rules, status from mixer');
  slo
    .command('rules')
    .description('print Prometheus recording and alerting rules equivalent to what mixer evaluates (check with promtool check rules)')
    .requiredOption('-f, --filename <path>', 'file, directory, or - for stdin (repeatable)', collect)
    .option('-n, --namespace <ns>', 'namespace for resources that do not set one', 'default')
    .option('--domain-suffix <suffix>', 'DNS suffix that completes short hosts', 'cluster.local')
    .action(async (opts: SloRulesOptions) => setCode(await runSloRules(opts, io)));
  slo
    .command('status')
    .description("each objective's SLI, error budget left and firing alerts, from mixer")
    .option('--mixer <url>', "mixer's HTTP base URL (default MESHCTL_MIXER, the context file of `meshctl up`, or http://127.0.0.1:15014, mixer's --metrics-port)")
    .option('-o, --output <format>', 'output format: text, json, yaml', 'text')
    .action(async (opts: SloStatusOptions) => setCode(await runSloStatus(opts, io)));
}
