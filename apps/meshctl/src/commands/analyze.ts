/** `meshctl analyze -f <file|dir>`: validation plus cross-resource checks. */
import { ANALYZERS, analyze, type Diagnostic } from '@meshwork/api';
import { EXIT, type CliIO } from '../io.js';
import { diagnosticJson, render, textLines, type OutputFormat } from '../output.js';
import { loadInputs, relativize } from './load.js';

export interface AnalyzeArgs {
  readonly filename: readonly string[];
  readonly namespace: string;
  readonly failOnWarnings: boolean;
  readonly meshRootNamespace: string;
  readonly trustDomain: string;
  readonly listAnalyzers: boolean;
  readonly output: OutputFormat;
}

/**
 * runAnalyze returns 1 when any error is found (or any warning with --fail-on-warnings),
 * else 0. Invalid resources are reported and left out of the cross-resource checks.
 */
export async function runAnalyze(args: AnalyzeArgs, io: CliIO): Promise<number> {
  if (args.listAnalyzers) {
    if (args.output === 'text') {
      for (const a of ANALYZERS) io.stdout(`${a.code}\t${a.severity}\t${a.name}\t${a.analyzer}\t${a.description}\n`);
    } else io.stdout(render(args.output, ANALYZERS));
    return EXIT.ok;
  }
  if (args.filename.length === 0) {
    io.stderr('error: analyze needs at least one -f <file|dir> (analysis of a running mesh comes with pilot\'s config API)\n');
    return EXIT.usage;
  }
  const loaded = await loadInputs(args.filename, io, args.namespace);
  const findings = analyze(loaded.resources, { meshRootNamespace: args.meshRootNamespace, trustDomain: args.trustDomain, defaultNamespace: args.namespace }).map((d) => relativize(d, io.cwd));
  const all: Diagnostic[] = [...loaded.diagnostics, ...findings];
  const count = (s: Diagnostic['severity']) => all.filter((d) => d.severity === s).length;
  const errors = count('Error');
  const warnings = count('Warning');
  if (args.output !== 'text') {
    io.stdout(render(args.output, { summary: { resources: loaded.objects.length, errors, warnings, infos: count('Info') }, messages: all.map(diagnosticJson) }));
  } else if (all.length === 0) {
    io.stdout(`✔ No validation issues found when analyzing ${loaded.objects.length} resource(s) in ${loaded.files} file(s).\n`);
  } else {
    io.stdout(textLines(all));
    io.stdout(`\n${errors} error(s), ${warnings} warning(s), ${count('Info')} info(s) in ${loaded.objects.length} resource(s)\n`);
  }
  const fail = errors > 0 || (args.failOnWarnings && warnings > 0);
  return fail ? EXIT.findings : EXIT.ok;
}
