/** `meshctl analyze -f <file|dir>`: validation plus cross-resource checks. */
import { ANALYZERS, analyze, validateParsed, type Diagnostic, type RawObject } from '@meshwork/api';
import { EXIT, type CliIO } from '../io.js';
import { PilotClient, PilotError, resolvePilot } from '../pilot-client.js';
import { diagnosticJson, render, textLines, type OutputFormat } from '../output.js';
import { liveObjects, secretNamesOf } from '../secrets.js';
import { loadInputs, relativize } from './load.js';

export interface AnalyzeArgs {
  readonly filename: readonly string[];
  readonly namespace: string;
  readonly failOnWarnings: boolean;
  readonly meshRootNamespace: string;
  readonly trustDomain: string;
  readonly listAnalyzers: boolean;
  readonly output: OutputFormat;
  /** Analyze the running mesh's config (pilot's config API), with -f files layered on top (they win on the same kind/namespace/name). */
  readonly live?: boolean;
  readonly pilot?: string;
  /** The gateway's local secret directory (credentialName checks); default MESHCTL_SECRET_DIR. */
  readonly secretDir?: string;
}

function identity(o: RawObject): string {
  const v = o.object as { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } };
  return `${String(v.apiVersion).split('/')[0]}|${v.kind}|${v.metadata?.namespace ?? 'default'}|${v.metadata?.name}`;
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
  // Without -f, or with --live: the running mesh's config (istioctl analyze's default), files on top.
  const live = args.live === true || args.filename.length === 0;
  const files = args.filename.length > 0 ? await loadInputs(args.filename, io, args.namespace) : { files: 0, objects: [], resources: [], diagnostics: [] };
  let loaded = files;
  if (live) {
    let fromPilot: RawObject[];
    try {
      fromPilot = await liveObjects(new PilotClient(await resolvePilot(args.pilot, io.env ?? {})));
    } catch (err) {
      if (!(err instanceof PilotError)) throw err;
      io.stderr(`error: cannot read the running mesh's config: ${err.message} (analyze files offline with -f)\n`);
      return EXIT.findings;
    }
    const overridden = new Set(files.objects.map(identity));
    const objects = [...fromPilot.filter((o) => !overridden.has(identity(o))), ...files.objects];
    const v = validateParsed(objects, [], { defaultNamespace: args.namespace });
    // File diagnostics keep their positions; live objects were validated by pilot when stored.
    loaded = { files: files.files, objects, resources: v.resources, diagnostics: [...files.diagnostics, ...v.diagnostics.filter((d) => d.file?.startsWith('pilot:'))] };
  }
  const { names: secretNames, error } = await secretNamesOf(args.secretDir, io.env ?? {}, io.cwd);
  if (error) {
    io.stderr(`error: ${error}\n`);
    return EXIT.findings;
  }
  const opts = { meshRootNamespace: args.meshRootNamespace, trustDomain: args.trustDomain, defaultNamespace: args.namespace, ...(secretNames ? { secretNames } : {}) };
  const findings = analyze(loaded.resources, opts).map((d) => relativize(d, io.cwd));
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
