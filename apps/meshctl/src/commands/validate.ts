/** `meshctl validate -f <file|dir>`: schema and field validation, no cluster needed. */
import type { CliIO } from '../io.js';
import { EXIT } from '../io.js';
import { diagnosticJson, render, textLines, type OutputFormat } from '../output.js';
import { loadInputs } from './load.js';

export interface ValidateArgs {
  readonly filenames: readonly string[];
  readonly output: OutputFormat;
  readonly namespace?: string;
}

/** runValidate validates every input and returns the exit code: 0 all valid, 1 anything invalid. */
export async function runValidate(args: ValidateArgs, io: CliIO): Promise<number> {
  const loaded = await loadInputs(args.filenames, io, args.namespace);
  const errors = loaded.diagnostics.filter((d) => d.severity === 'Error');
  const invalidResources = loaded.objects.length - loaded.resources.length;
  const summary = { files: loaded.files, resources: loaded.objects.length, valid: loaded.resources.length, invalid: invalidResources, errors: errors.length };
  if (args.output !== 'text') {
    io.stdout(render(args.output, { valid: errors.length === 0, summary, diagnostics: loaded.diagnostics.map(diagnosticJson) }));
  } else if (errors.length > 0) {
    io.stderr(textLines(loaded.diagnostics));
    io.stderr(`\n${errors.length} error(s): ${invalidResources} of ${loaded.objects.length} resource(s) invalid in ${loaded.files} file(s)\n`);
  } else {
    io.stdout(`${loaded.resources.length} resource(s) in ${loaded.files} file(s) are valid\n`);
  }
  return errors.length > 0 ? EXIT.findings : EXIT.ok;
}
